//! What opens over the screens: one [`Overlay`] type, kept on a stack by
//! the app (the top one takes the keys; a prompt over the library, help
//! over the viewer, a question over either). Each overlay is a component.
//!
//! A new overlay is a component in a file of its own here, a variant of
//! [`Overlay`], and an [`Open`](crate::tui::effect::Open) seed the app
//! turns into it.

pub mod confirm;
pub mod fork_dialog;
pub mod help;
pub mod library;
pub mod prompt;
pub mod viewer;

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::tui::action::Action;
use crate::tui::component::Component;
use crate::tui::keymap::Place;
use crate::tui::shared::Shared;
use confirm::Confirm;
use fork_dialog::ForkDialog;
use help::Help;
use library::LibraryView;
use prompt::Prompt;
use viewer::Viewer;

/// An open overlay.
pub enum Overlay {
    /// The `?` help.
    Help(Help),
    /// The one-line prompt.
    Prompt(Prompt),
    /// A yes/no question.
    Confirm(Confirm),
    /// The fork dialog.
    ForkDialog(Box<ForkDialog>),
    /// The viewer (a log, a detail, evidence, the message log).
    Viewer(Box<Viewer>),
    /// The payload library.
    Library(Box<LibraryView>),
}

impl Overlay {
    fn component(&self) -> &dyn Component {
        match self {
            Overlay::Help(c) => c,
            Overlay::Prompt(c) => c,
            Overlay::Confirm(c) => c,
            Overlay::ForkDialog(c) => c.as_ref(),
            Overlay::Viewer(c) => c.as_ref(),
            Overlay::Library(c) => c.as_ref(),
        }
    }

    fn component_mut(&mut self) -> &mut dyn Component {
        match self {
            Overlay::Help(c) => c,
            Overlay::Prompt(c) => c,
            Overlay::Confirm(c) => c,
            Overlay::ForkDialog(c) => c.as_mut(),
            Overlay::Viewer(c) => c.as_mut(),
            Overlay::Library(c) => c.as_mut(),
        }
    }

    /// Whether it is done and goes (answered, closed).
    pub fn finished(&self) -> bool {
        match self {
            Overlay::Confirm(c) => c.answered,
            Overlay::ForkDialog(c) => c.closed,
            Overlay::Viewer(c) => c.closed,
            Overlay::Library(c) => c.closed,
            Overlay::Help(_) | Overlay::Prompt(_) => false,
        }
    }

    /// A short name, for tests and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Overlay::Help(_) => "help",
            Overlay::Prompt(_) => "prompt",
            Overlay::Confirm(_) => "confirm",
            Overlay::ForkDialog(_) => "fork dialog",
            Overlay::Viewer(_) => "viewer",
            Overlay::Library(_) => "library",
        }
    }
}

impl Component for Overlay {
    fn place(&self) -> Place {
        self.component().place()
    }
    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool {
        self.component_mut().handle(action, cx)
    }
    fn draw(&self, f: &mut Frame, area: Rect, cx: &Shared) {
        self.component().draw(f, area, cx)
    }
    fn applies(&self, action: Action) -> bool {
        self.component().applies(action)
    }
    fn paste(&mut self, text: &str, cx: &mut Shared) -> bool {
        self.component_mut().paste(text, cx)
    }
}
