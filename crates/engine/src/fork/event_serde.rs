//! A [`SessionEvent`] as one flat JSON line, and back.
//!
//! Written: the documented wire fields first (`fork`, `stage`, `status`,
//! `elapsed_ms`, then `mailbox`, `ack_port`, `deadline_ms`, `bytes`,
//! `total`, `detail`, `error`, `kind`, `path`, `pid` where they apply), then
//! `event` and the variant's own fields ([`Happening`]'s serde form, whose
//! fields that are wire fields carry the same names and values). Read: the
//! variant from `event`; a line written before `event` existed is read by
//! what its wire fields say (counts that only its `detail` text held read
//! as 0 — nothing parses text).

use std::path::PathBuf;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::event::{Failure, Happening, KeptLogs, SessionEvent};
use super::{CopyMethod, Stage, Status};
use crate::error::ErrorKind;
use crate::vmm::VmmKind;

impl Serialize for SessionEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use Happening::*;
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("fork", self.fork.clone().into());
        put("stage", json(&self.stage()));
        put("status", json(&self.status()));
        put("elapsed_ms", self.elapsed_ms.into());
        if let Some(mb) = self.mailbox() {
            put("mailbox", mb.into());
        }
        match &self.what {
            AckWaiting {
                port, deadline_ms, ..
            } => {
                put("ack_port", (*port).into());
                put("deadline_ms", (*deadline_ms).into());
            }
            DatagramIgnored { port, .. } | DatagramsIgnored { port, .. } | Acked { port, .. } => {
                put("ack_port", (*port).into())
            }
            CopyProgress { bytes, total } => {
                put("bytes", (*bytes).into());
                put("total", (*total).into());
            }
            Copied { data_bytes, .. } => {
                put("bytes", (*data_bytes).into());
                put("total", (*data_bytes).into());
            }
            FrameWritten { bytes, .. } => put("bytes", (*bytes as u64).into()),
            _ => {}
        }
        if let Some(d) = self.detail() {
            put("detail", d.into());
        }
        match &self.what {
            StageFailed(f) | Failed(f) => {
                put("error", f.message.clone().into());
                put("kind", json(&f.kind));
            }
            RollbackFailed { error } => put("error", error.clone().into()),
            _ => {}
        }
        match &self.what {
            CopyStarted { dir } | Exported { dir, .. } => put("path", json(dir)),
            Restored { pid, .. } => put("pid", (*pid).into()),
            _ => {}
        }
        // The variant and its own fields; a field that is also a wire field
        // has the same value there, so the wire's stays.
        if let Value::Object(typed) =
            serde_json::to_value(&self.what).map_err(serde::ser::Error::custom)?
        {
            for (k, v) in typed {
                m.entry(k).or_insert(v);
            }
        }
        m.serialize(s)
    }
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The wire fields every line has, and those a line written before `event`
/// existed is read by.
#[derive(Deserialize)]
struct Wire {
    fork: String,
    stage: Stage,
    status: Status,
    elapsed_ms: u64,
    #[serde(default)]
    mailbox: Option<String>,
    #[serde(default)]
    ack_port: Option<u16>,
    #[serde(default)]
    deadline_ms: Option<u64>,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    kind: Option<ErrorKind>,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    pid: Option<u32>,
}

impl<'de> Deserialize<'de> for SessionEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SessionEvent, D::Error> {
        let line = Value::deserialize(d)?;
        let wire = Wire::deserialize(&line).map_err(D::Error::custom)?;
        let what = if line.get("event").is_some() {
            Happening::deserialize(&line).map_err(D::Error::custom)?
        } else {
            legacy(&wire).ok_or_else(|| {
                D::Error::custom(format!(
                    "an event line of stage {} ({:?}) without `event` that says nothing known",
                    wire.stage, wire.status
                ))
            })?
        };
        Ok(SessionEvent {
            fork: wire.fork,
            elapsed_ms: wire.elapsed_ms,
            what,
        })
    }
}

/// The event a line written before `event` existed stands for.
fn legacy(w: &Wire) -> Option<Happening> {
    use Happening::*;
    let failure = |stage: Stage| {
        let message = w.error.clone().unwrap_or_else(|| "failed".into());
        let reason = match &w.mailbox {
            Some(mb) => message
                .strip_prefix(&format!("mailbox {mb}: "))
                .unwrap_or(&message)
                .to_string(),
            None => message.clone(),
        };
        Failure {
            stage,
            kind: w.kind.unwrap_or(ErrorKind::Internal),
            mailbox: w.mailbox.clone(),
            message,
            reason,
        }
    };
    let mailbox = || w.mailbox.clone().unwrap_or_default();
    Some(match (w.stage, w.status) {
        (Stage::Failed, _) => Failed(failure(w.stage)),
        (Stage::Rollback, Status::Failed) => RollbackFailed {
            error: w.error.clone().unwrap_or_default(),
        },
        (stage, Status::Failed) => StageFailed(failure(stage)),
        (Stage::Done, _) => Done,
        (Stage::Rollback, Status::Ok) => RolledBack {
            notes: w.detail.iter().cloned().collect(),
            kept: KeptLogs::default(),
        },
        (Stage::Copy, Status::Started) => CopyStarted {
            dir: w.path.clone()?,
        },
        (Stage::Copy, Status::Progress) => CopyProgress {
            bytes: w.bytes?,
            total: w.total?,
        },
        (Stage::Copy, Status::Ok) => Copied {
            method: CopyMethod::Sparse,
            data_bytes: w.bytes.unwrap_or(0),
            size: w.total.unwrap_or(0),
        },
        (Stage::Ack, Status::Started) if w.mailbox.is_some() => AckWaiting {
            mailbox: mailbox(),
            port: w.ack_port.unwrap_or(0),
            deadline_ms: w.deadline_ms.unwrap_or(0),
        },
        (Stage::Ack, Status::Ok) if w.mailbox.is_some() => Acked {
            mailbox: mailbox(),
            port: w.ack_port.unwrap_or(0),
            after_ms: 0,
        },
        (Stage::Ack, Status::Ok) => AcksDone { count: 0 },
        (Stage::Patch, Status::Progress) => FrameWritten {
            mailbox: mailbox(),
            bytes: usize::try_from(w.bytes.unwrap_or(0)).unwrap_or(usize::MAX),
            offset: 0,
        },
        (Stage::Restore, Status::Ok) => Restored {
            vmm: VmmKind::Sim,
            pid: w.pid.unwrap_or(0),
        },
        (Stage::Validate, Status::Ok) => Validated { mailboxes: 0 },
        (Stage::Preflight, Status::Ok) => Preflighted { markers: 0 },
        (Stage::Patch, Status::Ok) => Patched {
            frames: 0,
            into_paused_guest: false,
        },
        (stage, Status::Started) => StageStarted(stage),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::event::Fate;
    use super::*;
    use crate::fork::ForkError;

    fn ev(what: Happening) -> SessionEvent {
        SessionEvent {
            fork: "f".into(),
            elapsed_ms: 7,
            what,
        }
    }

    fn line(what: Happening) -> Value {
        serde_json::to_value(ev(what)).expect("serialize")
    }

    /// The documented wire fields of a line (what `fork --json` has always
    /// printed); `event` and the variant's own fields come on top.
    fn wire_part(v: &Value) -> Value {
        const WIRE: [&str; 14] = [
            "fork",
            "stage",
            "status",
            "elapsed_ms",
            "mailbox",
            "ack_port",
            "deadline_ms",
            "bytes",
            "total",
            "detail",
            "error",
            "kind",
            "path",
            "pid",
        ];
        let mut m = v.as_object().expect("object").clone();
        m.retain(|k, _| WIRE.contains(&k.as_str()));
        Value::Object(m)
    }

    #[test]
    fn wire_lines_keep_the_documented_shape() {
        use serde_json::json;
        let waiting = line(Happening::AckWaiting {
            mailbox: "a".into(),
            port: 4000,
            deadline_ms: 5000,
        });
        assert_eq!(
            wire_part(&waiting),
            json!({"fork":"f","stage":"ack","status":"started","elapsed_ms":7,
                "mailbox":"a","ack_port":4000,"deadline_ms":5000})
        );
        assert_eq!(waiting["event"], "ack_waiting");
        assert_eq!(
            wire_part(&line(Happening::CopyProgress { bytes: 1, total: 2 })),
            json!({"fork":"f","stage":"copy","status":"progress","elapsed_ms":7,"bytes":1,"total":2})
        );
        let e = ForkError::mailbox(ErrorKind::AckTimeout, "a", "no ack").at(Stage::Ack);
        let failed = line(Happening::Failed(Failure::from(&e)));
        assert_eq!(
            wire_part(&failed),
            json!({"fork":"f","stage":"failed","status":"failed","elapsed_ms":7,
                "mailbox":"a","error":"mailbox a: no ack","kind":"ack_timeout"})
        );
        // What nothing had to parse back out of `error` any more.
        assert_eq!(failed["reason"], "no ack");
        assert_eq!(failed["failed_stage"], "ack");
        assert_eq!(
            wire_part(&line(Happening::Done)),
            json!({"fork":"f","stage":"done","status":"ok","elapsed_ms":7})
        );
    }

    /// One of each variant.
    fn every_variant() -> Vec<Happening> {
        use Happening::*;
        let f = Failure::from(
            &ForkError::mailbox(ErrorKind::GuestExited, "app.config", "guest exited")
                .at(Stage::Ack),
        );
        vec![
            StageStarted(Stage::Preflight),
            Validated { mailboxes: 2 },
            CopyStarted {
                dir: "/s/forks/f".into(),
            },
            CopyProgress {
                bytes: 10,
                total: 20,
            },
            Copied {
                method: CopyMethod::Reflink,
                data_bytes: 20,
                size: 40,
            },
            ZeroCopy,
            Preflighted { markers: 2 },
            FrameWritten {
                mailbox: "a".into(),
                bytes: 12,
                offset: 0x1000,
            },
            Exported {
                dir: "/x".into(),
                files: vec!["memory".into(), "state".into()],
            },
            Patched {
                frames: 2,
                into_paused_guest: true,
            },
            VmLoaded {
                prestarted: true,
                took_ms: 3,
            },
            Restored {
                vmm: VmmKind::Qemu,
                pid: 42,
            },
            AckWaiting {
                mailbox: "a".into(),
                port: 4000,
                deadline_ms: 5000,
            },
            DatagramIgnored {
                mailbox: "a".into(),
                port: 4000,
                from: "127.0.0.1:9".parse().expect("addr"),
                reason: "forged".into(),
            },
            DatagramsIgnored {
                mailbox: "a".into(),
                port: 4000,
                count: 12,
                foreign: 10,
                from: "127.0.0.1:9".parse().expect("addr"),
                reason: "forged".into(),
            },
            Acked {
                mailbox: "a".into(),
                port: 4000,
                after_ms: 4,
            },
            AcksDone { count: 2 },
            StageFailed(f.clone()),
            RolledBack {
                notes: vec!["stopped VMM pid 42".into()],
                kept: KeptLogs {
                    guest_log: vec!["forkmail-guest: armed".into()],
                    vmm_log: vec![],
                },
            },
            RollbackFailed {
                error: "cannot remove".into(),
            },
            Done,
            Failed(f),
            ForkGone {
                fate: Fate::Removed,
                logs: KeptLogs {
                    guest_log: vec!["a".into(), "b".into()],
                    vmm_log: vec!["qemu: c".into()],
                },
            },
        ]
    }

    #[test]
    fn every_event_reads_back_as_it_was_written() {
        for what in every_variant() {
            let e = ev(what);
            let text = serde_json::to_string(&e).expect("serialize");
            let back: SessionEvent = serde_json::from_str(&text).expect(&text);
            assert_eq!(back, e, "{text}");
        }
    }

    #[test]
    fn a_line_written_before_event_existed_reads_as_what_it_says() {
        let back = |text: &str| -> Happening {
            serde_json::from_str::<SessionEvent>(text).expect(text).what
        };
        assert_eq!(
            back(
                r#"{"fork":"f","stage":"ack","status":"started","elapsed_ms":3,"mailbox":"a","ack_port":4000,"deadline_ms":5000}"#
            ),
            Happening::AckWaiting {
                mailbox: "a".into(),
                port: 4000,
                deadline_ms: 5000
            }
        );
        let failed = back(
            r#"{"fork":"f","stage":"failed","status":"failed","elapsed_ms":9,"mailbox":"a","error":"mailbox a: no ack","kind":"ack_timeout"}"#,
        );
        let Happening::Failed(f) = failed else {
            panic!("{failed:?}")
        };
        assert_eq!(
            (f.kind, f.reason.as_str()),
            (ErrorKind::AckTimeout, "no ack")
        );
        assert_eq!(
            back(r#"{"fork":"f","stage":"done","status":"ok","elapsed_ms":9}"#),
            Happening::Done
        );
    }
}
