//! What background work reports ([`Msg`]), handed to the component it is
//! for. A store change is debounced into one reload; it never drops a
//! redraw another message asked for (it once did: the final state of a
//! cancelled session waited for the next key or the status line's expiry).

use std::time::{Duration, Instant};

use super::App;
use crate::tui::msg::Msg;

/// How long store changes gather before one reload.
pub const RELOAD_DEBOUNCE: Duration = Duration::from_millis(250);

impl App {
    /// Handle a message from background work.
    pub fn on_msg(&mut self, msg: Msg) {
        let redraw = match msg {
            Msg::ScanProgress {
                snapshot,
                done,
                total,
            } => {
                self.snapshots.scan_progress(&snapshot, done, total);
                true
            }
            Msg::ScanDone {
                snapshot,
                key,
                result,
            } => {
                self.snapshots
                    .scan_done(&snapshot, key, result, &mut self.shared);
                true
            }
            Msg::Peeked {
                snapshot,
                key,
                report,
            } => {
                self.snapshots
                    .peeked(&snapshot, key, report, &mut self.shared);
                true
            }
            Msg::PeekDone => {
                self.snapshots.peek_done();
                false
            }
            Msg::Session { id, event } => {
                self.sessions.session_event(id, event, &self.shared);
                true
            }
            Msg::SessionEnd { id, result } => {
                self.sessions.session_end(id, result, &mut self.shared);
                self.reload_store();
                true
            }
            Msg::StoreChanged => {
                if self.reload_at.is_none() {
                    self.reload_at = Some(Instant::now() + RELOAD_DEBOUNCE);
                }
                // Nothing to draw yet; what others asked for stays asked.
                false
            }
            Msg::FanoutEnd { id, summary } => {
                self.sessions.fanout_end(id, summary, &mut self.shared);
                self.reload_store();
                true
            }
            Msg::Check { id, event } => {
                self.sessions.check_event(id, event);
                true
            }
            Msg::CheckEnd { id, result } => {
                self.sessions.check_end(id, result, &mut self.shared);
                true
            }
            Msg::Inspected { fork, result } => {
                self.forks.inspected(&fork, result, &mut self.shared);
                true
            }
            Msg::Prestarted { id, result } => {
                self.snapshots.prestarted(id, result);
                false
            }
            Msg::ForkOps { remove, results } => {
                self.forks.ops_done(remove, results, &mut self.shared);
                self.reload_store();
                // What became of the forks is in their sessions' histories.
                self.sessions.refresh_history(&mut self.shared);
                true
            }
        };
        self.dirty |= redraw;
        self.apply_effects();
    }
}
