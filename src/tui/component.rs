//! The shape every pane and overlay has (as gitui's components): it owns
//! its state, says where its keys come from ([`Place`]: its section of
//! the one keymap), handles the actions they map to, and draws itself.
//! What it cannot do alone it asks of the app through [`Shared::emit`].

use ratatui::Frame;
use ratatui::layout::Rect;

use super::action::Action;
use super::keymap::Place;
use super::shared::Shared;

/// A pane or an overlay.
pub trait Component {
    /// Where keys pressed here come from (and what an unbound key does).
    fn place(&self) -> Place;
    /// Handle an action. Returns whether it did anything (else the app
    /// may: global keys, "no action here").
    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool;
    /// Draw into `area`.
    fn draw(&self, f: &mut Frame, area: Rect, cx: &Shared);
    /// Whether the hint bar should offer `action` now (only what would do
    /// something for the current selection).
    fn applies(&self, _action: Action) -> bool {
        true
    }
    /// A bracketed paste. Returns whether it was taken.
    fn paste(&mut self, _text: &str, _cx: &mut Shared) -> bool {
        false
    }
}
