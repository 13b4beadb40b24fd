//! The tab line: the screens with their counts. A click on a tab switches
//! to it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::action::Screen;
use crate::tui::text::{u16_of, width};
use crate::tui::theme::Theme;

const BRAND: &str = " forkmail ";

/// Draw the tab line: `labels` in order, `current` marked.
pub fn draw(f: &mut Frame, area: Rect, t: &Theme, labels: &[(Screen, String)], current: Screen) {
    let mut spans = vec![Span::styled(BRAND, t.header())];
    for (screen, label) in labels {
        spans.push(Span::raw(" "));
        if *screen == current {
            spans.push(Span::styled(format!("[{label}]"), t.selected()));
        } else {
            spans.push(Span::styled(format!(" {label} "), t.dim()));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The screen whose tab is at column `x` of the tab line (row 0).
pub fn hit(labels: &[(Screen, String)], x: u16, y: u16) -> Option<Screen> {
    if y != 0 {
        return None;
    }
    let mut at = u16_of(width(BRAND));
    for (screen, label) in labels {
        let start = at + 1;
        let end = start + u16_of(width(label)) + 2;
        if (start..end).contains(&x) {
            return Some(*screen);
        }
        at = end;
    }
    None
}
