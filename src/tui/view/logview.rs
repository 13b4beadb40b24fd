//! The full-screen guest log viewer.

use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};

use crate::sanitize::safe;
use crate::tui::app::App;
use crate::tui::logview::LogViewer;
use crate::units::human_size;

/// Rows of one log line: wrapped by characters (a log line is not prose),
/// or cut at the edge after the horizontal scroll.
fn rows_of(v: &LogViewer, n: usize, width: usize) -> Vec<String> {
    let chars: Vec<char> = v.lines[n].chars().collect();
    if !v.wrap {
        return vec![chars.iter().skip(v.hscroll).take(width).collect()];
    }
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}

/// Draw the viewer over the whole body.
pub fn draw(f: &mut Frame, area: Rect, app: &App, v: &LogViewer) {
    let t = &app.theme;
    let inner = area.inner(Margin::new(1, 1));
    let (width, height) = (inner.width.max(1) as usize, inner.height as usize);
    let total = v.lines.len();
    // Following: the last lines fill the view, however many rows they wrap to.
    let mut start = v.scroll.min(total);
    if v.follow {
        let mut used = 0;
        start = total;
        while start > 0 && used + rows_of(v, start - 1, width).len() <= height {
            used += rows_of(v, start - 1, width).len();
            start -= 1;
        }
    }
    let current = v.matches.get(v.current).copied();
    let needle = v.search.to_lowercase();
    let mut lines: Vec<Line> = Vec::new();
    if v.lines.is_empty() {
        lines.push(Line::styled(
            "(empty: the guest has printed nothing yet)",
            t.dim(),
        ));
    }
    let mut end = start;
    while end < total && lines.len() < height {
        let style = if needle.is_empty() || !v.lines[end].to_lowercase().contains(&needle) {
            Style::new()
        } else if Some(end) == current {
            t.selected()
        } else {
            t.found()
        };
        for row in rows_of(v, end, width) {
            if lines.len() < height {
                lines.push(Line::from(Span::styled(row, style)));
            }
        }
        end += 1;
    }
    let mut title = format!(
        "▸{} · lines {}-{end} of {total} · wrap {}",
        v.title,
        if total == 0 { 0 } else { start + 1 },
        if v.wrap { "on" } else { "off" },
    );
    if !v.search.is_empty() {
        title.push_str(&match v.matches.len() {
            0 => format!(" · \"{}\": no match", safe(&v.search)),
            n => format!(" · \"{}\": {}/{n}", safe(&v.search), v.current + 1),
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
    f.render_widget(Paragraph::new(lines).block(block), area);
}
