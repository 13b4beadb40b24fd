//! Shared test fixtures: a store shaped like the demo store, with fixed
//! seeds, tokens and creation times so rendered screens are stable.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use forkmail::guest::GuestFault;
use forkmail::store::{SNAPSHOT_META, SnapshotMeta, Store, read_json, write_json_atomic};
use forkmail::template::sim::{SimTemplateSpec, create_sim_template};
use forkmail::tui::action::Level;
use forkmail::tui::app::App;
use forkmail::tui::clock::Clock;
use forkmail::tui::msg::Msg;
use forkmail::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use time::OffsetDateTime;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// Creation time written into every fixture snapshot.
pub const CREATED: &str = "2026-01-01T00:00:00Z";

fn spec(name: &str, size: u64, seed: u64, mailboxes: &[(&str, &str)]) -> SimTemplateSpec {
    let mut s = SimTemplateSpec::new(name);
    s.memory_size = size;
    s.seed = Some(seed);
    s.mailboxes = mailboxes
        .iter()
        .map(|(n, t)| (n.to_string(), Some(t.to_string())))
        .collect();
    s
}

/// The demo store's five templates (same names, mailboxes and faults as
/// `forkmail demo`), with fixed seeds and tokens. `full` keeps the demo's
/// memory sizes; otherwise every template is 64 MiB, which is faster.
pub fn demo_like_store(root: &Path, full: bool) -> Store {
    let store = Store::open(root).expect("open store");
    let big = if full { 1 << 30 } else { 64 << 20 };
    let half = if full { 512 << 20 } else { 64 << 20 };
    let mut web = spec(
        "web",
        big,
        1,
        &[
            ("app.config", "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"),
            ("secrets.v1", "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"),
        ],
    );
    web.data_percent = if full { 3.0 } else { 1.0 };
    let mut net = spec(
        "edge-net",
        half,
        2,
        &[("net.config", "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3")],
    );
    net.resume_network_token = Some("edge-net-handoff".into());
    let mut slow = spec(
        "slow-ack",
        half,
        3,
        &[("warmup", "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4")],
    );
    slow.faults.insert("warmup".into(), GuestFault::Slow(2500));
    let mut silent = spec(
        "silent",
        half,
        4,
        &[("app.config", "e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5")],
    );
    silent.faults.insert("app.config".into(), GuestFault::NoAck);
    let mut dup = spec(
        "dup-marker",
        half,
        5,
        &[
            ("app.config", "f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6"),
            ("cache.v2", "0707070707070707070707070707070707"),
        ],
    );
    dup.stray_copies = vec!["app.config".into()];
    for mut s in [web, net, slow, silent, dup] {
        if !full {
            s.data_percent = 1.0;
        }
        let snap = create_sim_template(&store, &s).expect("create template");
        let path = snap.dir.join(SNAPSHOT_META);
        let mut meta: SnapshotMeta = read_json(&path).expect("read meta");
        meta.created_at = CREATED.into();
        write_json_atomic(&path, &meta).expect("write meta");
    }
    store
}

/// Five minutes after [`CREATED`].
pub fn frozen_clock() -> Clock {
    let at = OffsetDateTime::parse(CREATED, &time::format_description::well_known::Rfc3339)
        .expect("time")
        + time::Duration::minutes(5);
    Clock::frozen(at)
}

/// An app on `store` with a frozen clock, no colour, no watcher.
pub fn app_on(store: Store) -> (App, UnboundedReceiver<Msg>) {
    let (tx, rx) = unbounded_channel();
    let mut app = App::new(store, tx, frozen_clock(), Theme::plain());
    app.set_watch_note("watching store".into());
    // The status line would show the store's (temporary) path.
    app.say("test store", Level::Info);
    (app, rx)
}

/// Feed background messages into the app until no scan, cache read or
/// fork operation is pending (bounded wait; polls the channel, never a
/// fixed sleep).
pub fn settle(app: &mut App, rx: &mut UnboundedReceiver<Msg>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        while let Ok(m) = rx.try_recv() {
            app.on_msg(m);
        }
        if !app.snapshots().busy() && !app.forks().busy() {
            return;
        }
        assert!(Instant::now() < deadline, "background work did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Render the app into a `w`×`h` test terminal, with the store path
/// replaced by `<store>`.
pub fn render(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| app.draw(f)).expect("draw");
    let root = app.store().root().display().to_string();
    t.backend().to_string().replace(&root, "<store>")
}

/// Tell the app the terminal is `w`×`h` (as a resize does).
pub fn resize(app: &mut App, w: u16, h: u16) {
    app.on_event(Event::Resize(w, h));
}

/// Press `c` (shifted when upper case).
pub fn key(app: &mut App, c: char) {
    let m = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    app.on_event(Event::Key(KeyEvent::new(KeyCode::Char(c), m)));
}

/// Press a key without a character.
pub fn keycode(app: &mut App, c: KeyCode) {
    app.on_event(Event::Key(KeyEvent::new(c, KeyModifiers::NONE)));
}

/// Press ctrl and `c`.
pub fn ctrl(app: &mut App, c: char) {
    app.on_event(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )));
}

/// Type `text`, a key per character.
pub fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, c);
    }
}

/// A left click at `column`, `row`.
pub fn click(app: &mut App, column: u16, row: u16) {
    app.on_event(Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }));
}

/// The wheel turned (`down` or up) at `column`, `row`.
pub fn wheel(app: &mut App, down: bool, column: u16, row: u16) {
    app.on_event(Event::Mouse(MouseEvent {
        kind: if down {
            MouseEventKind::ScrollDown
        } else {
            MouseEventKind::ScrollUp
        },
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }));
}

/// Feed messages until `pred` holds (bounded; polls, never a fixed sleep).
pub fn until(
    app: &mut App,
    rx: &mut UnboundedReceiver<Msg>,
    what: &str,
    pred: impl Fn(&App) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pred(app) {
        while let Ok(m) = rx.try_recv() {
            app.on_msg(m);
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Select the store snapshot `name` in the snapshots pane (and wait for
/// its scan).
pub fn select(app: &mut App, rx: &mut UnboundedReceiver<Msg>, name: &str) {
    let i = app
        .snapshots()
        .catalog()
        .visible()
        .iter()
        .position(|s| s.name == name)
        .expect("snapshot in store");
    key(app, '1');
    while app.focus() != forkmail::tui::action::Pane::Snapshots {
        keycode(app, KeyCode::Esc);
    }
    keycode(app, KeyCode::Home);
    for _ in 0..i {
        key(app, 'j');
    }
    settle(app, rx);
}
