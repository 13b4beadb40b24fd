//! What background work reports to the UI task ([`Msg`]).

use std::sync::Arc;

use crate::error::ErrorKind;
use crate::scan::{FileIdentity, ScanReport};

/// Why a scan did not produce a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanFailure {
    /// What kind of failure (a cancel is not shown as one).
    pub kind: ErrorKind,
    /// What, where and why (sanitized).
    pub message: String,
}

/// Messages from background work to the UI task.
#[derive(Debug)]
pub enum Msg {
    /// A scan advanced.
    ScanProgress {
        /// Snapshot (row key).
        snapshot: String,
        /// Data bytes read.
        done: u64,
        /// Data bytes in total.
        total: u64,
    },
    /// A scan finished.
    ScanDone {
        /// Snapshot (row key).
        snapshot: String,
        /// The memory file's identity when the scan started.
        key: FileIdentity,
        /// Report or why not.
        result: Result<Arc<ScanReport>, ScanFailure>,
    },
    /// A discovery found in the cache (no scan was needed).
    Peeked {
        /// Row key.
        snapshot: String,
        /// The memory file's identity it is the discovery of.
        key: FileIdentity,
        /// The report.
        report: Arc<ScanReport>,
    },
    /// The cache was looked in for every row asked (after [`Msg::Peeked`]s).
    PeekDone,
    /// A session event.
    Session {
        /// Session id.
        id: u64,
        /// The event.
        event: crate::fork::SessionEvent,
    },
    /// A session's thread ended (its final event came before).
    SessionEnd {
        /// Session id.
        id: u64,
        /// Fork name or the failure.
        result: Result<String, crate::fork::ForkError>,
    },
    /// Something changed under the store.
    StoreChanged,
    /// A fork inspection finished.
    Inspected {
        /// Fork name.
        fork: String,
        /// Report or error text.
        result: Result<Arc<ScanReport>, String>,
    },
    /// A fan-out ended.
    FanoutEnd {
        /// Fan-out id.
        id: u64,
        /// What it did.
        summary: FanoutSummary,
    },
    /// A check of the conformance suite started or ended.
    Check {
        /// Suite run id.
        id: u64,
        /// The event.
        event: crate::check::CheckEvent,
    },
    /// The conformance suite ended.
    CheckEnd {
        /// Suite run id.
        id: u64,
        /// Whether every required check passed, or why it could not run.
        result: Result<bool, String>,
    },
    /// A VMM started ahead of a fork is ready (or could not start).
    Prestarted {
        /// Which job.
        id: u64,
        /// The prestart, `None` when the VMM gains nothing from it.
        result: Result<Option<crate::fork::Prestart>, String>,
    },
    /// A stop/remove of several forks finished (one message for all).
    ForkOps {
        /// Stop or remove.
        remove: bool,
        /// Each fork and, when it failed, why.
        results: Vec<(String, Result<bool, String>)>,
    },
}

/// What a fan-out did, as its detail shows it (what the CLI's summary
/// says: counts, per-stage spread, divergence, failures with their kinds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FanoutSummary {
    /// Forks in all.
    pub forks: usize,
    /// Forks done (and kept).
    pub done: usize,
    /// Forks failed or never started.
    pub failed: usize,
    /// Wall time, ms.
    pub elapsed_ms: u64,
    /// Forks done per second.
    pub per_second: f64,
    /// Per stage (`done`: the whole session): median, p95, max in ms.
    pub stages: Vec<(crate::fork::Stage, u64, u64, u64)>,
    /// Memory the running forks no longer share with the template:
    /// (forks measured, bytes in all, how it was measured).
    pub divergence: Option<(usize, u64, &'static str)>,
    /// Each failed fork: its name, the failure's kind and message.
    pub failures: Vec<(String, ErrorKind, String)>,
    /// Forks removed because the fan-out failed (all or nothing).
    pub removed: usize,
}
