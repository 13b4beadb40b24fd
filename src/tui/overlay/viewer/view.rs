//! The viewer drawn over the screen's body: lines wrapped by characters (a
//! log line is not prose) or cut at the edge after a sideways scroll, the
//! search's matches marked where they are in the line (the current one
//! reversed), and where in the text the view is.

use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};

use super::Viewer;
use crate::sanitize::safe;
use crate::tui::shared::Shared;
use crate::units::human_size;

/// The rows line `n` takes in `width` columns.
fn rows_of(v: &Viewer, n: usize, width: usize) -> Vec<(usize, String)> {
    let chars: Vec<char> = v.line(n).chars().collect();
    if !v.wrap {
        let row: String = chars.iter().skip(v.hscroll).take(width).collect();
        return vec![(v.hscroll, row)];
    }
    if chars.is_empty() {
        return vec![(0, String::new())];
    }
    chars
        .chunks(width)
        .enumerate()
        .map(|(i, c)| (i * width, c.iter().collect()))
        .collect()
}

/// Where `needle` (lower case) occurs in `line`, as char ranges.
fn found(line: &str, needle: &str) -> Vec<(usize, usize)> {
    if needle.is_empty() {
        return Vec::new();
    }
    let hay: Vec<char> = line.to_lowercase().chars().collect();
    let pat: Vec<char> = needle.chars().collect();
    // Lower-casing can change a char's count; then no mark is placed.
    if hay.len() != line.chars().count() || pat.len() > hay.len() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i + pat.len() <= hay.len() {
        if hay[i..i + pat.len()] == pat[..] {
            out.push((i, i + pat.len()));
            i += pat.len();
        } else {
            i += 1;
        }
    }
    out
}

/// A row (starting at char `from` of its line) with the matches marked.
fn marked_row(row: String, from: usize, hits: &[(usize, usize)], mark: Style) -> Line<'static> {
    if hits.is_empty() {
        return Line::raw(row);
    }
    let chars: Vec<char> = row.chars().collect();
    let mut spans = Vec::new();
    let mut plain = String::new();
    let mut hit = String::new();
    for (k, c) in chars.iter().enumerate() {
        let at = from + k;
        let inside = hits.iter().any(|(a, b)| (*a..*b).contains(&at));
        if inside {
            if !plain.is_empty() {
                spans.push(Span::raw(std::mem::take(&mut plain)));
            }
            hit.push(*c);
        } else {
            if !hit.is_empty() {
                spans.push(Span::styled(std::mem::take(&mut hit), mark));
            }
            plain.push(*c);
        }
    }
    if !plain.is_empty() {
        spans.push(Span::raw(plain));
    }
    if !hit.is_empty() {
        spans.push(Span::styled(hit, mark));
    }
    Line::from(spans)
}

/// Draw the viewer over `area`.
pub fn draw(f: &mut Frame, area: Rect, cx: &Shared, v: &Viewer) {
    let t = cx.theme();
    let inner = area.inner(Margin::new(1, 1));
    let (width, height) = (usize::from(inner.width.max(1)), usize::from(inner.height));
    let total = v.total();
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
    if total == 0 {
        lines.push(Line::styled(
            "(empty: the guest has printed nothing yet)",
            t.dim(),
        ));
    }
    let mut end = start;
    while end < total && lines.len() < height {
        let hits = found(v.line(end), &needle);
        let mark = if Some(end) == current {
            t.found_here()
        } else {
            t.found()
        };
        for (from, row) in rows_of(v, end, width) {
            if lines.len() < height {
                lines.push(marked_row(row, from, &hits, mark));
            }
        }
        end += 1;
    }
    let mut title = format!("▸{}", v.title);
    if !v.search.is_empty() {
        title.push_str(&match v.matches.len() {
            0 => format!(" · \"{}\": no match", safe(&v.search)),
            n => format!(" · \"{}\": {}/{n}", safe(&v.search), v.current + 1),
        });
    }
    title.push_str(&format!(
        " · lines {}-{end} of {total} · wrap {}",
        if total == 0 { 0 } else { start + 1 },
        if v.wrap { "on" } else { "off" },
    ));
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
    f.render_widget(ratatui::widgets::Clear, area);
    f.render_widget(Paragraph::new(lines).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Item 13: a search marks the match, not the whole line.
    #[test]
    fn a_search_marks_the_match_only() {
        let mark = Style::new().add_modifier(ratatui::style::Modifier::REVERSED);
        let line = "mailbox=app.config payload={\"via\":\"editor\"}";
        let hits = found(line, "via");
        assert_eq!(hits, vec![(29, 32)]);
        let l = marked_row(line.to_string(), 0, &hits, mark);
        let styled: Vec<&str> = l
            .spans
            .iter()
            .filter(|s| s.style == mark)
            .map(|s| s.content.as_ref())
            .collect();
        assert_eq!(styled, ["via"]);
        // A row further into a wrapped line marks what falls in it.
        let l = marked_row("ia\":\"editor\"}".into(), 30, &hits, mark);
        assert_eq!(l.spans[0].content, "ia");
        assert_eq!(l.spans[0].style, mark);
    }
}
