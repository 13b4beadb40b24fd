//! Live behaviour of the TUI state machine with real background work: a
//! 16 GiB sparse scan does not block keys, the store watcher brings new
//! snapshots in, the mouse focuses and scrolls panes.

use crate::support::tui as common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{app_on, click, render, settle, wheel};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use forkmail::store::Store;
use forkmail::template::sim::{SimTemplateSpec, create_sim_template};
use forkmail::tui::action::Pane;
use forkmail::tui::app::App;

fn template(store: &Store, name: &str, size: u64, data_percent: f64) {
    let mut s = SimTemplateSpec::new(name);
    s.memory_size = size;
    s.data_percent = data_percent;
    s.seed = Some(7);
    s.mailboxes = vec![("app.config".into(), Some("7777777777777777".into()))];
    create_sim_template(store, &s).expect("template");
}

fn press(app: &mut App, c: char) -> Duration {
    let t = Instant::now();
    app.on_event(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )));
    t.elapsed()
}

#[test]
fn keys_move_the_selection_while_a_16_gib_template_is_scanned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    template(&store, "a-small", 64 << 20, 1.0);
    template(&store, "big", 16 << 30, 1.0);
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx); // a-small is scanned and cached
    press(&mut app, 'j');
    let job = app
        .snapshots()
        .catalog()
        .scan_job
        .as_ref()
        .expect("scan of big started");
    assert_eq!(job.snapshot, "big");
    let cancel = Arc::clone(&job.cancel);
    assert!(
        render(&mut app, 100, 30).contains("scanning"),
        "gauge shown"
    );

    // Move between the cached snapshot and the one being scanned for as
    // long as the scan runs. Every key is handled at once and the scan is
    // neither blocked nor restarted.
    let mut presses = 0;
    let mut took = Vec::new();
    while app.snapshots().catalog().scan_job.is_some() {
        let expect = if presses % 2 == 0 { "a-small" } else { "big" };
        took.push(press(&mut app, if presses % 2 == 0 { 'k' } else { 'j' }));
        presses += 1;
        let selected = app.snapshots().catalog().selected().map(|s| s.name.clone());
        assert_eq!(selected.as_deref(), Some(expect));
        if let Some(j) = &app.snapshots().catalog().scan_job {
            assert!(Arc::ptr_eq(&j.cancel, &cancel), "scan was restarted");
        }
        std::thread::yield_now();
        while let Ok(m) = rx.try_recv() {
            app.on_msg(m);
        }
    }
    // The keys were handled while the scan ran (the job is only cleared
    // when its result is taken in, below the keys in this loop). How long a
    // key takes is a benchmark's business, not a test's.
    took.sort();
    eprintln!(
        "{presses} key presses during the scan; slowest {:?}",
        took.last()
    );
    assert!(presses >= 1);
    assert!(
        app.snapshots().catalog().cached("big").is_some(),
        "result cached"
    );
}

#[test]
fn a_new_snapshot_appears_through_the_store_watcher() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    template(&store, "first", 32 << 20, 1.0);
    let (mut app, mut rx) = app_on(store.clone());
    let (_watch, note) = forkmail::tui::jobs::watch_store(&store, app.shared().tx().clone());
    assert_eq!(note, "watching store");
    settle(&mut app, &mut rx);
    template(&store, "second", 32 << 20, 1.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.snapshots().catalog().snapshots.len() < 2 {
        assert!(Instant::now() < deadline, "new snapshot never showed up");
        if let Ok(m) = rx.try_recv() {
            app.on_msg(m);
        }
        if app.reload_at().is_some_and(|t| Instant::now() >= t) {
            app.reload_due();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::remove_dir_all(store.snapshots_dir().join("second")).expect("rm");
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.snapshots().catalog().snapshots.len() > 1 {
        assert!(
            Instant::now() < deadline,
            "removed snapshot never went away"
        );
        if let Ok(m) = rx.try_recv() {
            app.on_msg(m);
        }
        if app.reload_at().is_some_and(|t| Instant::now() >= t) {
            app.reload_due();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn click_focuses_a_pane_and_the_wheel_scrolls_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    for n in ["one", "three", "two"] {
        template(&store, n, 32 << 20, 1.0);
    }
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    render(&mut app, 80, 24);
    // Row 10 is inside the markers pane at 80×24.
    click(&mut app, 10, 10);
    assert_eq!(app.focus(), Pane::Markers);
    // The wheel over the snapshots pane moves its selection.
    wheel(&mut app, true, 10, 3);
    assert_eq!(app.snapshots().catalog().sel, 1);
}

#[test]
fn a_changed_memory_file_is_scanned_again_and_revisits_are_cached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    template(&store, "a", 32 << 20, 1.0);
    template(&store, "b", 32 << 20, 1.0);
    let (mut app, mut rx) = app_on(store.clone());
    settle(&mut app, &mut rx);
    press(&mut app, 'j');
    settle(&mut app, &mut rx);
    // Back to `a`: cached, no scan.
    press(&mut app, 'k');
    assert!(
        app.snapshots().catalog().scan_job.is_none(),
        "revisit is instant"
    );
    assert!(app.snapshots().catalog().cached("a").is_some());
    // The memory file changes: the next look scans it again.
    let mem = store.snapshots_dir().join("a").join("memory");
    let f = std::fs::File::options()
        .write(true)
        .open(&mem)
        .expect("open");
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .expect("set mtime");
    app.reload_store();
    assert_eq!(
        app.snapshots()
            .catalog()
            .scan_job
            .as_ref()
            .map(|j| j.snapshot.as_str()),
        Some("a"),
        "changed memory file is rescanned"
    );
    settle(&mut app, &mut rx);
}

#[test]
fn a_snapshot_without_markers_explains_how_to_arm_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    let mut s = SimTemplateSpec::new("bare");
    s.memory_size = 32 << 20;
    s.seed = Some(9);
    create_sim_template(&store, &s).expect("template");
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("No markers in 32.0 MiB"), "{screen}");
    assert!(screen.contains("To arm a mailbox"), "{screen}");
}

#[test]
fn a_scan_in_progress_shows_its_throughput_and_eta() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    template(&store, "a-small", 32 << 20, 1.0);
    template(&store, "big", 16 << 30, 1.0);
    let (mut app, mut rx) = app_on(store);
    settle(&mut app, &mut rx);
    press(&mut app, 'j');
    // It has read 1 GiB of 4 GiB (the real scan's own messages stay in the
    // channel). The clock is frozen: no throughput yet (the rate's
    // arithmetic is tested where it is computed, tui::text).
    let job = app
        .snapshots()
        .catalog()
        .scan_job
        .as_ref()
        .expect("scan of big started");
    let cancel = Arc::clone(&job.cancel);
    app.on_msg(forkmail::tui::msg::Msg::ScanProgress {
        snapshot: "big".into(),
        done: 1 << 30,
        total: 4 << 30,
    });
    let screen = render(&mut app, 110, 30);
    assert!(
        screen.contains("scanning 4.0 GiB of data in 16.0 GiB"),
        "{screen}"
    );
    assert!(screen.contains("1.0 GiB / 4.0 GiB"), "the gauge:\n{screen}");
    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
}
