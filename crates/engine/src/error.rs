//! What kind of failure an error is, across every layer: the one place exit
//! codes and the `kind` strings of `--json` failure events come from.
//!
//! Each layer has its own typed error (`thiserror`); each can say its
//! [`ErrorKind`]. Renderers never look at message text: the CLI walks an
//! error's chain for the first typed error it knows (`cli::exit::kind_of`,
//! which asks [`crate::kinds::engine_kind`]) and exits with that kind's
//! code. The engine's error types are listed once, in [`crate::kinds`]; a
//! test of the app walks the source tree and fails when an error type is
//! missing from that list, so none exits 1 silently. This module depends
//! on no other.

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
