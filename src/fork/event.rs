//! Typed session events: what the TUI and the CLI render.

use serde::Serialize;

/// A stage of a fork session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Request rules, token lookup, ack sockets, ack_port injection.
    Validate,
    /// Copy of the memory file (reflink or sparse).
    Copy,
    /// Every marker found, every payload fits; nothing written yet.
    Preflight,
    /// Frames written into the fork's memory.
    Patch,
    /// VMM starts, loads, resumes.
    Restore,
    /// Waiting for guest acks.
    Ack,
    /// Success.
    Done,
    /// Tearing down after a failure.
    Rollback,
    /// The session ended in failure.
    Failed,
}

impl Stage {
    /// The stages of a successful session, in order.
    pub const PIPELINE: [Stage; 7] = [
        Stage::Validate,
        Stage::Copy,
        Stage::Preflight,
        Stage::Patch,
        Stage::Restore,
        Stage::Ack,
        Stage::Done,
    ];
    /// Lowercase label.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Validate => "validate",
            Stage::Copy => "copy",
            Stage::Preflight => "preflight",
            Stage::Patch => "patch",
            Stage::Restore => "restore",
            Stage::Ack => "ack",
            Stage::Done => "done",
            Stage::Rollback => "rollback",
            Stage::Failed => "failed",
        }
    }
}

/// Status of a stage in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The stage began.
    Started,
    /// Partial progress (bytes copied, one mailbox done).
    Progress,
    /// The stage (or one mailbox of it) succeeded.
    Ok,
    /// The stage failed.
    Failed,
}

/// One event of a fork session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionEvent {
    /// Fork name.
    pub fork: String,
    /// Stage.
    pub stage: Stage,
    /// Status.
    pub status: Status,
    /// Milliseconds since the session started.
    pub elapsed_ms: u64,
    /// Mailbox the event is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// Ack port of that mailbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_port: Option<u16>,
    /// Ack deadline in milliseconds (ack started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Bytes done (copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Bytes in total (copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Human detail (copy method, pid, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The error, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SessionEvent {
    /// An event with only the required fields set.
    pub fn new(fork: &str, stage: Stage, status: Status, elapsed_ms: u64) -> SessionEvent {
        SessionEvent {
            fork: fork.into(),
            stage,
            status,
            elapsed_ms,
            mailbox: None,
            ack_port: None,
            deadline_ms: None,
            bytes: None,
            total: None,
            detail: None,
            error: None,
        }
    }
    /// Whether this is the last event of a session.
    pub fn is_final(&self) -> bool {
        matches!(
            (self.stage, self.status),
            (Stage::Done, Status::Ok) | (Stage::Failed, _)
        )
    }
}
