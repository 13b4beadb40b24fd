//! A yes/no question: what cannot be undone asks first. `y` carries out
//! its command (through the app, to the component it is for); `n` or Esc
//! keeps things as they are, and says so.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::tui::action::{Action, Level};
use crate::tui::component::Component;
use crate::tui::effect::{Effect, Question};
use crate::tui::keymap::Place;
use crate::tui::shared::Shared;
use crate::tui::text::{u16_of, wrap};
use crate::tui::widget::popup::centered;

/// An open question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// What is asked.
    pub question: Question,
    /// Answered (the app closes it).
    pub answered: bool,
}

impl Confirm {
    /// Ask `question`.
    pub fn new(question: Question) -> Confirm {
        Confirm {
            question,
            answered: false,
        }
    }
}

impl Component for Confirm {
    fn place(&self) -> Place {
        Place::Confirm
    }

    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool {
        match action {
            Action::Confirm => {
                self.answered = true;
                cx.emit(Effect::Command(self.question.then.clone()));
            }
            Action::Cancel => {
                self.answered = true;
                cx.say(
                    format!("{}: nothing done", self.question.title.to_lowercase()),
                    Level::Info,
                );
            }
            _ => return false,
        }
        true
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Shared) {
        let t = cx.theme();
        let w = area.width.saturating_sub(4).min(84);
        let room = usize::from(w.saturating_sub(2));
        let mut lines: Vec<Line> = Vec::new();
        for (i, l) in self.question.lines.iter().enumerate() {
            let style = if i == 0 { t.warn() } else { t.dim() };
            for part in wrap(l, room) {
                lines.push(Line::styled(part, style));
            }
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("y: {}   n / Esc: {}", self.question.yes, self.question.no),
            t.dim(),
        ));
        let h = u16_of(lines.len()) + 2;
        let r = centered(area, w, h);
        f.render_widget(Clear, r);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.focus())
            .title(format!(" {} ", self.question.title));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(block),
            r,
        );
    }
}
