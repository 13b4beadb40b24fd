//! The forks screen: forks with their status, and the selected fork's
//! memory inspection (mailboxes consumed or not).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState, Wrap};

use super::{SPINNER, pane_block};
use crate::fork::{LiveStatus, StageTiming};
use crate::sanitize::{safe, safe_owned};
use crate::tui::app::{App, Pane};
use crate::tui::forks::{ForksState, Inspection};

/// Draw the fork table.
pub fn draw_list(f: &mut Frame, area: Rect, app: &App) {
    let visible = app.forks.visible();
    let title = if app.forks.filter.is_empty() {
        format!("Forks ({})", app.forks.rows.len())
    } else {
        format!(
            "Forks ({} of {}, filter \"{}\")",
            visible.len(),
            app.forks.rows.len(),
            safe(&app.forks.filter)
        )
    };
    let block = pane_block(app, Pane::ForkList, title);
    if app.forks.rows.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled("No forks in this store.", app.theme.dim())).block(block),
            area,
        );
        return;
    }
    let rows = visible.iter().map(|r| {
        let style = match r.status {
            LiveStatus::Running => app.theme.ok(),
            LiveStatus::Creating | LiveStatus::Interrupted => app.theme.warn(),
            _ => app.theme.dim(),
        };
        let mbs: Vec<String> = r
            .info
            .meta
            .mailboxes
            .iter()
            .map(|m| format!("{}{}", safe(&m.name), if m.acked { " ✓" } else { "" }))
            .collect();
        Row::new(vec![
            Span::raw(r.info.name.clone()),
            Span::raw(safe_owned(&r.info.meta.source)),
            Span::styled(r.status.label(), style),
            Span::raw(
                r.live_pid()
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
            Span::raw(mbs.join(", ")),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(18),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(["NAME", "SOURCE", "STATUS", "PID", "MAILBOXES (✓ acked)"])
            .style(app.theme.header()),
    )
    .block(block)
    .row_highlight_style(app.theme.selected())
    .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(app.forks.sel));
    f.render_stateful_widget(table, area, &mut state);
}

/// Draw the selected fork's detail and inspection.
pub fn draw_detail(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let Some(row) = app.forks.selected() else {
        let block = pane_block(app, Pane::ForkDetail, "Fork".into());
        f.render_widget(Paragraph::new("").block(block), area);
        return;
    };
    let block = pane_block(app, Pane::ForkDetail, format!("Fork · {}", row.info.name));
    let mut lines = vec![Line::from(vec![
        Span::styled(" source ", t.dim()),
        Span::raw(safe_owned(&row.info.meta.source)),
        Span::styled("  status ", t.dim()),
        Span::raw(row.status.label()),
        Span::styled("  created ", t.dim()),
        Span::raw(app.clock.human(&row.info.meta.created_at)),
    ])];
    let stages = stage_durations(&row.info.meta.stages);
    if !stages.is_empty() {
        lines.push(Line::styled(
            format!(" stages: {}", stages.join(" · ")),
            t.dim(),
        ));
    }
    match app.forks.inspections.get(&row.info.name) {
        None => lines.push(Line::styled(
            " Enter or i: scan this fork's memory to see whether its mailboxes were consumed",
            t.dim(),
        )),
        Some(Inspection::Running) => lines.push(Line::styled(
            format!(" {} scanning memory…", SPINNER[app.spinner % SPINNER.len()]),
            t.warn(),
        )),
        Some(Inspection::Failed(e)) => lines.push(Line::styled(
            format!(" inspection failed: {}", safe(e)),
            t.error(),
        )),
        Some(Inspection::Done(report)) => {
            lines.push(Line::styled(" Mailboxes in memory now", t.header()));
            let rows = ForksState::consumption(row, report);
            if rows.is_empty() {
                lines.push(Line::styled("   no mailbox was patched", t.dim()));
            }
            for c in rows {
                let (text, style) = match c.seq {
                    Some(0) => ("seq 0: consumed by the guest".to_string(), t.ok()),
                    Some(n) => (format!("seq {n}: not consumed (yet)"), t.warn()),
                    None => ("marker not found".to_string(), t.error()),
                };
                lines.push(Line::from(vec![
                    Span::raw(format!("   {:<16} ", safe(&c.mailbox))),
                    Span::styled(text, style),
                    Span::styled(if c.acked { "  (acked)" } else { "" }, t.dim()),
                ]));
            }
        }
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

/// Per-stage durations, like the session view shows them. `fork.json`
/// records when each stage ended (ms since the session started); stages run
/// back to back, so a stage took the time since the previous one ended.
pub fn stage_durations(stages: &[StageTiming]) -> Vec<String> {
    let mut prev = 0u64;
    stages
        .iter()
        .map(|s| {
            let took = s.elapsed_ms.saturating_sub(prev);
            prev = prev.max(s.elapsed_ms);
            format!("{} {took} ms", s.stage.label())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fork::Stage;

    #[test]
    fn stage_times_are_durations_not_time_since_start() {
        let t = |stage, ms| StageTiming {
            stage,
            elapsed_ms: ms,
        };
        let got = stage_durations(&[
            t(Stage::Validate, 1),
            t(Stage::Copy, 45),
            t(Stage::Restore, 49),
            t(Stage::Done, 50),
        ]);
        assert_eq!(
            got,
            ["validate 1 ms", "copy 44 ms", "restore 4 ms", "done 1 ms"]
        );
    }
}
