//! The full-screen guest log viewer.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

use crate::tui::app::App;
use crate::tui::logview::LogViewer;
use crate::units::human_size;

/// Draw the viewer over the whole body.
pub fn draw(f: &mut Frame, area: Rect, app: &App, v: &LogViewer) {
    let t = &app.theme;
    let total = v.lines.len();
    let shown_to = (v.scroll + area.height.saturating_sub(2) as usize).min(total);
    let mut title = format!(
        "▸{} · lines {}-{} of {total} · wrap {}",
        v.title,
        if total == 0 { 0 } else { v.scroll + 1 },
        shown_to,
        if v.wrap { "on" } else { "off" },
    );
    if !v.search.is_empty() {
        title.push_str(&match v.matches.len() {
            0 => format!(" · \"{}\": no match", crate::sanitize::safe(&v.search)),
            n => format!(
                " · \"{}\": {}/{n}",
                crate::sanitize::safe(&v.search),
                v.current + 1
            ),
        });
    }
    if v.follow {
        title.push_str(" · following");
    }
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Thick)
        .border_style(t.focus())
        .title(format!("{title} "));
    if v.skipped > 0 {
        block = block.title_bottom(Line::styled(
            format!(
                " first {} not shown: o opens the whole file in $PAGER ",
                human_size(v.skipped)
            ),
            t.warn(),
        ));
    }
    let current = v.matches.get(v.current).copied();
    let needle = v.search.to_lowercase();
    let lines: Vec<Line> = if v.lines.is_empty() {
        vec![Line::styled(
            "(empty: the guest has printed nothing yet)",
            t.dim(),
        )]
    } else {
        v.lines[v.scroll.min(total)..]
            .iter()
            .take(area.height as usize)
            .enumerate()
            .map(|(i, l)| {
                let n = v.scroll + i;
                let text: String = if v.wrap {
                    l.clone()
                } else {
                    l.chars().skip(v.hscroll).collect()
                };
                if needle.is_empty() || !l.to_lowercase().contains(&needle) {
                    Line::raw(text)
                } else if Some(n) == current {
                    Line::from(Span::styled(text, t.selected()))
                } else {
                    Line::from(Span::styled(text, t.found()))
                }
            })
            .collect()
    };
    let mut p = Paragraph::new(lines).block(block);
    if v.wrap {
        p = p.wrap(Wrap { trim: false });
    }
    f.render_widget(p, area);
}
