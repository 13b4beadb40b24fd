//! The event loop, generic over the ratatui backend and the input stream so
//! tests drive the real app into a `TestBackend`.
//!
//! Input, engine messages, a tick (only while something animates), the
//! debounced store reload, the status line's expiry and the next age
//! change meet in one `select!`. Messages that arrived together are all
//! handled before drawing; a frame is drawn only when something changed,
//! and any message that changes what is shown asks for one — so a session's
//! final state is on screen as soon as its event arrives, no key needed.

use std::io;
use std::time::Duration;

use anyhow::anyhow;
use crossterm::event::Event;
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, MissedTickBehavior};

use super::action::Exit;
use super::app::App;
use super::msg::Msg;

/// Tick period while a spinner or countdown is visible.
pub const TICK: Duration = Duration::from_millis(100);

/// Draw if needed.
pub fn draw<B: Backend>(terminal: &mut Terminal<B>, app: &mut App) -> anyhow::Result<()> {
    if app.dirty() {
        terminal
            .draw(|f| app.draw(f))
            .map_err(|e| anyhow!("cannot draw: {e}"))?;
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
    run_loop_with_signals(terminal, app, rx, input, &mut futures::stream::pending()).await
}

/// [`run_loop`], also ending on a quit signal: each item of `signals` (its
/// name, e.g. "SIGTERM") quits at once, without asking. The caller then
/// runs [`finish_sessions`] and restores the terminal as on `q`.
pub async fn run_loop_with_signals<B, S, Q>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    rx: &mut UnboundedReceiver<Msg>,
    input: &mut S,
    signals: &mut Q,
) -> anyhow::Result<Exit>
where
    B: Backend,
    S: Stream<Item = io::Result<Event>> + Unpin,
    Q: Stream<Item = &'static str> + Unpin,
{
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    app.age_changed();
    loop {
        if let Some(exit) = app.take_exit() {
            return Ok(exit);
        }
        draw(terminal, app)?;
        if let Some(text) = app.take_copied()
            && app.shared().options().osc52
        {
            super::terminal::write_clipboard(&text);
        }
        let ticking = app.needs_tick();
        let reload_at = app.reload_at().map(Instant::from_std);
        let status_until = app.status_deadline().map(Instant::from_std);
        // Ages on screen change on their own: wake when the next one does.
        let age_at = app.next_age_change().map(Instant::from_std);
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
            Some(name) = signals.next() => app.quit_on_signal(name),
            _ = tick.tick(), if ticking => app.on_tick(),
            _ = tokio::time::sleep_until(reload_at.unwrap_or_else(Instant::now)), if reload_at.is_some() => {
                app.reload_due();
            }
            // Only armed while a message is shown: no idle wake-ups.
            _ = tokio::time::sleep_until(status_until.unwrap_or_else(Instant::now)), if status_until.is_some() => {
                app.expire_status();
            }
            _ = tokio::time::sleep_until(age_at.unwrap_or_else(Instant::now)), if age_at.is_some() => {
                app.age_changed();
            }
        }
    }
}

/// Sessions still running when the person quits are cancelled, and we wait
/// (up to `limit`) for their rollback — and for stops and removes in
/// flight — so no half-made fork is left behind. Returns how many sessions
/// were cancelled.
pub async fn finish_sessions<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    rx: &mut UnboundedReceiver<Msg>,
    limit: Duration,
) -> usize {
    let n = app.cancel_running();
    // The terminal may be gone (SIGHUP): drawing is best effort.
    let _ = draw(terminal, app);
    let deadline = Instant::now() + limit;
    while app.finishing() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => app.on_msg(m),
            _ => break,
        }
    }
    n
}
