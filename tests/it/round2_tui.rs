//! Round 2 (see `round2.rs`), the TUI's side: what `y` puts on the
//! clipboard. Kept apart from the TUI's own tests (the TUI is being
//! rewritten): it only needs an app on a store, a key, and `app.copied`.

use crate::support::tui as common;

use common::{app_on, settle};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use forkmail::template::sim::{SimTemplateSpec, create_sim_template};

/// Defect 14: a guest's token with an escape sequence and newlines is
/// copied with no control character in it (escaped, as the CLI shows it).
#[test]
fn y_never_copies_a_control_character() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = forkmail::store::Store::open(dir.path().join("store")).expect("store");
    let hostile = "tok\u{1b}]0;PWN\u{7}\nrm -rf ~\n";
    let mut s = SimTemplateSpec::new("evil");
    s.memory_size = 32 << 20;
    s.mailboxes = vec![("app".into(), Some(hostile.into()))];
    create_sim_template(&store, &s).expect("template");
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    let key = |app: &mut forkmail::tui::app::App, code| {
        app.on_event(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    };
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('y'));
    let copied = app.take_copied().expect("copied");
    assert!(
        !copied.chars().any(forkmail::sanitize::is_unsafe),
        "{copied:?}"
    );
    assert!(copied.starts_with("tok"), "{copied:?}");
}
