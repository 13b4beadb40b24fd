//! The live view of a fan-out: on a terminal, one spinner line per running
//! fork and an overall bar (indicatif), with a permanent line per fork as it
//! ends; otherwise plain lines; with `--json`, every session's event lines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::event_line::human_line;
use super::line_writer::LineWriter;
use crate::fanout::FanoutEvent;
use crate::fork::{ForkError, Happening, SessionEvent};
use crate::sanitize::escaped;

/// How the fan-out is shown.
pub enum Progress {
    /// One event line per session event (`fork` names the fork), queued
    /// for a writer thread: the sessions never wait for the reader.
    Json(LineWriter),
    /// Plain lines, each prefixed with the fork's name (queued likewise).
    Plain(LineWriter),
    /// A live multi-line view.
    Live(Live),
}

/// The live view's bars.
pub struct Live {
    multi: MultiProgress,
    overall: ProgressBar,
    bars: Mutex<HashMap<usize, ProgressBar>>,
    counts: Mutex<(usize, usize)>,
}

/// Queue `line` (a floodable one may be dropped when stdout is not read
/// fast enough).
fn queue(w: &LineWriter, line: String, e: &FanoutEvent) {
    match e {
        FanoutEvent::Session { event, .. } if super::fork_cmd::floodable(event) => {
            w.floodable(line, event);
        }
        _ => w.line(line),
    }
}

/// The event line of a fork that has no session events of its own (never
/// started) or of a removal after the fan-out failed.
fn synthetic(fork: &str, what: Happening) -> SessionEvent {
    SessionEvent {
        fork: fork.to_string(),
        elapsed_ms: 0,
        what,
    }
}

fn removed_event(name: &str, result: &Result<(), String>) -> SessionEvent {
    match result {
        Ok(()) => synthetic(
            name,
            Happening::RolledBack {
                notes: vec!["removed: another fork of the fan-out failed".into()],
                kept: Default::default(),
            },
        ),
        Err(e) => synthetic(
            name,
            Happening::RollbackFailed {
                error: format!("could not remove it after the fan-out failed: {e}"),
            },
        ),
    }
}

impl Progress {
    /// The view for `forks` forks: JSON, live on a terminal, else plain.
    pub fn new(json: bool, forks: usize) -> Progress {
        use std::io::IsTerminal;
        if json {
            return Progress::Json(LineWriter::stdout(super::fork_cmd::dropped_note(true)));
        }
        if !std::io::stdout().is_terminal() {
            return Progress::Plain(LineWriter::stdout(super::fork_cmd::dropped_note(false)));
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let overall = multi.add(ProgressBar::new(forks as u64));
        overall.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} forks  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▌░"),
        );
        overall.enable_steady_tick(Duration::from_millis(100));
        Progress::Live(Live {
            multi,
            overall,
            bars: Mutex::new(HashMap::new()),
            counts: Mutex::new((0, 0)),
        })
    }

    /// Show one fan-out event (called from the sessions' threads).
    pub fn on(&self, e: FanoutEvent) {
        match self {
            Progress::Json(w) => {
                let ev = match &e {
                    FanoutEvent::Session { event, .. } => Some(event.clone()),
                    FanoutEvent::Ended {
                        name,
                        result: Err(err),
                        not_started: true,
                        ..
                    } => Some(synthetic(name, Happening::Failed(err.into()))),
                    FanoutEvent::Removed { name, result, .. } => Some(removed_event(name, result)),
                    FanoutEvent::Ended { .. } => None,
                };
                if let Some(line) = ev.and_then(|ev| serde_json::to_string(&ev).ok()) {
                    queue(w, line, &e);
                }
            }
            Progress::Plain(w) => {
                if let Some(line) = plain_line(&e) {
                    queue(w, line, &e);
                }
            }
            Progress::Live(live) => live.on(e),
        }
    }

    /// Write what is queued, or clear the live view, before the summary is
    /// printed.
    pub fn finish(&self) {
        match self {
            Progress::Json(w) | Progress::Plain(w) => w.finish(),
            Progress::Live(live) => {
                live.overall.finish_and_clear();
                let _ = live.multi.clear();
            }
        }
    }
}

/// One plain line per event worth a line: stage ends, failures, rollback.
fn plain_line(e: &FanoutEvent) -> Option<String> {
    match e {
        FanoutEvent::Session { event, .. } => {
            if matches!(
                event.what,
                Happening::StageStarted(_)
                    | Happening::CopyStarted { .. }
                    | Happening::CopyProgress { .. }
                    | Happening::AckWaiting { .. }
                    | Happening::FrameWritten { .. }
            ) {
                return None;
            }
            Some(format!("{:<24} {}", event.fork, human_line(event)?))
        }
        FanoutEvent::Ended {
            name,
            result: Err(err),
            not_started: true,
            ..
        } => Some(format!(
            "{name:<24}      -     {}",
            escaped(&err.to_string())
        )),
        FanoutEvent::Ended { .. } => None,
        FanoutEvent::Removed { name, result, .. } => Some(format!(
            "{name:<24} {}",
            human_line(&removed_event(name, result))?
        )),
    }
}

impl Live {
    fn on(&self, e: FanoutEvent) {
        match e {
            FanoutEvent::Session { index, event } => {
                let Ok(mut bars) = self.bars.lock() else {
                    return;
                };
                let bar = bars.entry(index).or_insert_with(|| {
                    let b = self
                        .multi
                        .insert_before(&self.overall, ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("  {spinner} {prefix:<24} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_prefix(event.fork.clone());
                    b.enable_steady_tick(Duration::from_millis(100));
                    b
                });
                let stage = event.stage().label();
                let detail = event.detail().map(|d| escaped(&d).into_owned());
                bar.set_message(match detail {
                    Some(d) => format!("{stage:<9} {d}"),
                    None => format!("{stage:<9} …"),
                });
            }
            FanoutEvent::Ended {
                index,
                name,
                result,
                not_started,
            } => {
                if let Ok(mut bars) = self.bars.lock()
                    && let Some(b) = bars.remove(&index)
                {
                    b.finish_and_clear();
                }
                let line = ended_line(&name, &result, not_started);
                let _ = self.multi.println(line);
                if let Ok(mut c) = self.counts.lock() {
                    if result.is_ok() {
                        c.0 += 1;
                    } else {
                        c.1 += 1;
                    }
                    self.overall
                        .set_message(format!("{} done, {} failed", c.0, c.1));
                }
                self.overall.inc(1);
            }
            FanoutEvent::Removed { name, result, .. } => {
                let what = match result {
                    Ok(()) => "removed (the fan-out failed)".to_string(),
                    Err(e) => format!("could not be removed: {}", escaped(&e)),
                };
                let _ = self.multi.println(format!("  ↺ {name:<24} {what}"));
            }
        }
    }
}

fn ended_line(
    name: &str,
    result: &Result<crate::fork::ForkOutcome, ForkError>,
    not_started: bool,
) -> String {
    match result {
        Ok(o) => match o.pid() {
            Some(pid) => format!("  ✓ {name:<24} running (pid {pid})"),
            None => format!("  ✓ {name:<24} patched"),
        },
        Err(e) if not_started => {
            format!("  - {name:<24} {}", escaped(&e.to_string()))
        }
        Err(e) => format!(
            "  ✗ {name:<24} failed at {} ({}): {}",
            e.stage().label(),
            e.kind(),
            escaped(&e.to_string())
        ),
    }
}
