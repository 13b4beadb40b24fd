//! The payload library popup: presets, then the payloads last forked.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use super::LibraryView;
use crate::sanitize::safe;
use crate::tui::shared::Shared;
use crate::tui::text::clip;
use crate::tui::widget::popup::centered;

/// Draw the popup.
pub fn draw(f: &mut Frame, area: Rect, cx: &Shared, l: &LibraryView) {
    let t = cx.theme();
    let w = area.width.saturating_sub(6).min(100);
    let h = area.height.saturating_sub(6).max(8);
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus())
        .title(format!(" Payload library · {} ", safe(&l.mailbox)))
        .title_bottom(Line::styled(
            " Enter load · s save preset · d delete · o load file · w write file · ? help · Esc close ",
            t.dim(),
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    if l.entries.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled(
                "Nothing yet: payloads you fork appear here, newest first; s saves the current one as a preset; o loads a file.",
                t.dim(),
            ))
            .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let [list_area, preview] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Min(2)]).areas(inner);
    let width = usize::from(list_area.width.saturating_sub(2));
    let items: Vec<ListItem> = l
        .entries
        .iter()
        .map(|e| {
            let one_line = e.payload.split_whitespace().collect::<Vec<_>>().join(" ");
            let text = format!("{}  {}", e.label, one_line);
            ListItem::new(Line::raw(clip(&safe(&text), width)))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(l.sel));
    f.render_stateful_widget(
        List::new(items)
            .highlight_style(t.selected())
            .highlight_symbol("> "),
        list_area,
        &mut state,
    );
    if let Some(e) = l.selected() {
        let lines: Vec<Line> = e
            .payload
            .lines()
            .map(|x| Line::raw(safe(x).into_owned()))
            .collect();
        f.render_widget(
            Paragraph::new(lines)
                .block(
                    Block::default()
                        .borders(Borders::TOP)
                        .border_style(t.border())
                        .title(" preview "),
                )
                .wrap(Wrap { trim: false }),
            preview,
        );
    }
}
