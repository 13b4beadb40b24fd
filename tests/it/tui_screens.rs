//! Screens of the TUI rendered into ratatui's `TestBackend` and compared
//! with `insta` snapshots. The store is demo-shaped with fixed seeds and
//! tokens; the clock is frozen, so ages and countdowns are stable.

use crate::support::tui as common;

use common::{app_on, demo_like_store, key, keycode, render, select as select_snapshot, settle};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use forkmail::error::ErrorKind;
use forkmail::fork::{CopyMethod, ForkError, Happening, SessionEvent, Stage};
use forkmail::tui::action::{Action, Exit, Screen};
use forkmail::tui::app::App;
use forkmail::tui::msg::Msg;
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

#[test]
fn main_screen_on_the_demo_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = demo_like_store(&dir.path().join("store"), true);
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    select_snapshot(&mut app, &mut rx, "web");
    insta::assert_snapshot!("main_120x40", render(&mut app, 120, 40));
    insta::assert_snapshot!("main_80x24", render(&mut app, 80, 24));
}

#[test]
fn markers_pane_warns_about_a_duplicate_marker() {
    let (_d, mut app, mut rx) = small_app();
    select_snapshot(&mut app, &mut rx, "dup-marker");
    keycode(&mut app, KeyCode::Tab);
    insta::assert_snapshot!(render(&mut app, 100, 30));
}

#[test]
fn tokens_are_masked_until_revealed() {
    let (_d, mut app, mut rx) = small_app();
    select_snapshot(&mut app, &mut rx, "web");
    let masked = render(&mut app, 120, 30);
    assert!(!masked.contains("a1a1a1a1"));
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 't');
    assert!(render(&mut app, 120, 30).contains("a1a1a1a1"));
}

#[test]
fn editor_shows_a_syntax_error_with_line_and_column() {
    let (_d, mut app, mut rx) = small_app();
    select_snapshot(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'i');
    keycode(&mut app, KeyCode::End);
    keycode(&mut app, KeyCode::Backspace);
    for c in "\"region\": \"eu\",".chars() {
        key(&mut app, c);
    }
    keycode(&mut app, KeyCode::Enter);
    for c in "\"replicas\": [1, 2".chars() {
        key(&mut app, c);
    }
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("syntax error at line 2"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn editor_says_a_payload_must_be_an_object() {
    let (_d, mut app, mut rx) = small_app();
    select_snapshot(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'i');
    keycode(&mut app, KeyCode::End);
    keycode(&mut app, KeyCode::Backspace);
    keycode(&mut app, KeyCode::Backspace);
    app.on_event(Event::Paste("[1, 2]".into()));
    assert!(render(&mut app, 100, 30).contains("must be a JSON object (found an array)"));
}

#[test]
fn editor_shows_an_over_budget_payload() {
    let (_d, mut app, mut rx) = small_app();
    select_snapshot(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'i');
    keycode(&mut app, KeyCode::End);
    keycode(&mut app, KeyCode::Backspace);
    // 3825 bytes of text fit alone; the ack_port injection pushes it over.
    let blob = "x".repeat(3813);
    app.on_event(Event::Paste(format!("\"blob\": \"{blob}\"}}")));
    let ed = app.snapshots().payload().editor().expect("editor");
    assert!(ed.validation.typed_bytes <= 3832, "fits without ack_port");
    assert!(ed.validation.sent_bytes > 3832);
    keycode(&mut app, KeyCode::Esc);
    insta::assert_snapshot!(render(&mut app, 100, 30));
}

#[test]
fn drafts_persist_per_snapshot_and_mailbox() {
    let (dir, mut app, mut rx) = small_app();
    select_snapshot(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    let (_, mailbox) = app
        .snapshots()
        .selected_mailbox()
        .expect("a fork mailbox is selected");
    key(&mut app, 'a'); // ack off
    key(&mut app, 'i');
    app.on_event(Event::Paste(" ".into()));
    keycode(&mut app, KeyCode::Esc);
    drop(app);
    let store = forkmail::store::Store::open(dir.path().join("store")).expect("store");
    let (mut again, mut rx) = app_on(store);
    settle(&mut again, &mut rx);
    select_snapshot(&mut again, &mut rx, "web");
    let d: forkmail::store::Draft =
        forkmail::store::read_json(&forkmail::store::draft_path(again.store(), "web", &mailbox))
            .expect("draft");
    assert!(!d.wait_for_ack);
    // The cursor of an empty object starts between its braces.
    assert_eq!(d.payload, "{ }");
}

fn ev(fork: &str, ms: u64, what: Happening) -> SessionEvent {
    SessionEvent {
        fork: fork.into(),
        elapsed_ms: ms,
        what,
    }
}

/// A session followed by the app; the test plays the engine.
fn fake_session(app: &mut App, fork: &str, snapshot: &str, mbs: &[&str]) -> u64 {
    app.follow_session(fork, snapshot, mbs).0
}

fn feed(app: &mut App, id: u64, events: Vec<SessionEvent>) {
    for event in events {
        app.on_msg(Msg::Session { id, event });
    }
}

fn copy_started(app: &App, fork: &str, ms: u64) -> SessionEvent {
    ev(
        fork,
        ms,
        Happening::CopyStarted {
            dir: app.store().forks_dir().join(fork),
        },
    )
}

fn through_restore(app: &App, fork: &str) -> Vec<SessionEvent> {
    vec![
        ev(fork, 0, Happening::StageStarted(Stage::Validate)),
        ev(fork, 2, Happening::Validated { mailboxes: 2 }),
        copy_started(app, fork, 2),
        ev(
            fork,
            40,
            Happening::Copied {
                method: CopyMethod::Sparse,
                data_bytes: 32_296_140,
                size: 1 << 30,
            },
        ),
        ev(fork, 41, Happening::StageStarted(Stage::Preflight)),
        ev(fork, 42, Happening::Preflighted { markers: 2 }),
        ev(fork, 42, Happening::StageStarted(Stage::Patch)),
        ev(
            fork,
            43,
            Happening::Patched {
                frames: 2,
                into_paused_guest: false,
            },
        ),
        ev(fork, 45, Happening::StageStarted(Stage::Restore)),
        ev(
            fork,
            46,
            Happening::Restored {
                vmm: VmmKind::Sim,
                pid: 4242,
            },
        ),
    ]
}

#[test]
fn sessions_in_progress() {
    let (_d, mut app, _rx) = small_app();
    // One session copying...
    let one = fake_session(&mut app, "web-copying", "web", &["app.config"]);
    let f = "web-copying";
    let events = vec![
        ev(f, 0, Happening::StageStarted(Stage::Validate)),
        ev(f, 2, Happening::Validated { mailboxes: 1 }),
        copy_started(&app, f, 2),
        ev(
            f,
            20,
            Happening::CopyProgress {
                bytes: 12 << 20,
                total: 30 << 20,
            },
        ),
    ];
    feed(&mut app, one, events);
    // ...and one waiting for its acks: one acked, one counting down.
    let two = fake_session(&mut app, "web-acking", "web", &["app.config", "secrets.v1"]);
    let f = "web-acking";
    let mut events = through_restore(&app, f);
    events.push(ev(f, 46, Happening::StageStarted(Stage::Ack)));
    for (mb, port) in [("app.config", 40001u16), ("secrets.v1", 40002)] {
        events.push(ev(
            f,
            46,
            Happening::AckWaiting {
                mailbox: mb.into(),
                port,
                deadline_ms: 5000,
            },
        ));
    }
    events.push(ev(
        f,
        50,
        Happening::Acked {
            mailbox: "app.config".into(),
            port: 40001,
            after_ms: 4,
        },
    ));
    feed(&mut app, two, events);
    assert!(
        app.needs_tick(),
        "a countdown is visible: the loop must tick"
    );
    insta::assert_snapshot!("session_acking", render(&mut app, 100, 30));
    app.update(Action::Up);
    insta::assert_snapshot!("session_copying", render(&mut app, 100, 30));
}

#[test]
fn failed_session_shows_error_and_rollback() {
    let (_d, mut app, _rx) = small_app();
    let f = "silent-000001";
    let id = fake_session(&mut app, f, "silent", &["app.config"]);
    let mut events = through_restore(&app, f);
    events.push(ev(f, 46, Happening::StageStarted(Stage::Ack)));
    events.push(ev(
        f,
        46,
        Happening::AckWaiting {
            mailbox: "app.config".into(),
            port: 40003,
            deadline_ms: 5000,
        },
    ));
    let err = ForkError::mailbox(
        ErrorKind::AckTimeout,
        "app.config",
        "no ack from the guest within 5000 ms on port 40003",
    )
    .at(Stage::Ack);
    events.push(ev(f, 5047, Happening::StageFailed((&err).into())));
    events.push(ev(f, 5047, Happening::StageStarted(Stage::Rollback)));
    events.push(ev(
        f,
        5060,
        Happening::RolledBack {
            notes: vec!["stopped VMM pid 4242".into(), "removed the fork".into()],
            kept: Default::default(),
        },
    ));
    events.push(ev(f, 5060, Happening::Failed((&err).into())));
    feed(&mut app, id, events);
    app.on_msg(Msg::SessionEnd {
        id,
        result: Err(err),
    });
    assert!(!app.needs_tick(), "nothing animates once the session ended");
    insta::assert_snapshot!(render(&mut app, 100, 30));
}

#[tokio::test]
async fn help_overlay_through_the_event_loop() {
    let (_d, mut app, mut rx) = small_app();
    let backend = ratatui::backend::TestBackend::new(100, 40);
    let mut terminal = ratatui::Terminal::new(backend).expect("terminal");
    let keys = vec![Ok(Event::Key(KeyEvent::new(
        KeyCode::Char('?'),
        KeyModifiers::NONE,
    )))];
    let mut input = futures::stream::iter(keys);
    let exit = forkmail::tui::event_loop::run_loop(&mut terminal, &mut app, &mut rx, &mut input)
        .await
        .expect("loop");
    assert_eq!(exit, Exit::Quit);
    let root = app.store().root().display().to_string();
    insta::assert_snapshot!(terminal.backend().to_string().replace(&root, "<store>"));
}

#[test]
fn filter_narrows_the_snapshot_list() {
    let (_d, mut app, mut rx) = small_app();
    key(&mut app, '/');
    for c in "ack".chars() {
        key(&mut app, c);
    }
    keycode(&mut app, KeyCode::Enter);
    settle(&mut app, &mut rx);
    let names: Vec<_> = app
        .snapshots()
        .catalog()
        .visible()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names, ["slow-ack"]);
}

#[test]
fn help_scrolls_to_its_end_at_80x24() {
    let (_d, mut app, _rx) = small_app();
    render(&mut app, 80, 24);
    key(&mut app, '?');
    app.on_event(Event::Key(KeyEvent::new(
        KeyCode::Char('G'),
        KeyModifiers::SHIFT,
    )));
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("Mouse: a click selects"), "{screen}");
    key(&mut app, 'g');
    let top = render(&mut app, 80, 24);
    assert!(top.contains("Everywhere"), "{top}");
    keycode(&mut app, KeyCode::Esc);
    assert!(!render(&mut app, 80, 24).contains("Everywhere"));
}

#[test]
fn fork_dialog_lists_mailboxes_and_flags_an_invalid_payload() {
    let (_d, mut app, mut rx) = small_app();
    select_snapshot(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'i');
    app.on_event(Event::Paste("oops".into()));
    keycode(&mut app, KeyCode::Esc);
    key(&mut app, 'f');
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("fork name: web-"), "{screen}");
    assert!(
        screen.contains("✗ web-"),
        "the payload to send is refused: {screen}"
    );
    // The name is editable and checked before anything starts.
    for _ in 0..20 {
        keycode(&mut app, KeyCode::Backspace);
    }
    for c in "Bad Name".chars() {
        key(&mut app, c);
    }
    keycode(&mut app, KeyCode::Enter);
    assert!(
        app.sessions().model().list.is_empty(),
        "refused before starting"
    );
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("✗ not forked: invalid name"), "{screen}");
    keycode(&mut app, KeyCode::Esc);
    assert!(app.overlay().is_none());
}

#[test]
fn saved_drafts_show_in_the_markers_pane_before_a_row_is_visited() {
    let (dir, app, _rx) = small_app();
    let store = app.store().clone();
    drop(app);
    let path = store.drafts_dir().join("web");
    std::fs::create_dir_all(&path).expect("mkdir");
    let draft = forkmail::store::Draft {
        payload: "{}".into(),
        include: false,
        wait_for_ack: false,
        ack_timeout_ms: 5000,
    };
    for mb in ["app.config", "secrets.v1"] {
        forkmail::store::write_json_atomic(&path.join(format!("{mb}.json")), &draft)
            .expect("write draft");
    }
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    select_snapshot(&mut app, &mut rx, "web");
    let screen = render(&mut app, 100, 30);
    assert_eq!(screen.matches("[ ] fork").count(), 2, "{screen}");
    assert_eq!(screen.matches(" off ").count(), 2, "{screen}");
    drop(dir);
}

#[test]
fn a_duplicated_mailbox_is_never_forked_and_the_dialog_says_why() {
    let (_d, mut app, mut rx) = small_app();
    select_snapshot(&mut app, &mut rx, "dup-marker");
    // Not part of the fork, whatever the draft says, and space cannot include it.
    keycode(&mut app, KeyCode::Tab);
    while app
        .snapshots()
        .selected_marker()
        .is_some_and(|m| m.name.as_deref() != Some("app.config"))
    {
        key(&mut app, 'j');
    }
    key(&mut app, ' ');
    assert!(
        app.status()
            .is_some_and(|(t, _)| t.contains("app.config cannot be included")),
        "{:?}",
        app.status()
    );
    key(&mut app, 'f');
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("• cache.v2"), "{screen}");
    assert!(screen.contains("not forked"), "{screen}");
    assert!(
        screen.contains("✗ app.config: duplicate marker: forkmail refuses to patch an"),
        "{screen}"
    );
}

#[test]
fn q_asks_before_quitting_while_a_session_runs() {
    let (_d, mut app, _rx) = small_app();
    fake_session(&mut app, "web-q", "web", &["app.config"]);
    key(&mut app, 'q');
    assert!(!app.exiting(), "asks first");
    let screen = render(&mut app, 80, 24);
    assert!(
        screen.contains("1 session running: quit and roll it back?"),
        "{screen}"
    );
    key(&mut app, 'n');
    assert!(!app.exiting() && app.overlay().is_none());
    key(&mut app, 'q');
    key(&mut app, 'y');
    assert_eq!(app.take_exit(), Some(Exit::Quit));
}

#[tokio::test]
async fn a_quit_signal_quits_without_asking_and_running_sessions_roll_back() {
    let (_d, mut app, mut rx) = small_app();
    let (id, cancel) = app.follow_session("web-sig", "web", &["app.config"]);
    let backend = ratatui::backend::TestBackend::new(80, 24);
    let mut terminal = ratatui::Terminal::new(backend).expect("terminal");
    let mut input = futures::stream::pending();
    let mut signals = futures::stream::iter(["SIGTERM"]);
    let exit = forkmail::tui::event_loop::run_loop_with_signals(
        &mut terminal,
        &mut app,
        &mut rx,
        &mut input,
        &mut signals,
    )
    .await
    .expect("loop");
    assert_eq!(exit, Exit::Quit);
    assert!(app.overlay().is_none(), "a signal does not ask");
    // The engine stand-in: once cancelled, it rolls back and reports the end.
    let tx = app.shared().tx().clone();
    let engine = tokio::spawn(async move {
        while !cancel.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let e = ev(
            "web-sig",
            9,
            Happening::RolledBack {
                notes: vec!["fork directory removed".into()],
                kept: Default::default(),
            },
        );
        let _ = tx.send(Msg::Session { id, event: e });
        let _ = tx.send(Msg::SessionEnd {
            id,
            result: Err(ForkError::cancelled()),
        });
    });
    let n = forkmail::tui::event_loop::finish_sessions(
        &mut terminal,
        &mut app,
        &mut rx,
        std::time::Duration::from_secs(10),
    )
    .await;
    engine.await.expect("engine");
    assert_eq!(n, 1);
    let s = &app.sessions().model().list[0];
    assert!(!s.is_running(), "waited for the rollback");
    assert!(s.stages.contains_key(&Stage::Rollback));
    // Listed as cancelled, not failed.
    app.show(Screen::Sessions);
    let screen = render(&mut app, 100, 30);
    let row = screen
        .lines()
        .find(|l| l.contains("web-sig") && l.contains("⊘"))
        .unwrap_or_else(|| panic!("a cancelled row:\n{screen}"));
    assert!(
        row.contains("cancelled") && !row.contains("failed"),
        "{row}"
    );
}

#[test]
fn a_broken_snapshot_is_reported_not_silently_dropped() {
    let (_d, mut app, _rx) = small_app();
    let meta = app
        .store()
        .snapshots_dir()
        .join("silent")
        .join("snapshot.json");
    std::fs::write(&meta, "{ not json").expect("break snapshot.json");
    app.reload_store();
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("Snapshots (4) · ⚠ 1 broken"), "{screen}");
    assert!(screen.contains("broken snapshot:"), "{screen}");
}

#[test]
fn status_messages_do_not_follow_to_another_screen() {
    let (_d, mut app, _rx) = small_app();
    app.show(Screen::Sessions);
    key(&mut app, 'x');
    assert!(
        app.status()
            .is_some_and(|(t, _)| t.contains("no running session")),
        "{:?}",
        app.status()
    );
    key(&mut app, '1');
    assert!(app.status().is_none(), "{:?}", app.status());
}
