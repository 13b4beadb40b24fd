//! The TUI as a person uses it day to day: typing payloads (the cursor
//! between `{}`, paste, undo, full screen), reading what happened (the log
//! viewer, history after a restart, replay), finding the way (contextual
//! help, filters, the mouse, the too-small notice) — on a demo-shaped store
//! with real fork sessions (the simulator) where a session matters.

use crate::support::tui as common;

use std::time::{Duration, Instant};

use common::{
    app_on, click, ctrl, demo_like_store, key, keycode, render, select, settle, typed, until, wheel,
};
use crossterm::event::{Event, KeyCode};
use forkmail::tui::action::{Exit, Pane, Screen};
use forkmail::tui::app::App;
use forkmail::tui::keymap::Place;
use forkmail::tui::msg::Msg;
use forkmail::tui::overlay::Overlay;
use forkmail::tui::overlay::fork_dialog::form::ForkForm;
use tokio::sync::mpsc::UnboundedReceiver;

type Rx = UnboundedReceiver<Msg>;

fn small_app() -> (tempfile::TempDir, App, Rx) {
    // Real sessions run the simulated guest from the forkmail binary.
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("FORKMAIL_SIM_GUEST", env!("CARGO_BIN_EXE_forkmail")) };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = demo_like_store(&dir.path().join("store"), false);
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    (dir, app, rx)
}

fn editor_text(app: &App) -> String {
    app.snapshots()
        .payload()
        .editor()
        .expect("an editor")
        .text()
}

/// The open fork dialog's form.
fn form(app: &App) -> &ForkForm {
    match app.overlay() {
        Some(Overlay::ForkDialog(d)) => d.form(),
        _ => panic!("the fork dialog is open"),
    }
}

/// The session of fork `fork`.
fn session<'a>(app: &'a App, fork: &str) -> Option<&'a forkmail::tui::sessions::SessionView> {
    app.sessions().model().list.iter().find(|s| s.fork == fork)
}

#[test]
fn typing_into_an_empty_object_lands_between_the_braces() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'i');
    typed(&mut app, "\"mtu\":9000");
    assert_eq!(editor_text(&app), "{\"mtu\":9000}");
    // Undo and redo have their own keys, not the paging ones; undo takes
    // back a word (and the punctuation before it), not a character.
    ctrl(&mut app, 'z');
    assert_eq!(editor_text(&app), "{\"mtu}");
    ctrl(&mut app, 'y');
    assert_eq!(editor_text(&app), "{\"mtu\":9000}");
    ctrl(&mut app, 'u'); // page up: moves, changes nothing
    assert_eq!(editor_text(&app), "{\"mtu\":9000}");
}

#[tokio::test]
async fn a_paste_shows_at_once_in_the_editor_the_filter_and_the_fork_name() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'i');
    // Through the real loop: the frame after the paste shows it, with no
    // other key pressed.
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).expect("terminal");
    let mut input = futures::stream::iter(vec![Ok(Event::Paste("\"pasted\": true".into()))]);
    forkmail::tui::event_loop::run_loop(&mut terminal, &mut app, &mut rx, &mut input)
        .await
        .expect("loop");
    forkmail::tui::event_loop::draw(&mut terminal, &mut app).expect("draw");
    let screen = terminal.backend().to_string();
    assert!(screen.contains("{\"pasted\": true}"), "{screen}");
    keycode(&mut app, KeyCode::Esc);

    // The filter prompt.
    select(&mut app, &mut rx, "web");
    key(&mut app, '/');
    app.on_event(Event::Paste("sil\nent".into()));
    assert!(app.dirty());
    assert_eq!(app.snapshots().catalog().filter, "silent");
    assert_eq!(app.snapshots().catalog().visible().len(), 1);
    keycode(&mut app, KeyCode::Esc);
    assert!(
        app.snapshots().catalog().filter.is_empty(),
        "Esc clears a filter"
    );

    // The fork dialog's name field.
    select(&mut app, &mut rx, "web");
    key(&mut app, 'f');
    for _ in 0..40 {
        keycode(&mut app, KeyCode::Backspace);
    }
    app.on_event(Event::Paste("web-pasted".into()));
    assert_eq!(form(&app).name, "web-pasted");
}

#[test]
fn the_full_screen_editor_fills_an_80x24_terminal() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'i');
    keycode(&mut app, KeyCode::End);
    keycode(&mut app, KeyCode::Backspace);
    keycode(&mut app, KeyCode::Backspace);
    let body: Vec<String> = (0..14).map(|i| format!("  \"key{i:02}\": {i},")).collect();
    app.on_event(Event::Paste(format!(
        "{{\n{}\n  \"last\": true\n}}",
        body.join("\n")
    )));
    ctrl(&mut app, 'f');
    assert!(app.snapshots().payload().zoomed());
    let screen = render(&mut app, 80, 24);
    assert!(
        screen.contains("\"key13\": 13"),
        "18 of the 19 lines show: {screen}"
    );
    insta::assert_snapshot!("editor_full_screen_80x24", screen);
    keycode(&mut app, KeyCode::Esc);
    // Item 3: Esc leaves the full-screen editor too.
    keycode(&mut app, KeyCode::Esc);
    assert!(!app.snapshots().payload().zoomed());
    assert!(render(&mut app, 80, 24).contains("Markers · web"));
}

fn write_log(app: &App, fork: &str, lines: usize) -> std::path::PathBuf {
    let dir = app.store().forks_dir().join(fork);
    std::fs::create_dir_all(&dir).expect("fork dir");
    let mut text = String::new();
    for i in 0..lines {
        text.push_str(&format!("forkmail-guest: line {i:03} ok\n"));
    }
    text.push_str(&format!(
        "forkmail-guest: mailbox=app.config payload={{\"db\":\"postgres://db/app\",\"note\":\"{}\",\"end\":\"TAIL-VISIBLE\"}}\n",
        "x".repeat(150)
    ));
    std::fs::write(dir.join("guest.log"), text).expect("log");
    dir
}

#[test]
fn the_log_viewer_reads_every_line_searches_and_wraps() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    // A past session whose guest printed more than the detail pane shows.
    let dir = write_log(&app, "web-logs", 60);
    let mut req = forkmail::fork::ForkRequest::new("web");
    req.fork_name = Some("web-logs".into());
    let mut rec = forkmail::history::Recorder::start(app.store(), &req, "cli").expect("history");
    for what in [
        forkmail::fork::Happening::CopyStarted { dir: dir.clone() },
        forkmail::fork::Happening::Done,
    ] {
        rec.record(&forkmail::fork::SessionEvent {
            fork: "web-logs".into(),
            elapsed_ms: 1,
            what,
        });
    }
    let head = app
        .store()
        .sessions_dir()
        .join(format!("{}.json", rec.id()));
    drop(rec);
    // A stable start time for the screen.
    let mut h: forkmail::history::SessionHeader =
        forkmail::store::read_json(&head).expect("header");
    h.started_at = common::CREATED.into();
    forkmail::store::write_json_atomic(&head, &h).expect("header");
    app.reload_due();
    key(&mut app, '2');
    assert_eq!(app.screen(), Screen::Sessions);
    let detail = render(&mut app, 100, 30);
    assert!(
        !detail.contains("TAIL-VISIBLE"),
        "the detail pane cuts the long line"
    );
    // Item 1: Enter shows the detail and the whole guest log in the viewer.
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(app.place(), Place::Viewer);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("── guest.log (whole) ──"), "{screen}");
    key(&mut app, 'G');
    let screen = render(&mut app, 100, 30);
    assert!(
        screen.contains("TAIL-VISIBLE"),
        "wrapped, nothing is cut: {screen}"
    );
    insta::assert_snapshot!("log_viewer_at_the_end", screen);
    // Search jumps to the match; n/N move between matches.
    key(&mut app, '/');
    typed(&mut app, "line 007");
    keycode(&mut app, KeyCode::Enter);
    let Some(Overlay::Viewer(v)) = app.overlay() else {
        panic!("the viewer")
    };
    assert_eq!(v.matches.len(), 1);
    assert!(render(&mut app, 100, 30).contains("\"line 007\": 1/1"));
    // Wrap off: the long line is cut at the screen edge; h/l scroll it.
    key(&mut app, 'w');
    key(&mut app, 'G');
    let nowrap = render(&mut app, 100, 30);
    assert!(!nowrap.contains("TAIL-VISIBLE") && nowrap.contains("wrap off"));
    for _ in 0..20 {
        key(&mut app, 'l');
    }
    assert!(render(&mut app, 100, 30).contains("TAIL-VISIBLE"));
    // The wheel scrolls it; q closes the viewer, not the app.
    wheel(&mut app, false, 10, 10);
    let Some(Overlay::Viewer(v)) = app.overlay() else {
        panic!("the viewer")
    };
    assert!(!v.follow);
    key(&mut app, 'o');
    assert!(matches!(app.take_exit(), Some(Exit::Pager(p)) if p.ends_with("guest.log")));
    // Item 13: `?` opens help over the viewer; it closes back to it.
    key(&mut app, '?');
    assert_eq!(app.place(), Place::Help);
    keycode(&mut app, KeyCode::Esc);
    assert_eq!(app.place(), Place::Viewer);
    key(&mut app, 'q');
    assert_eq!(app.place(), Place::SessionList);
    assert!(!app.exiting() && app.overlay().is_none());
}

#[test]
fn history_survives_a_restart_and_replay_forks_the_same_again() {
    let (dir, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    // A real fork through the dialog, with zero copy on and a custom payload.
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'i');
    typed(&mut app, "\"replay\":1");
    keycode(&mut app, KeyCode::Esc);
    let edited = app
        .snapshots()
        .payload()
        .editor()
        .expect("editor")
        .mailbox
        .clone();
    key(&mut app, 'f');
    for _ in 0..40 {
        keycode(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "web-first");
    // Name, count, parallel, no restore, zero copy.
    for _ in 0..4 {
        keycode(&mut app, KeyCode::Tab);
    }
    key(&mut app, ' '); // zero copy
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(app.screen(), Screen::Sessions);
    until(&mut app, &mut rx, "the first fork", |a| {
        session(a, "web-first").is_some_and(|s| !s.is_running())
    });
    let first = session(&app, "web-first").expect("session");
    assert!(first.done(), "{:?}", first.error());
    drop(app);

    // A new TUI on the same store lists the session from the history.
    let store = forkmail::store::Store::open(dir.path().join("store")).expect("store");
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    key(&mut app, '2');
    let past = app.sessions().selected_session().expect("a past session");
    assert_eq!(past.fork, "web-first");
    assert!(past.past && past.done());
    let screen = render(&mut app, 100, 30);
    assert!(
        screen.contains("✓ web-first") && screen.contains("earlier run"),
        "{screen}"
    );

    // r: the dialog opens prefilled; the timeout can be changed first.
    key(&mut app, 'r');
    let f = form(&app);
    assert_eq!(f.snapshot, "web");
    assert!(f.zero_copy && !f.no_restore);
    let m = f
        .mailboxes
        .iter()
        .find(|m| m.name == edited)
        .expect("the edited mailbox");
    assert_eq!(m.payload, "{\"replay\":1}");
    assert!(m.wait_for_ack);
    let screen = render(&mut app, 100, 30);
    // Item 9: the replay's title names the fork it replays, not an id.
    assert!(screen.contains("Replay web-first ("), "{screen}");
    // To the first mailbox's timeout field; `+` adds a second.
    for _ in 0..6 {
        keycode(&mut app, KeyCode::Tab);
    }
    key(&mut app, '+');
    assert_eq!(form(&app).mailboxes[0].timeout_ms(), 6000);
    for _ in 0..40 {
        keycode(&mut app, KeyCode::BackTab);
        if form(&app).focus == 0 {
            break;
        }
    }
    for _ in 0..40 {
        keycode(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "web-again");
    keycode(&mut app, KeyCode::Enter);
    until(&mut app, &mut rx, "the replayed fork", |a| {
        session(a, "web-again").is_some_and(|s| !s.is_running())
    });
    let again = session(&app, "web-again").expect("session");
    assert!(again.done(), "{:?}", again.error());
    let req = again.request.as_ref().expect("recorded");
    assert!(req.zero_copy);
    assert_eq!(req.mailboxes[0].ack_timeout_ms, Some(6000));
    let forks = forkmail::fork::Forks::new(app.store());
    for f in ["web-first", "web-again"] {
        let _ = forks.remove(f);
    }
}

#[test]
fn the_fork_dialog_offers_no_restore_and_explicit_tokens() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    key(&mut app, 'f');
    for _ in 0..40 {
        keycode(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "web-patched");
    for _ in 0..3 {
        keycode(&mut app, KeyCode::Tab);
    }
    key(&mut app, ' '); // no restore
    // The first mailbox: ack, timeout, token.
    for _ in 0..4 {
        keycode(&mut app, KeyCode::Tab);
    }
    typed(&mut app, "wrong-token");
    insta::assert_snapshot!("fork_dialog_options", render(&mut app, 100, 30));
    keycode(&mut app, KeyCode::Enter);
    until(&mut app, &mut rx, "the fork to fail", |a| {
        a.sessions().model().list.iter().any(|s| !s.is_running())
    });
    let s = &app.sessions().model().list[0];
    let first = s.request.as_ref().expect("recorded").mailboxes[0]
        .name
        .clone();
    assert!(
        s.error().is_some_and(|e| e.contains(&first)),
        "an explicit token is searched by its bytes: {:?}",
        s.error()
    );
    // Now with the right token: patched, not restored.
    key(&mut app, 'r');
    assert!(form(&app).no_restore);
    assert_eq!(form(&app).mailboxes[0].token, "wrong-token");
    while form(&app).field() != forkmail::tui::overlay::fork_dialog::form::Field::Token(0) {
        keycode(&mut app, KeyCode::Tab);
    }
    for _ in 0.."wrong-token".len() {
        keycode(&mut app, KeyCode::Backspace);
    }
    typed(
        &mut app,
        match first.as_str() {
            "app.config" => "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
            _ => "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2",
        },
    );
    keycode(&mut app, KeyCode::Enter);
    until(&mut app, &mut rx, "the patched fork", |a| {
        a.sessions()
            .model()
            .list
            .iter()
            .filter(|s| !s.is_running())
            .count()
            == 2
    });
    let s = app.sessions().model().list.last().expect("session");
    assert!(s.done(), "{:?}", s.error());
    assert!(!s.stages.contains_key(&forkmail::fork::Stage::Restore));
    let _ = forkmail::fork::Forks::new(app.store()).remove(&s.fork);
}

#[test]
fn a_terminal_below_the_minimum_says_so() {
    let (_d, mut app, _rx) = small_app();
    let screen = render(&mut app, 50, 12);
    assert!(
        screen.contains("terminal too small (need 60×16"),
        "{screen}"
    );
    assert!(!screen.contains("Snapshots ("));
    insta::assert_snapshot!("too_small_50x12", screen);
    assert!(render(&mut app, 60, 16).contains("Snapshots ("));
}

#[test]
fn a_click_selects_a_row_and_switches_a_tab_and_the_wheel_scrolls_help() {
    let (_d, mut app, mut rx) = small_app();
    let screen = render(&mut app, 100, 30);
    // The snapshots table: header on row 2, first snapshot on row 3.
    let row = screen
        .lines()
        .position(|l| l.contains(" silent "))
        .and_then(|r| u16::try_from(r).ok())
        .expect("silent listed");
    click(&mut app, 10, row);
    settle(&mut app, &mut rx);
    assert_eq!(
        app.snapshots()
            .catalog()
            .selected()
            .map(|s| s.name.as_str()),
        Some("silent")
    );
    // The tab line: a click on "3 Forks" shows the forks screen.
    let tabs = screen.lines().next().expect("tab line");
    let col = tabs
        .find("3 Forks")
        .and_then(|c| u16::try_from(c).ok())
        .expect("forks tab");
    click(&mut app, col + 2, 0);
    assert_eq!(app.screen(), Screen::Forks);
    // Help scrolls with the wheel; its title says where it is (item 13).
    key(&mut app, '?');
    wheel(&mut app, true, 10, 10);
    wheel(&mut app, true, 10, 10);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("Keys · lines 3-"), "{screen}");
}

#[test]
fn help_lists_the_keys_of_the_pane_first() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, '?');
    let Some(Overlay::Help(help)) = app.overlay() else {
        panic!("help is open")
    };
    let lines: Vec<String> = help
        .lines(app.shared())
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(lines[0], "Markers pane (here)");
    let everywhere = lines
        .iter()
        .position(|l| l.starts_with("Everywhere"))
        .expect("global");
    let forks = lines
        .iter()
        .position(|l| l == "Forks screen")
        .expect("forks");
    assert!(everywhere < forks, "the active scopes come first");
    keycode(&mut app, KeyCode::Esc);
    assert!(app.overlay().is_none());
}

#[test]
fn stray_letters_outside_the_editor_do_nothing_but_say_how_to_type() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    keycode(&mut app, KeyCode::Tab);
    assert_eq!(app.focus(), Pane::Editor);
    let before = editor_text(&app);
    key(&mut app, 't');
    assert_eq!(editor_text(&app), before);
    let status = app.status().map(|s| s.0.to_string()).unwrap_or_default();
    assert!(
        status.contains("t: no action here (i types in the payload"),
        "{status}"
    );
    // In the markers pane, t says what it did.
    keycode(&mut app, KeyCode::BackTab);
    key(&mut app, 't');
    let status = app.status().map(|s| s.0.to_string()).unwrap_or_default();
    assert!(status.contains("tokens revealed"), "{status}");
}

#[test]
fn y_copies_the_selection_through_osc52() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'y');
    let token = app.take_copied().expect("copied");
    assert_eq!(token.len(), 32, "the whole token, masked or not");
    // Item 13: what is claimed is what was done — sent, as OSC 52.
    assert_eq!(
        app.status().map(|s| s.0.to_string()).as_deref(),
        Some("token sent to the terminal's clipboard (OSC 52)")
    );
    assert_eq!(
        forkmail::tui::terminal::osc52("ab"),
        "\u{1b}]52;c;YWI=\u{7}",
        "the clipboard sequence"
    );
    // Revealed, a token is never cut without an ellipsis.
    key(&mut app, 't');
    let screen = render(&mut app, 80, 24);
    let line = screen
        .lines()
        .find(|l| l.contains("app.config") && l.contains("fork"))
        .expect("row");
    assert!(line.contains(&token) || line.contains('…'), "{line}");
}

#[test]
fn every_list_filters_and_names_sort_naturally() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = forkmail::store::Store::open(dir.path().join("store")).expect("store");
    for n in ["fan-10", "fan-2", "fan-1"] {
        let mut s = forkmail::template::sim::SimTemplateSpec::new(n);
        s.memory_size = 32 << 20;
        s.data_percent = 1.0;
        s.mailboxes = vec![("app.config".into(), None), ("cache.v2".into(), None)];
        forkmail::template::sim::create_sim_template(&store, &s).expect("template");
    }
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    let names: Vec<&str> = app
        .snapshots()
        .catalog()
        .visible()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["fan-1", "fan-2", "fan-10"]);
    // Markers.
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, '/');
    typed(&mut app, "cache");
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(
        app.snapshots()
            .selected_marker()
            .and_then(|m| m.name.as_deref()),
        Some("cache.v2")
    );
    assert_eq!(
        app.snapshots()
            .payload()
            .editor()
            .map(|e| e.mailbox.as_str()),
        Some("cache.v2")
    );
    // Item 9: every filtered pane says it the same way.
    let screen = render(&mut app, 100, 30);
    assert!(
        screen.contains("Markers · fan-1 (1 of 2, filter \"cache\")"),
        "{screen}"
    );
    // Item 3: Esc clears an applied filter.
    keycode(&mut app, KeyCode::Esc);
    assert_eq!(app.snapshots().filter(), None);
    // Sessions and forks filter the same way.
    key(&mut app, '2');
    key(&mut app, '/');
    typed(&mut app, "zzz");
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(app.sessions().filter(), Some("zzz"));
    assert!(render(&mut app, 100, 30).contains("Sessions (0 of 0, filter \"zzz\")"));
    key(&mut app, '3');
    key(&mut app, '/');
    typed(&mut app, "fan");
    assert_eq!(app.forks().filter(), Some("fan"));
    keycode(&mut app, KeyCode::Esc);
    assert_eq!(app.forks().filter(), None);
}

#[test]
fn the_payload_library_keeps_presets_and_forked_payloads() {
    let (d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    keycode(&mut app, KeyCode::Tab);
    key(&mut app, 'i');
    typed(&mut app, "\"preset\":1");
    keycode(&mut app, KeyCode::Esc);
    key(&mut app, 'L');
    assert_eq!(app.place(), Place::Library);
    key(&mut app, 's');
    typed(&mut app, "one");
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(app.place(), Place::Library);
    let Some(Overlay::Library(lib)) = app.overlay() else {
        panic!("the library")
    };
    assert_eq!(lib.entries[0].label, "preset  one");
    // Write it to a file, change the payload, load the preset back.
    let file = d.path().join("payload.json");
    key(&mut app, 'w');
    typed(&mut app, &file.display().to_string());
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(
        std::fs::read_to_string(&file).expect("written"),
        "{\"preset\":1}\n"
    );
    // Item 11: writing onto a file that exists asks first.
    key(&mut app, 'w');
    typed(&mut app, &file.display().to_string());
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(app.place(), Place::Confirm, "replacing asks");
    assert!(render(&mut app, 100, 30).contains("exists. Replace it"));
    key(&mut app, 'n');
    assert_eq!(app.place(), Place::Library);
    // Item 8: deleting a preset asks too.
    key(&mut app, 'd');
    assert_eq!(app.place(), Place::Confirm, "deleting asks");
    key(&mut app, 'n');
    key(&mut app, 'q');
    key(&mut app, 'i');
    typed(&mut app, "\"x\":2,");
    keycode(&mut app, KeyCode::Esc);
    key(&mut app, 'L');
    app.say("test store", forkmail::tui::action::Level::Info);
    insta::assert_snapshot!("payload_library", render(&mut app, 100, 30));
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(editor_text(&app), "{\"preset\":1}");
    // And from a file.
    std::fs::write(d.path().join("other.json"), "{\"from\":\"file\"}\n").expect("write");
    key(&mut app, 'L');
    key(&mut app, 'o');
    typed(&mut app, &d.path().join("other.json").display().to_string());
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(editor_text(&app), "{\"from\":\"file\"}");
    // A fork puts its payloads first in the history.
    forkmail::tui::payloads::remember_payloads(
        app.store(),
        "web",
        &[forkmail::fork::MailboxSpec {
            name: "app.config".into(),
            token: None,
            payload: Some("{\"forked\":true}".into()),
            wait_for_ack: true,
            ack_timeout_ms: None,
        }],
    );
    let lib = forkmail::tui::payloads::Library::load(app.store(), "app.config");
    assert_eq!(lib.history[0].payload, "{\"forked\":true}");
}

#[test]
fn a_schema_error_in_the_editor_points_at_its_line() {
    let (_d, mut app, mut rx) = small_app();
    let dir = app.store().root().join("schemas");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("net.config.json"),
        forkmail::template::demo::NET_CONFIG_SCHEMA,
    )
    .expect("schema");
    select(&mut app, &mut rx, "edge-net");
    keycode(&mut app, KeyCode::Tab);
    let name = app
        .snapshots()
        .selected_marker()
        .and_then(|m| m.name.clone());
    if name.as_deref() != Some("net.config") {
        key(&mut app, 'j');
    }
    key(&mut app, 'i');
    keycode(&mut app, KeyCode::End);
    keycode(&mut app, KeyCode::Backspace);
    keycode(&mut app, KeyCode::Backspace);
    app.on_event(Event::Paste(
        "{\n  \"mtu\": 99999,\n  \"dns\": [\"10.0.2.3\"]\n}".into(),
    ));
    let ed = app.snapshots().payload().editor().expect("editor");
    assert_eq!(ed.schema_errors.len(), 1, "{:?}", ed.schema_errors);
    assert_eq!(ed.schema_errors[0].line, 2);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("✗ schema, line 2 /mtu"), "{screen}");
    insta::assert_snapshot!("editor_schema_error", screen);
}

#[test]
fn a_message_about_a_fork_goes_when_the_fork_stops() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    key(&mut app, 'f');
    for _ in 0..40 {
        keycode(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "web-status");
    keycode(&mut app, KeyCode::Enter);
    until(&mut app, &mut rx, "the fork", |a| {
        a.sessions().model().list.iter().any(|s| !s.is_running())
    });
    assert_eq!(app.shared().status().about_fork(), Some("web-status"));
    assert!(app.status().is_some_and(|s| s.0.contains("is running")));
    forkmail::fork::Forks::new(app.store())
        .stop("web-status")
        .expect("stop");
    app.reload_store();
    assert!(
        app.status().is_none(),
        "the message about the running fork is gone"
    );
    // The session's detail says what became of its fork.
    let detail = render(&mut app, 100, 30);
    assert!(detail.contains("fork web-status is stopped"), "{detail}");
    key(&mut app, '3');
    let screen = render(&mut app, 100, 30);
    let row = screen
        .lines()
        .find(|l| l.contains("web-status"))
        .expect("fork row");
    assert!(
        row.contains("stopped") && row.contains(" - "),
        "no stale pid: {row}"
    );
    let _ = forkmail::fork::Forks::new(app.store()).remove("web-status");
}

#[test]
fn ages_change_on_a_slow_tick_while_idle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = forkmail::store::Store::open(dir.path().join("store")).expect("store");
    let mut s = forkmail::template::sim::SimTemplateSpec::new("fresh");
    s.memory_size = 32 << 20;
    s.data_percent = 1.0;
    forkmail::template::sim::create_sim_template(&store, &s).expect("template");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut app = App::new(
        store,
        tx,
        forkmail::tui::clock::Clock::system(),
        forkmail::tui::theme::Theme::plain(),
    );
    settle(&mut app, &mut rx);
    let next = app.next_age_change().expect("an age is on screen");
    assert!(
        next <= Instant::now() + Duration::from_secs(1),
        "a seconds-old age changes within a second"
    );
    assert!(!app.needs_tick(), "no fast tick while idle");
}

#[test]
fn the_demo_store_opens_on_web_with_sample_payloads_and_says_what_each_shows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        forkmail::template::demo::ensure_demo_store(&dir.path().join("demo"), &mut |_, _| {})
            .expect("demo store");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let options = forkmail::tui::Options {
        select: Some(forkmail::template::demo::DEMO_FIRST.into()),
        ..Default::default()
    };
    let mut app = App::with_options(
        store,
        tx,
        common::frozen_clock(),
        forkmail::tui::theme::Theme::plain(),
        options,
    );
    settle(&mut app, &mut rx);
    assert_eq!(
        app.snapshots()
            .catalog()
            .selected()
            .map(|s| s.name.as_str()),
        Some("web")
    );
    keycode(&mut app, KeyCode::Tab);
    let text = editor_text(&app);
    assert!(
        text.contains("postgres://db/app") || text.contains("api_key"),
        "{text}"
    );
    let screen = render(&mut app, 120, 40);
    assert!(
        screen.contains("web: two mailboxes; the guest acks both"),
        "{screen}"
    );
    for t in forkmail::template::demo::demo_templates() {
        for (mb, payload) in t.samples {
            assert!(
                forkmail::mailbox::check_payload(payload, true)
                    .problem
                    .is_none(),
                "{mb}: {payload}"
            );
        }
    }
}

/// A session recorded by an earlier run (or the CLI), read back from the
/// store's history: what it asked, how it went, the error said once.
#[test]
fn past_sessions_are_listed_from_the_history_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = demo_like_store(&dir.path().join("store"), false);
    let sessions = store.sessions_dir();
    std::fs::create_dir_all(&sessions).expect("mkdir");
    let header = |id: &str, fork: &str| {
        format!(
            r#"{{"version":1,"id":"{id}","started_at":"2026-01-01T00:01:00Z","origin":"cli","snapshot":"silent","fork_name":"{fork}","restore":true,"zero_copy":false,"mailboxes":[{{"name":"app.config","payload":"{{}}","wait_for_ack":true,"ack_timeout_ms":1000}}]}}"#
        )
    };
    std::fs::write(
        sessions.join("20260101-000100000000-0000-01.json"),
        header("20260101-000100000000-0000-01", "silent-1"),
    )
    .expect("header");
    std::fs::write(
        sessions.join("20260101-000100000000-0000-01.jsonl"),
        concat!(
            r#"{"fork":"silent-1","stage":"validate","status":"started","elapsed_ms":0,"event":"stage_started"}"#, "\n",
            r#"{"fork":"silent-1","stage":"validate","status":"ok","elapsed_ms":1,"detail":"1 mailbox(es) valid","event":"validated","mailboxes":1}"#, "\n",
            r#"{"fork":"silent-1","stage":"copy","status":"started","elapsed_ms":1,"path":"/nonexistent/forks/silent-1","event":"copy_started"}"#, "\n",
            r#"{"fork":"silent-1","stage":"copy","status":"ok","elapsed_ms":20,"bytes":2831155,"total":2831155,"detail":"sparse copy: 2.7 MiB of data in 64.0 MiB","event":"copied","method":"sparse","size":67108864}"#, "\n",
            r#"{"fork":"silent-1","stage":"restore","status":"started","elapsed_ms":21,"event":"stage_started"}"#, "\n",
            r#"{"fork":"silent-1","stage":"restore","status":"ok","elapsed_ms":25,"pid":4242,"detail":"sim running, pid 4242","event":"restored","vmm":"sim"}"#, "\n",
            r#"{"fork":"silent-1","stage":"ack","status":"started","elapsed_ms":25,"event":"stage_started"}"#, "\n",
            r#"{"fork":"silent-1","stage":"ack","status":"started","elapsed_ms":25,"mailbox":"app.config","ack_port":40001,"deadline_ms":1000,"event":"ack_waiting"}"#, "\n",
            r#"{"fork":"silent-1","stage":"ack","status":"failed","elapsed_ms":1026,"mailbox":"app.config","error":"mailbox app.config: no ack from the guest within 1000 ms on port 40001","kind":"ack_timeout","event":"stage_failed","failed_stage":"ack","reason":"no ack from the guest within 1000 ms on port 40001"}"#, "\n",
            r#"{"fork":"silent-1","stage":"rollback","status":"started","elapsed_ms":1026,"event":"stage_started"}"#, "\n",
            r#"{"fork":"silent-1","stage":"rollback","status":"ok","elapsed_ms":1030,"detail":"stopped VMM pid 4242; removed the fork","event":"rolled_back","notes":["stopped VMM pid 4242","removed the fork"]}"#, "\n",
            r#"{"fork":"silent-1","stage":"failed","status":"failed","elapsed_ms":1030,"mailbox":"app.config","error":"mailbox app.config: no ack from the guest within 1000 ms on port 40001","kind":"ack_timeout","event":"failed","failed_stage":"ack","reason":"no ack from the guest within 1000 ms on port 40001"}"#, "\n",
        ),
    )
    .expect("events");
    // One the CLI was killed in the middle of: no final event.
    std::fs::write(
        sessions.join("20260101-000200000000-0000-02.json"),
        header("20260101-000200000000-0000-02", "silent-2").replace("00:01:00", "00:02:00"),
    )
    .expect("header");
    std::fs::write(
        sessions.join("20260101-000200000000-0000-02.jsonl"),
        concat!(
            r#"{"fork":"silent-2","stage":"validate","status":"ok","elapsed_ms":1}"#,
            "\n"
        ),
    )
    .expect("events");
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    key(&mut app, '2');
    assert_eq!(app.sessions().model().list.len(), 2);
    key(&mut app, 'g');
    let screen = render(&mut app, 100, 30);
    assert_eq!(
        screen.matches("no ack from the").count(),
        1,
        "said once: {screen}"
    );
    insta::assert_snapshot!("history_after_restart", screen);
    key(&mut app, 'j');
    let s = app.sessions().selected_session().expect("second");
    assert!(s.error().is_some_and(|e| e.starts_with("interrupted")));
    // `d` forgets a finished session, files and all — after asking (item 8).
    key(&mut app, 'd');
    assert_eq!(app.place(), Place::Confirm, "forgetting asks");
    key(&mut app, 'y');
    assert_eq!(app.sessions().model().list.len(), 1);
    assert_eq!(forkmail::history::ids(app.store()).len(), 1);
    assert!(
        app.status()
            .is_some_and(|s| s.0.contains("forgot 1 session"))
    );
}
