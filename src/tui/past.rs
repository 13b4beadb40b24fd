//! Sessions read back from the store's history (an earlier run's, the
//! CLI's): the flat `fork --json` lines folded into the same view model as
//! a live session, so the list, the detail and replay treat them alike.

use std::time::Instant;

use super::session::{AckState, SessionView};
use crate::fork::Stage;
use crate::history::PastSession;
use crate::sanitize::safe_owned;

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
            s.apply(e, now);
        }
        for a in s.acks.iter_mut().filter(|a| a.state == AckState::Waiting) {
            a.state = AckState::Failed("no result recorded".into());
        }
        let last = past
            .events
            .iter()
            .rev()
            .find(|e| e.is_final())
            .map(|e| e.stage());
        s.outcome = Some(match last {
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
        use crate::fork::{ForkError, Happening, SessionEvent};
        use crate::history::RecordedMailbox;
        let ev = |ms, what| SessionEvent {
            fork: "web-1".into(),
            elapsed_ms: ms,
            what,
        };
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
                ev(1, Happening::Validated { mailboxes: 1 }),
                ev(
                    5,
                    Happening::AckWaiting {
                        mailbox: "app".into(),
                        port: 4000,
                        deadline_ms: 5000,
                    },
                ),
                ev(
                    9,
                    Happening::Failed((&ForkError::cancelled().at(Stage::Ack)).into()),
                ),
            ],
            read_to: 0,
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
