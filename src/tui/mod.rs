//! The terminal UI: browse snapshots and their markers, edit payloads, run
//! fork sessions live, inspect and manage forks.
//!
//! Components (as gitui's): each pane and overlay owns its state, its
//! section of the one keymap ([`keymap`]), its key handling and its
//! drawing ([`component::Component`]). The three screens —
//! [`snapshots`] (snapshot list, markers, payload editor), [`sessions`]
//! (list, detail), [`forks`] (list, detail) — and the [`overlay`]s (help,
//! prompt, confirm, fork dialog, viewer, payload library) are them. The
//! [`app`] routes input to the focused one, applies the [`effect`]s they
//! ask for, and holds only what all share ([`shared`]: store, clock,
//! theme, keymap, jobs channel, status line). [`jobs`] runs engine work
//! off the UI task; [`event_loop`] ties it together over any ratatui
//! backend; [`edge`] is the one place the environment is read.

pub mod action;
pub mod app;
pub mod clock;
pub mod component;
pub mod edge;
pub mod effect;
pub mod event_loop;
pub mod forks;
pub mod jobs;
pub mod keymap;
pub mod msg;
pub mod overlay;
pub mod payloads;
pub mod sessions;
pub mod settings;
pub mod shared;
pub mod snapshots;
pub mod status;
pub mod terminal;
pub mod text;
pub mod theme;
pub mod widget;

use std::time::Duration;

use anyhow::{Context, Result};
use crossterm::event::EventStream;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use action::Exit;
use app::App;
use clock::Clock;
use msg::Msg;
pub use shared::Options;
use theme::Theme;

use crate::source::SourceSet;
use crate::store::Store;

/// Open the TUI on `store` (and the read-only `sources`) until the person
/// quits. Returns the exit code. `theme` and `options` come from the config
/// file.
pub fn run(store: Store, theme: Theme, options: Options, sources: SourceSet) -> Result<i32> {
    // Before any thread: `time` reads the zone only while there is one.
    let clock = Clock::system_local(clock::local_offset());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    rt.block_on(run_async(store, clock, theme, options, sources))
}

async fn run_async(
    store: Store,
    clock: Clock,
    theme: Theme,
    mut options: Options,
    sources: SourceSet,
) -> Result<i32> {
    let (tx, mut rx) = unbounded_channel();
    options.osc52 = true;
    let mut app = App::with_options(store, tx.clone(), clock, theme, options);
    if !sources.is_empty() {
        app.set_sources(sources);
    }
    let (_watch, note) = jobs::watch_store(app.store(), tx);
    app.set_watch_note(note);
    // Before the terminal is taken: from here a SIGTERM/SIGHUP/SIGINT is a
    // quit (sessions roll back, the terminal is restored), not a kill.
    let mut signals = quit_signals();
    terminal::install_panic_hook();
    let mut term = terminal::enter().context(
        "set up the terminal (the TUI needs one; in scripts use subcommands such as `forkmail snapshots`)",
    )?;
    let _guard = terminal::Guard;
    // Crash tests only: a panic while the terminal is taken (raw mode, the
    // alternate screen) must give it back before the message is printed.
    #[cfg(feature = "test-hooks")]
    if edge::panic_asked() {
        panic!("injected panic (FORKMAIL_HOLD_AT=tui-panic)");
    }
    let result = drive(&mut term, &mut app, &mut rx, &mut signals).await;
    event_loop::finish_sessions(&mut term, &mut app, &mut rx, Duration::from_secs(15)).await;
    result.map(|_| 0)
}

/// SIGTERM, SIGHUP and SIGINT as a stream of their names. A signal whose
/// handler cannot be installed keeps its default action (logged).
fn quit_signals() -> impl Stream<Item = &'static str> + Unpin {
    use tokio::signal::unix::{SignalKind, signal};
    let kinds = [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::interrupt(), "SIGINT"),
    ];
    let streams: Vec<_> = kinds
        .into_iter()
        .filter_map(|(kind, name)| match signal(kind) {
            Ok(mut s) => Some(
                futures::stream::poll_fn(move |cx| s.poll_recv(cx).map(|o| o.map(|()| name)))
                    .boxed(),
            ),
            Err(e) => {
                tracing::warn!("cannot handle {name}: {e}");
                None
            }
        })
        .collect();
    futures::stream::select_all(streams)
}

async fn drive<Q>(
    term: &mut terminal::Term,
    app: &mut App,
    rx: &mut UnboundedReceiver<Msg>,
    signals: &mut Q,
) -> Result<()>
where
    Q: Stream<Item = &'static str> + Unpin,
{
    loop {
        let mut input = EventStream::new();
        let exit = event_loop::run_loop_with_signals(term, app, rx, &mut input, signals).await?;
        drop(input);
        match exit {
            Exit::Quit => return Ok(()),
            Exit::Editor(path) => {
                let outcome = terminal::run_editor(term, &path);
                app.editor_returned(&path, outcome);
            }
            Exit::Pager(path) => {
                let outcome = terminal::run_pager(term, &path);
                app.pager_returned(outcome);
            }
        }
    }
}
