//! Input to the component it is for: keys through the keymap of where they
//! were pressed (a chord's first key waits for its second), what no
//! component takes falls to the app's own keys (quit, help, screens, the
//! message log) or is answered "no action here"; bracketed pastes to
//! whatever takes text; the mouse to the pane under it.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use super::App;
use crate::tui::action::{Action, Level, Pane, Screen};
use crate::tui::component::Component;
use crate::tui::effect::{Effect, Open};
use crate::tui::keymap::{Mapped, Place, Scope, display_key};
use crate::tui::overlay::Overlay;
use crate::tui::widget::{chrome, tabs};

impl App {
    /// Handle a terminal event.
    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::Key(key) => self.on_key(key),
            Event::Mouse(m) => self.on_mouse(m),
            Event::Resize(w, h) => {
                self.shared.set_area(Rect::new(0, 0, w, h));
                self.dirty = true;
            }
            Event::Paste(text) => {
                self.dirty = true;
                let taken = match self.overlays.last_mut() {
                    Some(o) => o.paste(&text, &mut self.shared),
                    None => {
                        let screen = self.screen;
                        let took = self.screen_paste(&text);
                        if !took && screen != Screen::Main {
                            self.shared.say(
                                "a paste goes into a payload (1: snapshots, i) or a prompt; here nothing takes it",
                                Level::Info,
                            );
                        }
                        true
                    }
                };
                if !taken {
                    self.shared.say("this overlay takes no paste", Level::Info);
                }
                self.apply_effects();
            }
            _ => {}
        }
    }

    fn on_key(&mut self, key: KeyEvent) {
        let place = self.place();
        let pending = self.chord.take();
        match self.shared.keymap().map(place, pending.as_ref(), key) {
            Mapped::Prefix => {
                self.chord = Some(key);
                let k = display_key(&key_name(&key));
                self.shared.hint(format!("{k} …"));
                self.dirty = true;
            }
            Mapped::Action(a) => self.update(a),
            Mapped::Unbound => self.unbound_key(key, place),
        }
    }

    /// Route an action to the top overlay, else the screen, else the app.
    pub(super) fn route(&mut self, action: Action) {
        if action == Action::Quit {
            self.request_quit();
            return;
        }
        if let Some(top) = self.overlays.last_mut() {
            if matches!(top, Overlay::Help(_)) && action == Action::ToggleHelp {
                self.overlays.pop();
                return;
            }
            top.handle(action, &mut self.shared);
            return;
        }
        if !self.screen_handle(action) {
            self.global(action);
        }
    }

    /// The app's own keys: what no component took.
    fn global(&mut self, action: Action) {
        match action {
            Action::ToggleHelp => {
                let place = self.place();
                self.shared.emit(Effect::Open(Open::Help(place)));
            }
            Action::Messages => self.shared.emit(Effect::Open(Open::Messages)),
            Action::Show(screen) => self.show(screen),
            _ => {}
        }
    }

    /// A key that means nothing here: say so instead of doing something
    /// surprising (and, on the snapshots screen, how to type a payload).
    fn unbound_key(&mut self, key: KeyEvent, place: Place) {
        let KeyCode::Char(c) = key.code else { return };
        if key.modifiers.contains(KeyModifiers::CONTROL) {
            return;
        }
        let keymap = self.shared.keymap();
        let help = keymap.key_for(Scope::Global, Action::ToggleHelp);
        let text = match place {
            Place::Snapshots | Place::Markers | Place::Editor
                if self.snapshots.payload().editor().is_some() =>
            {
                let edit = keymap.key_for(Scope::Editor, Action::StartEdit);
                format!("{c}: no action here ({edit} types in the payload; {help} lists the keys)")
            }
            _ => format!("{c}: no action here ({help} lists the keys)"),
        };
        self.shared.say(text, Level::Info);
        self.dirty = true;
    }

    /// Handle a mouse event: a click selects the row under it (or switches
    /// to a tab), the wheel scrolls what is under it.
    fn on_mouse(&mut self, m: MouseEvent) {
        let pos = Position::new(m.column, m.row);
        let down = matches!(m.kind, MouseEventKind::ScrollDown);
        let wheel = matches!(
            m.kind,
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp
        );
        let click = matches!(m.kind, MouseEventKind::Down(MouseButton::Left));
        if let Some(top) = self.overlays.last_mut() {
            if wheel
                && matches!(
                    top,
                    Overlay::Help(_) | Overlay::Viewer(_) | Overlay::Library(_)
                )
            {
                top.handle(
                    if down { Action::Down } else { Action::Up },
                    &mut self.shared,
                );
                self.dirty = true;
            }
            return;
        }
        if click && let Some(screen) = tabs::hit(&self.tab_labels(), m.column, m.row) {
            self.show(screen);
            return;
        }
        let body = chrome(self.shared.area()).body;
        let areas: Vec<(Pane, Rect)> = match self.screen {
            Screen::Main => self.snapshots.pane_areas(body),
            Screen::Sessions => self.sessions.pane_areas(body),
            Screen::Forks => self.forks.pane_areas(body),
        };
        let Some((pane, rect)) = areas.into_iter().find(|(_, r)| r.contains(pos)) else {
            return;
        };
        self.dirty = true;
        match (self.screen, click, wheel) {
            (Screen::Main, true, _) => self.snapshots.click(pane, rect, m.row, &mut self.shared),
            (Screen::Main, _, true) => self.snapshots.wheel(pane, down, &mut self.shared),
            (Screen::Sessions, true, _) => self.sessions.click(pane, rect, m.row),
            (Screen::Sessions, _, true) => self.sessions.wheel(pane, down, &self.shared),
            (Screen::Forks, true, _) => self.forks.click(pane, rect, m.row),
            (Screen::Forks, _, true) if pane == Pane::ForkList => self.forks.wheel(down),
            _ => {}
        }
        self.apply_effects();
    }
}

/// The table's name of `key` (for saying a chord's first key).
fn key_name(key: &KeyEvent) -> String {
    let k = match key.code {
        KeyCode::Char(c) => c.to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        format!("ctrl-{k}")
    } else {
        k
    }
}
