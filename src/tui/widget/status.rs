//! The status line: the prompt being typed, else the last message, else
//! the focused list's filter, else the store; how the store is watched on
//! the right.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::sanitize::safe;
use crate::tui::action::Level;
use crate::tui::overlay::prompt::Prompt;
use crate::tui::shared::Shared;
use crate::tui::text::{clip, u16_of, width};

/// Draw the status line.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    cx: &Shared,
    prompt: Option<&Prompt>,
    filter: Option<&str>,
    watch: &str,
) {
    let t = cx.theme();
    let [l, r] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(u16_of(width(watch)) + 2),
    ])
    .areas(area);
    let room = usize::from(l.width.saturating_sub(1));
    let left = if let Some(p) = prompt {
        let label = p.kind.label();
        // The end of a long text shows (where the cursor is).
        let text = safe(&p.text);
        let keep = room.saturating_sub(width(label) + 1);
        let n = width(&text);
        let shown: String = if n > keep {
            text.chars().skip(n - keep).collect()
        } else {
            text.into_owned()
        };
        Line::from(vec![
            Span::styled(label, t.key()),
            Span::raw(format!("{shown}█")),
        ])
    } else if let Some((text, level)) = cx.status().current() {
        let style = match level {
            Level::Info => t.dim(),
            Level::Ok => t.ok(),
            Level::Error => t.error(),
        };
        // A message longer than the line says where the rest is.
        let text = if width(text) + 1 > room {
            let key = cx.keymap().key_for(
                crate::tui::keymap::Scope::Global,
                crate::tui::action::Action::Messages,
            );
            let tail = format!(" ({key}: all)");
            format!(
                "{}{tail}",
                clip(text, room.saturating_sub(width(&tail) + 1))
            )
        } else {
            text.to_string()
        };
        Line::from(Span::styled(format!(" {text}"), style))
    } else if let Some(f) = filter {
        Line::from(Span::styled(
            format!(" filter: {} (/ changes it, Esc clears it)", safe(f)),
            t.dim(),
        ))
    } else {
        Line::from(Span::styled(
            format!(" store {}", cx.store().root().display()),
            t.dim(),
        ))
    };
    f.render_widget(Paragraph::new(left), l);
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(format!(" {watch}"), t.dim()))),
        r,
    );
}
