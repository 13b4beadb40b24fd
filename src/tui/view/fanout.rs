//! The sessions screen's detail for a fan-out (a per-fork stage grid and
//! the summary) and for a conformance check (the table, live).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::sessions::stage_glyph;
use super::{SPINNER, clip, pane_block};
use crate::check::Verdict;
use crate::fork::Stage;
use crate::sanitize::safe;
use crate::tui::app::{App, Pane};

/// Column heads of the stage grid.
const HEADS: [&str; 7] = ["val", "cpy", "pre", "pat", "res", "ack", "done"];

/// Draw fan-out `gi`: one row per fork, one column per stage.
pub fn draw_group(f: &mut Frame, area: Rect, app: &App, gi: usize) {
    let t = &app.theme;
    let Some(fo) = app.fanouts.get(gi) else {
        return;
    };
    let members = app.members(gi);
    let block = pane_block(
        app,
        Pane::SessionDetail,
        format!("Fan-out · {} ×{} ← {}", fo.base, members.len(), fo.snapshot),
    );
    let width = area.width.saturating_sub(2) as usize;
    let done = members
        .iter()
        .filter(|s| matches!(s.outcome, Some(Ok(_))))
        .count();
    let failed = members
        .iter()
        .filter(|s| matches!(s.outcome, Some(Err(_))))
        .count();
    let running = members.len() - done - failed;
    let mut lines = vec![Line::from(vec![
        Span::styled(format!(" {done} done"), t.ok()),
        Span::styled(
            format!(", {failed} failed"),
            if failed > 0 { t.error() } else { t.dim() },
        ),
        Span::styled(
            format!(", {running} to go · {} at a time", fo.parallel),
            t.dim(),
        ),
    ])];
    let name_w = members
        .iter()
        .map(|s| s.fork.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 24);
    let mut head = format!(" {:<name_w$} ", "fork");
    for h in HEADS {
        head.push_str(&format!("{h:<5}"));
    }
    lines.push(Line::styled(head, t.header()));
    for s in &members {
        let mut spans = vec![Span::raw(format!(" {:<name_w$} ", clip(&s.fork, name_w)))];
        for st in Stage::PIPELINE {
            let (g, style) = stage_glyph(app, s, st);
            spans.push(Span::styled(format!("{g:<5}"), style));
        }
        if let Some(e) = &s.error {
            let room = width.saturating_sub(name_w + 2 + 5 * HEADS.len());
            spans.push(Span::styled(clip(e, room), t.error()));
        }
        lines.push(Line::from(spans));
    }
    if let Some(summary) = &fo.summary {
        lines.push(Line::raw(""));
        for l in summary {
            lines.push(Line::styled(format!(" {l}"), t.dim()));
        }
    }
    lines.push(Line::styled(
        " enter: expand its forks in the list · x: cancel the fan-out (rolls back)",
        t.dim(),
    ));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

/// Draw conformance run `ci`: rule, verdict, evidence and time per check.
pub fn draw_check(f: &mut Frame, area: Rect, app: &App, ci: usize) {
    let t = &app.theme;
    let Some(c) = app.checks.get(ci) else { return };
    let block = pane_block(
        app,
        Pane::SessionDetail,
        format!("Check · the guest of {}", c.snapshot),
    );
    let width = area.width.saturating_sub(2) as usize;
    let spin = SPINNER[app.spinner % SPINNER.len()];
    let mut lines = vec![Line::styled(
        format!(" {:<13} {:<8} {:>8}  evidence", "check", "verdict", "time"),
        t.header(),
    )];
    for (id, row) in &c.rows {
        match row {
            None => lines.push(Line::from(vec![
                Span::raw(format!(" {:<13} ", id.label())),
                Span::styled(format!("{spin} running"), t.warn()),
            ])),
            Some(r) => {
                let style = match r.verdict {
                    Verdict::Pass => t.ok(),
                    Verdict::Fail => t.error(),
                    Verdict::Warn => t.warn(),
                };
                let room = width.saturating_sub(35);
                let mut ev = r.evidence.iter();
                lines.push(Line::from(vec![
                    Span::raw(format!(" {:<13} ", id.label())),
                    Span::styled(format!("{:<8}", r.verdict.label()), style),
                    Span::styled(format!(" {:>5} ms  ", r.elapsed_ms), t.dim()),
                    Span::raw(clip(
                        &safe(ev.next().map(String::as_str).unwrap_or("")),
                        room,
                    )),
                ]));
                for e in ev {
                    lines.push(Line::styled(
                        format!("{:34}{}", "", clip(&safe(e), room)),
                        t.dim(),
                    ));
                }
            }
        }
    }
    lines.push(Line::raw(""));
    match &c.outcome {
        None => lines.push(Line::styled(" running… (x cancels)", t.warn())),
        Some(Ok(true)) => lines.push(Line::styled(" every required check passed", t.ok())),
        Some(Ok(false)) => lines.push(Line::styled(" a required check failed", t.error())),
        Some(Err(e)) => lines.push(Line::styled(
            format!(" could not run: {}", safe(e)),
            t.error(),
        )),
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
