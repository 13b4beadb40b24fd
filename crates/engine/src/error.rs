//! What kind of failure an error is, across every layer: the one place exit
//! codes and the `kind` strings of `--json` failure events come from.
//!
//! Each layer has its own typed error (`thiserror`); each can say its
//! [`ErrorKind`]. Renderers never look at message text: the CLI walks an
//! error's chain for the first typed error it knows (`cli::exit::kind_of`,
//! which asks [`engine_kind`] here) and exits with that kind's code. The
//! engine's error types are listed once, in [`kinded_types!`]'s call below;
//! a test of the app walks the source tree and fails when an error type is
//! missing from that list, so none exits 1 silently.

use serde::{Deserialize, Serialize};

/// The kind of a failure. The `snake_case` name is a stable interface
/// (`--json` events carry it as `kind`); the exit code is documented in the
/// README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request breaks a rule (contract validation, a bad flag, a bad
    /// name, a name already in use, a mode the VMM cannot do).
    BadRequest,
    /// No such snapshot, fork or file.
    NotFound,
    /// The requested marker is not in the memory file.
    MarkerMissing,
    /// The marker occurs more than once: forkmail refuses to guess.
    MarkerAmbiguous,
    /// The marker breaks the contract (or no longer is where discovery saw it).
    MarkerInvalid,
    /// Discovery hit its marker cap: markers beyond it were not seen.
    ScanTruncated,
    /// The payload does not fit the frame.
    PayloadTooLarge,
    /// A file could not be read or written (copy, metadata, ...).
    Io,
    /// The VMM could not start, load or resume the fork.
    VmmFailed,
    /// The guest's VMM exited while the session waited for it.
    GuestExited,
    /// No valid ack arrived before the deadline.
    AckTimeout,
    /// The fork is busy: its session is still running.
    Busy,
    /// Cancelled by the person (Ctrl-C, SIGTERM, SIGHUP, the TUI).
    Cancelled,
    /// A bug or an unexpected state inside forkmail.
    Internal,
}

impl ErrorKind {
    /// Every kind, for documentation and tests.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::BadRequest,
        ErrorKind::NotFound,
        ErrorKind::MarkerMissing,
        ErrorKind::MarkerAmbiguous,
        ErrorKind::MarkerInvalid,
        ErrorKind::ScanTruncated,
        ErrorKind::PayloadTooLarge,
        ErrorKind::Io,
        ErrorKind::VmmFailed,
        ErrorKind::GuestExited,
        ErrorKind::AckTimeout,
        ErrorKind::Busy,
        ErrorKind::Cancelled,
        ErrorKind::Internal,
    ];

    /// The stable name (`marker_missing`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MarkerMissing => "marker_missing",
            ErrorKind::MarkerAmbiguous => "marker_ambiguous",
            ErrorKind::MarkerInvalid => "marker_invalid",
            ErrorKind::ScanTruncated => "scan_truncated",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::Io => "io",
            ErrorKind::VmmFailed => "vmm_failed",
            ErrorKind::GuestExited => "guest_exited",
            ErrorKind::AckTimeout => "ack_timeout",
            ErrorKind::Busy => "busy",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }

    /// The process exit status for this kind (README: "Exit status").
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::BadRequest | ErrorKind::PayloadTooLarge => 2,
            ErrorKind::MarkerMissing
            | ErrorKind::MarkerAmbiguous
            | ErrorKind::MarkerInvalid
            | ErrorKind::ScanTruncated => 3,
            ErrorKind::NotFound => 4,
            ErrorKind::VmmFailed | ErrorKind::GuestExited => 5,
            ErrorKind::AckTimeout => 6,
            ErrorKind::Busy => 7,
            ErrorKind::Cancelled => 130,
            ErrorKind::Io | ErrorKind::Internal => 1,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that knows its kind.
pub trait Kinded {
    /// The kind of this failure.
    fn kind(&self) -> ErrorKind;
}

impl Kinded for crate::files::ReadError {
    fn kind(&self) -> ErrorKind {
        use crate::files::ReadError;
        match self {
            ReadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            ReadError::Io { .. } => ErrorKind::Io,
            ReadError::NotRegular { .. } | ReadError::TooLarge { .. } => ErrorKind::BadRequest,
        }
    }
}

impl Kinded for crate::mailbox::ValidationError {
    fn kind(&self) -> ErrorKind {
        match self {
            crate::mailbox::ValidationError::PayloadTooLarge { .. } => ErrorKind::PayloadTooLarge,
            _ => ErrorKind::BadRequest,
        }
    }
}

impl Kinded for crate::guest::sim::StateError {
    fn kind(&self) -> ErrorKind {
        match self {
            crate::guest::sim::StateError::Read { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorKind::NotFound
            }
            crate::guest::sim::StateError::Read { .. } => ErrorKind::Io,
            crate::guest::sim::StateError::Parse { .. } => ErrorKind::BadRequest,
        }
    }
}

impl Kinded for crate::guest::MailboxError {
    fn kind(&self) -> ErrorKind {
        use crate::guest::MailboxError;
        match self {
            MailboxError::BadName(_) | MailboxError::BadToken { .. } => ErrorKind::BadRequest,
            MailboxError::BadFrame { .. } => ErrorKind::MarkerInvalid,
            MailboxError::Lock { .. } | MailboxError::Ack { .. } => ErrorKind::Io,
        }
    }
}

impl Kinded for crate::copy::CopyError {
    fn kind(&self) -> ErrorKind {
        match self {
            crate::copy::CopyError::Cancelled => ErrorKind::Cancelled,
            crate::copy::CopyError::Source(e) => e.kind(),
            crate::copy::CopyError::Io { .. } => ErrorKind::Io,
        }
    }
}

impl Kinded for crate::image::cpio::CpioError {
    fn kind(&self) -> ErrorKind {
        match self {
            crate::image::cpio::CpioError::Io(_) => ErrorKind::Io,
            _ => ErrorKind::BadRequest,
        }
    }
}

impl Kinded for crate::vmm::process::ProcessError {
    fn kind(&self) -> ErrorKind {
        // A process that cannot be identified is one the VMM cannot vouch for.
        ErrorKind::VmmFailed
    }
}

impl Kinded for crate::vmm::qmp::QmpError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::VmmFailed
    }
}

impl Kinded for crate::vmm::procmem::ProcMemError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::VmmFailed
    }
}

/// The kind of `e` when it is one of `$t`'s, and the list of their names:
/// one list, so what the chain walk knows and what the test checks against
/// the source tree are the same.
#[macro_export]
macro_rules! kinded_types {
    ($(#[$m:meta])* $vis:vis fn $f:ident, const $names:ident = [$($t:ty),* $(,)?]) => {
        $(#[$m])*
        $vis fn $f(e: &(dyn std::error::Error + 'static)) -> Option<$crate::error::ErrorKind> {
            use $crate::error::Kinded as _;
            $(if let Some(x) = e.downcast_ref::<$t>() {
                return Some(x.kind());
            })*
            None
        }
        /// The names of the types the function above knows.
        $vis const $names: &[&str] = &[$(stringify!($t)),*];
    };
}

kinded_types! {
    /// The kind of `e` itself when it is one of the engine's (or the
    /// contract's, or the guest's) typed errors.
    pub fn engine_kind,
    const ENGINE_ERROR_TYPES = [
        crate::fork::ForkError,
        crate::fork::LifecycleError,
        crate::fork::ownership::ClaimError,
        crate::fanout::FanoutError,
        crate::check::CheckError,
        crate::files::ReadError,
        crate::mailbox::ValidationError,
        crate::guest::sim::StateError,
        crate::guest::MailboxError,
        crate::scan::ScanError,
        crate::store::StoreError,
        crate::vmm::VmmError,
        crate::vmm::process::ProcessError,
        crate::vmm::qmp::QmpError,
        crate::vmm::procmem::ProcMemError,
        crate::source::SourceError,
        crate::template::TemplateError,
        crate::transfer::TransferError,
        crate::image::ImageError,
        crate::image::cpio::CpioError,
        crate::copy::CopyError,
        crate::history::HistoryError,
        UsageError,
    ]
}

/// A command line that asks for something impossible (a flag without the
/// flag it needs, a malformed `NAME=VALUE`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Kinded for UsageError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_and_exit_codes_are_stable() {
        let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        for k in ErrorKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(ErrorKind::Cancelled.exit_code(), 130);
        assert_eq!(ErrorKind::BadRequest.exit_code(), 2);
    }
}
