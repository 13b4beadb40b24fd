//! A session's detail as lines: its stages with state and time, the copy
//! bar, each ack with its countdown, the error (said once), the rollback,
//! what became of the fork, and the end of its guest log — the file's
//! while the fork is there, else the end kept in its history, marked as
//! kept. The detail pane scrolls through them; Enter shows them (with the
//! whole guest log) in the viewer.

use std::collections::HashMap;

use ratatui::text::{Line, Span};

use super::model::{AckState, Kept, SessionView};
use crate::fork::{Fate, LiveStatus, Stage, Status};
use crate::tui::shared::Shared;
use crate::tui::text::{clip, rate_eta, secs, wrap};
use crate::units::human_size;

/// The copy bar, as wide as `room` allows next to its numbers.
fn bar(done: u64, total: u64, room: usize, rate: Option<(u64, Option<u64>)>) -> String {
    let pct = (done.min(total) * 100).checked_div(total).unwrap_or(100);
    let speed = rate
        .map(|(r, eta)| format!("  {}", rate_eta(r, eta)))
        .unwrap_or_default();
    let numbers = format!(
        " {pct:>3}%  {} / {}{speed}",
        human_size(done),
        human_size(total)
    );
    let width = room
        .saturating_sub(numbers.chars().count() + 2)
        .clamp(5, 30);
    let full = usize::try_from(pct).unwrap_or(100) * width / 100;
    format!(
        "[{}{}]{numbers}",
        "█".repeat(full),
        "░".repeat(width - full)
    )
}

/// One glyph per stage of a session, for a fan-out's grid.
pub fn stage_glyph(
    cx: &Shared,
    s: &SessionView,
    st: Stage,
) -> (&'static str, ratatui::style::Style) {
    let t = cx.theme();
    match s.stages.get(&st) {
        None if st == Stage::Done && s.cancelled() => ("⊘", t.warn()),
        None if st == Stage::Done && s.failed() => ("✗", t.error()),
        None => ("·", t.dim()),
        Some(r) => match r.status {
            Status::Ok => ("✓", t.ok()),
            Status::Failed if s.cancelled() => ("⊘", t.warn()),
            Status::Failed => ("✗", t.error()),
            _ if s.is_running() => (cx.spinner(), t.warn()),
            _ => ("?", t.dim()),
        },
    }
}

fn stage_lines(cx: &Shared, s: &SessionView, width: usize) -> Vec<Line<'static>> {
    let t = cx.theme();
    let mut stages: Vec<Stage> = Stage::PIPELINE.to_vec();
    if s.stages.contains_key(&Stage::Rollback) || s.stages.contains_key(&Stage::Failed) {
        stages.retain(|st| s.stages.contains_key(st));
        stages.push(Stage::Rollback);
        stages.push(Stage::Failed);
    }
    let mut lines = Vec::new();
    for st in stages {
        let Some(row) = s.stages.get(&st) else {
            lines.push(Line::styled(format!(" ·  {:<9}", st.label()), t.dim()));
            continue;
        };
        let cancelled = s.cancelled() && row.status == Status::Failed;
        let (glyph, style) = match row.status {
            Status::Ok => ("✓", t.ok()),
            Status::Failed if cancelled => ("⊘", t.warn()),
            Status::Failed => ("✗", t.error()),
            _ if s.is_running() => (cx.spinner(), t.warn()),
            _ => ("?", t.dim()),
        };
        let label = if st == Stage::Failed && s.cancelled() {
            "cancelled"
        } else {
            st.label()
        };
        let took = match row.status {
            _ if st == Stage::Failed => "         ".into(),
            Status::Ok | Status::Failed => {
                format!("{:>6} ms", row.elapsed_ms.saturating_sub(row.started_ms))
            }
            _ => format!(
                "{:>6} ms",
                s.elapsed_now(cx.clock().instant())
                    .saturating_sub(row.started_ms)
            ),
        };
        // The error is said once: on the stage that failed (the final
        // row and the acks below do not repeat it).
        let ack_failed = st == Stage::Ack
            && s.acks
                .iter()
                .any(|a| matches!(a.state, AckState::Failed(_)));
        let text = if st == Stage::Failed {
            String::new()
        } else if cancelled {
            "cancelled".to_string()
        } else if ack_failed && row.error.is_some() {
            "failed (see Acks)".to_string()
        } else {
            row.error
                .clone()
                .or_else(|| row.detail.clone())
                .unwrap_or_default()
        };
        let room = width.saturating_sub(26);
        let text_style = if row.status == Status::Failed && !cancelled {
            t.error()
        } else {
            t.dim()
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {glyph}  {label:<9}"), style),
            Span::styled(format!(" {took}  "), t.dim()),
            Span::styled(clip(&text, room), text_style),
        ]));
        if st == Stage::Copy
            && let Some((done, total)) = s.copy
            && row.status != Status::Ok
        {
            lines.push(Line::styled(
                format!(
                    "    {}",
                    bar(done, total, width.saturating_sub(5), s.copy_rate())
                ),
                t.ok(),
            ));
        }
    }
    lines
}

fn ack_lines(cx: &Shared, s: &SessionView, width: usize) -> Vec<Line<'static>> {
    let t = cx.theme();
    let mut lines = Vec::new();
    if s.acks.is_empty() {
        return lines;
    }
    lines.push(Line::styled(" Acks", t.header()));
    let now = cx.clock().instant();
    for a in &s.acks {
        let port = a.port.map(|p| format!(":{p}")).unwrap_or_default();
        let (text, style) = match &a.state {
            AckState::Waiting => {
                let gone = now.saturating_duration_since(a.started_at).as_millis();
                let left = a
                    .deadline_ms
                    .saturating_sub(u64::try_from(gone).unwrap_or(u64::MAX));
                (
                    format!("… {} left (deadline {})", secs(left), secs(a.deadline_ms)),
                    t.warn(),
                )
            }
            AckState::Acked(d) => (format!("✓ {d}"), t.ok()),
            AckState::Failed(e) => (format!("✗ {e}"), t.error()),
            AckState::Cancelled => ("⊘ cancelled".to_string(), t.warn()),
        };
        let head = format!("   {:<14} {:<7} ", clip(&a.mailbox, 14), port);
        let indent = head.chars().count();
        let room = width.saturating_sub(indent).max(8);
        // A failure is said whole (wrapped under itself), a countdown cut.
        let parts = match a.state {
            AckState::Failed(_) => wrap(&text, room),
            _ => vec![clip(&text, room)],
        };
        for (i, part) in parts.into_iter().enumerate() {
            let lead = if i == 0 {
                head.clone()
            } else {
                " ".repeat(indent)
            };
            lines.push(Line::from(vec![Span::raw(lead), Span::styled(part, style)]));
        }
    }
    lines
}

/// What is true of the fork now, in a line.
fn fork_line(s: &SessionView, status: Option<LiveStatus>) -> Option<(String, bool)> {
    if !s.done() {
        return None;
    }
    let f = &s.fork;
    Some(match (&s.kept, status) {
        (Some(k), _) if k.fate == Fate::Removed => (format!("fork {f} was removed"), false),
        (_, Some(LiveStatus::Running)) => (
            format!("fork {f} is running (3: forks screen to inspect, stop, remove)"),
            true,
        ),
        (_, Some(LiveStatus::Patched)) => (format!("fork {f} is patched, not restored"), true),
        (_, Some(LiveStatus::Stopped)) => (format!("fork {f} is stopped"), false),
        (_, Some(LiveStatus::Exited)) => (format!("fork {f}'s VMM has exited"), false),
        (_, Some(other)) => (format!("fork {f} is {}", other.label()), false),
        (Some(k), None) => (format!("fork {f} was {}", k.fate.label()), false),
        (None, None) => (format!("fork {f} is gone (removed)"), false),
    })
}

fn kept_lines(cx: &Shared, k: &Kept, width: usize, all: bool) -> Vec<Line<'static>> {
    let t = cx.theme();
    let mut lines = Vec::new();
    let mut part = |name: &str, text: &[String]| {
        if text.is_empty() {
            return;
        }
        let head = format!(" ── {name} (kept: the fork was {}) ", k.fate.label());
        let fill = if all {
            2
        } else {
            width.saturating_sub(head.chars().count())
        };
        lines.push(Line::styled(format!("{head}{}", "─".repeat(fill)), t.dim()));
        let skip = if all {
            0
        } else {
            text.len().saturating_sub(super::model::LOG_TAIL)
        };
        for l in &text[skip..] {
            lines.push(Line::raw(format!(
                "   {}",
                clip(l, width.saturating_sub(3))
            )));
        }
    };
    part("guest.log", &k.guest);
    part("VMM log", &k.vmm);
    if k.guest.is_empty() && k.vmm.is_empty() {
        lines.push(Line::styled(
            format!(
                " the fork was {}; its guest had printed nothing",
                k.fate.label()
            ),
            t.dim(),
        ));
    }
    lines
}

/// The detail of session `s` in `width` columns; `status` is its fork's
/// live status (`None`: no such fork). `whole` keeps every kept log line
/// (the viewer) instead of the last few.
pub fn session_lines(
    cx: &Shared,
    s: &SessionView,
    width: usize,
    forks: &HashMap<String, LiveStatus>,
    whole: bool,
) -> Vec<Line<'static>> {
    // For the viewer nothing is cut: it wraps.
    let width = if whole { usize::MAX / 4 } else { width };
    let t = cx.theme();
    let mbs = if s.mailboxes.is_empty() {
        "none".to_string()
    } else {
        s.mailboxes.join(", ")
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(" mailboxes: ", t.dim()),
        Span::raw(clip(&mbs, width.saturating_sub(13))),
    ])];
    lines.extend(stage_lines(cx, s, width));
    lines.extend(ack_lines(cx, s, width));
    if let Some(e) = s.error() {
        // Said on a stage row already (or by the acks): not again.
        let said = s
            .stages
            .values()
            .any(|r| r.error.as_deref() == Some(e.as_str()));
        if !said && !s.cancelled() {
            for l in wrap(&format!("error: {e}"), width.saturating_sub(2)) {
                lines.push(Line::styled(format!(" {l}"), t.error()));
            }
        }
        if let Some(r) = s.stages.get(&Stage::Rollback) {
            let what = match r.status {
                Status::Ok => format!("rolled back: {}", r.detail.clone().unwrap_or_default()),
                Status::Failed => {
                    format!("rollback failed: {}", r.error.clone().unwrap_or_default())
                }
                _ => "rolling back…".into(),
            };
            for l in wrap(&what, width.saturating_sub(2)) {
                lines.push(Line::styled(format!(" {l}"), t.warn()));
            }
        }
    }
    if let Some((text, ok)) = fork_line(s, forks.get(&s.fork).copied()) {
        for l in wrap(&text, width.saturating_sub(2)) {
            lines.push(Line::styled(
                format!(" {l}"),
                if ok { t.ok() } else { t.warn() },
            ));
        }
    }
    match &s.kept {
        Some(k) => lines.extend(kept_lines(cx, k, width, whole)),
        None if !whole => {
            lines.push(Line::styled(
                format!(" ── guest.log {}", "─".repeat(width.saturating_sub(14))),
                t.dim(),
            ));
            if s.log_tail.is_empty() {
                let why = if s.log_path.is_none() {
                    "   (none: the session made no fork directory)"
                } else if s.is_running() {
                    "   (empty: the guest has printed nothing yet)"
                } else {
                    "   (empty)"
                };
                lines.push(Line::styled(why, t.dim()));
            }
            for l in &s.log_tail {
                lines.push(Line::raw(format!(
                    "   {}",
                    clip(l, width.saturating_sub(3))
                )));
            }
        }
        None => {}
    }
    lines
}

/// Lines as plain text (the viewer shows and searches them).
pub fn plain(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            l.spans
                .iter()
                .map(|s| s.content.as_ref())
                .collect::<String>()
        })
        .collect()
}
