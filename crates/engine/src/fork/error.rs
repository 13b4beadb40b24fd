//! The engine's typed error: the stage, the mailbox where it applies, a
//! kind (from which exit codes and `--json` `kind` strings derive) and a
//! message that says what, where and why.

use serde::Serialize;

use super::Stage;
use crate::error::{ErrorKind, Kinded};
use crate::mailbox::ValidationError;

/// Why a fork session failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ForkError {
    /// The stage that failed.
    pub stage: Stage,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The mailbox it is about, when one.
    pub mailbox: Option<String>,
    /// What, where and why (may quote guest-controlled text: renderers
    /// sanitize it).
    pub message: String,
    /// The message without its `mailbox NAME: ` prefix (for a view that
    /// already shows the mailbox).
    #[serde(skip)]
    pub reason: String,
}

impl ForkError {
    /// An error of `kind`; the session stamps the stage it happened in.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ForkError {
        let message = message.into();
        ForkError {
            stage: Stage::Validate,
            kind,
            mailbox: None,
            reason: message.clone(),
            message,
        }
    }
    /// An error about mailbox `name`; the message is prefixed with it.
    pub fn mailbox(kind: ErrorKind, name: &str, message: impl std::fmt::Display) -> ForkError {
        ForkError {
            stage: Stage::Validate,
            kind,
            mailbox: Some(name.to_string()),
            message: format!("mailbox {name}: {message}"),
            reason: message.to_string(),
        }
    }
    /// The same error, about mailbox `name` (message prefixed).
    pub fn with_mailbox(mut self, name: &str) -> ForkError {
        self.reason = self.message.clone();
        self.message = format!("mailbox {name}: {}", self.message);
        self.mailbox = Some(name.to_string());
        self
    }
    /// The session was cancelled.
    pub fn cancelled() -> ForkError {
        ForkError::new(ErrorKind::Cancelled, "cancelled")
    }
    /// Set the stage.
    pub fn at(mut self, stage: Stage) -> ForkError {
        self.stage = stage;
        self
    }
    /// Whether this is a cancellation.
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }
    /// The stage that failed.
    pub fn stage(&self) -> Stage {
        self.stage
    }
    /// The mailbox it is about, when one.
    pub fn mailbox_name(&self) -> Option<&str> {
        self.mailbox.as_deref()
    }
    /// What went wrong, without the `mailbox NAME: ` prefix (for a view that
    /// already shows the mailbox). May quote guest text: sanitize to show.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl Kinded for ForkError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<ValidationError> for ForkError {
    fn from(e: ValidationError) -> ForkError {
        let message = e.to_string();
        ForkError {
            stage: Stage::Validate,
            kind: e.kind(),
            mailbox: e.mailbox().map(str::to_string),
            reason: message.clone(),
            message,
        }
    }
}

/// Turn any typed error into a [`ForkError`] of its own kind.
pub(crate) fn from_kinded<E: Kinded + std::fmt::Display>(e: E) -> ForkError {
    ForkError::new(e.kind(), e.to_string())
}
