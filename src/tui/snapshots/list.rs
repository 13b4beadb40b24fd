//! The snapshots pane: the store's snapshots, then (when there are
//! sources) every source's, each row saying its source, whether it is
//! read-only, and for what cannot be read, why. It owns the catalog (the
//! list, its filter and selection, and what is known of discoveries).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState, Wrap};

use super::catalog::Catalog;
use super::sources::{Entry, SourceEntry};
use crate::sanitize::{safe, safe_owned};
use crate::source::{MemoryFormat, SnapshotKind};
use crate::tui::action::Action;
use crate::tui::shared::Shared;
use crate::tui::text::{age, clip, clip_middle, counted, step, window};
use crate::tui::widget::columns::{col, constraints, fit, keep};
use crate::tui::widget::pane_block;
use crate::units::human_size;

/// The snapshots pane.
#[derive(Debug, Default)]
pub struct SnapshotList {
    /// The list's model.
    pub catalog: Catalog,
}

impl SnapshotList {
    /// Move the selection. Returns whether it moved.
    pub fn move_sel(&mut self, action: Action, page: usize) -> bool {
        let len = self.catalog.rows().len();
        let new = step(action, self.catalog.sel, len, page);
        let moved = new != self.catalog.sel;
        self.catalog.sel = new;
        moved
    }

    /// Select row `row` (a click). Returns whether it moved.
    pub fn select(&mut self, row: usize) -> bool {
        let moved = row != self.catalog.sel && row < self.catalog.rows().len();
        if moved {
            self.catalog.sel = row;
        }
        moved
    }

    /// Set the name filter (the selection stays on a visible row).
    pub fn set_filter(&mut self, text: String) {
        self.catalog.filter = text;
        let len = self.catalog.rows().len();
        self.catalog.sel = self.catalog.sel.min(len.saturating_sub(1));
    }

    /// The MARKERS cell of row `key`: a count, `…` while scanning or
    /// while the cache is looked in (off the UI task), `✗` when it failed,
    /// `–` when never scanned (selecting the row scans it).
    fn marker_count(&self, key: &str) -> String {
        match self.catalog.cached(key) {
            Some(r) => r.markers.len().to_string(),
            None if self.catalog.failed.contains_key(key) => "✗".into(),
            None if self.catalog.pending(key) => "…".into(),
            None => "–".into(),
        }
    }

    /// What `y` copies here: the selected snapshot's memory file.
    pub fn copy_target(&self) -> Option<(String, &'static str)> {
        self.catalog
            .selected()
            .map(|s| (s.memory_path().display().to_string(), "memory file path"))
    }

    /// Draw the pane.
    pub fn draw(&self, f: &mut Frame, area: Rect, cx: &Shared, focused: bool) {
        let t = cx.theme();
        let c = &self.catalog;
        let rows = c.rows();
        let shown = rows
            .iter()
            .filter(|e| !matches!(e, Entry::Problem { .. }))
            .count();
        let mut title = counted("Snapshots", shown, c.total(), &c.filter);
        if !c.errors.is_empty() {
            let n = c.errors.len();
            title.push_str(&format!(" · ⚠ {n} broken (snapshot.json unreadable)"));
        }
        let unreadable = c
            .sources
            .iter()
            .flat_map(|g| &g.entries)
            .filter(|e| matches!(e, SourceEntry::Problem { .. }))
            .count();
        if unreadable > 0 {
            title.push_str(&format!(" · ✗ {unreadable} unreadable in sources"));
        }
        let mut block = pane_block(t, focused, title);
        if let Some(s) = c.selected()
            && let Some(about) = s.meta.description.as_deref()
        {
            let room = usize::from(area.width.saturating_sub(6));
            block = block.title_bottom(Line::styled(
                format!(" {} ", clip(&format!("{}: {}", s.name, safe(about)), room)),
                t.dim(),
            ));
        } else if let Some(Entry::Source { label, snap }) = c.selected_entry() {
            // Item 11: a read-only row says so, and how to fork it.
            let room = usize::from(area.width.saturating_sub(6));
            let text = format!(
                "read-only: `forkmail import {label}/{}` copies it into the store to fork it",
                snap.id
            );
            block = block.title_bottom(Line::styled(format!(" {} ", clip(&text, room)), t.dim()));
        }
        if rows.is_empty() {
            let text = if c.total() == 0 {
                "No snapshots in this store. `forkmail template create NAME --mailbox app.config` makes one; `forkmail demo` opens a demo store."
            } else {
                "No snapshot matches the filter (Esc clears it, / changes it)."
            };
            let mut lines = vec![Line::styled(text, t.dim())];
            for e in &c.errors {
                lines.push(Line::styled(clip(e, 200), t.error()));
            }
            f.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
                area,
            );
            return;
        }
        if c.sources.is_empty() {
            self.draw_store(f, area, cx, block);
        } else {
            self.draw_with_sources(f, area, cx, block);
        }
    }

    fn draw_store(&self, f: &mut Frame, area: Rect, cx: &Shared, block: ratatui::widgets::Block) {
        let t = cx.theme();
        let now = cx.clock().now();
        let visible = self.catalog.visible();
        let inner = block.inner(area);
        let name_w = visible
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 32);
        // NAME, VMM, MEMORY, ALLOCATED, AGE, MARKERS; the name shrinks last.
        let widths = fit(
            &[
                col(crate::tui::text::u16_of(name_w), 8, 9),
                col(4, 4, 3),
                col(10, 9, 4),
                col(10, 9, 1),
                col(5, 3, 2),
                col(7, 7, 5),
            ],
            inner.width.saturating_sub(2),
        );
        let (range, sel) = window(visible.len(), self.catalog.sel, inner.height);
        let name_cells = usize::from(widths[0].unwrap_or(8));
        let rows = visible[range].iter().map(|s| {
            let cells = [
                clip_middle(&s.name, name_cells),
                s.meta.vmm.label().to_string(),
                human_size(s.memory_size),
                human_size(s.allocated),
                age(&s.meta.created_at, now),
                self.marker_count(&s.name),
            ];
            Row::new(keep(&widths, cells.into_iter().map(Span::raw).collect()))
        });
        let header = ["NAME", "VMM", "MEMORY", "ALLOCATED", "AGE", "MARKERS"];
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

    /// The table with sources: every row says its source and whether it is
    /// read-only; unreadable entries say why (in full in the markers pane).
    fn draw_with_sources(
        &self,
        f: &mut Frame,
        area: Rect,
        cx: &Shared,
        block: ratatui::widgets::Block,
    ) {
        let t = cx.theme();
        let now = cx.clock().now();
        let rows = self.catalog.rows();
        let inner = block.inner(area);
        let name_w = rows
            .iter()
            .map(|e| e.name().chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 24);
        let label_w = rows
            .iter()
            .map(|e| e.label().chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, 12);
        use crate::tui::text::u16_of;
        // SOURCE, NAME, HYPERVISOR, MEMORY, COMPR, RO, AGE, MARKERS.
        let widths = fit(
            &[
                col(u16_of(label_w), 5, 6),
                col(u16_of(name_w), 8, 9),
                col(16, 6, 4),
                col(9, 7, 5),
                col(5, 4, 1),
                col(2, 2, 3),
                col(4, 3, 2),
                col(7, 7, 7),
            ],
            inner.width.saturating_sub(2),
        );
        let cell = |i: usize| usize::from(widths[i].unwrap_or(0));
        let (range, sel) = window(rows.len(), self.catalog.sel, inner.height);
        let table_rows = rows[range].iter().map(|e| {
            let key = e.key();
            let cells: Vec<Span> = match e {
                Entry::Store(s) => vec![
                    Span::raw(e.label().to_string()),
                    Span::raw(clip_middle(&s.name, cell(1))),
                    Span::raw(s.meta.vmm.label().to_string()),
                    Span::raw(human_size(s.memory_size)),
                    Span::raw("-"),
                    Span::raw("rw"),
                    Span::raw(age(&s.meta.created_at, now)),
                    Span::raw(self.marker_count(&key)),
                ],
                Entry::Source { label, snap } => vec![
                    Span::raw(clip_middle(&safe_owned(label), cell(0))),
                    Span::raw(clip_middle(&safe_owned(&snap.name), cell(1))),
                    Span::raw(clip(&safe_owned(snap.hypervisor.label()), cell(2))),
                    Span::raw(match (snap.kind, snap.memory_size.bytes()) {
                        (SnapshotKind::Stopped, _) => "stopped".to_string(),
                        (_, Some(b)) => human_size(b),
                        (_, None) => "?".into(),
                    }),
                    Span::raw(match snap.format {
                        MemoryFormat::QemuMigrationStream => "qemu",
                        f => f.compression().map(|c| c.label()).unwrap_or("-"),
                    }),
                    Span::styled("ro", t.dim()),
                    Span::raw(
                        snap.created_at
                            .as_deref()
                            .map(|c| age(c, now))
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Span::raw(self.marker_count(&key)),
                ],
                Entry::Problem {
                    label,
                    id,
                    problem,
                    reason,
                } => vec![
                    Span::raw(safe_owned(label)),
                    Span::styled(clip_middle(&safe_owned(id), cell(1)), t.error()),
                    Span::styled("✗ unreadable", t.error()),
                    Span::raw(""),
                    Span::raw(""),
                    Span::styled("ro", t.dim()),
                    Span::raw(""),
                    Span::styled(format!("{problem}: {}", safe(reason)), t.error()),
                ],
            };
            Row::new(keep(&widths, cells))
        });
        let header = [
            "SOURCE",
            "NAME",
            "HYPERVISOR",
            "MEMORY",
            "COMPR",
            "RO",
            "AGE",
            "MARKERS",
        ];
        let header =
            Row::new(keep(&widths, header.into_iter().map(Span::raw).collect())).style(t.header());
        let table = Table::new(table_rows, constraints(&widths))
            .header(header)
            .block(block)
            .row_highlight_style(t.selected())
            .highlight_symbol("> ");
        let mut state = TableState::default().with_selected(Some(sel));
        f.render_stateful_widget(table, area, &mut state);
    }
}
