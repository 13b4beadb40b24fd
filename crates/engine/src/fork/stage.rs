//! The stages of a fork session: one type for the engine's events,
//! `fork.json`'s timings, the CLI and the TUI.

use serde::{Deserialize, Serialize};

/// A stage of a fork session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
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
    /// Lowercase label (as in `--json` events and `fork.json`).
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

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Status of a stage in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_serialized_names() {
        for s in Stage::PIPELINE
            .iter()
            .chain(&[Stage::Rollback, Stage::Failed])
        {
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.label())
            );
            let back: Stage = serde_json::from_str(&format!("\"{}\"", s.label())).unwrap();
            assert_eq!(back, *s);
        }
    }
}
