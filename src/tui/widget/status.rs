//! The status line: filter prompt or last message on the left, how the store
//! is watched on the right.

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
    let left = if let (Mode::Filter, Some(p)) = (app.mode, &app.prompt) {
        Line::from(vec![
            Span::styled(p.label(), app.theme.key()),
            Span::raw(format!("{}█", crate::sanitize::safe(&p.text))),
        ])
    } else if let Some((text, level)) = &app.status {
        let style = match level {
            Level::Info => app.theme.dim(),
            Level::Ok => app.theme.ok(),
            Level::Error => app.theme.error(),
        };
        Line::from(Span::styled(format!(" {text}"), style))
    } else if let Some(f) = active_filter(app) {
        Line::from(Span::styled(
            format!(" filter: {f} (/ to change, Esc in the prompt clears)"),
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

/// The filter of the focused list, when one is set.
fn active_filter(app: &App) -> Option<String> {
    use crate::tui::app::Pane;
    let f = match app.focus {
        Pane::Snapshots => &app.catalog.filter,
        Pane::Markers => &app.filters.markers,
        Pane::SessionList | Pane::SessionDetail => &app.filters.sessions,
        Pane::ForkList | Pane::ForkDetail => &app.forks.filter,
        Pane::Editor => return None,
    };
    (!f.is_empty()).then(|| crate::sanitize::safe_owned(f))
}
