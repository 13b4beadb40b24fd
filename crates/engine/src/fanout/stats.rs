//! Stage times of many sessions: per fork, how long each stage took (from
//! its events), and per stage the median, p95 and max over the forks.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::fork::{Happening, SessionEvent, Stage};

/// The stages a summary reports, in pipeline order, then the whole session.
pub const SUMMARY_STAGES: [Stage; 7] = Stage::PIPELINE;

/// How long each stage of one session took, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageClock {
    started: BTreeMap<Stage, u64>,
    took: BTreeMap<Stage, u64>,
}

impl StageClock {
    /// Fold one event in.
    pub fn observe(&mut self, e: &SessionEvent) {
        let stage = e.stage();
        self.started.entry(stage).or_insert(e.elapsed_ms);
        // "done" is the whole session, below.
        let ends = e.ends_stage() && !matches!(e.what, Happening::Done);
        if ends {
            let from = self.started.get(&stage).copied().unwrap_or(e.elapsed_ms);
            self.took.insert(stage, e.elapsed_ms.saturating_sub(from));
        }
        if matches!(e.what, Happening::Done) {
            // "done" in a summary is the whole session.
            self.took.insert(Stage::Done, e.elapsed_ms);
        }
    }

    /// Milliseconds per finished stage (`done`: the whole session).
    pub fn durations(&self) -> &BTreeMap<Stage, u64> {
        &self.took
    }
}

/// Median, p95 and max of one stage over many sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Spread {
    /// Sessions measured.
    pub samples: usize,
    /// Median (the lower middle value for an even count).
    pub median_ms: u64,
    /// 95th percentile (nearest rank).
    pub p95_ms: u64,
    /// Largest.
    pub max_ms: u64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(values: &[u64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        let rank = |p: f64| {
            // p is a fraction (0.5, 0.95): the rank is at most v.len(), and a
            // float-to-integer `as` saturates anyway.
            #[allow(clippy::cast_possible_truncation)]
            let r = (p * v.len() as f64).ceil() as usize;
            v[r.clamp(1, v.len()) - 1]
        };
        Some(Spread {
            samples: v.len(),
            median_ms: rank(0.5),
            p95_ms: rank(0.95),
            max_ms: v[v.len() - 1],
        })
    }
}

/// Per stage (in [`SUMMARY_STAGES`] order), the spread over `clocks`.
pub fn spreads<'a>(clocks: impl Iterator<Item = &'a StageClock> + Clone) -> Vec<(Stage, Spread)> {
    SUMMARY_STAGES
        .iter()
        .filter_map(|st| {
            let v: Vec<u64> = clocks
                .clone()
                .filter_map(|c| c.durations().get(st).copied())
                .collect();
            Spread::of(&v).map(|s| (*st, s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_p95_and_max_use_nearest_rank() {
        let v: Vec<u64> = (1..=20).collect();
        let s = Spread::of(&v).unwrap();
        assert_eq!(
            (s.median_ms, s.p95_ms, s.max_ms, s.samples),
            (10, 19, 20, 20)
        );
        let s = Spread::of(&[5]).unwrap();
        assert_eq!((s.median_ms, s.p95_ms, s.max_ms), (5, 5, 5));
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn a_stage_takes_from_its_first_event_to_its_end() {
        let ev = |ms, what| SessionEvent {
            fork: "f".into(),
            elapsed_ms: ms,
            what,
        };
        let mut c = StageClock::default();
        c.observe(&ev(0, Happening::StageStarted(Stage::Validate)));
        c.observe(&ev(3, Happening::Validated { mailboxes: 1 }));
        c.observe(&ev(4, Happening::CopyStarted { dir: "d".into() }));
        c.observe(&ev(20, Happening::ZeroCopy));
        c.observe(&ev(30, Happening::Done));
        assert_eq!(c.durations()[&Stage::Validate], 3);
        assert_eq!(c.durations()[&Stage::Copy], 16);
        assert_eq!(c.durations()[&Stage::Done], 30);
        assert_eq!(spreads([&c].into_iter()).len(), 3);
    }
}
