//! Creating standby snapshots: the simulator's generator, booting a real
//! guest under QEMU until its mailboxes are armed, and the demo store. Both
//! creators build in a hidden directory and rename it into place
//! ([`common::SnapshotDraft`]), so a half-made template — failed, cancelled
//! or killed — never blocks its name.

pub mod common;
pub mod demo;
pub mod qemu;
pub mod sim;
pub mod watch;

use std::path::PathBuf;

use crate::error::{ErrorKind, Kinded};
use crate::store::StoreError;
use crate::vmm::VmmError;
use crate::vmm::qmp::QmpError;

/// Why a template cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A request that cannot work.
    #[error("{0}")]
    Invalid(String),
    /// Store problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// QEMU failed.
    #[error(transparent)]
    Vmm(#[from] VmmError),
    /// The guest did not arm in time or died.
    #[error("template {name}: {reason}; serial console ({log}) ends with: {tail}")]
    Boot {
        /// Template.
        name: String,
        /// What happened.
        reason: String,
        /// The serial log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// A guest whose markers were waited for did not arm them all in time.
    #[error(
        "template {name}: not every marker appeared in the guest's memory within {timeout:?}: {summary}; serial console ({log}) ends with: {tail}"
    )]
    MarkersNotArmed {
        /// Template.
        name: String,
        /// How long it waited.
        timeout: std::time::Duration,
        /// What is missing and what did appear.
        summary: String,
        /// The serial log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// The standby snapshot failed.
    #[error("standby snapshot of {name}: {source}")]
    Snapshot {
        /// Template.
        name: String,
        /// Cause.
        source: QmpError,
    },
    /// An armed mailbox is not in the snapshot's memory exactly once.
    #[error("mailbox {name}: found {count} times in the snapshot's memory (expected exactly once)")]
    NotArmed {
        /// Mailbox.
        name: String,
        /// Times found.
        count: usize,
    },
    /// Filesystem error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Cancelled (Ctrl-C, SIGTERM, SIGHUP): nothing was left behind.
    #[error("template creation cancelled; nothing was kept")]
    Cancelled,
}

impl Kinded for TemplateError {
    fn kind(&self) -> ErrorKind {
        match self {
            TemplateError::Invalid(_) => ErrorKind::BadRequest,
            TemplateError::Store(e) => e.kind(),
            TemplateError::Vmm(e) => e.kind(),
            TemplateError::Boot { .. } | TemplateError::Snapshot { .. } => ErrorKind::VmmFailed,
            TemplateError::NotArmed { count: 0, .. } | TemplateError::MarkersNotArmed { .. } => {
                ErrorKind::MarkerMissing
            }
            TemplateError::NotArmed { .. } => ErrorKind::MarkerAmbiguous,
            TemplateError::Io { .. } => ErrorKind::Io,
            TemplateError::Cancelled => ErrorKind::Cancelled,
        }
    }
}
