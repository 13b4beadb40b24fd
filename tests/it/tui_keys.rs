//! Finding the way, as a person does on the first screen: `i` types the
//! payload from the snapshots pane (item 2); `l`/→ go right, `h`/← go back
//! and Esc backs out (item 3); a paste outside typing goes into the payload
//! and says so (item 10); every message can be read whole in the message
//! log (item 5).

use crate::support::tui as common;

use common::{app_on, demo_like_store, key, keycode, render, select, settle};
use crossterm::event::{Event, KeyCode};
use forkmail::tui::action::{Level, Pane};
use forkmail::tui::app::App;
use forkmail::tui::keymap::Place;
use forkmail::tui::msg::Msg;

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

/// Item 2: on the first screen, the payload's title says `i to type`, and
/// `i` types — from the snapshots pane too.
#[test]
fn i_on_the_first_screen_types_the_payload() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    assert_eq!(app.focus(), Pane::Snapshots);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("i to type"), "{screen}");
    key(&mut app, 'i');
    assert_eq!(app.place(), Place::Typing);
    assert_eq!(app.focus(), Pane::Editor);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("typing (Esc stops)"), "{screen}");
    assert!(!screen.contains("no action here"), "{screen}");
    keycode(&mut app, KeyCode::Esc);
    assert_eq!(app.place(), Place::Editor, "Esc stops typing");
}

/// Item 3: `l`/→ go right, `h`/← go back, Esc backs out one level.
#[test]
fn h_and_l_move_between_panes_and_esc_backs_out() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    key(&mut app, 'l');
    assert_eq!(app.focus(), Pane::Markers);
    keycode(&mut app, KeyCode::Right);
    assert_eq!(app.focus(), Pane::Editor);
    key(&mut app, 'l');
    assert_eq!(app.focus(), Pane::Editor, "no wrap to the left");
    key(&mut app, 'h');
    assert_eq!(app.focus(), Pane::Markers);
    keycode(&mut app, KeyCode::Left);
    assert_eq!(app.focus(), Pane::Snapshots);
    // Esc: clears an applied filter first, then goes back a pane.
    key(&mut app, '/');
    common::typed(&mut app, "we");
    keycode(&mut app, KeyCode::Enter);
    assert_eq!(app.snapshots().filter(), Some("we"));
    keycode(&mut app, KeyCode::Esc);
    assert_eq!(app.snapshots().filter(), None);
    key(&mut app, 'l');
    keycode(&mut app, KeyCode::Esc);
    assert_eq!(app.focus(), Pane::Snapshots);
    // The sessions screen: l to the detail, h back to the list.
    key(&mut app, '2');
    key(&mut app, 'l');
    assert_eq!(app.focus(), Pane::SessionDetail);
    key(&mut app, 'h');
    assert_eq!(app.focus(), Pane::SessionList);
    key(&mut app, 'l');
    keycode(&mut app, KeyCode::Esc);
    assert_eq!(app.focus(), Pane::SessionList);
}

/// Item 10: a paste outside typing is not dropped: it goes into the
/// selected mailbox's payload (typing starts) and the status line says so.
#[test]
fn a_paste_outside_typing_lands_in_the_payload_and_says_so() {
    let (_d, mut app, mut rx) = small_app();
    select(&mut app, &mut rx, "web");
    assert_eq!(app.place(), Place::Snapshots);
    app.on_event(Event::Paste("\"pasted\":1".into()));
    assert_eq!(app.place(), Place::Typing);
    let text = app.snapshots().payload().editor().expect("editor").text();
    assert!(text.contains("\"pasted\":1"), "{text}");
    let (said, _) = app.status().expect("said");
    assert!(said.contains("pasted into the payload"), "{said}");
    // Elsewhere, where nothing takes a paste, that is said too.
    keycode(&mut app, KeyCode::Esc);
    key(&mut app, '3');
    app.on_event(Event::Paste("x".into()));
    let (said, _) = app.status().expect("said");
    assert!(said.contains("nothing takes it"), "{said}");
}

/// Item 5: a message too long for the status line says where the rest is;
/// `m` shows every message whole.
#[test]
fn the_message_log_keeps_every_message_whole() {
    let (_d, mut app, _rx) = small_app();
    let long = format!("a long error: {} END-OF-IT", "detail ".repeat(30));
    app.say(&long, Level::Error);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("(m: all)"), "{screen}");
    assert!(!screen.contains("END-OF-IT"));
    key(&mut app, 'm');
    assert_eq!(app.place(), Place::Viewer);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("messages ·"), "{screen}");
    assert!(screen.contains("END-OF-IT"), "wrapped, whole: {screen}");
    assert!(screen.contains("✗ a long error"), "{screen}");
}
