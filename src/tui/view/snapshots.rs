//! The snapshots pane: the store's snapshots, then (when there are
//! sources) every source's, each row saying its source, whether it is
//! read-only, and for what cannot be read, why.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState};

use super::{age, clip, pane_block};
use crate::sanitize::{safe, safe_owned};
use crate::source::{MemoryFormat, SnapshotKind};
use crate::tui::app::{App, Pane};
use crate::tui::sources::{Entry, SourceEntry};
use crate::units::human_size;

/// Draw the snapshot table.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let visible = app.catalog.visible();
    let rows = app.catalog.rows();
    let shown = rows
        .iter()
        .filter(|e| !matches!(e, Entry::Problem { .. }))
        .count();
    let all = app.catalog.snapshots.len()
        + app
            .catalog
            .sources
            .iter()
            .flat_map(|g| &g.entries)
            .filter(|e| matches!(e, SourceEntry::Snapshot(_)))
            .count();
    let title = if app.catalog.filter.is_empty() {
        format!("Snapshots ({shown})")
    } else {
        format!(
            "Snapshots ({shown} of {all}, filter \"{}\")",
            safe(&app.catalog.filter)
        )
    };
    let title = match app.catalog.errors.len() {
        0 => title,
        n => format!("{title} · ⚠ {n} broken (snapshot.json unreadable)"),
    };
    let unreadable = app
        .catalog
        .sources
        .iter()
        .flat_map(|g| &g.entries)
        .filter(|e| matches!(e, SourceEntry::Problem { .. }))
        .count();
    let title = match unreadable {
        0 => title,
        n => format!("{title} · ✗ {n} unreadable in sources"),
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
    if visible.is_empty() && (app.catalog.sources.is_empty() || rows.is_empty()) {
        let text = if all == 0 {
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
    if !app.catalog.sources.is_empty() {
        draw_with_sources(f, area, app, block);
        return;
    }
    let (shown, sel) = super::window(visible.len(), app.catalog.sel, block.inner(area).height);
    let rows = visible[shown].iter().map(|s| {
        Row::new(vec![
            s.name.clone(),
            s.meta.vmm.label().to_string(),
            human_size(s.memory_size),
            human_size(s.allocated),
            age(&s.meta.created_at, now),
            marker_count(app, &s.name),
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
    let mut state = TableState::default().with_selected(Some(sel));
    f.render_stateful_widget(table, area, &mut state);
}

/// The MARKERS cell of the row `key`: a count, `…` while scanning, `-`.
fn marker_count(app: &App, key: &str) -> String {
    match app.catalog.marker_count(key) {
        Some(n) => n.to_string(),
        None if app
            .catalog
            .scan_job
            .as_ref()
            .is_some_and(|j| j.snapshot == key) =>
        {
            "…".into()
        }
        None if app.catalog.failed.contains_key(key) => "✗".into(),
        None => "-".into(),
    }
}

/// The table with sources: every row says its source and whether it is
/// read-only; unreadable entries say why (in full in the markers pane).
fn draw_with_sources(f: &mut Frame, area: Rect, app: &App, block: ratatui::widgets::Block) {
    let now = app.clock.now();
    let rows = app.catalog.rows();
    let name_w = rows
        .iter()
        .map(|e| e.name().chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 24) as u16;
    let label_w = rows
        .iter()
        .map(|e| e.label().chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 12) as u16;
    let (shown, sel) = super::window(rows.len(), app.catalog.sel, block.inner(area).height);
    let table_rows = rows[shown].iter().map(|e| {
        let key = e.key();
        let cells: Vec<Span> = match e {
            Entry::Store(s) => vec![
                Span::raw(e.label().to_string()),
                Span::raw(s.name.clone()),
                Span::raw(s.meta.vmm.label().to_string()),
                Span::raw(human_size(s.memory_size)),
                Span::raw("-"),
                Span::raw("rw"),
                Span::raw(age(&s.meta.created_at, now)),
                Span::raw(marker_count(app, &key)),
            ],
            Entry::Source { label, snap } => vec![
                Span::raw(safe_owned(label)),
                Span::raw(safe_owned(&snap.name)),
                Span::raw(safe_owned(snap.hypervisor.label())),
                Span::raw(match (snap.kind, snap.memory_size.bytes()) {
                    (SnapshotKind::Stopped, _) => "stopped".to_string(),
                    (_, Some(b)) => human_size(b),
                    (_, None) => "?".into(),
                }),
                Span::raw(match snap.format {
                    MemoryFormat::QemuMigrationStream => "qemu",
                    f => f.compression().map(|c| c.label()).unwrap_or("-"),
                }),
                Span::styled("ro", app.theme.dim()),
                Span::raw(
                    snap.created_at
                        .as_deref()
                        .map(|c| age(c, now))
                        .unwrap_or_else(|| "-".into()),
                ),
                Span::raw(marker_count(app, &key)),
            ],
            Entry::Problem {
                label,
                id,
                problem,
                reason,
            } => vec![
                Span::raw(safe_owned(label)),
                Span::styled(safe_owned(id), app.theme.error()),
                Span::styled("✗ unreadable", app.theme.error()),
                Span::raw(""),
                Span::raw(""),
                Span::styled("ro", app.theme.dim()),
                Span::raw(""),
                Span::styled(format!("{problem}: {}", safe(reason)), app.theme.error()),
            ],
        };
        Row::new(cells)
    });
    let header = Row::new([
        "SOURCE",
        "NAME",
        "HYPERVISOR",
        "MEMORY",
        "COMPR",
        "RO",
        "AGE",
        "MARKERS",
    ])
    .style(app.theme.header());
    let table = Table::new(
        table_rows,
        [
            Constraint::Length(label_w),
            Constraint::Length(name_w),
            Constraint::Length(16),
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Length(2),
            Constraint::Length(4),
            Constraint::Min(7),
        ],
    )
    .header(header)
    .block(block)
    .row_highlight_style(app.theme.selected())
    .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(sel));
    f.render_stateful_widget(table, area, &mut state);
}
