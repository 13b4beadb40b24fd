//! The engine's typed error: the stage that failed, the mailbox it is about
//! (where one), and the cause — a typed error of the layer that failed, kept
//! whole as the error's source, or one of the session's own failures. The
//! kind (exit codes and `--json` `kind` strings derive from it) is the
//! cause's: nothing is copied into a string and read back.

use std::sync::Arc;

use serde::Serialize;

use super::Stage;
use crate::error::{ErrorKind, Kinded};
use crate::mailbox::ValidationError;

/// A typed error of another layer that a session can fail with: it knows
/// its kind and can be shared between the session's event and its result.
pub trait LayerError: Kinded + std::error::Error + Send + Sync + 'static {}

impl<E: Kinded + std::error::Error + Send + Sync + 'static> LayerError for E {}

/// Why a session failed.
#[derive(Debug, Clone)]
pub enum Cause {
    /// A typed error of the layer that failed (scan, store, VMM, source,
    /// transfer, contract validation, …), kept whole.
    Layer(Arc<dyn LayerError>),
    /// An I/O error of the session's own (opening the fork's memory, …).
    Io {
        /// What was being done, and on what.
        what: String,
        /// The system's error.
        source: Arc<std::io::Error>,
    },
    /// One of the session's own checks failed: a marker missing or
    /// ambiguous, a payload that does not fit, no ack before the deadline,
    /// a guest that exited, …; `kind` says which.
    Check {
        /// Which kind of failure.
        kind: ErrorKind,
        /// What, where and why (may quote guest text: renderers sanitize).
        why: String,
    },
    /// The person cancelled the session.
    Cancelled,
}

impl Cause {
    /// The kind of failure: the layer error's own, or the check's.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Cause::Layer(e) => e.kind(),
            Cause::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Cause::Io { .. } => ErrorKind::Io,
            Cause::Check { kind, .. } => *kind,
            Cause::Cancelled => ErrorKind::Cancelled,
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Layer(e) => e.fmt(f),
            Cause::Io { what, source } => write!(f, "{what}: {source}"),
            Cause::Check { why, .. } => f.write_str(why),
            Cause::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// Why a fork session failed.
#[derive(Debug, Clone)]
pub struct ForkError {
    stage: Stage,
    mailbox: Option<String>,
    cause: Cause,
    /// The cause's own message already names the mailbox (the contract's
    /// validation errors do): the message does not repeat it.
    named_by_cause: bool,
    /// Evidence gathered after the fact (the guest log's last lines when
    /// the guest exited): shown after the cause.
    evidence: Option<String>,
}

impl ForkError {
    fn with_cause(cause: Cause) -> ForkError {
        ForkError {
            stage: Stage::Validate,
            mailbox: None,
            cause,
            named_by_cause: false,
            evidence: None,
        }
    }

    /// A failure of one of the session's own checks, of `kind`; the session
    /// stamps the stage it happened in.
    pub fn new(kind: ErrorKind, why: impl Into<String>) -> ForkError {
        ForkError::with_cause(Cause::Check {
            kind,
            why: why.into(),
        })
    }

    /// A failure of one of the session's own checks about mailbox `name`.
    pub fn mailbox(kind: ErrorKind, name: &str, why: impl std::fmt::Display) -> ForkError {
        ForkError::new(kind, why.to_string()).with_mailbox(name)
    }

    /// A typed error of another layer, kept whole as the cause.
    pub fn layer<E: LayerError>(e: E) -> ForkError {
        ForkError::with_cause(Cause::Layer(Arc::new(e)))
    }

    /// An I/O error of the session's own: `what` says what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> ForkError {
        ForkError::with_cause(Cause::Io {
            what: what.into(),
            source: Arc::new(source),
        })
    }

    /// The same error, about mailbox `name`.
    pub fn with_mailbox(mut self, name: &str) -> ForkError {
        self.mailbox = Some(name.to_string());
        self
    }

    /// The same error with `evidence` shown after the cause.
    pub fn with_evidence(mut self, evidence: impl Into<String>) -> ForkError {
        self.evidence = Some(evidence.into());
        self
    }

    /// The session was cancelled.
    pub fn cancelled() -> ForkError {
        ForkError::with_cause(Cause::Cancelled)
    }

    /// Set the stage.
    pub fn at(mut self, stage: Stage) -> ForkError {
        self.stage = stage;
        self
    }

    /// Whether this is a cancellation.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }

    /// The kind of failure (the cause's).
    pub fn kind(&self) -> ErrorKind {
        self.cause.kind()
    }

    /// The stage that failed.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The mailbox it is about, when one.
    pub fn mailbox_name(&self) -> Option<&str> {
        self.mailbox.as_deref()
    }

    /// The cause.
    pub fn cause(&self) -> &Cause {
        &self.cause
    }

    /// The layer error of type `E` the session failed with, if that is
    /// what it failed with.
    pub fn cause_as<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match &self.cause {
            Cause::Layer(e) => (e.as_ref() as &(dyn std::error::Error + 'static)).downcast_ref(),
            _ => None,
        }
    }

    /// What went wrong, without the `mailbox NAME: ` prefix (for a view that
    /// already shows the mailbox). May quote guest text: sanitize to show.
    pub fn reason(&self) -> String {
        match &self.evidence {
            Some(ev) => format!("{}; {ev}", self.cause),
            None => self.cause.to_string(),
        }
    }
}

impl std::fmt::Display for ForkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(name) = self.mailbox.as_ref().filter(|_| !self.named_by_cause) {
            write!(f, "mailbox {name}: ")?;
        }
        write!(f, "{}", self.cause)?;
        if let Some(ev) = &self.evidence {
            write!(f, "; {ev}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ForkError {
    /// The layer's typed error (or the I/O error) the session failed with.
    /// The message above already includes its text.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::Layer(e) => Some(e.as_ref() as &(dyn std::error::Error + 'static)),
            Cause::Io { source, .. } => Some(source.as_ref()),
            Cause::Check { .. } | Cause::Cancelled => None,
        }
    }
}

/// Two failures are the same when they say the same thing about the same
/// stage and mailbox, with the same kind (a cause is not comparable).
impl PartialEq for ForkError {
    fn eq(&self, other: &ForkError) -> bool {
        self.stage == other.stage
            && self.kind() == other.kind()
            && self.mailbox == other.mailbox
            && self.to_string() == other.to_string()
    }
}

impl Kinded for ForkError {
    fn kind(&self) -> ErrorKind {
        ForkError::kind(self)
    }
}

/// The wire form (`--json`, the fork record): stage, kind, mailbox and the
/// whole message.
impl Serialize for ForkError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ForkError", 4)?;
        st.serialize_field("stage", &self.stage)?;
        st.serialize_field("kind", &self.kind())?;
        st.serialize_field("mailbox", &self.mailbox)?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

impl From<ValidationError> for ForkError {
    fn from(e: ValidationError) -> ForkError {
        let mailbox = e.mailbox().map(str::to_string);
        let mut err = ForkError::layer(e);
        err.mailbox = mailbox;
        err.named_by_cause = true;
        err
    }
}
