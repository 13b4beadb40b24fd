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
use crate::units::human_size;

/// Draw the fork table.
pub fn draw_list(f: &mut Frame, area: Rect, app: &App) {
    let visible = app.forks.visible();
    let mut title = format!("Forks ({})", app.forks.rows.len());
    if !app.forks.filter.is_empty() {
        title.push_str(&format!(
            " · /{} shows {}",
            safe(&app.forks.filter),
            visible.len()
        ));
    }
    if !app.forks.marked.is_empty() {
        title.push_str(&format!(" · {} marked", app.forks.marked.len()));
    }
    let block = pane_block(app, Pane::ForkList, title);
    if visible.is_empty() {
        let text = if app.forks.rows.is_empty() {
            "No forks in this store."
        } else {
            "No fork matches the filter."
        };
        f.render_widget(
            Paragraph::new(Line::styled(text, app.theme.dim())).block(block),
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
        let mark = if app.forks.marked.contains(&r.info.name) {
            "● "
        } else {
            "  "
        };
        Row::new(vec![
            Span::styled(format!("{mark}{}", r.info.name), app.theme.key()),
            Span::raw(safe_owned(&r.info.meta.source)),
            Span::styled(r.status.label(), style),
            Span::raw(
                r.live_pid()
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
            Span::raw(
                r.divergence
                    .map(|d| human_size(d.bytes))
                    .unwrap_or_else(|| "-".into()),
            ),
            Span::raw(mbs.join(", ")),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(20),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new([
            "  NAME",
            "SOURCE",
            "STATUS",
            "PID",
            "PRIVATE",
            "MAILBOXES (✓ acked)",
        ])
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
    if let Some(d) = row.divergence {
        lines.push(Line::styled(
            format!(
                " private memory: {} ({})",
                human_size(d.bytes),
                d.source.label()
            ),
            t.dim(),
        ));
    }
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
