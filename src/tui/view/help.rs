//! The `?` overlay: every binding of the keymap table, by scope.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::app::App;
use crate::tui::keymap::{KEYMAP, SCOPE_ORDER, display_key};
use crate::tui::widget::popup::centered;

/// The help text lines (also used by tests and docs).
pub fn help_lines<'a>(app: &App) -> Vec<Line<'a>> {
    let t = &app.theme;
    let mut lines = Vec::new();
    for scope in SCOPE_ORDER {
        let binds: Vec<_> = KEYMAP.iter().filter(|b| b.scope == scope).collect();
        if binds.is_empty() {
            continue;
        }
        lines.push(Line::styled(scope.title(), t.header()));
        for b in binds {
            let keys: Vec<String> = b.keys.iter().map(|k| display_key(k)).collect();
            let mut spans = vec![
                Span::styled(format!("  {:<16}", keys.join(" ")), t.key()),
                Span::raw(b.desc),
            ];
            if b.dangerous {
                spans.push(Span::styled("  (asks first)", t.warn()));
            }
            lines.push(Line::from(spans));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Mouse: wheel scrolls, click focuses a pane. Tokens stay masked until t.",
        t.dim(),
    ));
    lines
}

/// Draw the help overlay.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let w = area.width.saturating_sub(4).min(78);
    let h = area.height.saturating_sub(2);
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.focus())
        .title(" Keys (j/k scroll, ? or Esc closes) ");
    f.render_widget(
        Paragraph::new(help_lines(app))
            .block(block)
            .scroll((app.help_scroll, 0)),
        r,
    );
}
