//! The one fold: guest text never reaches the terminal, a session shows
//! no log before it made its own directory, a cancel reads as a cancel,
//! and a session read back from the history is the session that ran.

use super::*;
use crate::error::ErrorKind;
use crate::history::{RecordedMailbox, SessionHeader};

fn no_controls(s: &str) -> bool {
    !s.chars().any(|c| c.is_control())
}

fn ev(elapsed_ms: u64, what: Happening) -> SessionEvent {
    SessionEvent {
        fork: "f".into(),
        elapsed_ms,
        what,
    }
}

#[test]
fn guest_log_and_event_text_never_carry_control_characters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join(GUEST_LOG);
    std::fs::write(
        &log,
        "ok line\n\x1b]0;owned\x07title\n\x1b[2J\x1b[Hclear\r\nbell\x07\u{9b}31m\n",
    )
    .expect("write log");
    let now = Instant::now();
    let mut s = SessionView::new(1, "f", "snap", vec![], now);
    let dir_path = dir.path().to_path_buf();
    s.apply(&ev(0, Happening::CopyStarted { dir: dir_path }), now);
    s.refresh_log();
    assert_eq!(s.log_tail.len(), 4, "{:?}", s.log_tail);
    assert!(
        s.log_tail.iter().all(|l| no_controls(l)),
        "{:?}",
        s.log_tail
    );
    assert_eq!(s.log_tail[1], "�]0;owned�title");

    let evil = "mb\x1b[31m";
    s.apply(
        &ev(
            1,
            Happening::AckWaiting {
                mailbox: evil.into(),
                port: 1,
                deadline_ms: 10,
            },
        ),
        now,
    );
    let err = ForkError::mailbox(ErrorKind::AckTimeout, evil, "guest said \x1b[5m").at(Stage::Ack);
    s.apply(&ev(2, Happening::StageFailed((&err).into())), now);
    s.apply(
        &ev(
            3,
            Happening::FrameWritten {
                mailbox: evil.into(),
                bytes: 3,
                offset: 0,
            },
        ),
        now,
    );
    s.apply(
        &ev(
            4,
            Happening::Failed((&ForkError::new(ErrorKind::Io, "boom\x1b[0m")).into()),
        ),
        now,
    );
    assert!(s.acks.iter().all(|a| no_controls(&a.mailbox)));
    assert!(matches!(&s.acks[0].state, AckState::Failed(t) if no_controls(t)));
    for r in s.stages.values() {
        assert!(r.detail.as_deref().is_none_or(no_controls), "{r:?}");
        assert!(r.error.as_deref().is_none_or(no_controls), "{r:?}");
    }
    assert!(s.error().as_deref().is_some_and(no_controls));
}

#[test]
fn a_session_shows_no_log_before_it_made_its_own_directory() {
    // Another fork's directory of the same name holds a log: it is not shown.
    let now = Instant::now();
    let mut s = SessionView::new(1, "taken", "snap", vec![], now);
    s.refresh_log();
    assert!(s.log_tail.is_empty());
    assert!(s.log_path.is_none());
    let err = ForkError::new(ErrorKind::BadRequest, "fork taken already exists");
    s.apply(&ev(1, Happening::StageFailed((&err).into())), now);
    s.end(Err(err));
    assert!(s.log_path.is_none() && s.log_tail.is_empty());
}

/// Item 13: a cancelled session is cancelled, its ack too — not failed.
#[test]
fn a_cancelled_session_says_so() {
    let now = Instant::now();
    let mut s = SessionView::new(1, "f", "snap", vec![], now);
    s.apply(
        &ev(
            1,
            Happening::AckWaiting {
                mailbox: "a".into(),
                port: 1,
                deadline_ms: 5000,
            },
        ),
        now,
    );
    let c = ForkError::cancelled().at(Stage::Ack);
    s.apply(&ev(2, Happening::StageFailed((&c).into())), now);
    s.apply(&ev(3, Happening::Failed((&c).into())), now);
    assert!(s.cancelled() && !s.is_running());
    assert_eq!(s.acks[0].state, AckState::Cancelled);
}

/// The final state comes with the final event, not with the thread's end.
#[test]
fn the_final_event_ends_the_session() {
    let now = Instant::now();
    let mut s = SessionView::new(1, "f", "snap", vec![], now);
    s.apply(&ev(9, Happening::Done), now);
    assert!(s.done() && !s.is_running());
}

/// Shape point 2: a session read back is folded by the same fold — the
/// same events give the same view, live or after a restart.
#[test]
fn a_past_session_is_the_live_session_read_back() {
    let events = vec![
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
            Happening::StageFailed(
                (&ForkError::mailbox(ErrorKind::AckTimeout, "app", "no ack").at(Stage::Ack)).into(),
            ),
        ),
        ev(
            10,
            Happening::RolledBack {
                notes: vec!["removed".into()],
                kept: KeptLogs {
                    guest_log: vec!["fault=no-ack".into()],
                    vmm_log: vec![],
                },
            },
        ),
        ev(
            10,
            Happening::Failed(
                (&ForkError::mailbox(ErrorKind::AckTimeout, "app", "no ack").at(Stage::Ack)).into(),
            ),
        ),
    ];
    let now = Instant::now();
    let mut live = SessionView::new(1, "f", "web", vec!["app".into()], now);
    for e in &events {
        live.apply(e, now);
    }
    let past = PastSession {
        header: SessionHeader {
            version: 1,
            id: "20260101-000000000000-01".into(),
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
        events,
        read_to: 0,
    };
    let back = SessionView::from_history(2, &past, now);
    assert_eq!(back.stages, live.stages);
    assert_eq!(back.outcome, live.outcome);
    assert_eq!(back.failure, live.failure);
    assert_eq!(back.kept, live.kept);
    assert_eq!(
        back.kept.as_ref().map(|k| k.guest.clone()),
        Some(vec!["fault=no-ack".to_string()])
    );
    assert_eq!(
        back.failure.as_ref().map(|f| f.reason.as_str()),
        Some("no ack")
    );
    // Cut short: interrupted.
    let mut cut = past.clone();
    cut.events.truncate(2);
    let s = SessionView::from_history(3, &cut, now);
    assert_eq!(s.outcome, Some(Outcome::Interrupted));
    assert!(s.error().is_some_and(|e| e.starts_with("interrupted")));
}
