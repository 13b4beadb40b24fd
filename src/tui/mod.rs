//! The terminal UI: browse snapshots and their markers, edit payloads, run
//! fork sessions live, inspect and manage forks.
//!
//! Layout follows the architecture notes: [`app`] holds state, actions and
//! `update`; [`keymap`] is the one key table; [`view`] draws; [`jobs`] runs
//! engine work off the UI task; [`event_loop`] ties them together over any
//! ratatui backend.

pub mod action;
pub mod app;
pub mod catalog;
pub mod editor;
pub mod event_loop;
pub mod forks;
pub mod jobs;
pub mod keymap;
pub mod sanitize;
pub mod session;
pub mod terminal;
pub mod theme;
pub mod view;
pub mod widget;

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use crossterm::event::EventStream;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use app::{App, Clock, Exit, Msg};
use theme::Theme;

use crate::store::Store;

/// Open the TUI on `store` until the person quits. Returns the exit code.
pub fn run(store: Store) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    rt.block_on(run_async(store))
}

async fn run_async(store: Store) -> Result<i32> {
    let (tx, mut rx) = unbounded_channel();
    let mut app = App::new(store, tx.clone(), Clock::system(), Theme::from_env());
    let (_watch, note) = jobs::watch_store(&app.store, tx);
    app.watch_note = note;
    terminal::install_panic_hook();
    let mut term = terminal::enter().context(
        "set up the terminal (the TUI needs one; in scripts use subcommands such as `forkmail snapshots`)",
    )?;
    let _guard = terminal::Guard;
    let result = drive(&mut term, &mut app, &mut rx).await;
    finish_sessions(&mut term, &mut app, &mut rx).await;
    result.map(|_| 0)
}

async fn drive(
    term: &mut terminal::Term,
    app: &mut App,
    rx: &mut UnboundedReceiver<Msg>,
) -> Result<()> {
    loop {
        let mut input = EventStream::new();
        let exit = event_loop::run_loop(term, app, rx, &mut input).await?;
        drop(input);
        match exit {
            Exit::Quit => return Ok(()),
            Exit::Editor(path) => {
                let outcome = terminal::run_editor(term, &path);
                app.editor_returned(&path, outcome);
            }
        }
    }
}

/// Sessions still running when the person quits are cancelled, and we wait
/// (bounded) for their rollback so no half-made fork is left behind.
async fn finish_sessions(
    term: &mut terminal::Term,
    app: &mut App,
    rx: &mut UnboundedReceiver<Msg>,
) {
    let running: Vec<_> = app.sessions.iter().filter(|s| s.is_running()).collect();
    if running.is_empty() {
        return;
    }
    for s in &running {
        s.cancel.store(true, Ordering::Relaxed);
    }
    app.say(
        format!("cancelling {} running session(s)…", running.len()),
        app::Level::Info,
    );
    app.dirty = true;
    let _ = event_loop::draw(term, app);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while app.sessions.iter().any(|s| s.is_running()) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => app.on_msg(m),
            _ => break,
        }
    }
}
