//! The sessions list pane: one row per session, fan-out (its forks under
//! it when expanded) and conformance run, with its state; past ones dimmed.
//! Names too long for the pane are cut in the middle, keeping what tells
//! them apart (`web-c6…-7`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Wrap};

use super::groups::{SessionRow, Sessions};
use super::model::SessionView;
use crate::tui::shared::Shared;
use crate::tui::text::{clip_middle, counted, width};
use crate::tui::widget::pane_block;

/// The list's title, the same count the tab shows.
pub fn title(m: &Sessions) -> String {
    let mut t = counted("Sessions", m.rows().len(), m.entries(), &m.filter);
    let running = m.running();
    if running > 0 {
        t.push_str(&format!(" · {running} running"));
    }
    t
}

/// Draw the list with row `sel` selected.
pub fn draw(f: &mut Frame, area: Rect, cx: &Shared, m: &Sessions, sel: usize, focused: bool) {
    let t = cx.theme();
    // The running count goes when the pane is too narrow for it (the tab
    // says it too).
    let mut head = title(m);
    if width(&head) + 4 > usize::from(area.width) {
        head = counted("Sessions", m.rows().len(), m.entries(), &m.filter);
    }
    let block = pane_block(t, focused, head);
    let rows = m.rows();
    if rows.is_empty() {
        let text = if m.entries() == 0 {
            "No fork sessions yet. Select a snapshot and press f."
        } else {
            "No session matches the filter (Esc clears it)."
        };
        f.render_widget(
            Paragraph::new(Line::styled(text, t.dim()))
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    let room = usize::from(area.width.saturating_sub(6));
    // Sessions of earlier runs (or the CLI) are dimmed.
    let item = |glyph: &str, style, name: &str, state: String, indent: usize, past: bool| {
        let name_w = room.saturating_sub(width(&state) + 3 + indent);
        let name_style = if past {
            t.dim()
        } else {
            ratatui::style::Style::new()
        };
        ListItem::new(Line::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(format!("{glyph} "), style),
            Span::styled(
                format!("{:<name_w$} ", clip_middle(name, name_w)),
                name_style,
            ),
            Span::styled(state, style),
        ]))
    };
    let session_item = |s: &SessionView, indent: usize| {
        let (glyph, state, style) = match &s.outcome {
            None => (
                cx.spinner(),
                s.current().map(|c| c.label()).unwrap_or("waiting"),
                t.warn(),
            ),
            Some(_) if s.done() => ("✓", "done", t.ok()),
            Some(_) if s.cancelled() => ("⊘", "cancelled", t.warn()),
            Some(super::model::Outcome::Interrupted) => ("✗", "interrupted", t.error()),
            Some(_) => ("✗", "failed", t.error()),
        };
        item(glyph, style, &s.fork, state.to_string(), indent, s.past)
    };
    let items: Vec<ListItem> = rows
        .into_iter()
        .map(|row| match row {
            SessionRow::Single(i) => session_item(&m.list[i], 0),
            SessionRow::Member(i) => session_item(&m.list[i], 2),
            SessionRow::Group(gi) => {
                let fo = &m.fanouts[gi];
                let ms = m.members(gi);
                let done = ms.iter().filter(|s| s.done()).count();
                let failed = ms.iter().filter(|s| s.failed()).count();
                let running = ms.iter().any(|s| s.is_running());
                let (glyph, style) = if running {
                    (cx.spinner(), t.warn())
                } else if failed > 0 {
                    ("✗", t.error())
                } else {
                    ("✓", t.ok())
                };
                let fold = if fo.expanded { "▾" } else { "▸" };
                let past = ms.iter().all(|s| s.past);
                item(
                    glyph,
                    style,
                    &format!("{fold}{} ×{}", fo.base, fo.count.max(ms.len())),
                    format!("{done}/{}", fo.count.max(ms.len())),
                    0,
                    past,
                )
            }
            SessionRow::Check(ci) => {
                let c = &m.checks[ci];
                let (glyph, state, style) = match &c.outcome {
                    None => {
                        let n = c.rows.values().filter(|r| r.is_some()).count();
                        (cx.spinner(), format!("{n}/{}", c.rows.len()), t.warn())
                    }
                    Some(Ok(true)) => ("✓", "passed".into(), t.ok()),
                    Some(Ok(false)) => ("✗", "fails".into(), t.error()),
                    Some(Err(_)) => ("✗", "error".into(), t.error()),
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
        .highlight_style(t.selected())
        .highlight_symbol("> ");
    let mut state = ListState::default().with_selected(Some(sel));
    f.render_stateful_widget(list, area, &mut state);
}
