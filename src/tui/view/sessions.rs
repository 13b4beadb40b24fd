//! The sessions screen: every fork session of this run, and the selected
//! one streamed live — stages, copy bar, ack countdowns, error, rollback and
//! the guest log.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Wrap};

use super::{SPINNER, clip, pane_block};
use crate::fork::{Stage, Status};
use crate::tui::app::{App, Pane};
use crate::tui::fanout::SessionRow;
use crate::tui::session::{AckState, SessionView};
use crate::units::human_size;

/// Draw the session list.
pub fn draw_list(f: &mut Frame, area: Rect, app: &App) {
    let rows = app.session_rows();
    let title = if app.filters.sessions.is_empty() {
        format!("Sessions ({})", app.sessions.len())
    } else {
        format!(
            "Sessions ({} rows, filter \"{}\")",
            rows.len(),
            crate::sanitize::safe(&app.filters.sessions)
        )
    };
    let block = pane_block(app, Pane::SessionList, title);
    if app.sessions.is_empty() && app.checks.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled(
                "No fork sessions yet. Select a snapshot and press f.",
                app.theme.dim(),
            ))
            .wrap(Wrap { trim: true })
            .block(block),
            area,
        );
        return;
    }
    let spin = SPINNER[app.spinner % SPINNER.len()];
    let width = area.width.saturating_sub(6) as usize;
    // Sessions of earlier runs (or the CLI) are dimmed.
    let item = |glyph: &str, style, name: &str, state: String, indent: usize, past: bool| {
        let name_w = width.saturating_sub(state.chars().count() + 3 + indent);
        let name_style = if past {
            app.theme.dim()
        } else {
            ratatui::style::Style::new()
        };
        ListItem::new(Line::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(format!("{glyph} "), style),
            Span::styled(format!("{:<name_w$} ", clip(name, name_w)), name_style),
            Span::styled(state, style),
        ]))
    };
    let session_item = |s: &SessionView, indent: usize| {
        let (glyph, state, style) = match &s.outcome {
            None => (
                spin,
                s.current().map(|c| c.label()).unwrap_or("waiting"),
                app.theme.warn(),
            ),
            Some(Ok(_)) => ("✓", "done", app.theme.ok()),
            Some(Err(_)) if s.cancelled => ("⊘", "cancelled", app.theme.warn()),
            Some(Err(_)) => ("✗", "failed", app.theme.error()),
        };
        item(glyph, style, &s.fork, state.to_string(), indent, s.past)
    };
    let items: Vec<ListItem> = rows
        .into_iter()
        .map(|row| match row {
            SessionRow::Single(i) => session_item(&app.sessions[i], 0),
            SessionRow::Member(i) => session_item(&app.sessions[i], 2),
            SessionRow::Group(gi) => {
                let f = &app.fanouts[gi];
                let ms = app.members(gi);
                let done = ms
                    .iter()
                    .filter(|s| matches!(s.outcome, Some(Ok(_))))
                    .count();
                let failed = ms
                    .iter()
                    .filter(|s| matches!(s.outcome, Some(Err(_))))
                    .count();
                let running = ms.iter().any(|s| s.is_running());
                let (glyph, style) = if running {
                    (spin, app.theme.warn())
                } else if failed > 0 {
                    ("✗", app.theme.error())
                } else {
                    ("✓", app.theme.ok())
                };
                let fold = if f.expanded { "▾" } else { "▸" };
                item(
                    glyph,
                    style,
                    &format!("{fold}{} ×{}", f.base, ms.len()),
                    format!("{done}/{}", ms.len()),
                    0,
                    false,
                )
            }
            SessionRow::Check(ci) => {
                let c = &app.checks[ci];
                let (glyph, state, style) = match &c.outcome {
                    None => {
                        let n = c.rows.values().filter(|r| r.is_some()).count();
                        (spin, format!("{n}/{}", c.rows.len()), app.theme.warn())
                    }
                    Some(Ok(true)) => ("✓", "passed".into(), app.theme.ok()),
                    Some(Ok(false)) => ("✗", "fails".into(), app.theme.error()),
                    Some(Err(_)) => ("✗", "error".into(), app.theme.error()),
                };
                item(
                    glyph,
                    style,
                    &format!("check {}", c.snapshot),
                    state,
                    0,
                    false,
                )
            }
        })
        .collect();
    let list = List::new(items)
        .block(block)
        .highlight_style(app.theme.selected())
        .highlight_symbol("> ");
    let mut state = ListState::default().with_selected(Some(app.session_sel));
    f.render_stateful_widget(list, area, &mut state);
}

/// The copy bar, as wide as `room` allows next to its numbers.
fn bar(done: u64, total: u64, room: usize, rate: Option<(f64, Option<f64>)>) -> String {
    let ratio = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    };
    let speed = rate
        .map(|(r, eta)| format!("  {}", super::rate_eta(r, eta)))
        .unwrap_or_default();
    let numbers = format!(
        " {:>3}%  {} / {}{speed}",
        (ratio * 100.0).round() as u64,
        human_size(done),
        human_size(total)
    );
    let width = room
        .saturating_sub(numbers.chars().count() + 2)
        .clamp(5, 30);
    let full = (ratio * width as f64).round() as usize;
    format!(
        "[{}{}]{numbers}",
        "█".repeat(full),
        "░".repeat(width - full)
    )
}

/// One glyph per stage of a session, for a fan-out's grid.
pub fn stage_glyph(app: &App, s: &SessionView, st: Stage) -> (&'static str, ratatui::style::Style) {
    let t = &app.theme;
    match s.stages.get(&st) {
        None if st == Stage::Done && s.failed() => ("✗", t.error()),
        None => ("·", t.dim()),
        Some(r) => match r.status {
            Status::Ok => ("✓", t.ok()),
            Status::Failed => ("✗", t.error()),
            _ if s.is_running() => (SPINNER[app.spinner % SPINNER.len()], t.warn()),
            _ => ("?", t.dim()),
        },
    }
}

fn stage_lines<'a>(app: &App, s: &SessionView, width: usize) -> Vec<Line<'a>> {
    let t = &app.theme;
    let spin = SPINNER[app.spinner % SPINNER.len()];
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
        let (glyph, style) = match row.status {
            Status::Ok => ("✓", t.ok()),
            Status::Failed => ("✗", t.error()),
            _ if s.is_running() => (spin, t.warn()),
            _ => ("?", t.dim()),
        };
        let took = match row.status {
            _ if st == Stage::Failed => "         ".into(),
            Status::Ok | Status::Failed => {
                format!("{:>6} ms", row.elapsed_ms.saturating_sub(row.started_ms))
            }
            _ => format!(
                "{:>6} ms",
                s.elapsed_now(app.clock.instant())
                    .saturating_sub(row.started_ms)
            ),
        };
        // The error is said once: on the stage that failed (the final
        // `failed` row and the acks below do not repeat it).
        let ack_failed = st == Stage::Ack
            && s.acks
                .iter()
                .any(|a| matches!(a.state, AckState::Failed(_)));
        let text = if st == Stage::Failed {
            String::new()
        } else if ack_failed && row.error.is_some() {
            "failed (see Acks)".to_string()
        } else {
            row.error
                .clone()
                .or_else(|| row.detail.clone())
                .unwrap_or_default()
        };
        let room = width.saturating_sub(26);
        lines.push(Line::from(vec![
            Span::styled(format!(" {glyph}  {:<9}", st.label()), style),
            Span::styled(format!(" {took}  "), t.dim()),
            Span::styled(
                clip(&text, room),
                if row.status == Status::Failed {
                    t.error()
                } else {
                    t.dim()
                },
            ),
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

fn ack_lines<'a>(app: &App, s: &SessionView) -> Vec<Line<'a>> {
    let t = &app.theme;
    let mut lines = Vec::new();
    if s.acks.is_empty() {
        return lines;
    }
    lines.push(Line::styled(" Acks", t.header()));
    let now = app.clock.instant();
    for a in &s.acks {
        let port = a.port.map(|p| format!(":{p}")).unwrap_or_default();
        let (text, style) = match &a.state {
            AckState::Waiting => {
                let gone = now.saturating_duration_since(a.started_at).as_millis() as u64;
                let left = a.deadline_ms.saturating_sub(gone);
                (
                    format!(
                        "… {:.1} s left (deadline {:.1} s)",
                        left as f64 / 1000.0,
                        a.deadline_ms as f64 / 1000.0
                    ),
                    t.warn(),
                )
            }
            AckState::Acked(d) => (format!("✓ {d}"), t.ok()),
            AckState::Failed(e) => (format!("✗ {e}"), t.error()),
        };
        lines.push(Line::from(vec![
            Span::raw(format!("   {:<14} {:<7} ", clip(&a.mailbox, 14), port)),
            Span::styled(text, style),
        ]));
    }
    lines
}

/// Draw the selected session, fan-out or check.
pub fn draw_detail(f: &mut Frame, area: Rect, app: &App) {
    match app.selected_row() {
        Some(SessionRow::Group(gi)) => return super::fanout::draw_group(f, area, app, gi),
        Some(SessionRow::Check(ci)) => return super::fanout::draw_check(f, area, app, ci),
        _ => {}
    }
    let Some(s) = app.selected_session() else {
        let block = pane_block(app, Pane::SessionDetail, "Session".into());
        f.render_widget(Paragraph::new("").block(block), area);
        return;
    };
    let t = &app.theme;
    let when = s
        .started_at
        .as_deref()
        .map(|at| format!(" · {}", app.clock.human(at)))
        .unwrap_or_default();
    let origin = match s.request.as_ref().map(|h| h.origin.as_str()) {
        Some("cli") => " · from the CLI",
        _ if s.past => " · earlier run",
        _ => "",
    };
    let block = pane_block(
        app,
        Pane::SessionDetail,
        format!("Session · {} ← {}{when}{origin}", s.fork, s.snapshot),
    );
    let width = area.width.saturating_sub(2) as usize;
    let mbs = if s.mailboxes.is_empty() {
        "none".to_string()
    } else {
        s.mailboxes.join(", ")
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(" mailboxes: ", t.dim()),
        Span::raw(clip(&mbs, width.saturating_sub(13))),
    ])];
    lines.extend(stage_lines(app, s, width));
    lines.extend(ack_lines(app, s));
    if let Some(e) = &s.error {
        // Said on a stage row already (or by the acks): not again.
        let said = s.stages.values().any(|r| r.error.as_ref() == Some(e));
        if !said {
            lines.push(Line::styled(format!(" error: {e}"), t.error()));
        }
        if let Some(r) = s.stages.get(&Stage::Rollback) {
            let what = match r.status {
                Status::Ok => format!("rolled back: {}", r.detail.clone().unwrap_or_default()),
                Status::Failed => {
                    format!("rollback failed: {}", r.error.clone().unwrap_or_default())
                }
                _ => "rolling back…".into(),
            };
            lines.push(Line::styled(format!(" {what}"), t.warn()));
        }
    } else if let Some(Ok(name)) = &s.outcome {
        lines.push(Line::styled(
            format!(" fork {name} is running (3: forks screen to inspect, stop, remove)"),
            t.ok(),
        ));
    }
    lines.push(Line::styled(
        format!(" ── guest.log {}", "─".repeat(width.saturating_sub(14))),
        t.dim(),
    ));
    if s.log_tail.is_empty() {
        lines.push(Line::styled("   (empty)", t.dim()));
    }
    for l in &s.log_tail {
        lines.push(Line::raw(format!(
            "   {}",
            clip(l, width.saturating_sub(3))
        )));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block)
            .scroll((s.scroll, 0)),
        area,
    );
}
