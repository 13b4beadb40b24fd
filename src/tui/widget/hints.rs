//! The hint bar, generated from the keymap in force: only the actions that
//! do something now.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::App;
use crate::tui::keymap;

/// Draw the hint bar: the hinted bindings of the active scopes that apply
/// to the selection, most important first, as many as fit.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = Vec::new();
    let mut used = 0usize;
    let mut seen: Vec<&str> = Vec::new();
    for b in app.keymap.hints(app.mode, app.screen, app.focus) {
        if seen.contains(&b.desc) || !app.hint_applies(b.action) {
            continue;
        }
        seen.push(b.desc);
        let key = b
            .keys
            .first()
            .map(|k| keymap::display_key(k))
            .unwrap_or_default();
        let desc = keymap::hint_label(b);
        let width = key.chars().count() + desc.chars().count() + 3;
        if used + width > area.width as usize {
            continue; // a shorter, less important one may still fit
        }
        used += width;
        spans.push(Span::styled(format!(" {key}"), app.theme.key()));
        spans.push(Span::styled(format!(" {desc} "), app.theme.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
