//! Sessions of the store's history (an earlier run's, the CLI's, another
//! window's), listed beside this run's: the newest entries at start (a
//! fan-out is one entry, read back whole), new ones as they appear, and
//! what is appended to a session's history later (what became of its
//! fork) folded in as it arrives.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::groups::{FanoutView, Sessions};
use super::model::SessionView;
use crate::history::{self, FanoutTag};
use crate::sanitize::safe_owned;
use crate::tui::shared::Shared;

/// Entries of the history listed at start (a fan-out is one, whatever
/// its size).
pub const PAST_ENTRIES_SHOWN: usize = 50;

impl Sessions {
    /// Which history ids to list: the newest [`PAST_ENTRIES_SHOWN`]
    /// entries, a fan-out counted once and taken whole.
    fn ids_to_list(cx: &Shared) -> Vec<String> {
        let ids = history::ids(cx.store());
        let mut entries: Vec<Vec<String>> = Vec::new();
        let mut fanout_at: HashMap<String, usize> = HashMap::new();
        for id in ids.iter().rev() {
            let tag = history::header(cx.store(), id).and_then(|h| h.fanout.map(|t| t.id));
            match tag {
                Some(t) if fanout_at.contains_key(&t) => {
                    let at = fanout_at[&t];
                    entries[at].push(id.clone());
                }
                Some(t) => {
                    if entries.len() == PAST_ENTRIES_SHOWN {
                        break;
                    }
                    fanout_at.insert(t, entries.len());
                    entries.push(vec![id.clone()]);
                }
                None => {
                    if entries.len() == PAST_ENTRIES_SHOWN {
                        break;
                    }
                    entries.push(vec![id.clone()]);
                }
            }
        }
        let mut out: Vec<String> = entries.into_iter().flatten().collect();
        out.sort();
        out
    }

    /// Add the sessions of the history not listed yet. Returns whether any
    /// was added.
    pub fn merge_history(&mut self, cx: &mut Shared) -> bool {
        let mut added = false;
        for hid in Sessions::ids_to_list(cx) {
            if self
                .list
                .iter()
                .any(|s| s.history_id.as_deref() == Some(hid.as_str()))
            {
                continue;
            }
            let Ok(past) = history::load(cx.store(), &hid) else {
                continue;
            };
            // A session still running elsewhere shows once it ended.
            if !past.finished() && running_elsewhere(cx, &past) {
                continue;
            }
            let id = cx.next_id();
            let mut view = SessionView::from_history(id, &past, cx.clock().instant());
            if let Some(tag) = &past.header.fanout {
                view.group = Some(self.past_fanout(tag, &past.header.snapshot, id, cx));
            }
            // Keep the list in start order: past sessions before this run's.
            let at = self
                .list
                .iter()
                .position(|s| s.history_id.as_deref().is_none_or(|h| h > hid.as_str()))
                .unwrap_or(self.list.len());
            self.list.insert(at, view);
            added = true;
        }
        added
    }

    /// The fan-out a past session of fan-out `tag` goes under (made on its
    /// first fork read back); session `member` joins its members, in
    /// index order.
    fn past_fanout(
        &mut self,
        tag: &FanoutTag,
        snapshot: &str,
        member: u64,
        cx: &mut Shared,
    ) -> u64 {
        let at = self
            .fanouts
            .iter()
            .position(|f| f.history.as_deref() == Some(tag.id.as_str()));
        let gi = match at {
            Some(gi) => gi,
            None => {
                let gid = cx.next_id();
                self.fanouts.push(FanoutView {
                    id: gid,
                    snapshot: safe_owned(snapshot),
                    base: safe_owned(&tag.base),
                    parallel: tag.parallel,
                    count: tag.count,
                    members: Vec::new(),
                    expanded: false,
                    cancel: Arc::new(AtomicBool::new(false)),
                    summary: None,
                    history: Some(tag.id.clone()),
                });
                self.fanouts.len() - 1
            }
        };
        self.fanouts[gi].members.push(member);
        self.fanouts[gi].id
    }

    /// Fold in what was appended to finished sessions' histories since
    /// they were read (a fork stopped or removed later, by this window or
    /// another). Returns whether anything changed.
    pub fn read_appended(&mut self, cx: &Shared) -> bool {
        let now = cx.clock().instant();
        let mut changed = false;
        for s in self.list.iter_mut().filter(|s| !s.is_running()) {
            let Some(hid) = s.history_id.clone() else {
                continue;
            };
            if s.history_read == 0 && !s.past {
                // A session of this run: its events came live; skip them.
                s.history_read =
                    std::fs::metadata(cx.store().sessions_dir().join(format!("{hid}.jsonl")))
                        .map(|m| m.len())
                        .unwrap_or(0);
                continue;
            }
            let (events, to) = history::events_since(cx.store(), &hid, s.history_read);
            s.history_read = to;
            for e in &events {
                s.apply(e, now);
            }
            changed |= !events.is_empty();
        }
        changed
    }
}

/// Whether the fork of a past session without a final event is still
/// being made by a session of another process.
fn running_elsewhere(cx: &Shared, past: &history::PastSession) -> bool {
    let Some(fork) = past.fork() else {
        return false;
    };
    crate::store::ValidName::new(fork)
        .map(|n| crate::fork::session_running(&cx.store().fork_dir(&n)))
        .unwrap_or(false)
}
