//! Hooks for crash tests, compiled only with the `test-hooks` feature (the
//! integration tests turn it on; release builds never have it).
//!
//! `hold_at`: a session waits at the start of a stage until cancelled (or
//! killed), so a test can kill it exactly there — at the start of copy (its
//! directory made), preflight, patch and ack; in restore once the VM is
//! started, paused. The app sets it from `FORKMAIL_HOLD_AT` at start.

use std::sync::OnceLock;
use std::time::Duration;

use crate::fork::Stage;

static HOLD_AT: OnceLock<Stage> = OnceLock::new();

/// Make every session of this process hold at `stage` (once, at start).
pub fn set_hold_at(stage: Stage) {
    let _ = HOLD_AT.set(stage);
}

/// Wait here while `stage` is the one to hold at, until `cancelled` says so.
pub fn hold_if_asked(stage: Stage, cancelled: impl Fn() -> bool) {
    if HOLD_AT.get() == Some(&stage) {
        while !cancelled() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
