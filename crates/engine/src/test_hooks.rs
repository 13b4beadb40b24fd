//! Hooks for crash tests, compiled only with the `test-hooks` feature (the
//! integration tests turn it on; release builds never have it).
//!
//! `hold_at`: a session waits at the start of a stage until cancelled (or
//! killed), so a test can kill it exactly there — at the start of copy (its
//! directory made), preflight, patch and ack; in restore once the VM is
//! started, paused. The app sets it from `FORKMAIL_HOLD_AT` at start.
//!
//! `hold_point`: a named point waits until its cancel flag is set (forever
//! when it has none, which is what a test of "Ctrl-C reaches the scan"
//! catches): `FORKMAIL_HOLD_AT=scan` holds every discovery scan
//! ([`crate::scan::scan_cached`]) before it reads, `import` an import with
//! its files written, before it is committed (a `kill -9` there leaves a
//! draft).

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

static HOLD_POINT: OnceLock<String> = OnceLock::new();

/// Make this process hold at the named point (`scan`: every discovery
/// scan, before it reads; `import`: an import, its memory and device state
/// written, before it is committed).
pub fn set_hold_point(point: &str) {
    let _ = HOLD_POINT.set(point.to_string());
}

/// Wait here, when `point` is the one to hold at, until `cancel` is set
/// (forever without one).
pub fn hold_point_if_asked(point: &str, cancel: Option<&AtomicBool>) {
    if HOLD_POINT.get().is_some_and(|p| p == point) {
        while !cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
