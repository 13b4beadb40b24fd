//! Evidence survives: a session whose fork was rolled back, or removed
//! later, keeps the end of its guest log in the store's history and its
//! detail says what became of the fork — after a restart too. A fan-out
//! read back after a restart has all of its forks. And nothing stalls: a
//! store change arriving with a session's last events never drops the
//! frame that shows them.

use crate::support::tui as common;

use common::{app_on, demo_like_store, key, keycode, render, select, settle, typed, until};
use crossterm::event::KeyCode;
use forkmail::fork::{ForkRequest, Happening, SessionEvent};
use forkmail::history::Recorder;
use forkmail::store::Store;
use forkmail::tui::app::App;
use forkmail::tui::msg::Msg;
use forkmail::tui::overlay::Overlay;
use forkmail::tui::overlay::fork_dialog::form::Field;
use tokio::sync::mpsc::UnboundedReceiver;

type Rx = UnboundedReceiver<Msg>;

fn app_in(dir: &std::path::Path) -> (App, Rx) {
    // Real sessions run the simulated guest from the forkmail binary.
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("FORKMAIL_SIM_GUEST", env!("CARGO_BIN_EXE_forkmail")) };
    let store = Store::open(dir.join("store")).expect("store");
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    (app, rx)
}

/// Fork the selected snapshot as `name`, acks within 1 s.
fn fork_as(app: &mut App, name: &str) {
    key(app, 'f');
    for _ in 0..63 {
        keycode(app, KeyCode::Backspace);
    }
    typed(app, name);
    // Each mailbox's deadline: 1 s.
    let field = |app: &App| match app.overlay() {
        Some(Overlay::ForkDialog(d)) => Some(d.form().field()),
        _ => None,
    };
    for _ in 0..12 {
        keycode(app, KeyCode::Tab);
        if let Some(Field::Timeout(_)) = field(app) {
            for _ in 0..8 {
                keycode(app, KeyCode::Backspace);
            }
            key(app, '1');
        }
    }
    keycode(app, KeyCode::Enter);
    assert!(field(app).is_none(), "the fork started");
}

fn ended(app: &App, fork: &str) -> bool {
    app.sessions()
        .model()
        .list
        .iter()
        .any(|s| s.fork == fork && !s.is_running())
}

/// Shape point 3: a rolled-back session's guest log is kept; after a
/// restart its detail still shows it, marked as kept.
#[test]
fn a_rolled_back_sessions_guest_log_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo_like_store(&dir.path().join("store"), false);
    let (mut app, mut rx) = app_in(dir.path());
    select(&mut app, &mut rx, "silent");
    fork_as(&mut app, "silent-kept");
    until(&mut app, &mut rx, "the rollback", |a| {
        ended(a, "silent-kept")
    });
    let live = render(&mut app, 100, 30);
    assert!(
        live.contains("guest.log (kept: the fork was rolled back)"),
        "{live}"
    );
    assert!(
        live.contains("forkmail-guest:"),
        "the guest's lines: {live}"
    );
    assert!(!dir.path().join("store/forks/silent-kept").exists());
    drop(app);

    let (mut app, _rx) = app_in(dir.path());
    key(&mut app, '2');
    assert!(app.sessions().model().list[0].past, "read back");
    let past = render(&mut app, 100, 30);
    assert!(
        past.contains("guest.log (kept: the fork was rolled back)"),
        "{past}"
    );
    assert!(past.contains("fault=no-ack (not acking)"), "{past}");
}

/// A fork removed later (here, from the forks screen): its session says
/// it was removed and shows the end of its log — before and after a
/// restart — instead of "is running" and an empty log.
#[test]
fn a_session_whose_fork_was_removed_says_so_and_keeps_its_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    demo_like_store(&dir.path().join("store"), false);
    let (mut app, mut rx) = app_in(dir.path());
    select(&mut app, &mut rx, "web");
    fork_as(&mut app, "web-gone");
    until(&mut app, &mut rx, "the fork", |a| ended(a, "web-gone"));
    assert!(render(&mut app, 100, 30).contains("fork web-gone is running"));
    key(&mut app, '3');
    key(&mut app, 'd');
    key(&mut app, 'y');
    until(&mut app, &mut rx, "the removal", |a| {
        a.forks().pending() == 0
    });
    key(&mut app, '2');
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("fork web-gone was removed"), "{screen}");
    assert!(
        screen.contains("guest.log (kept: the fork was removed)"),
        "{screen}"
    );
    assert!(
        screen.contains("ack sent"),
        "the guest's last lines: {screen}"
    );
    drop(app);

    let (mut app, _rx) = app_in(dir.path());
    key(&mut app, '2');
    let past = render(&mut app, 100, 30);
    assert!(past.contains("fork web-gone was removed"), "{past}");
    assert!(past.contains("ack sent"), "{past}");
}

/// Item 9: a 20-fork fan-out followed by 46 more sessions is read back
/// whole after a restart (a fan-out is one entry of the history shown).
#[test]
fn a_fan_out_after_a_restart_has_all_of_its_forks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    let done = |rec: &mut Recorder, fork: &str| {
        rec.record(&SessionEvent {
            fork: fork.into(),
            elapsed_ms: 5,
            what: Happening::Done,
        });
    };
    let reqs: Vec<ForkRequest> = (0..20)
        .map(|i| {
            let mut r = ForkRequest::new("web");
            r.fork_name = Some(format!("fan-{i}"));
            r
        })
        .collect();
    for (i, rec) in Recorder::start_fanout(&store, &reqs, "cli", "fan", 4)
        .into_iter()
        .enumerate()
    {
        let mut rec = rec.expect("recorded");
        done(&mut rec, &format!("fan-{i}"));
    }
    for i in 0..46 {
        let mut req = ForkRequest::new("web");
        req.fork_name = Some(format!("one-{i}"));
        let mut rec = Recorder::start(&store, &req, "cli").expect("recorded");
        done(&mut rec, &format!("one-{i}"));
    }
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    let m = app.sessions().model();
    assert_eq!(m.fanouts.len(), 1);
    assert_eq!(m.members(0).len(), 20, "every fork of the fan-out");
    key(&mut app, '2');
    key(&mut app, 'g');
    let screen = render(&mut app, 100, 30);
    assert!(
        screen.contains("▸fan ×20") && screen.contains("20/20"),
        "{screen}"
    );
}

/// Shape point 4, the cause of the 5 s stall: a session's last events and
/// a store change handled in one batch leave a frame to draw (the change
/// once cleared it, and the final state waited for a key or the status
/// line's expiry).
#[test]
fn a_store_change_never_drops_the_frame_of_a_sessions_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = demo_like_store(&dir.path().join("store"), false);
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    let (id, _) = app.follow_session("web-x", "web", &["app.config"]);
    render(&mut app, 100, 30);
    assert!(!app.dirty(), "drawn");
    let cancelled = forkmail::fork::ForkError::cancelled().at(forkmail::fork::Stage::Ack);
    app.on_msg(Msg::Session {
        id,
        event: SessionEvent {
            fork: "web-x".into(),
            elapsed_ms: 9,
            what: Happening::Failed((&cancelled).into()),
        },
    });
    app.on_msg(Msg::SessionEnd {
        id,
        result: Err(cancelled),
    });
    app.on_msg(Msg::StoreChanged);
    assert!(app.dirty(), "the final state is drawn now, no key needed");
    assert!(!app.needs_tick(), "and nothing else waits to animate");
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("⊘ web-x"), "{screen}");
}
