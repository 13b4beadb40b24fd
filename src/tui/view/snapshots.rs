//! The snapshots pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Table, TableState};

use super::{age, clip, pane_block};
use crate::sanitize::safe;
use crate::tui::app::{App, Pane};
use crate::units::human_size;

/// Draw the snapshot table.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let visible = app.catalog.visible();
    let title = if app.catalog.filter.is_empty() {
        format!("Snapshots ({})", visible.len())
    } else {
        format!(
            "Snapshots ({} of {}, filter \"{}\")",
            visible.len(),
            app.catalog.snapshots.len(),
            safe(&app.catalog.filter)
        )
    };
    let title = match app.catalog.errors.len() {
        0 => title,
        n => format!("{title} · ⚠ {n} broken (snapshot.json unreadable)"),
    };
    let mut block = pane_block(app, Pane::Snapshots, title);
    if let Some(about) = app
        .catalog
        .selected()
        .and_then(|s| s.meta.description.as_deref())
    {
        let room = area.width.saturating_sub(6) as usize;
        let name = app
            .catalog
            .selected()
            .map(|s| s.name.as_str())
            .unwrap_or("");
        block = block.title_bottom(Line::styled(
            format!(" {} ", clip(&format!("{name}: {}", safe(about)), room)),
            app.theme.dim(),
        ));
    }
    if visible.is_empty() {
        let text = if app.catalog.snapshots.is_empty() {
            "No snapshots in this store. `forkmail template create NAME --mailbox app.config` makes one; `forkmail demo` opens a demo store."
        } else {
            "No snapshot matches the filter (/ to change it)."
        };
        let mut lines = vec![Line::styled(text, app.theme.dim())];
        for e in &app.catalog.errors {
            lines.push(Line::styled(clip(e, 200), app.theme.error()));
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    let now = app.clock.now();
    let rows = visible.iter().map(|s| {
        let markers = match app.catalog.marker_count(&s.name) {
            Some(n) => n.to_string(),
            None if app
                .catalog
                .scan_job
                .as_ref()
                .is_some_and(|j| j.snapshot == s.name) =>
            {
                "…".into()
            }
            None => "-".into(),
        };
        Row::new(vec![
            s.name.clone(),
            s.meta.vmm.label().to_string(),
            human_size(s.memory_size),
            human_size(s.allocated),
            age(&s.meta.created_at, now),
            markers,
        ])
    });
    let header = Row::new(["NAME", "VMM", "MEMORY", "ALLOCATED", "AGE", "MARKERS"])
        .style(app.theme.header());
    let name_w = visible
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 32) as u16;
    let table = Table::new(
        rows,
        [
            Constraint::Length(name_w),
            Constraint::Length(4),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Min(7),
        ],
    )
    .header(header)
    .block(block)
    .row_highlight_style(app.theme.selected())
    .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(app.catalog.sel));
    f.render_stateful_widget(table, area, &mut state);
}
