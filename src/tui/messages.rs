//! What background work reports back ([`Msg`]): scan progress and results,
//! session events, fork operations, store changes (debounced), folded into
//! the state.

use std::time::Instant;

use super::app::{App, Level, Msg};

impl App {
    /// Handle a message from background work.
    pub fn on_msg(&mut self, msg: Msg) {
        self.dirty = true;
        match msg {
            Msg::ScanProgress {
                snapshot,
                done,
                total,
            } => self.catalog.progress(&snapshot, done, total),
            Msg::ScanDone {
                snapshot,
                key,
                result,
            } => {
                if let Err(e) = &result
                    && e.kind != crate::error::ErrorKind::Cancelled
                {
                    self.say(
                        format!("scan of {snapshot} failed: {}", e.message),
                        Level::Error,
                    );
                }
                self.catalog.finish_scan(&snapshot, key, result);
                self.selection_changed();
            }
            Msg::Session { id, event } => self.session_event(id, event),
            Msg::SessionEnd { id, result } => self.session_end(id, result),
            Msg::StoreChanged => {
                if self.reload_at.is_none() {
                    self.reload_at = Some(Instant::now() + std::time::Duration::from_millis(250));
                }
            }
            Msg::FanoutEnd { id, summary } => self.fanout_end(id, summary),
            Msg::Check { id, event } => self.check_event(id, event),
            Msg::CheckEnd { id, result } => self.check_end(id, result),
            Msg::Inspected { fork, result } => self.forks.inspected(&fork, result),
            Msg::Prestarted { id, result } => self.prestarted(id, result),
            Msg::ForkOp { fork, message, ok } => {
                // What was said about this fork no longer applies.
                self.forks.inspections.remove(&fork);
                self.forks.pending = self.forks.pending.saturating_sub(1);
                self.say(message, if ok { Level::Ok } else { Level::Error });
                self.reload_store();
            }
        }
    }

    /// The debounced reload is due.
    pub fn reload_due(&mut self) {
        self.reload_at = None;
        if self.reload_store() {
            self.dirty = true;
        }
        if self.merge_history() {
            self.dirty = true;
        }
        // The watcher also sees guest logs grow: a guest keeps writing after
        // its session is done (its last ack line, a later payload).
        for s in &mut self.sessions {
            let before = s.log_tail.len();
            let last = s.log_tail.last().cloned();
            s.refresh_log();
            if s.log_tail.len() != before || s.log_tail.last() != last.as_ref() {
                self.dirty = true;
            }
        }
        if let Some(v) = self.log_view.as_mut()
            && v.reload()
        {
            self.dirty = true;
        }
    }
}
