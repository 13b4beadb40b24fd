//! The TUI and the engine agree: the editor's verdict and byte count are the
//! engine's; the fork dialog refuses what the engine would refuse; an
//! aborted `$EDITOR` changes nothing; a session shows only its own files.

use crate::support::tui as common;

use std::sync::atomic::AtomicBool;

use common::{app_on, demo_like_store, key, keycode, render, settle};
use crossterm::event::{Event, KeyCode};
use forkmail::error::ErrorKind;
use forkmail::fork::{ForkRequest, Forks, MailboxSpec};
use forkmail::mailbox::{PayloadProblem, check_payload};
use forkmail::tui::action::Exit;
use forkmail::tui::app::App;

/// An app on a small demo-like store with `web` selected and its first
/// mailbox in the editor.
fn web_app() -> (
    tempfile::TempDir,
    App,
    tokio::sync::mpsc::UnboundedReceiver<forkmail::tui::msg::Msg>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = demo_like_store(&dir.path().join("store"), false);
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    while app
        .snapshots()
        .catalog()
        .selected()
        .map(|s| s.name.as_str())
        != Some("web")
    {
        key(&mut app, 'j');
        settle(&mut app, &mut rx);
    }
    keycode(&mut app, KeyCode::Tab);
    (dir, app, rx)
}

/// A pretty-printed object of about 4.2 KB: compact, it would fit.
fn pretty_4k() -> String {
    let members: Vec<String> = (0..115)
        .map(|i| format!("  \"key{i:03}\": \"{}\"", "v".repeat(20)))
        .collect();
    format!("{{\n{}\n}}", members.join(",\n"))
}

#[test]
fn the_editor_shows_the_engines_verdict_on_a_pretty_4k_payload() {
    let (_d, mut app, _rx) = web_app();
    let text = pretty_4k();
    assert!(text.len() > 3832 && text.len() < 4400);
    key(&mut app, 'i');
    // Select-all is not a key here: clear the draft's `{}` first.
    for _ in 0..4 {
        keycode(&mut app, KeyCode::Backspace);
        keycode(&mut app, KeyCode::Delete);
    }
    app.on_event(Event::Paste(text.clone()));
    keycode(&mut app, KeyCode::Esc);
    let shown = app
        .snapshots()
        .payload()
        .editor()
        .expect("editor")
        .validation
        .clone();
    assert_eq!(
        shown,
        check_payload(&text, true),
        "the engine's own function"
    );
    assert_eq!(
        shown.problem,
        Some(PayloadProblem::TooLarge {
            len: text.len(),
            after_injection: false
        })
    );
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("over budget"), "{screen}");
    // The engine refuses it with the same numbers.
    let mut req = ForkRequest::new("web");
    let (_, mailbox) = app.snapshots().selected_mailbox().expect("a mailbox");
    req.mailboxes = vec![MailboxSpec {
        name: mailbox,
        token: None,
        payload: Some(text.clone()),
        wait_for_ack: true,
        ack_timeout_ms: None,
    }];
    let err = Forks::new(app.store())
        .create(&req, &|_| {}, &AtomicBool::new(false))
        .expect_err("the engine refuses it");
    assert_eq!(err.kind(), ErrorKind::PayloadTooLarge);
    assert!(
        err.to_string().contains(&format!("{} bytes", text.len())),
        "{err}"
    );
}

#[test]
fn the_fork_dialog_refuses_an_invalid_payload_with_the_reason() {
    let (_d, mut app, _rx) = web_app();
    key(&mut app, 'i');
    app.on_event(Event::Paste("oops".into()));
    keycode(&mut app, KeyCode::Esc);
    key(&mut app, 'f');
    keycode(&mut app, KeyCode::Enter);
    assert!(app.sessions().model().list.is_empty(), "nothing started");
    let screen = render(&mut app, 120, 40);
    assert!(
        screen.contains(": payload must be a JSON object"),
        "{screen}"
    );
    assert!(
        app.overlay().is_some_and(|o| o.name() == "fork dialog"),
        "the dialog stays open to fix it"
    );
}

#[test]
fn the_fork_dialog_refuses_a_name_in_use_and_a_session_never_shows_another_forks_log() {
    let (_d, mut app, _rx) = web_app();
    // A fork named `taken` exists, with a guest log of its own.
    let taken = app.store().forks_dir().join("taken");
    std::fs::create_dir_all(&taken).expect("mkdir");
    std::fs::write(taken.join("guest.log"), "OTHER FORK'S SECRET\n").expect("log");
    key(&mut app, 'f');
    for _ in 0..40 {
        keycode(&mut app, KeyCode::Backspace);
    }
    for c in "taken".chars() {
        key(&mut app, c);
    }
    keycode(&mut app, KeyCode::Enter);
    assert!(
        app.sessions().model().list.is_empty(),
        "refused before starting"
    );
    let screen = render(&mut app, 120, 40);
    assert!(screen.contains("fork taken already exists"), "{screen}");
    assert!(!screen.contains("SECRET"));
}

#[test]
fn an_aborted_external_editor_keeps_the_draft() {
    let (_d, mut app, _rx) = web_app();
    let text = |app: &App| app.snapshots().payload().editor().expect("editor").text();
    let before = text(&app);
    key(&mut app, 'e');
    let Some(Exit::Editor(path)) = app.take_exit() else {
        panic!("e hands the payload to $EDITOR");
    };
    // The editor wrote something, then exited non-zero (vim's :cq).
    std::fs::write(&path, "{\"half\": ").expect("write");
    app.editor_returned(&path, Err("vi exited with exit status: 1".into()));
    assert_eq!(text(&app), before);
    let (snap, mb) = app.snapshots().selected_mailbox().expect("a mailbox");
    // The draft on disk (if one was ever saved) is what it was.
    let draft: Option<forkmail::store::Draft> =
        forkmail::store::read_json(&forkmail::store::draft_path(app.store(), &snap, &mb)).ok();
    assert!(draft.is_none_or(|d| d.payload == before));
    let status = app.status().map(|s| s.0.to_string()).unwrap_or_default();
    assert!(status.contains("discarded"), "{status}");
    assert!(!path.exists(), "the scratch file is gone");
}
