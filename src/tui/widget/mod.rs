//! Small reusable pieces of drawing: a pane's frame, columns that fit,
//! the tab line, the status line, the hint bar, popups.

pub mod columns;
pub mod hints;
pub mod popup;
pub mod status;
pub mod tabs;

use ratatui::widgets::{Block, BorderType, Borders};

use super::theme::Theme;

/// A pane's bordered block, thick and marked `▸` when focused.
pub fn pane_block<'a>(theme: &Theme, focused: bool, title: String) -> Block<'a> {
    let (style, border) = if focused {
        (theme.focus(), BorderType::Thick)
    } else {
        (theme.border(), BorderType::Plain)
    };
    let marker = if focused { "▸" } else { " " };
    Block::default()
        .borders(Borders::ALL)
        .border_type(border)
        .border_style(style)
        .title(format!("{marker}{title} "))
}

/// The row of a `len`-row list drawn in `rect` at screen row `y`, as
/// ratatui scrolls a list to keep selection `sel` in view (`header`:
/// lines under the top border before the first row).
pub fn row_at(
    rect: ratatui::layout::Rect,
    y: u16,
    header: u16,
    len: usize,
    sel: usize,
) -> Option<usize> {
    let top = rect.y + 1 + header;
    let height = usize::from(rect.height.saturating_sub(2 + header));
    if y < top || height == 0 {
        return None;
    }
    let offset = sel.saturating_sub(height - 1);
    let row = offset + usize::from(y - top);
    (row < len).then_some(row)
}

/// The parts of the screen: the tab line, the body (panes), the status
/// line and the hint bar.
#[derive(Debug, Clone, Copy)]
pub struct Chrome {
    /// The tab line.
    pub tabs: ratatui::layout::Rect,
    /// The panes.
    pub body: ratatui::layout::Rect,
    /// The status line.
    pub status: ratatui::layout::Rect,
    /// The hint bar.
    pub hints: ratatui::layout::Rect,
}

/// Where the parts of the screen go in `area`.
pub fn chrome(area: ratatui::layout::Rect) -> Chrome {
    use ratatui::layout::{Constraint, Layout};
    let [tabs, body, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Chrome {
        tabs,
        body,
        status,
        hints,
    }
}
