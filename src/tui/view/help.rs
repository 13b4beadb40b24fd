//! The `?` overlay: every binding of the keymap in force, by scope — the
//! keys of where help was opened first, then the rest.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::app::App;
use crate::tui::keymap::{SCOPE_ORDER, Scope, display_key, scopes};
use crate::tui::widget::popup::centered;

/// Scopes in the order help lists them: those active where help was opened
/// (most specific first), then the rest in table order.
pub fn help_order(app: &App) -> Vec<Scope> {
    let (mode, screen, pane) = app.help_context;
    let mut order = scopes(mode, screen, pane);
    for s in SCOPE_ORDER {
        if !order.contains(&s) {
            order.push(s);
        }
    }
    order
}

/// The help text lines (also used by tests and docs).
pub fn help_lines<'a>(app: &App) -> Vec<Line<'a>> {
    let t = &app.theme;
    let mut lines = Vec::new();
    let here = scopes(app.help_context.0, app.help_context.1, app.help_context.2);
    for scope in help_order(app) {
        let binds: Vec<_> = app.keymap.in_scope(scope).collect();
        if binds.is_empty() {
            continue;
        }
        let title = if here.contains(&scope) {
            format!("{} (here)", scope.title())
        } else {
            scope.title().to_string()
        };
        lines.push(Line::styled(title, t.header()));
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
        "Mouse: a click selects a row or a tab, the wheel scrolls lists, help and logs.",
        t.dim(),
    ));
    lines.push(Line::styled(
        "Tokens stay masked until t. Keys can be changed in the config file (forkmail config --print-default).",
        t.dim(),
    ));
    lines
}

/// Draw the help overlay.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let w = area.width.saturating_sub(4).min(90);
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
