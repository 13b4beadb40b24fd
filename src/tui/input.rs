//! Terminal input: keys through the keymap (a key that means nothing here
//! says so), bracketed paste into whatever is being typed, mouse, resize.

use crossterm::event::{Event, KeyCode, KeyModifiers};
use ratatui::layout::Rect;

use super::app::{Action, App, Level, Mode, Screen};

impl App {
    /// Handle a terminal event.
    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::Key(key) => match self.keymap.map_key(self.mode, self.screen, self.focus, key) {
                Some(action) => self.update(action),
                None => self.unbound_key(key),
            },
            Event::Mouse(m) => self.on_mouse(m),
            Event::Resize(w, h) => {
                self.area = Rect::new(0, 0, w, h);
                self.dirty = true;
            }
            Event::Paste(text) => self.paste(&text),
            _ => {}
        }
    }

    /// A key that means nothing here: say so instead of doing something
    /// surprising (typing outside the editor is harmless, and the person
    /// learns how to start typing).
    fn unbound_key(&mut self, key: crossterm::event::KeyEvent) {
        let KeyCode::Char(c) = key.code else { return };
        if self.mode != Mode::Normal || key.modifiers.contains(KeyModifiers::CONTROL) {
            return;
        }
        let help = self
            .keymap
            .key_for(super::keymap::Scope::Global, Action::ToggleHelp);
        let text = if self.screen == Screen::Main && self.editor.is_some() {
            let edit = self
                .keymap
                .key_for(super::keymap::Scope::Editor, Action::StartEdit);
            format!(
                "{c}: no action here. To type in the payload press {edit} first (Esc stops); {help} lists the keys"
            )
        } else {
            format!("{c}: no action here ({help} lists the keys)")
        };
        self.say(text, Level::Info);
        self.dirty = true;
    }

    /// A bracketed paste: into whatever text is being typed, at once.
    fn paste(&mut self, text: &str) {
        self.dirty = true;
        match self.mode {
            Mode::Editing => {
                if let Some(ed) = self.editor.as_mut() {
                    ed.textarea.insert_str(text);
                }
                self.after_edit();
            }
            Mode::Filter => {
                // One line: a pasted newline ends nothing, it is dropped.
                for c in text.chars().filter(|c| !c.is_control()) {
                    self.prompt_char(c);
                }
            }
            Mode::ForkName => self.form_paste(text),
            _ => {}
        }
    }
}
