//! Typed session events: one variant per thing that happens, with its own
//! fields. The TUI and the CLI render them by matching on the variant; the
//! session history stores exactly them and reads them back
//! ([`super::event_serde`]): on the wire (`fork --json`) each is one flat
//! JSON line of the documented shape — `fork`, `stage`, `status`,
//! `elapsed_ms`, and `mailbox`, `ack_port`, `deadline_ms`, `bytes`, `total`,
//! `detail`, `error`, `kind`, `path`, `pid` where they apply — plus `event`
//! (the variant) and the variant's own fields, so a line read back is the
//! event that was written. Nothing is parsed back out of text.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{CopyMethod, ForkError, Stage, Status};
use crate::error::ErrorKind;
use crate::units::human_size;
use crate::vmm::VmmKind;

/// One event of a fork session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    /// Fork name.
    pub fork: String,
    /// Milliseconds since the session started.
    pub elapsed_ms: u64,
    /// What happened.
    pub what: Happening,
}

/// Why a stage (and so the session) failed, as recorded: the error's stage,
/// kind, mailbox, whole message and the reason without the mailbox prefix.
/// Built from a [`ForkError`] through its accessors; plain data, so it is
/// kept in the history as it was and read back without parsing text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The stage that failed.
    #[serde(rename = "failed_stage")]
    pub stage: Stage,
    /// What kind of failure (exit codes and `--json` `kind` derive from it).
    pub kind: ErrorKind,
    /// The mailbox it is about, when one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// What, where and why (may quote guest text: sanitize to show).
    #[serde(rename = "error")]
    pub message: String,
    /// The message without its `mailbox NAME: ` prefix.
    pub reason: String,
}

impl Failure {
    /// Whether the session was cancelled (not failed).
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }
    /// The stage that failed (as [`ForkError::stage`]).
    pub fn stage(&self) -> Stage {
        self.stage
    }
    /// What kind of failure (as [`ForkError`]'s).
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl std::fmt::Display for Failure {
    /// The whole message, as [`ForkError`]'s.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<&ForkError> for Failure {
    fn from(e: &ForkError) -> Failure {
        Failure {
            stage: e.stage(),
            kind: e.kind(),
            mailbox: e.mailbox_name().map(str::to_string),
            message: e.to_string(),
            reason: e.reason().to_string(),
        }
    }
}

/// What became of the fork a session made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Its session failed (or was cancelled) and removed it.
    RolledBack,
    /// Its VMM was stopped (`forkmail stop`); its files stay.
    Stopped,
    /// It was removed (`forkmail rm`, a fan-out's rollback).
    Removed,
}

impl Fate {
    /// A few words for people: "rolled back", "stopped", "removed".
    pub fn label(self) -> &'static str {
        match self {
            Fate::RolledBack => "rolled back",
            Fate::Stopped => "stopped",
            Fate::Removed => "removed",
        }
    }
}

/// The last lines of a fork's logs, kept in its session's history when the
/// fork goes (unsanitized: guest-written). Read by [`KeptLogs::read`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptLogs {
    /// The guest's console (`guest.log`).
    #[serde(default)]
    pub guest_log: Vec<String>,
    /// The VMM's own log, when it keeps one apart (QEMU's `qemu.log`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vmm_log: Vec<String>,
}

/// What happened in a session.
///
/// Serialized with the variant's name in `event` (snake case) and its
/// fields beside the documented wire fields; where a field is one of those
/// (`mailbox`, `ack_port`, `bytes`, `error`, …) it has that name and value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Happening {
    /// A stage began (validate, preflight, patch, restore, ack, rollback).
    StageStarted(#[serde(with = "started_stage")] Stage),
    /// Every rule passed; ack sockets bound; frames built.
    Validated {
        /// Mailboxes in the request.
        mailboxes: usize,
    },
    /// The copy began: the fork's directory exists now, and everything in
    /// it belongs to this session.
    CopyStarted {
        /// The fork's directory.
        #[serde(rename = "path")]
        dir: PathBuf,
    },
    /// Bytes of data copied so far.
    CopyProgress {
        /// Done.
        bytes: u64,
        /// In all.
        total: u64,
    },
    /// The memory file was copied.
    Copied {
        /// Reflink or sparse.
        method: CopyMethod,
        /// Data bytes copied.
        #[serde(rename = "bytes")]
        data_bytes: u64,
        /// Apparent size of the file.
        size: u64,
    },
    /// Zero-copy: nothing copied, the fork maps the template privately.
    ZeroCopy,
    /// Every marker found and every payload fits; nothing written yet.
    Preflighted {
        /// Markers verified.
        markers: usize,
    },
    /// One frame written.
    FrameWritten {
        /// Mailbox.
        mailbox: String,
        /// Payload bytes.
        bytes: usize,
        /// Marker offset.
        offset: u64,
    },
    /// The patched memory and the device state were exported.
    Exported {
        /// The export directory.
        #[serde(rename = "path")]
        dir: PathBuf,
        /// Files written there.
        files: Vec<String>,
    },
    /// Every frame written.
    Patched {
        /// Frames.
        frames: usize,
        /// Written into the paused guest (zero-copy) rather than a file.
        into_paused_guest: bool,
    },
    /// The VM exists, its device state loaded, paused (restore progress).
    VmLoaded {
        /// Its VMM was started ahead of time ([`super::Prestart`]): this
        /// took only the state load.
        prestarted: bool,
        /// Milliseconds it took (start and load, or load alone).
        took_ms: u64,
    },
    /// The VM runs.
    Restored {
        /// Which VMM.
        vmm: VmmKind,
        /// Its process.
        pid: u32,
    },
    /// Waiting for one mailbox's ack.
    AckWaiting {
        /// Mailbox.
        mailbox: String,
        /// UDP port.
        #[serde(rename = "ack_port")]
        port: u16,
        /// Deadline in ms from now.
        deadline_ms: u64,
    },
    /// A datagram on a mailbox's ack port did not count.
    DatagramIgnored {
        /// Mailbox.
        mailbox: String,
        /// UDP port.
        #[serde(rename = "ack_port")]
        port: u16,
        /// Who sent it.
        from: SocketAddr,
        /// Why it did not count.
        reason: String,
    },
    /// Datagrams on a mailbox's ack port that did not count, counted
    /// rather than reported one by one (a flood is one event a second, not
    /// one per datagram) — or one datagram from someone other than the
    /// fork's guest (another local process, another address): noise, never
    /// the guest's doing. [`Happening::DatagramIgnored`] is the guest's own.
    DatagramsIgnored {
        /// Mailbox.
        mailbox: String,
        /// UDP port.
        #[serde(rename = "ack_port")]
        port: u16,
        /// How many since the last report.
        count: u64,
        /// How many of them came from someone other than the fork's guest.
        foreign: u64,
        /// The last one's sender.
        from: SocketAddr,
        /// Why the last one did not count.
        reason: String,
    },
    /// One mailbox acked.
    Acked {
        /// Mailbox.
        mailbox: String,
        /// UDP port.
        #[serde(rename = "ack_port")]
        port: u16,
        /// Milliseconds after the wait began.
        after_ms: u64,
    },
    /// Every awaited ack arrived (0: none was awaited).
    AcksDone {
        /// Acks received.
        count: usize,
    },
    /// The current stage failed.
    StageFailed(Failure),
    /// Rollback finished.
    RolledBack {
        /// What it undid.
        notes: Vec<String>,
        /// The end of the fork's logs, read before its directory was
        /// removed (empty when no directory was made).
        #[serde(flatten)]
        kept: KeptLogs,
    },
    /// Rollback could not undo everything.
    RollbackFailed {
        /// Why.
        error: String,
    },
    /// The session succeeded.
    Done,
    /// The session ended in failure (the last event).
    Failed(Failure),
    /// Later, the fork the session made went (stopped or removed, by the
    /// CLI, the TUI or a fan-out's rollback): appended to the history of
    /// the session that made it, with the end of its logs.
    ForkGone {
        /// What became of it.
        fate: Fate,
        /// The end of its logs.
        #[serde(flatten)]
        logs: KeptLogs,
    },
}

/// `StageStarted`'s stage is the line's own `stage` field.
mod started_stage {
    use super::Stage;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Field {
        stage: Stage,
    }

    pub fn serialize<S: Serializer>(stage: &Stage, s: S) -> Result<S::Ok, S::Error> {
        Field { stage: *stage }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Stage, D::Error> {
        Field::deserialize(d).map(|f| f.stage)
    }
}

impl SessionEvent {
    /// The stage this event is about.
    pub fn stage(&self) -> Stage {
        use Happening::*;
        match &self.what {
            StageStarted(s) => *s,
            Validated { .. } => Stage::Validate,
            CopyStarted { .. } | CopyProgress { .. } | Copied { .. } | ZeroCopy => Stage::Copy,
            Preflighted { .. } => Stage::Preflight,
            FrameWritten { .. } | Patched { .. } | Exported { .. } => Stage::Patch,
            VmLoaded { .. } | Restored { .. } => Stage::Restore,
            AckWaiting { .. }
            | DatagramIgnored { .. }
            | DatagramsIgnored { .. }
            | Acked { .. }
            | AcksDone { .. } => Stage::Ack,
            StageFailed(e) => e.stage,
            RolledBack { .. } | RollbackFailed { .. } => Stage::Rollback,
            ForkGone { .. } | Done => Stage::Done,
            Failed(_) => Stage::Failed,
        }
    }

    /// Whether this event ends its stage successfully (the stage's one "ok"
    /// without a mailbox): the point a stage's timing is taken at.
    pub fn ends_stage(&self) -> bool {
        matches!(
            self.what,
            Happening::Validated { .. }
                | Happening::Copied { .. }
                | Happening::ZeroCopy
                | Happening::Preflighted { .. }
                | Happening::Patched { .. }
                | Happening::Restored { .. }
                | Happening::AcksDone { .. }
                | Happening::Done
        )
    }

    /// The status on the wire.
    pub fn status(&self) -> Status {
        use Happening::*;
        match &self.what {
            StageStarted(_) | CopyStarted { .. } | AckWaiting { .. } => Status::Started,
            CopyProgress { .. }
            | FrameWritten { .. }
            | DatagramIgnored { .. }
            | DatagramsIgnored { .. }
            | VmLoaded { .. }
            | ForkGone { .. } => Status::Progress,
            StageFailed(_) | RollbackFailed { .. } | Failed(_) => Status::Failed,
            _ => Status::Ok,
        }
    }

    /// The mailbox the event is about.
    pub fn mailbox(&self) -> Option<&str> {
        use Happening::*;
        match &self.what {
            FrameWritten { mailbox, .. }
            | AckWaiting { mailbox, .. }
            | DatagramIgnored { mailbox, .. }
            | DatagramsIgnored { mailbox, .. }
            | Acked { mailbox, .. } => Some(mailbox),
            StageFailed(e) | Failed(e) => e.mailbox.as_deref(),
            _ => None,
        }
    }

    /// The failure, for failure events.
    pub fn failure(&self) -> Option<&Failure> {
        match &self.what {
            Happening::StageFailed(e) | Happening::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// A short human description (unsanitized: may quote guest text).
    pub fn detail(&self) -> Option<String> {
        use Happening::*;
        Some(match &self.what {
            Validated { mailboxes } => format!("{mailboxes} mailbox(es) valid"),
            Copied {
                method,
                data_bytes,
                size,
            } => format!(
                "{}: {} of data in {}",
                method.label(),
                human_size(*data_bytes),
                human_size(*size)
            ),
            ZeroCopy => "zero-copy: the fork maps the template's memory privately".into(),
            Preflighted { markers } => {
                format!("{markers} marker(s) verified, every payload fits")
            }
            FrameWritten { bytes, offset, .. } => format!("{bytes} bytes at {offset:#x}"),
            Patched {
                frames,
                into_paused_guest,
            } => {
                if *into_paused_guest {
                    format!("{frames} frame(s) written into the paused guest")
                } else {
                    format!("{frames} frame(s) written")
                }
            }
            Exported { dir, files } => {
                format!("exported {} to {}", files.join(" + "), dir.display())
            }
            VmLoaded {
                prestarted: true,
                took_ms,
            } => format!("prestarted VM loaded its state in {took_ms} ms"),
            VmLoaded { took_ms, .. } => format!("VM started and loaded in {took_ms} ms"),
            Restored { vmm, pid } => format!("{} running, pid {pid}", vmm.label()),
            DatagramIgnored { from, reason, .. } => {
                format!("ignored a datagram from {from}: {reason}")
            }
            DatagramsIgnored {
                count: 1,
                foreign: 1,
                from,
                reason,
                ..
            } => format!("ignored a datagram from {from}, not the fork's guest: {reason}"),
            DatagramsIgnored {
                count,
                foreign,
                from,
                reason,
                ..
            } => format!(
                "ignored {count} more datagram(s), {foreign} of them not from the fork's guest; the last from {from}: {reason}"
            ),
            Acked { after_ms, .. } => format!("acked after {after_ms} ms"),
            AcksDone { count: 0 } => "no mailbox waits for an ack".into(),
            AcksDone { count } => format!("{count} ack(s) received"),
            ForkGone { fate, logs } => format!(
                "the fork was {}; the last {} line(s) of its guest log kept",
                fate.label(),
                logs.guest_log.len()
            ),
            RolledBack { notes, .. } => notes.join("; "),
            _ => return None,
        })
    }

    /// Whether this is the last event of a session (a [`Happening::ForkGone`]
    /// of a stopped or removed fork can follow `done` later).
    pub fn is_final(&self) -> bool {
        matches!(self.what, Happening::Done | Happening::Failed(_))
    }
}
