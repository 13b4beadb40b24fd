//! The tab line: screens with counts. A click on a tab switches to it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::{App, Screen};

const BRAND: &str = " forkmail ";

fn labels(app: &App) -> [(Screen, String); 3] {
    let running = app.sessions.iter().filter(|s| s.is_running()).count();
    let sessions = if running > 0 {
        format!("2 Sessions ({running} running)")
    } else {
        format!("2 Sessions ({})", app.sessions.len())
    };
    [
        (
            Screen::Main,
            format!(
                "1 Snapshots ({})",
                app.catalog.snapshots.len()
                    + app
                        .catalog
                        .sources
                        .iter()
                        .flat_map(|g| &g.entries)
                        .filter(|e| matches!(e, crate::tui::sources::SourceEntry::Snapshot(_)))
                        .count()
            ),
        ),
        (Screen::Sessions, sessions),
        (Screen::Forks, format!("3 Forks ({})", app.forks.rows.len())),
    ]
}

/// Draw the tab line.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![Span::styled(BRAND, app.theme.header())];
    for (screen, label) in labels(app) {
        spans.push(Span::raw(" "));
        if screen == app.screen {
            spans.push(Span::styled(format!("[{label}]"), app.theme.selected()));
        } else {
            spans.push(Span::styled(format!(" {label} "), app.theme.dim()));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The screen whose tab is at column `x` of the tab line (row 0).
pub fn hit(app: &App, x: u16, y: u16) -> Option<Screen> {
    if y != 0 {
        return None;
    }
    let mut at = BRAND.chars().count() as u16;
    for (screen, label) in labels(app) {
        let start = at + 1;
        let end = start + label.chars().count() as u16 + 2;
        if (start..end).contains(&x) {
            return Some(screen);
        }
        at = end;
    }
    None
}
