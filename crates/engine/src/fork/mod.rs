//! The fork engine: the session (`validate → copy → preflight → patch →
//! restore → ack → done`, or `rollback → failed`), its typed events and
//! errors, and the fork lifecycle (list, stop, remove, inspect, clean up).
//! It never draws or prints: the CLI and the TUI render its events.

mod ack;
mod acks;
mod checks;
mod divergence;
mod error;
mod event;
mod event_serde;
pub mod evidence;
pub mod lifecycle;
pub(crate) mod ownership;
mod plan;
mod prestart;
pub mod record;
mod session;
mod stage;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod evidence_tests;
#[cfg(test)]
pub(crate) mod fake_vmm;

use std::net::IpAddr;
use std::sync::Arc;

pub use crate::copy::{
    CopyError, CopyMethod, CopyStats, copy_memory, copy_memory_into, reflink_supported,
};
pub use ack::{AckOutcome, AckWaiter, Ignored};
pub use divergence::{Divergence, DivergenceSource, divergence, private_dirty_of};
pub use error::ForkError;
pub use event::{Failure, Fate, Happening, KeptLogs, SessionEvent};
pub use lifecycle::{ForkEntry, Forks, LifecycleError, LiveStatus};
pub use ownership::{HeldFork, session_running};
pub use plan::{PlannedMailbox, resolve_mailboxes};
pub use prestart::Prestart;
pub use record::{ForkInfo, ForkMeta, ForkStatus, PatchedMailbox, StageTiming};
pub use session::{Drivers, ForkOutcome, run_session, run_session_prestarted, run_session_with};
pub use stage::{Stage, Status};

use crate::scan::ScanReport;

/// One mailbox the caller wants written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxSpec {
    /// Mailbox name.
    pub name: String,
    /// Token; looked up by discovery when `None`, else the marker is found
    /// by its exact bytes.
    pub token: Option<String>,
    /// JSON payload text.
    pub payload: Option<String>,
    /// Wait for the guest's ack.
    pub wait_for_ack: bool,
    /// Ack deadline (None/0 = 5000 ms).
    pub ack_timeout_ms: Option<i64>,
}

/// A fork request.
#[derive(Debug, Clone)]
pub struct ForkRequest {
    /// Source snapshot name.
    pub snapshot: String,
    /// Fork name; generated from the snapshot name when `None`.
    pub fork_name: Option<String>,
    /// Mailboxes to write.
    pub mailboxes: Vec<MailboxSpec>,
    /// Restore the fork (false: stop after patch, keep it for inspection).
    pub restore: bool,
    /// Map the template privately and patch the paused guest.
    pub zero_copy: bool,
    /// Address the ack sockets bind (default 127.0.0.1).
    pub ack_bind: Option<IpAddr>,
    /// Discovery already done on the source (e.g. the TUI's). Offsets from
    /// it are re-verified in the fork before any write.
    pub discovery: Option<Arc<ScanReport>>,
    /// Without restore: also write the patched memory and the snapshot's
    /// device state to this new (or empty) directory, in the layout of the
    /// snapshot's VMM ([`crate::transfer::export_fork`]).
    pub export: Option<std::path::PathBuf>,
    /// With `export`: write Firecracker or Cloud Hypervisor device state
    /// unchanged, naming the source's disks and sockets, instead of
    /// rewriting every path into the export directory (for experts; the
    /// default is the rewrite).
    pub export_keep_source_paths: bool,
    /// After each ack, keep the mailbox's ack socket open this long and
    /// report whatever else arrives (a duplicate ack too) as an ignored
    /// datagram: how `forkmail check` sees a guest that acks twice.
    /// `None` (the default): the socket closes at the ack.
    pub ack_linger_ms: Option<u64>,
    /// Keep the fork locked after its session succeeds, in
    /// [`ForkOutcome::held`], so `rm` and `stop` refuse it (busy) while the
    /// caller still observes it (`forkmail check`). Default: the lock goes
    /// with the session.
    pub hold: bool,
}

impl ForkRequest {
    /// A request for `snapshot` with defaults (restore, copy mode).
    pub fn new(snapshot: &str) -> ForkRequest {
        ForkRequest {
            snapshot: snapshot.into(),
            fork_name: None,
            mailboxes: Vec::new(),
            restore: true,
            zero_copy: false,
            ack_bind: None,
            discovery: None,
            export: None,
            export_keep_source_paths: false,
            ack_linger_ms: None,
            hold: false,
        }
    }
}

/// A generated fork name: `<snapshot>-<6 hex>`, within the 63-char limit.
pub fn generate_fork_name(snapshot: &str) -> String {
    let suffix: u32 = rand::random::<u32>() & 0xff_ffff;
    let base: String = snapshot.chars().take(63 - 7).collect();
    let base = base.trim_end_matches('-');
    format!("{base}-{suffix:06x}")
}
