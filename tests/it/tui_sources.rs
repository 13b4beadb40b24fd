//! Read-only sources in the TUI, rendered into ratatui's `TestBackend` and
//! compared with `insta` snapshots: a Hypeman-shaped data directory (the
//! library's own fixture) listed under the store's snapshots with a source
//! column, unreadable entries with their reasons, markers of a compressed
//! snapshot shown read-only, a memory file opened by path with `o`, and
//! forks of any of them refused with what to do instead.

use crate::support::tui as common;

// The fixture is the library's (src/source/tests/fixture.rs); these make its
// `crate::` paths resolve here.
#[allow(dead_code)]
use crate::support::fixture;

use std::path::Path;

use common::{CREATED, app_on, key, keycode, render, settle};
use crossterm::event::KeyCode;
use forkmail::source::SourceSet;
use forkmail::store::{SNAPSHOT_META, SnapshotMeta, Store, read_json, write_json_atomic};
use forkmail::template::sim::{SimTemplateSpec, create_sim_template};
use forkmail::tui::action::{Action, Level};
use forkmail::tui::app::App;
use forkmail::tui::keymap::Place;
use forkmail::tui::msg::Msg;
use forkmail::tui::snapshots::sources::Entry;
use tokio::sync::mpsc::UnboundedReceiver;

struct Rig {
    _dir: tempfile::TempDir,
    fx: fixture::Fixture,
    app: App,
    rx: UnboundedReceiver<Msg>,
}

/// One store template and the Hypeman source.
fn rig() -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    let mut spec = SimTemplateSpec::new("web");
    spec.memory_size = 16 << 20;
    spec.seed = Some(1);
    spec.data_percent = 1.0;
    spec.mailboxes = vec![(
        "app.config".into(),
        Some("a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1".into()),
    )];
    let snap = create_sim_template(&store, &spec).expect("template");
    let path = snap.dir.join(SNAPSHOT_META);
    let mut meta: SnapshotMeta = read_json(&path).expect("meta");
    meta.created_at = CREATED.into();
    write_json_atomic(&path, &meta).expect("meta");
    let fx = fixture::hypeman();
    let (mut app, mut rx) = app_on(store);
    app.set_sources(SourceSet::open(std::slice::from_ref(&fx.root)));
    settle(&mut app, &mut rx);
    Rig {
        _dir: dir,
        fx,
        app,
        rx,
    }
}

impl Rig {
    /// Select the row whose key is `key` and let its scan finish.
    fn select(&mut self, key: &str) {
        let i = self
            .app
            .snapshots()
            .catalog()
            .rows()
            .iter()
            .position(|e| e.key() == key)
            .unwrap_or_else(|| panic!("no row {key}"));
        while self.app.focus() != forkmail::tui::action::Pane::Snapshots {
            keycode(&mut self.app, KeyCode::Esc);
        }
        self.app.update(Action::Top);
        for _ in 0..i {
            self.app.update(Action::Down);
        }
        settle(&mut self.app, &mut self.rx);
    }

    /// The screen, with temporary paths made stable.
    fn screen(&mut self, w: u16, h: u16) -> String {
        let tmp = self.fx.root.parent().expect("parent").display().to_string();
        render(&mut self.app, w, h).replace(&tmp, "<tmp>")
    }
}

#[test]
fn sources_are_listed_under_the_store_and_compressed_markers_shown_read_only() {
    let mut rig = rig();
    let keys: Vec<String> = rig
        .app
        .snapshots()
        .catalog()
        .rows()
        .iter()
        .map(|e| e.key())
        .collect();
    assert_eq!(keys[0], "web", "the store's snapshots come first");
    for k in [
        "hypeman/fc-web",
        "hypeman/snap-zst",
        "hypeman/broken-meta",
        "hypeman/qemu-vm",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} in {keys:?}");
    }
    rig.select("hypeman/ch-packed");
    let report = rig
        .app
        .snapshots()
        .catalog()
        .report()
        .expect("the zstd snapshot was scanned")
        .clone();
    assert_eq!(report.markers.len(), fixture::planted().len());
    let screen = rig.screen(120, 40);
    assert!(screen.contains("read-only"), "{screen}");
    insta::assert_snapshot!("sources_listed_and_compressed_markers", screen);
}

#[test]
fn an_unreadable_entry_says_why_and_a_qemu_stream_is_not_scanned() {
    let mut rig = rig();
    rig.select("hypeman/broken-meta");
    let screen = rig.screen(100, 30);
    assert!(screen.contains("bad-metadata"), "{screen}");
    insta::assert_snapshot!("unreadable_entry", screen);
    rig.select("hypeman/qemu-vm");
    let screen = rig.screen(100, 30);
    assert!(screen.contains("migration stream"), "{screen}");
}

#[test]
fn forking_a_source_snapshot_is_refused_with_what_to_do() {
    let mut rig = rig();
    rig.select("hypeman/fc-web");
    key(&mut rig.app, 'f');
    assert!(
        rig.app.overlay().is_none(),
        "no fork dialog for a read-only snapshot"
    );
    let (text, level) = rig.app.status().expect("a reason");
    assert_eq!(level, Level::Error);
    assert!(text.contains("forkmail import hypeman/fc-web"), "{text}");
    // Item 11: the row itself says it is read-only, and how to fork it.
    let screen = rig.screen(120, 40);
    assert!(
        screen.contains("read-only: `forkmail import hypeman/fc-web`"),
        "{screen}"
    );
    // The store's own snapshot still forks.
    rig.select("web");
    key(&mut rig.app, 'f');
    assert!(rig.app.overlay().is_some_and(|o| o.name() == "fork dialog"));
}

#[test]
fn o_opens_a_compressed_memory_file_by_path_read_only() {
    let mut rig = rig();
    // A relative path (tests run in the package root), so the prompt and
    // the status line read the same wherever the checkout is.
    let dir = Path::new("target/tui-sources-test");
    std::fs::create_dir_all(dir).expect("test dir");
    let file = dir.join("guest.lz4");
    let _ = std::fs::remove_file(&file);
    fixture::write_lz4(&rig.fx.reference, &file);
    let before = fixture::tree_state(&file);
    key(&mut rig.app, 'o');
    assert_eq!(rig.app.place(), Place::Prompt, "the prompt is open");
    for c in file.display().to_string().chars() {
        key(&mut rig.app, c);
    }
    insta::assert_snapshot!("open_prompt", rig.screen(100, 30));
    keycode(&mut rig.app, KeyCode::Enter);
    settle(&mut rig.app, &mut rig.rx);
    assert_eq!(rig.app.place(), Place::Snapshots);
    let selected = rig
        .app
        .snapshots()
        .catalog()
        .selected_entry()
        .map(|e| e.key());
    assert_eq!(selected.as_deref(), Some("opened/guest.lz4"));
    assert!(matches!(
        rig.app.snapshots().catalog().selected_entry(),
        Some(Entry::Source { .. })
    ));
    let report = rig
        .app
        .snapshots()
        .catalog()
        .report()
        .expect("scanned")
        .clone();
    let offsets: Vec<u64> = report.markers.iter().map(|m| m.offset).collect();
    let mut planted: Vec<u64> = fixture::planted().iter().map(|(at, _)| *at).collect();
    planted.sort_unstable();
    assert_eq!(offsets, planted, "same offsets as the raw memory");
    insta::assert_snapshot!("opened_file", rig.screen(100, 30));
    key(&mut rig.app, 'f');
    assert!(rig.app.overlay().is_none());
    let (text, _) = rig.app.status().expect("a reason");
    assert!(text.contains("opened read-only"), "{text}");
    assert_eq!(
        fixture::tree_state(&file),
        before,
        "the file is never written"
    );

    // A path that is not there: said, nothing added.
    let rows = rig.app.snapshots().catalog().rows().len();
    key(&mut rig.app, 'k');
    key(&mut rig.app, 'o');
    common::typed(&mut rig.app, "/nonexistent/memory");
    keycode(&mut rig.app, KeyCode::Enter);
    assert_eq!(rig.app.snapshots().catalog().rows().len(), rows);
    let (text, level) = rig.app.status().expect("an error");
    assert_eq!(level, Level::Error);
    assert!(text.contains("no such file"), "{text}");

    // Item 11: the store's own snapshot opened by path is that snapshot.
    let own = rig.app.store().snapshots_dir().join("web").join("memory");
    key(&mut rig.app, 'o');
    common::typed(&mut rig.app, &own.display().to_string());
    keycode(&mut rig.app, KeyCode::Enter);
    settle(&mut rig.app, &mut rig.rx);
    let selected = rig
        .app
        .snapshots()
        .catalog()
        .selected_entry()
        .map(|e| e.key());
    assert_eq!(selected.as_deref(), Some("web"));
    let (text, _) = rig.app.status().expect("said");
    assert!(text.contains("this store's own snapshot"), "{text}");
}
