//! The TUI at 80×24, where a presenter's terminal often is: the session
//! detail scrolls to a 20-fork fan-out's summary (item 1), names are cut in
//! the middle so rows stay apart, units never wrap, the forks table keeps
//! its MAILBOXES column, the payload shows from its start (item 4), and the
//! counts of the tab and the pane agree (item 9).

use crate::support::tui as common;

use std::sync::atomic::AtomicBool;

use common::{app_on, demo_like_store, key, keycode, render, select, settle};
use crossterm::event::{Event, KeyCode};
use forkmail::error::ErrorKind;
use forkmail::fork::{ForkError, ForkRequest, Forks, Happening, MailboxSpec, SessionEvent, Stage};
use forkmail::tui::action::Pane;
use forkmail::tui::app::App;
use forkmail::tui::msg::{FanoutSummary, Msg};
use forkmail::vmm::VmmKind;

fn small_app() -> (
    tempfile::TempDir,
    App,
    tokio::sync::mpsc::UnboundedReceiver<Msg>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = demo_like_store(&dir.path().join("store"), false);
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    (dir, app, rx)
}

fn ev(fork: &str, ms: u64, what: Happening) -> SessionEvent {
    SessionEvent {
        fork: fork.into(),
        elapsed_ms: ms,
        what,
    }
}

/// A fork's whole successful session, as the engine reports it.
fn done(fork: &str, at: u64) -> Vec<SessionEvent> {
    vec![
        ev(fork, at, Happening::StageStarted(Stage::Validate)),
        ev(fork, at + 1, Happening::Validated { mailboxes: 1 }),
        ev(fork, at + 2, Happening::ZeroCopy),
        ev(fork, at + 2, Happening::StageStarted(Stage::Preflight)),
        ev(fork, at + 3, Happening::Preflighted { markers: 1 }),
        ev(
            fork,
            at + 4,
            Happening::Patched {
                frames: 1,
                into_paused_guest: true,
            },
        ),
        ev(fork, at + 4, Happening::StageStarted(Stage::Restore)),
        ev(
            fork,
            at + 9,
            Happening::Restored {
                vmm: VmmKind::Sim,
                pid: 4242,
            },
        ),
        ev(fork, at + 9, Happening::StageStarted(Stage::Ack)),
        ev(fork, at + 12, Happening::AcksDone { count: 1 }),
        ev(fork, at + 12, Happening::Done),
    ]
}

/// A 20-fork fan-out of long names, one failed, ended with its summary.
fn fan_out_of_20(app: &mut App) -> Vec<u64> {
    let forks: Vec<String> = (0..20).map(|i| format!("web-c63961-{i}")).collect();
    let names: Vec<&str> = forks.iter().map(String::as_str).collect();
    let (ids, _) = app.follow_fanout("web-c63961", "web", 4, &names, &["app.config"]);
    for (i, id) in ids.iter().enumerate() {
        let f = &forks[i];
        if i == 7 {
            let err = ForkError::mailbox(
                ErrorKind::AckTimeout,
                "app.config",
                "no ack from the guest within 5000 ms on port 40003",
            )
            .at(Stage::Ack);
            for e in [
                ev(f, 0, Happening::StageStarted(Stage::Validate)),
                ev(f, 5009, Happening::StageFailed((&err).into())),
                ev(f, 5010, Happening::Failed((&err).into())),
            ] {
                app.on_msg(Msg::Session { id: *id, event: e });
            }
            app.on_msg(Msg::SessionEnd {
                id: *id,
                result: Err(err),
            });
            continue;
        }
        for e in done(f, u64::try_from(i).expect("i")) {
            app.on_msg(Msg::Session { id: *id, event: e });
        }
        app.on_msg(Msg::SessionEnd {
            id: *id,
            result: Ok(f.clone()),
        });
    }
    let gid = app.sessions().model().fanouts[0].id;
    app.on_msg(Msg::FanoutEnd {
        id: gid,
        summary: FanoutSummary {
            forks: 20,
            done: 19,
            failed: 1,
            elapsed_ms: 5123,
            per_second: 3.7,
            stages: vec![
                (Stage::Copy, 2, 3, 4),
                (Stage::Restore, 5, 6, 9),
                (Stage::Ack, 3, 4, 5),
                (Stage::Done, 12, 14, 31),
            ],
            divergence: Some((19, 19 * 131_072, "private dirty")),
            failures: vec![(
                "web-c63961-7".into(),
                ErrorKind::AckTimeout,
                "mailbox app.config: no ack from the guest within 5000 ms on port 40003".into(),
            )],
            removed: 0,
        },
    });
    ids
}

/// Item 1: the detail pane scrolls (`l` focuses it, `G` goes to the end):
/// a 20-fork fan-out's summary is reached at 80×24.
#[test]
fn a_20_fork_fan_out_scrolls_to_its_summary_at_80x24() {
    let (_d, mut app, _rx) = small_app();
    fan_out_of_20(&mut app);
    key(&mut app, 'g');
    let top = render(&mut app, 80, 24);
    assert!(!top.contains("divergence"), "the summary is below: {top}");
    key(&mut app, 'l');
    assert_eq!(app.focus(), Pane::SessionDetail);
    key(&mut app, 'G');
    let end = render(&mut app, 80, 24);
    for want in ["19 of 20 done, 1 failed", "divergence", "ack_timeout"] {
        assert!(end.contains(want), "{want}: {end}");
    }
    insta::assert_snapshot!("fan_out_20_summary_80x24", end);
    // PgUp and the wheel scroll back.
    keycode(&mut app, KeyCode::PageUp);
    keycode(&mut app, KeyCode::PageUp);
    assert!(render(&mut app, 80, 24).contains("web-c63961-0"));
    // Enter: the whole detail in the viewer, searchable.
    keycode(&mut app, KeyCode::Enter);
    let viewer = render(&mut app, 80, 24);
    assert!(viewer.contains("fan-out web-c63961 · lines 1-"), "{viewer}");
}

/// Item 4: at 80 columns the list keeps what tells rows apart: a name too
/// long is cut in the middle, its index kept.
#[test]
fn long_names_are_cut_in_the_middle_at_80_columns() {
    let (_d, mut app, _rx) = small_app();
    fan_out_of_20(&mut app);
    key(&mut app, 'g');
    key(&mut app, ' '); // expand
    let screen = render(&mut app, 80, 24);
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("✓ web-") || l.contains("✗ web-"))
        .collect();
    assert!(rows.len() >= 10, "{screen}");
    let names: std::collections::HashSet<String> = rows
        .iter()
        .map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("web-"))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        names.len(),
        rows.len(),
        "every row tells its fork: {screen}"
    );
    assert!(screen.contains("…-7 "), "the index survives: {screen}");
    insta::assert_snapshot!("fan_out_expanded_80x24", screen);
}

fn patched_fork(app: &App, name: &str) {
    let mut req = ForkRequest::new("web");
    req.fork_name = Some(name.into());
    req.restore = false;
    req.mailboxes = ["app.config", "secrets.v1"]
        .iter()
        .map(|m| MailboxSpec {
            name: (*m).into(),
            token: None,
            payload: Some("{}".into()),
            wait_for_ack: false,
            ack_timeout_ms: None,
        })
        .collect();
    Forks::new(app.store())
        .create(&req, &|_| {}, &AtomicBool::new(false))
        .expect("fork");
}

/// Item 4: the forks table at 80 columns keeps MAILBOXES (it drops the
/// PID first); item 12: its title says the private memory in all.
#[test]
fn the_forks_table_keeps_its_mailboxes_at_80_columns() {
    let (_d, mut app, _rx) = small_app();
    for n in ["web-c63961-10", "web-c63961-11"] {
        patched_fork(&app, n);
    }
    key(&mut app, '3');
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("MAILBOXES"), "{screen}");
    assert!(screen.contains("app.config"), "{screen}");
    assert!(screen.contains("web-c63961-10") && screen.contains("web-c63961-11"));
    assert!(screen.contains("private in all"), "{screen}");
    for n in ["web-c63961-10", "web-c63961-11"] {
        let _ = Forks::new(app.store()).remove(n);
    }
}

/// Item 4: a payload that is not being typed shows from its start.
#[test]
fn the_payload_shows_from_its_start_when_not_typing() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'i');
    keycode(&mut app, KeyCode::End);
    keycode(&mut app, KeyCode::Backspace);
    keycode(&mut app, KeyCode::Backspace);
    app.on_event(Event::Paste(format!(
        "{{\"db\": \"postgres://db/app\", \"region\": \"eu-west\", \"note\": \"{}\"}}",
        "n".repeat(120)
    )));
    // Typing: the text area scrolls to the cursor at the end.
    keycode(&mut app, KeyCode::Esc);
    let screen = render(&mut app, 80, 24);
    assert!(
        screen.contains("{\"db\": \"postgres://db/app\""),
        "{screen}"
    );
}

/// Item 9: the tab and the pane count the same entries; running ones are
/// said beside.
#[test]
fn the_tab_and_the_pane_count_the_same() {
    let (_d, mut app, _rx) = small_app();
    fan_out_of_20(&mut app);
    app.follow_session("web-one", "web", &["app.config"]);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("[2 Sessions (2) · 1 running]"), "{screen}");
    assert!(screen.contains("Sessions (2) · 1 running"), "{screen}");
    // A finished fan-out offers no cancel.
    key(&mut app, 'g');
    let screen = render(&mut app, 100, 30);
    assert!(!screen.contains("x cancel"), "{screen}");
    assert!(!screen.contains("cancel the fan-out"), "{screen}");
}
