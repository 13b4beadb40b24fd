//! The forks screen: forks with their status, and the selected fork's
//! memory inspection (mailboxes consumed or not).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState, Wrap};

use super::state::{ForksState, Inspection};
use crate::fork::{LiveStatus, StageTiming};
use crate::sanitize::{safe, safe_owned};
use crate::tui::shared::Shared;
use crate::tui::text::{clip, clip_middle, counted, u16_of, window};
use crate::tui::widget::columns::{col, constraints, fit, keep};
use crate::tui::widget::pane_block;
use crate::units::human_size;

/// Draw the fork table: at 80 columns it keeps what tells forks apart
/// (names cut in the middle), and MAILBOXES over PID.
pub fn draw_list(f: &mut Frame, area: Rect, cx: &Shared, st: &ForksState, focused: bool) {
    let t = cx.theme();
    let visible = st.visible();
    let mut title = counted("Forks", visible.len(), st.rows.len(), &st.filter);
    if let Some(total) = st.private_total() {
        title.push_str(&format!(" · {} private in all", human_size(total)));
    }
    if !st.marked.is_empty() {
        title.push_str(&format!(" · {} marked", st.marked.len()));
    }
    let block = pane_block(t, focused, title);
    if visible.is_empty() {
        let text = if st.rows.is_empty() {
            "No forks in this store."
        } else {
            "No fork matches the filter (Esc clears it)."
        };
        f.render_widget(
            Paragraph::new(Line::styled(text, t.dim())).block(block),
            area,
        );
        return;
    }
    let inner = block.inner(area);
    let name_w = visible
        .iter()
        .map(|r| r.info.name.chars().count() + 2)
        .max()
        .unwrap_or(8)
        .clamp(8, 28);
    let source_w = visible
        .iter()
        .map(|r| r.info.meta.source.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 16);
    // NAME, SOURCE, STATUS, PID, PRIVATE, MAILBOXES.
    let widths = fit(
        &[
            col(u16_of(name_w), 10, 9),
            col(u16_of(source_w), 6, 4),
            col(11, 7, 6),
            col(7, 5, 1),
            col(10, 8, 3),
            col(20, 12, 5),
        ],
        inner.width.saturating_sub(2),
    );
    let cell = |i: usize| usize::from(widths[i].unwrap_or(0));
    let (range, sel) = window(visible.len(), st.sel, inner.height);
    let rows = visible[range].iter().map(|r| {
        let style = match r.status {
            LiveStatus::Running => t.ok(),
            LiveStatus::Creating | LiveStatus::Interrupted => t.warn(),
            _ => t.dim(),
        };
        let mbs: Vec<String> = r
            .info
            .meta
            .mailboxes
            .iter()
            .map(|m| format!("{}{}", safe(&m.name), if m.acked { " ✓" } else { "" }))
            .collect();
        let mark = if st.marked.contains(&r.info.name) {
            "● "
        } else {
            "  "
        };
        let status = if st.busy_with.contains(&r.info.name) {
            format!("{} {}", cx.spinner(), r.status.label())
        } else {
            r.status.label().to_string()
        };
        let cells = vec![
            Span::styled(
                format!(
                    "{mark}{}",
                    clip_middle(&r.info.name, cell(0).saturating_sub(2))
                ),
                t.key(),
            ),
            Span::raw(clip_middle(&safe_owned(&r.info.meta.source), cell(1))),
            Span::styled(status, style),
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
            Span::raw(clip(&mbs.join(", "), cell(5).max(12))),
        ];
        Row::new(keep(&widths, cells))
    });
    let header = [
        "  NAME",
        "SOURCE",
        "STATUS",
        "PID",
        "PRIVATE",
        "MAILBOXES (✓ acked)",
    ];
    let header =
        Row::new(keep(&widths, header.into_iter().map(Span::raw).collect())).style(t.header());
    let table = Table::new(rows, constraints(&widths))
        .header(header)
        .block(block)
        .row_highlight_style(t.selected())
        .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(sel));
    f.render_stateful_widget(table, area, &mut state);
}

/// Draw the selected fork's detail and inspection.
pub fn draw_detail(f: &mut Frame, area: Rect, cx: &Shared, st: &ForksState, focused: bool) {
    let t = cx.theme();
    let Some(row) = st.selected() else {
        let block = pane_block(t, focused, "Fork".into());
        f.render_widget(Paragraph::new("").block(block), area);
        return;
    };
    let block = pane_block(t, focused, format!("Fork · {}", row.info.name));
    let mut lines = vec![Line::from(vec![
        Span::styled(" source ", t.dim()),
        Span::raw(safe_owned(&row.info.meta.source)),
        Span::styled("  status ", t.dim()),
        Span::raw(row.status.label()),
        Span::styled("  created ", t.dim()),
        Span::raw(cx.clock().human(&row.info.meta.created_at)),
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
    match st.inspections.get(&row.info.name) {
        None => lines.push(Line::styled(
            " Enter or i: scan this fork's memory to see whether its mailboxes were consumed; o: its guest log",
            t.dim(),
        )),
        Some(Inspection::Running) => lines.push(Line::styled(
            format!(" {} scanning memory…", cx.spinner()),
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
