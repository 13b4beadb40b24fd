//! Sessions read back from the store's history (an earlier run's, the
//! CLI's): the flat `fork --json` lines folded into the same view model as
//! a live session, so the list, the detail and replay treat them alike.

use std::time::Instant;

use super::session::{AckRow, AckState, SessionView, StageRow};
use crate::error::ErrorKind;
use crate::fork::{Stage, Status};
use crate::history::PastSession;
use crate::sanitize::{safe, safe_owned};
use crate::store::GUEST_LOG;

impl SessionView {
    /// A session read back from the history, as it ended (or as far as it
    /// got: a session without a final event was interrupted).
    pub fn from_past(id: u64, past: &PastSession, now: Instant) -> SessionView {
        let h = &past.header;
        let fork = past
            .events
            .first()
            .map(|e| e.fork.clone())
            .or_else(|| h.fork_name.clone())
            .unwrap_or_default();
        let names = h.mailboxes.iter().map(|m| safe_owned(&m.name)).collect();
        let mut s = SessionView::new(id, &safe_owned(&fork), &safe_owned(&h.snapshot), names, now);
        s.request = Some(h.clone());
        s.history_id = Some(h.id.clone());
        s.started_at = Some(h.started_at.clone());
        s.past = true;
        for e in &past.events {
            s.elapsed_ms = s.elapsed_ms.max(e.elapsed_ms);
            if let Some(p) = &e.path {
                s.log_path = Some(p.join(GUEST_LOG));
            }
            if e.stage == Stage::Copy {
                if e.status == Status::Started {
                    s.copy_started_ms = Some(e.elapsed_ms);
                }
                if let (Some(b), Some(t)) = (e.bytes, e.total) {
                    s.copy = Some((b, t));
                }
            }
            let mailbox = e.mailbox.as_deref().map(safe_owned);
            if e.stage == Stage::Ack
                && let Some(mb) = &mailbox
            {
                match e.status {
                    Status::Started => s.acks.push(AckRow {
                        mailbox: mb.clone(),
                        port: e.ack_port,
                        deadline_ms: e.deadline_ms.unwrap_or(0),
                        started_at: now,
                        state: AckState::Waiting,
                    }),
                    Status::Ok => s.set_ack(
                        mb,
                        AckState::Acked(safe_owned(e.detail.as_deref().unwrap_or("acked"))),
                    ),
                    Status::Failed => {
                        // As live: the reason, without the mailbox it is about.
                        let err = e.error.as_deref().unwrap_or("failed");
                        let raw = e.mailbox.as_deref().unwrap_or_default();
                        let why = err.strip_prefix(&format!("mailbox {raw}: ")).unwrap_or(err);
                        s.set_ack(mb, AckState::Failed(safe_owned(why)))
                    }
                    Status::Progress => s.ignored += 1,
                }
                if e.status != Status::Failed {
                    continue;
                }
            }
            let row = s.stages.entry(e.stage).or_insert(StageRow {
                status: e.status,
                started_ms: e.elapsed_ms,
                elapsed_ms: e.elapsed_ms,
                detail: None,
                error: None,
            });
            row.status = e.status;
            row.elapsed_ms = e.elapsed_ms;
            if let Some(d) = &e.detail {
                row.detail = Some(match &mailbox {
                    Some(m) => format!("[{m}] {}", safe(d)),
                    None => safe_owned(d),
                });
            }
            if let Some(err) = &e.error {
                row.error = Some(safe_owned(err));
            }
            if e.stage == Stage::Failed {
                s.error = e.error.as_deref().map(safe_owned);
                s.cancelled = e.kind == Some(ErrorKind::Cancelled);
            }
        }
        for a in s.acks.iter_mut().filter(|a| a.state == AckState::Waiting) {
            a.state = AckState::Failed("no result recorded".into());
        }
        s.outcome = Some(match past.events.last().map(|e| e.stage) {
            Some(Stage::Done) => Ok(s.fork.clone()),
            Some(Stage::Failed) => Err(s.error.clone().unwrap_or_else(|| "failed".into())),
            _ => {
                let why = "interrupted: no final event was recorded (forkmail gc cleans up)";
                s.error = Some(why.into());
                Err(why.into())
            }
        });
        s.refresh_log();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::SessionHeader;

    #[test]
    fn a_past_session_reads_back_as_it_ended() {
        use crate::history::{RecordedEvent, RecordedMailbox};
        let ev = |stage, status, ms, mailbox: Option<&str>| RecordedEvent {
            fork: "web-1".into(),
            stage,
            status,
            elapsed_ms: ms,
            mailbox: mailbox.map(String::from),
            ack_port: None,
            deadline_ms: Some(5000),
            bytes: None,
            total: None,
            detail: None,
            error: None,
            kind: None,
            path: None,
            pid: None,
        };
        let mut failed = ev(Stage::Failed, Status::Failed, 9, None);
        failed.error = Some("cancelled".into());
        failed.kind = Some(ErrorKind::Cancelled);
        let past = PastSession {
            header: SessionHeader {
                version: 1,
                id: "20260101-000000000-0001".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                origin: "cli".into(),
                snapshot: "web".into(),
                fork_name: None,
                restore: true,
                zero_copy: false,
                mailboxes: vec![RecordedMailbox {
                    name: "app".into(),
                    token: None,
                    payload: Some("{}".into()),
                    wait_for_ack: true,
                    ack_timeout_ms: None,
                }],
                fanout: None,
            },
            events: vec![
                ev(Stage::Validate, Status::Ok, 1, None),
                ev(Stage::Ack, Status::Started, 5, Some("app")),
                failed,
            ],
        };
        let s = SessionView::from_past(7, &past, Instant::now());
        assert_eq!(s.fork, "web-1");
        assert!(s.cancelled && !s.is_running());
        assert_eq!(s.acks.len(), 1);
        assert!(s.request.is_some() && s.past);
        let mut cut = past.clone();
        cut.events.pop();
        let s = SessionView::from_past(8, &cut, Instant::now());
        assert!(
            s.error
                .as_deref()
                .is_some_and(|e| e.starts_with("interrupted"))
        );
    }
}
