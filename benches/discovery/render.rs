//! TUI render cases: one frame of the real app ([`App::draw`] on a store,
//! as the TUI draws it) into a 200×60 `TestBackend`,
//! with a store of 10,000 snapshots and with a snapshot of 1,000 markers.
//! Every figure is the time per frame. Yardsticks: a plain ratatui `Table`
//! of the same rows drawn into the same backend (the widget's own cost),
//! the same table given only the rows that fit (what a windowed table
//! costs), and the 16.7 ms frame budget at 60 Hz.
//!
//! The app loads its store and scans the selected snapshot the way the TUI
//! does (from disk, through the discovery cache), before any timed frame.
//! The stores are built once under the inputs directory: 10,000 snapshot
//! directories with a `snapshot.json` and an empty sparse memory file each,
//! and one 64 MiB sparse memory file with 1,000 armed mailboxes.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use forkmail::mailbox::{MAILBOX_SIZE, encode_fork_marker};
use forkmail::store::{MEMORY_FILE, SNAPSHOT_META, SnapshotMeta, Store};
use forkmail::tui::app::App;
use forkmail::tui::clock::Clock;
use forkmail::tui::msg::Msg;
use forkmail::tui::theme::Theme;
use forkmail::units::human_size;
use forkmail::vmm::VmmKind;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Constraint;
use ratatui::widgets::{Block, Borders, Row, Table, TableState};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::cases::Ctx;
use crate::harness::{Cache, Case, Kind, Sample, Side, Subject};

/// The backend's size.
const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;
/// Frames drawn per timed run; a run's sample is the time per frame.
const FRAMES: u32 = 20;
/// Snapshots in the list case.
const SNAPSHOTS: usize = 10_000;
/// Markers in the table case.
const MARKERS: usize = 1_000;
const CREATED: &str = "2026-01-01T00:00:00Z";

fn meta(memory_size: u64, created_at: String) -> SnapshotMeta {
    SnapshotMeta {
        kind: "standby".into(),
        vmm: VmmKind::Sim,
        created_at,
        memory_size,
        vmm_config: serde_json::Value::Null,
        ack_bind: None,
        description: None,
    }
}

/// A snapshot directory: `snapshot.json` and a sparse memory file (plain
/// writes: `write_json_atomic` would fsync 10,000 times).
fn put_snapshot(store: &Store, name: &str, meta: &SnapshotMeta) -> io::Result<std::fs::File> {
    let dir = store.snapshots_dir().join(name);
    std::fs::create_dir_all(&dir)?;
    let mem = std::fs::File::create(dir.join(MEMORY_FILE))?;
    mem.set_len(meta.memory_size)?;
    std::fs::write(dir.join(SNAPSHOT_META), serde_json::to_vec(meta)?)?;
    Ok(mem)
}

/// Open (or build) the store at `inputs/<name>`; `build` fills a new one.
fn ensure_store(
    inputs: &Path,
    name: &str,
    describe: &str,
    build: impl FnOnce(&Store) -> io::Result<()>,
) -> io::Result<Store> {
    let root = inputs.join(name);
    let stamp = inputs.join(format!("{name}.stamp"));
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == describe) {
        return Store::open(&root).map_err(io::Error::other);
    }
    eprintln!("building {name} in {}", root.display());
    let _ = std::fs::remove_file(&stamp);
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(inputs)?;
    let store = Store::open(&root).map_err(io::Error::other)?;
    build(&store)?;
    std::fs::write(&stamp, describe)?;
    Ok(store)
}

/// 10,000 snapshots of assorted names, sizes and ages.
fn many_snapshots(inputs: &Path) -> io::Result<Store> {
    let describe = format!("v1 snapshots={SNAPSHOTS}");
    ensure_store(inputs, "tui-10k-snapshots", &describe, |store| {
        let kinds = ["web", "api", "db", "cache", "worker", "edge-net", "batch"];
        for i in 0..SNAPSHOTS {
            let name = format!("{}-{i}", kinds[i % kinds.len()]);
            let size = (256u64 << 20) << (i % 7);
            let created = format!(
                "2025-{:02}-{:02}T{:02}:00:00Z",
                1 + i % 12,
                1 + i % 28,
                i % 24
            );
            put_snapshot(store, &name, &meta(size, created))?;
        }
        Ok(())
    })
}

/// One snapshot whose memory holds 1,000 armed mailboxes.
fn many_markers(inputs: &Path) -> io::Result<Store> {
    let describe = format!("v1 markers={MARKERS}");
    ensure_store(inputs, "tui-1000-markers", &describe, |store| {
        let size = 64u64 << 20;
        let mem = put_snapshot(store, "markers-1000", &meta(size, CREATED.into()))?;
        let mut page = vec![0u8; MAILBOX_SIZE];
        for i in 0..MARKERS {
            page.fill(0);
            let m = encode_fork_marker(&format!("mailbox.{i:04}"), &format!("{i:032x}"));
            page[..m.len()].copy_from_slice(&m);
            // One marker per 64 KiB: spread over the file, never on a shared page.
            mem.write_all_at(&page, i as u64 * (64 << 10))?;
        }
        mem.sync_all()
    })
}

/// The app on `store` as the TUI opens it, once its first scan is done.
fn app_on(store: Store) -> io::Result<(App, UnboundedReceiver<Msg>)> {
    let (tx, mut rx) = unbounded_channel();
    let at = time::OffsetDateTime::parse(CREATED, &time::format_description::well_known::Rfc3339)
        .map_err(io::Error::other)?;
    let mut app = App::new(store, tx, Clock::frozen(at), Theme::from_env());
    app.on_event(crossterm::event::Event::Resize(WIDTH, HEIGHT));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        while let Ok(m) = rx.try_recv() {
            app.on_msg(m);
        }
        if !app.snapshots().busy() && !app.forks().busy() {
            return Ok((app, rx));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("the app's first scan took over 60 s"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn terminal() -> io::Result<Terminal<TestBackend>> {
    Terminal::new(TestBackend::new(WIDTH, HEIGHT)).map_err(io::Error::other)
}

/// Draw `FRAMES` frames with `draw`; the sample is the time per frame.
fn frames(
    t: &mut Terminal<TestBackend>,
    mut draw: impl FnMut(&mut ratatui::Frame),
) -> Result<Sample, String> {
    let started = Instant::now();
    for _ in 0..FRAMES {
        t.draw(&mut draw).map_err(|e| e.to_string())?;
    }
    Ok(Sample::lib(started.elapsed() / FRAMES))
}

/// The subjects of a render case: the app's frame, a plain table of all
/// `rows` and one of a screenful of them (cells as text, widths as given),
/// and the frame budget.
fn render_case(
    name: &str,
    (mut app, rx): (App, UnboundedReceiver<Msg>),
    rows: Vec<Vec<String>>,
    widths: Vec<Constraint>,
) -> io::Result<Case<'static>> {
    let mut t = terminal()?;
    let app_subject = Subject::new(
        format!("tui App::draw, {WIDTH}×{HEIGHT}"),
        Side::Forkmail,
        Kind::Lib,
        move || {
            // Kept alive: the app's background work reports into it.
            let _ = &rx;
            frames(&mut t, |f| app.draw(f))
        },
    );
    // The widget's own cost: every row handed to the table, as the app
    // does, and only a screenful (what a table given only the rows in view
    // costs).
    let fit = usize::from(HEIGHT - 3);
    let shown = rows.len().min(fit);
    let mut subjects = vec![app_subject];
    for (label, take) in [
        (
            format!("plain ratatui Table, same {} rows", rows.len()),
            rows.len(),
        ),
        (
            format!("plain ratatui Table, a screenful ({shown} rows)"),
            shown,
        ),
    ] {
        let mut t = terminal()?;
        let (rows, widths) = (rows[..take].to_vec(), widths.clone());
        subjects.push(Subject::new(label, Side::Yardstick, Kind::Lib, move || {
            frames(&mut t, |f| {
                let table = Table::new(
                    rows.iter().map(|r| Row::new(r.iter().map(String::as_str))),
                    widths.iter().copied(),
                )
                .block(Block::default().borders(Borders::ALL))
                .highlight_symbol("> ");
                let mut state = TableState::default().with_selected(Some(0));
                f.render_stateful_widget(table, f.area(), &mut state);
            })
        }));
    }
    subjects.push(Subject::new(
        "frame budget at 60 Hz (16.7 ms, not measured)",
        Side::Yardstick,
        Kind::Lib,
        || Ok(Sample::lib(Duration::from_secs(1) / 60)),
    ));
    Ok(Case {
        name: name.into(),
        cache: Cache::Warm,
        subjects,
        notes: vec![Box::new(|| {
            Some(format!(
                "  times per frame (each run draws {FRAMES} frames into a {WIDTH}×{HEIGHT} TestBackend)"
            ))
        })],
    })
}

/// The main screen with 10,000 snapshots in the list.
pub fn snapshot_list(ctx: &Ctx) -> io::Result<Case<'static>> {
    let (app, rx) = app_on(many_snapshots(&ctx.inputs)?)?;
    let catalog = app.snapshots().catalog();
    if catalog.snapshots.len() != SNAPSHOTS {
        return Err(io::Error::other(format!(
            "the app lists {} snapshots, expected {SNAPSHOTS}",
            catalog.snapshots.len()
        )));
    }
    let now = app.shared().clock().now();
    let rows = catalog
        .visible()
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.meta.vmm.label().to_string(),
                human_size(s.memory_size),
                human_size(s.allocated),
                forkmail::tui::text::age(&s.meta.created_at, now),
                catalog
                    .cached(&s.name)
                    .map_or("…".into(), |r| r.markers.len().to_string()),
            ]
        })
        .collect();
    let widths = [14, 4, 10, 10, 5, 7].map(Constraint::Length).to_vec();
    render_case("render 10k snapshots", (app, rx), rows, widths)
}

/// The main screen with a snapshot of 1,000 markers selected.
pub fn marker_table(ctx: &Ctx) -> io::Result<Case<'static>> {
    let (app, rx) = app_on(many_markers(&ctx.inputs)?)?;
    let report = app
        .snapshots()
        .catalog()
        .report()
        .cloned()
        .ok_or_else(|| io::Error::other("the app has no markers for its snapshot"))?;
    if report.markers.len() != MARKERS {
        return Err(io::Error::other(format!(
            "the app found {} markers, expected {MARKERS}",
            report.markers.len()
        )));
    }
    let rows = report
        .markers
        .iter()
        .map(|m| {
            vec![
                "[x]".into(),
                "fork".into(),
                m.name.clone().unwrap_or_default(),
                "•".repeat(8),
                format!("{:#x}", m.offset),
                m.seq.to_string(),
                m.payload_len.to_string(),
                "5.0 s".into(),
                String::new(),
            ]
        })
        .collect();
    let widths = [3, 4, 12, 8, 11, 3, 4, 5, 9]
        .map(Constraint::Length)
        .to_vec();
    render_case("render 1k markers", (app, rx), rows, widths)
}
