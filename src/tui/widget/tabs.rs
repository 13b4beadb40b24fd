//! The tab line: screens with counts.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::{App, Screen};

/// Draw the tab line.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let running = app.sessions.iter().filter(|s| s.is_running()).count();
    let sessions = if running > 0 {
        format!("2 Sessions ({running} running)")
    } else {
        format!("2 Sessions ({})", app.sessions.len())
    };
    let tabs = [
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
    ];
    let mut spans = vec![Span::styled(" forkmail ", app.theme.header())];
    for (screen, label) in tabs {
        spans.push(Span::raw(" "));
        if screen == app.screen {
            spans.push(Span::styled(format!("[{label}]"), app.theme.selected()));
        } else {
            spans.push(Span::styled(format!(" {label} "), app.theme.dim()));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
