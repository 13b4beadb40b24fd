//! The `?` overlay: every binding of the keymap in force, by scope — the
//! keys of where help was opened first — with where in the list it is.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::action::Action;
use crate::tui::component::Component;
use crate::tui::keymap::{Place, SCOPE_ORDER, Scope, display_key};
use crate::tui::shared::Shared;
use crate::tui::text::u16_of;
use crate::tui::widget::popup::centered;

/// The help overlay.
#[derive(Debug, Clone)]
pub struct Help {
    /// Where it was opened (its keys come first).
    from: Place,
    scroll: usize,
}

impl Help {
    /// Help opened from `from`.
    pub fn new(from: Place) -> Help {
        Help { from, scroll: 0 }
    }

    /// Scopes in the order help lists them: those of where it was opened
    /// (most specific first), then the rest in table order.
    pub fn order(&self) -> Vec<Scope> {
        let mut order = self.from.scopes().to_vec();
        for s in SCOPE_ORDER {
            if !order.contains(&s) {
                order.push(s);
            }
        }
        order
    }

    /// The help text.
    pub fn lines(&self, cx: &Shared) -> Vec<Line<'static>> {
        let t = cx.theme();
        let mut lines = Vec::new();
        let here = self.from.scopes();
        for scope in self.order() {
            let binds: Vec<_> = cx.keymap().in_scope(scope).collect();
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
            "Mouse: a click selects a row or a tab, the wheel scrolls lists, details, help and the viewer.",
            t.dim(),
        ));
        lines.push(Line::styled(
            "Tokens stay masked until t. Keys can be changed in the config file (forkmail config --print-default).",
            t.dim(),
        ));
        lines
    }

    fn rect(area: Rect) -> Rect {
        centered(
            area,
            area.width.saturating_sub(4).min(90),
            area.height.saturating_sub(2),
        )
    }
}

impl Component for Help {
    fn place(&self) -> Place {
        Place::Help
    }

    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool {
        let total = self.lines(cx).len();
        let shown = usize::from(Help::rect(cx.area()).height.saturating_sub(2)).max(1);
        let max = total.saturating_sub(shown);
        let s = self.scroll;
        self.scroll = match action {
            Action::Down => s + 1,
            Action::Up => s.saturating_sub(1),
            Action::PageDown => s + shown,
            Action::PageUp => s.saturating_sub(shown),
            Action::Top => 0,
            Action::Bottom => max,
            _ => return false,
        }
        .min(max);
        true
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Shared) {
        let r = Help::rect(area);
        f.render_widget(Clear, r);
        let lines = self.lines(cx);
        let shown = usize::from(r.height.saturating_sub(2)).max(1);
        let scroll = self.scroll.min(lines.len().saturating_sub(shown));
        let end = (scroll + shown).min(lines.len());
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(cx.theme().focus())
            .title(format!(
                " Keys · lines {}-{end} of {} (j/k scroll, ? or Esc closes) ",
                scroll + 1,
                lines.len()
            ));
        f.render_widget(
            Paragraph::new(lines)
                .block(block)
                .scroll((u16_of(scroll), 0)),
            r,
        );
    }
}
