//! Typed session events: one variant per thing that happens, with its own
//! fields. The TUI and the CLI render them by matching on the variant; on
//! the wire (`fork --json`) each becomes one flat JSON line of the
//! documented shape: `fork`, `stage`, `status`, `elapsed_ms`, and
//! `mailbox`, `ack_port`, `deadline_ms`, `bytes`, `total`, `detail`, `error`,
//! `kind`, `path`, `pid` where they apply.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

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

/// What happened in a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Happening {
    /// A stage began (validate, preflight, patch, restore, ack, rollback).
    StageStarted(Stage),
    /// Every rule passed; ack sockets bound; frames built.
    Validated {
        /// Mailboxes in the request.
        mailboxes: usize,
    },
    /// The copy began: the fork's directory exists now, and everything in
    /// it belongs to this session.
    CopyStarted {
        /// The fork's directory.
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
        port: u16,
        /// Deadline in ms from now.
        deadline_ms: u64,
    },
    /// A datagram on a mailbox's ack port did not count.
    DatagramIgnored {
        /// Mailbox.
        mailbox: String,
        /// UDP port.
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
    StageFailed(ForkError),
    /// Rollback finished.
    RolledBack {
        /// What it undid.
        notes: Vec<String>,
    },
    /// Rollback could not undo everything.
    RollbackFailed {
        /// Why.
        error: String,
    },
    /// The session succeeded.
    Done,
    /// The session ended in failure (the last event).
    Failed(ForkError),
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
            StageFailed(e) => e.stage(),
            RolledBack { .. } | RollbackFailed { .. } => Stage::Rollback,
            Done => Stage::Done,
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
            | VmLoaded { .. } => Status::Progress,
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
            StageFailed(e) | Failed(e) => e.mailbox_name(),
            _ => None,
        }
    }

    /// The error, for failure events.
    pub fn error(&self) -> Option<&ForkError> {
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
            RolledBack { notes } => notes.join("; "),
            _ => return None,
        })
    }

    /// Whether this is the last event of a session.
    pub fn is_final(&self) -> bool {
        matches!(self.what, Happening::Done | Happening::Failed(_))
    }

    /// The flat wire form (`fork --json`).
    pub fn wire(&self) -> WireEvent<'_> {
        use Happening::*;
        let mut w = WireEvent {
            fork: &self.fork,
            stage: self.stage(),
            status: self.status(),
            elapsed_ms: self.elapsed_ms,
            mailbox: self.mailbox(),
            ack_port: None,
            deadline_ms: None,
            bytes: None,
            total: None,
            detail: self.detail(),
            error: self.error().map(|e| e.to_string()),
            kind: self.error().map(|e| e.kind()),
            path: None,
            pid: None,
            count: None,
            foreign: None,
        };
        match &self.what {
            CopyStarted { dir } | Exported { dir, .. } => w.path = Some(dir.clone()),
            CopyProgress { bytes, total } => (w.bytes, w.total) = (Some(*bytes), Some(*total)),
            Copied { data_bytes, .. } => {
                (w.bytes, w.total) = (Some(*data_bytes), Some(*data_bytes))
            }
            FrameWritten { bytes, .. } => w.bytes = Some(*bytes as u64),
            Restored { pid, .. } => w.pid = Some(*pid),
            AckWaiting {
                port, deadline_ms, ..
            } => (w.ack_port, w.deadline_ms) = (Some(*port), Some(*deadline_ms)),
            DatagramIgnored { port, .. } | Acked { port, .. } => w.ack_port = Some(*port),
            DatagramsIgnored {
                port,
                count,
                foreign,
                ..
            } => (w.ack_port, w.count, w.foreign) = (Some(*port), Some(*count), Some(*foreign)),
            RollbackFailed { error } => w.error = Some(error.clone()),
            _ => {}
        }
        w
    }
}

impl Serialize for SessionEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.wire().serialize(s)
    }
}

/// The flat JSON line of an event.
#[derive(Debug, Serialize)]
pub struct WireEvent<'a> {
    /// Fork name.
    pub fork: &'a str,
    /// Stage.
    pub stage: Stage,
    /// Status.
    pub status: Status,
    /// Milliseconds since the session started.
    pub elapsed_ms: u64,
    /// Mailbox the event is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<&'a str>,
    /// Ack port of that mailbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_port: Option<u16>,
    /// Ack deadline in milliseconds (ack started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Bytes done (copy, patch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Bytes in total (copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Human detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The error, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's kind, on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// The fork's directory (copy started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The VMM's pid (restore ok).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Datagrams an event stands for (datagrams ignored, counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Of those, datagrams from someone other than the fork's guest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(what: Happening) -> serde_json::Value {
        serde_json::to_value(SessionEvent {
            fork: "f".into(),
            elapsed_ms: 7,
            what,
        })
        .unwrap()
    }

    #[test]
    fn wire_lines_keep_the_documented_shape() {
        assert_eq!(
            line(Happening::AckWaiting {
                mailbox: "a".into(),
                port: 4000,
                deadline_ms: 5000
            }),
            serde_json::json!({"fork":"f","stage":"ack","status":"started","elapsed_ms":7,
                "mailbox":"a","ack_port":4000,"deadline_ms":5000})
        );
        assert_eq!(
            line(Happening::CopyProgress { bytes: 1, total: 2 }),
            serde_json::json!({"fork":"f","stage":"copy","status":"progress","elapsed_ms":7,"bytes":1,"total":2})
        );
        let e = ForkError::mailbox(ErrorKind::AckTimeout, "a", "no ack").at(Stage::Ack);
        assert_eq!(
            line(Happening::Failed(e)),
            serde_json::json!({"fork":"f","stage":"failed","status":"failed","elapsed_ms":7,
                "mailbox":"a","error":"mailbox a: no ack","kind":"ack_timeout"})
        );
        assert_eq!(
            line(Happening::Done),
            serde_json::json!({"fork":"f","stage":"done","status":"ok","elapsed_ms":7})
        );
    }
}
