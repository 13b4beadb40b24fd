//! Every fork of a fan-out is a fork session like any other, so each is
//! kept in the store's session history (`<store>/sessions/`): its request
//! (replayable with `r`) and its events. The renderers that run fan-outs
//! (the CLI and the TUI) record through this; the check suite's probe
//! forks are not sessions anyone asked for and are not recorded.

use std::sync::Mutex;

use super::{FanoutEvent, FanoutPlan};
use crate::history::{self, Recorder, SessionHeader};
use crate::store::Store;

/// The recorders of a fan-out's forks, by index.
#[derive(Debug)]
pub struct MemberRecorders {
    members: Vec<Mutex<Option<Recorder>>>,
}

impl MemberRecorders {
    /// Start recording every fork of `plan` run by `origin` (`cli`, `tui`),
    /// in index order. Recording is best effort: a fork whose history
    /// cannot be written runs all the same.
    pub fn start(store: &Store, plan: &FanoutPlan, origin: &str) -> MemberRecorders {
        let reqs: Vec<_> = plan.forks.iter().map(|f| plan.request(f)).collect();
        MemberRecorders {
            members: Recorder::start_fanout(store, &reqs, origin, &plan.base, plan.parallel)
                .into_iter()
                .map(Mutex::new)
                .collect(),
        }
    }

    /// Fork `index`'s session header (its history id and request), if it
    /// is recorded.
    pub fn header(&self, index: usize) -> Option<SessionHeader> {
        let m = self.members.get(index)?.lock().ok()?;
        m.as_ref().map(|r| r.header().clone())
    }

    /// Record what `e` says: a session event goes to its fork's history; a
    /// fork that never started (the fan-out stopped first) is forgotten, as
    /// it was never a session.
    pub fn on(&self, store: &Store, e: &FanoutEvent) {
        match e {
            FanoutEvent::Session { index, event } => {
                if let Some(m) = self.members.get(*index)
                    && let Ok(mut r) = m.lock()
                    && let Some(r) = r.as_mut()
                {
                    r.record(event);
                }
            }
            FanoutEvent::Ended {
                index,
                not_started: true,
                ..
            } => {
                if let Some(m) = self.members.get(*index)
                    && let Ok(mut r) = m.lock()
                    && let Some(r) = r.take()
                {
                    history::forget(store, r.id());
                }
            }
            FanoutEvent::Ended { .. } | FanoutEvent::Removed { .. } => {}
        }
    }
}
