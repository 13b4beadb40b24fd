//! Hooks for crash tests, compiled only with the `test-hooks` feature (the
//! integration tests turn it on; release builds never have it).
//!
//! `hold_at`: a session waits at the start of a stage until cancelled (or
//! killed), so a test can kill it exactly there — at the start of copy (its
//! directory made), preflight, patch and ack; in restore once the VM is
//! started, paused. The app sets it from `FORKMAIL_HOLD_AT` at start.
//!
//! `hold_scan`: a discovery scan ([`crate::scan::scan_cached`]) waits before
//! it reads until its cancel flag is set — forever when it has none, which
//! is what a test of "Ctrl-C reaches the scan" catches
//! (`FORKMAIL_HOLD_AT=scan`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
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

static HOLD_SCAN: AtomicBool = AtomicBool::new(false);

/// Make every discovery scan of this process hold until it is cancelled.
pub fn set_hold_scan() {
    HOLD_SCAN.store(true, Ordering::Relaxed);
}

/// Wait here, when asked to, until `cancel` is set (forever without one).
pub fn hold_scan_if_asked(cancel: Option<&AtomicBool>) {
    if HOLD_SCAN.load(Ordering::Relaxed) {
        while !cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
