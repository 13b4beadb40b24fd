//! The event loop, generic over the ratatui backend and the input stream so
//! tests drive the real app into a `TestBackend`.
//!
//! Input, engine messages, a tick (only while something animates) and the
//! debounced store reload meet in one `select!`. Pending messages are
//! drained before drawing, and a frame is drawn only when state changed.

use std::io;
use std::time::Duration;

use anyhow::anyhow;
use crossterm::event::Event;
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, MissedTickBehavior};

use super::app::{App, Exit, Msg};
use super::view;

/// Tick period while a spinner or countdown is visible.
pub const TICK: Duration = Duration::from_millis(100);

/// Draw if needed.
pub fn draw<B: Backend>(terminal: &mut Terminal<B>, app: &mut App) -> anyhow::Result<()> {
    if app.dirty {
        let frame = terminal
            .draw(|f| view::draw(f, app))
            .map_err(|e| anyhow!("cannot draw: {e}"))?;
        app.area = frame.area;
        app.dirty = false;
    }
    Ok(())
}

/// Run until the app asks to quit or to hand the terminal to `$EDITOR`, or
/// the input ends.
pub async fn run_loop<B, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    rx: &mut UnboundedReceiver<Msg>,
    input: &mut S,
) -> anyhow::Result<Exit>
where
    B: Backend,
    S: Stream<Item = io::Result<Event>> + Unpin,
{
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    app.dirty = true;
    loop {
        if let Some(exit) = app.exit.take() {
            return Ok(exit);
        }
        draw(terminal, app)?;
        let ticking = app.needs_tick();
        let reload_at = app.reload_at.map(Instant::from_std);
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(e)) => app.on_event(e),
                Some(Err(e)) => return Err(anyhow!("terminal input: {e}")),
                None => return Ok(Exit::Quit),
            },
            msg = rx.recv() => {
                if let Some(m) = msg {
                    app.on_msg(m);
                    while let Ok(m) = rx.try_recv() {
                        app.on_msg(m);
                    }
                }
            }
            _ = tick.tick(), if ticking => app.on_tick(),
            _ = tokio::time::sleep_until(reload_at.unwrap_or_else(Instant::now)), if reload_at.is_some() => {
                app.reload_due();
            }
        }
    }
}
