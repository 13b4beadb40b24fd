//! The hint bar, from the keymap in force: the actions of where keys go
//! now that would do something (the component says which apply).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::component::Component;
use crate::tui::keymap;
use crate::tui::shared::Shared;
use crate::tui::text::width;

/// Draw the hint bar for component `c`: its place's hinted bindings that
/// apply now, most important first, as many as fit.
pub fn draw(f: &mut Frame, area: Rect, cx: &Shared, c: &dyn Component) {
    let t = cx.theme();
    let mut spans = Vec::new();
    let mut used = 0usize;
    let mut seen: Vec<&str> = Vec::new();
    for b in cx.keymap().hints(c.place()) {
        if seen.contains(&b.desc) || !c.applies(b.action) {
            continue;
        }
        seen.push(b.desc);
        let key = b
            .keys
            .first()
            .map(|k| keymap::display_key(k))
            .unwrap_or_default();
        let desc = keymap::hint_label(b);
        let w = width(&key) + width(desc) + 3;
        if used + w > usize::from(area.width) {
            continue; // a shorter, less important one may still fit
        }
        used += w;
        spans.push(Span::styled(format!(" {key}"), t.key()));
        spans.push(Span::styled(format!(" {desc} "), t.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
