//! The fork dialog: the form of [`form`], its keys, and its drawing. It
//! opens from the drafts (`f`) or from a past session (replay); Enter asks
//! the app to start the fork, and the reason it cannot comes back into the
//! dialog (and the message log) instead of nothing happening.

pub mod form;
mod view;

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::tui::action::{Action, Level};
use crate::tui::component::Component;
use crate::tui::effect::Effect;
use crate::tui::keymap::Place;
use crate::tui::shared::Shared;
use form::{Field, ForkForm};

/// The open fork dialog.
#[derive(Debug, Clone)]
pub struct ForkDialog {
    form: ForkForm,
    scroll: usize,
    /// Closed (Esc), or the fork started: the app drops it.
    pub closed: bool,
}

impl ForkDialog {
    /// A dialog on `form`.
    pub fn new(form: ForkForm) -> ForkDialog {
        ForkDialog {
            form,
            scroll: 0,
            closed: false,
        }
    }

    /// Its form.
    pub fn form(&self) -> &ForkForm {
        &self.form
    }

    /// The fork could not start: say why in the dialog (and the log).
    pub fn refused(&mut self, why: String, cx: &mut Shared) {
        let why = crate::sanitize::safe_owned(&why);
        cx.say(format!("not forked: {why}"), Level::Error);
        self.form.error = Some(why);
        self.scroll = 0;
    }
}

impl Component for ForkDialog {
    fn place(&self) -> Place {
        Place::ForkDialog
    }

    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool {
        let form = &mut self.form;
        match action {
            Action::NextField => form.next_field(true),
            Action::PrevField => form.next_field(false),
            Action::ToggleInclude => form.type_char(' '),
            Action::TimeoutUp | Action::TimeoutDown => match form.field() {
                // `+`, `-` and `=` can be part of a name or token.
                Field::Name | Field::Token(_) => form.type_char(if action == Action::TimeoutUp {
                    '+'
                } else {
                    '-'
                }),
                _ => form.adjust(action == Action::TimeoutUp),
            },
            Action::Text(key) => match key.code {
                KeyCode::Char(c) => form.type_char(c),
                KeyCode::Backspace => form.backspace(),
                _ => return false,
            },
            Action::PageDown => self.scroll += 5,
            Action::PageUp => self.scroll = self.scroll.saturating_sub(5),
            Action::Confirm => cx.emit(Effect::StartFork(Box::new(form.clone()))),
            Action::Cancel => {
                self.closed = true;
                cx.say("fork dialog closed: nothing forked", Level::Info);
            }
            _ => return false,
        }
        true
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Shared) {
        view::draw(f, area, cx, &self.form, self.scroll);
    }

    fn paste(&mut self, text: &str, _cx: &mut Shared) -> bool {
        for c in text.chars().filter(|c| !c.is_control()) {
            self.form.type_char(c);
        }
        true
    }
}
