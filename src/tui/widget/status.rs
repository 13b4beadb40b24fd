//! The status line: filter or open-a-file prompt, or the last message, on
//! the left; how the store is watched on the right.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::{App, Level, Mode};

/// Draw the status line.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let right = app.watch_note.clone();
    let [l, r] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(right.chars().count() as u16 + 2),
    ])
    .areas(area);
    let filter = if app.screen == crate::tui::app::Screen::Forks {
        &app.forks.filter
    } else {
        &app.catalog.filter
    };
    let left = if app.mode == Mode::Filter {
        Line::from(vec![
            Span::styled("filter: /", app.theme.key()),
            Span::raw(format!("{filter}█")),
        ])
    } else if app.mode == Mode::OpenPath {
        Line::from(vec![
            Span::styled("open memory file (read-only): ", app.theme.key()),
            Span::raw(format!(
                "{}█",
                crate::sanitize::safe(&app.catalog.path_input)
            )),
        ])
    } else if let Some((text, level)) = &app.status {
        let style = match level {
            Level::Info => app.theme.dim(),
            Level::Ok => app.theme.ok(),
            Level::Error => app.theme.error(),
        };
        Line::from(Span::styled(format!(" {text}"), style))
    } else if !app.catalog.filter.is_empty() {
        Line::from(Span::styled(
            format!(
                " filter: {} (/ to change, Esc in the prompt clears)",
                app.catalog.filter
            ),
            app.theme.dim(),
        ))
    } else {
        Line::from(Span::styled(
            format!(" store {}", app.store.root().display()),
            app.theme.dim(),
        ))
    };
    f.render_widget(Paragraph::new(left), l);
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(
            format!(" {right}"),
            app.theme.dim(),
        ))),
        r,
    );
}
