//! The payload pane: the editor of the selected mailbox's payload, typing
//! in it (a bracketed paste at once, undo by word), full screen, pretty
//! and compact, and the hand-off to `$EDITOR`. Drafts are saved in the
//! store as typing stops.

pub mod editor;
pub mod schema;
mod view;

use std::path::Path;

use ratatui_textarea::CursorMove;
use serde_json::Value;

use super::drafts::{Drafts, Saved};
use crate::tui::action::{Action, Exit, Level};
use crate::tui::effect::Effect;
use crate::tui::shared::Shared;
use editor::Editor;
pub use view::{Around, validation_line};

/// The payload pane.
#[derive(Default)]
pub struct Payload {
    editor: Option<Editor>,
    typing: bool,
    zoom: bool,
}

/// The mailbox a payload belongs to: (snapshot, mailbox).
pub type Target = (String, String);

impl Payload {
    /// The editor of the selected mailbox, if one is.
    pub fn editor(&self) -> Option<&Editor> {
        self.editor.as_ref()
    }
    /// Typing in it.
    pub fn typing(&self) -> bool {
        self.typing
    }
    /// It fills the screen.
    pub fn zoomed(&self) -> bool {
        self.zoom
    }
    /// The mailbox it edits.
    pub fn target(&self) -> Option<Target> {
        self.editor
            .as_ref()
            .map(|e| (e.snapshot.clone(), e.mailbox.clone()))
    }

    /// Point the editor at `target` (the selected fork mailbox), saving
    /// what was typed for the previous one.
    pub fn point_at(&mut self, target: Option<Target>, drafts: &mut Drafts, cx: &mut Shared) {
        if self.target() == target {
            return;
        }
        self.save(drafts, cx);
        let Some((snap, mb)) = target else {
            self.editor = None;
            self.typing = false;
            return;
        };
        let d = drafts.get(cx.store(), &snap, &mb).clone();
        let schema = schema::load(cx.store(), &mb);
        self.editor = Some(Editor::new(&snap, &mb, &d.payload, d.wait_for_ack, schema));
    }

    /// Another window changed this draft: show its text (never while
    /// typing here).
    pub fn reload(&mut self, drafts: &mut Drafts, cx: &mut Shared) {
        if self.typing {
            return;
        }
        if let Some(t) = self.target() {
            self.editor = None;
            self.point_at(Some(t), drafts, cx);
        }
    }

    /// Start typing (focus is the caller's). Returns whether there is a
    /// payload to type in.
    pub fn start_typing(&mut self) -> bool {
        self.typing = self.editor.is_some();
        self.typing
    }

    /// Stop typing and save the draft.
    pub fn stop_typing(&mut self, drafts: &mut Drafts, cx: &mut Shared) {
        self.typing = false;
        self.save(drafts, cx);
    }

    /// Full screen on or off. Returns whether it is on.
    pub fn toggle_zoom(&mut self, cx: &mut Shared) -> bool {
        if self.editor.is_none() && !self.zoom {
            cx.say(
                "select a fork mailbox in the markers pane first",
                Level::Info,
            );
            return false;
        }
        self.zoom = !self.zoom;
        self.zoom
    }

    /// Leave full screen (Esc, another screen).
    pub fn unzoom(&mut self) -> bool {
        std::mem::replace(&mut self.zoom, false)
    }

    /// The text changed: it is the draft's now, checked again.
    fn after_edit(&mut self, drafts: &mut Drafts, cx: &Shared) {
        let Some(ed) = self.editor.as_mut() else {
            return;
        };
        let d = drafts.edit(cx.store(), &ed.snapshot, &ed.mailbox);
        d.payload = ed.text();
        let ack = d.wait_for_ack;
        ed.check(ack);
    }

    /// The mailbox's ack settings changed: check the payload again (the
    /// budget counts `ack_port` only with an ack).
    pub fn settings_changed(&mut self, drafts: &mut Drafts, cx: &Shared) {
        self.after_edit(drafts, cx);
    }

    /// Write the draft to the store when its text changed.
    pub fn save(&mut self, drafts: &mut Drafts, cx: &mut Shared) {
        let Some(ed) = self.editor.as_mut() else {
            return;
        };
        let text = ed.text();
        if text == ed.saved_text {
            return;
        }
        ed.saved_text = text.clone();
        let (snap, mb) = (ed.snapshot.clone(), ed.mailbox.clone());
        drafts.edit(cx.store(), &snap, &mb).payload = text;
        save_draft(drafts, cx, &snap, &mb);
    }

    /// Keys while typing. Returns whether the action was taken.
    pub fn typing_action(&mut self, action: Action, drafts: &mut Drafts, cx: &mut Shared) -> bool {
        let page = usize::from(cx.area().height.saturating_sub(8).max(1));
        match action {
            Action::StopEdit => self.stop_typing(drafts, cx),
            Action::Pretty | Action::Compact => self.reformat(action == Action::Pretty, drafts, cx),
            Action::ExternalEditor => self.external_editor(drafts, cx),
            Action::Zoom => {
                self.toggle_zoom(cx);
            }
            Action::Undo | Action::Redo => {
                let changed = self.editor.as_mut().is_some_and(|ed| {
                    if action == Action::Undo {
                        ed.undo()
                    } else {
                        ed.redo()
                    }
                });
                if changed {
                    self.after_edit(drafts, cx);
                }
            }
            Action::PageUp | Action::PageDown => self.page(action, page),
            Action::Text(key) => {
                let changed = self.editor.as_mut().is_some_and(|ed| ed.input(key));
                if changed {
                    self.after_edit(drafts, cx);
                }
            }
            _ => return false,
        }
        true
    }

    /// Move the cursor a page or a line (not typing: the keys and the wheel).
    pub fn page(&mut self, action: Action, page: usize) {
        let Some(ed) = self.editor.as_mut() else {
            return;
        };
        let (m, n) = match action {
            Action::Up => (CursorMove::Up, 1),
            Action::Down => (CursorMove::Down, 1),
            Action::PageUp => (CursorMove::Up, page),
            Action::PageDown => (CursorMove::Down, page),
            Action::Top => (CursorMove::Top, 1),
            Action::Bottom => (CursorMove::Bottom, 1),
            _ => return,
        };
        for _ in 0..n {
            ed.move_cursor(m);
        }
    }

    /// A bracketed paste: at the cursor, at once, CR and CRLF as newlines.
    /// Outside typing it starts typing first (and says so).
    pub fn paste(&mut self, text: &str, drafts: &mut Drafts, cx: &mut Shared) -> bool {
        let Some(ed) = self.editor.as_mut() else {
            return false;
        };
        if !self.typing {
            self.typing = true;
            cx.say("pasted into the payload (typing: Esc stops)", Level::Info);
        }
        ed.insert(text);
        self.after_edit(drafts, cx);
        true
    }

    /// Pretty-print (`true`) or compact the payload; refuses invalid JSON.
    pub fn reformat(&mut self, pretty: bool, drafts: &mut Drafts, cx: &mut Shared) {
        let Some(ed) = self.editor.as_mut() else {
            cx.say("select a fork mailbox first", Level::Info);
            return;
        };
        let value: Value = match serde_json::from_str(&ed.text()) {
            Ok(v) => v,
            Err(e) => {
                cx.say(format!("cannot reformat: {e}"), Level::Error);
                return;
            }
        };
        let text = if pretty {
            serde_json::to_string_pretty(&value)
        } else {
            serde_json::to_string(&value)
        };
        let Ok(text) = text else { return };
        ed.set_text(&text);
        self.after_edit(drafts, cx);
        self.save(drafts, cx);
        cx.say(
            if pretty {
                "payload pretty-printed (undo takes it back)"
            } else {
                "payload compacted (undo takes it back)"
            },
            Level::Ok,
        );
    }

    /// Put `payload` in the editor (an edit: undo takes it back).
    pub fn load(&mut self, payload: &str, from: &str, drafts: &mut Drafts, cx: &mut Shared) {
        let Some(ed) = self.editor.as_mut() else {
            return;
        };
        ed.set_text(payload);
        self.after_edit(drafts, cx);
        self.save(drafts, cx);
        cx.say(format!("loaded {}", crate::sanitize::safe(from)), Level::Ok);
    }

    /// Hand the payload to `$EDITOR` (the loop suspends the terminal).
    pub fn external_editor(&mut self, drafts: &mut Drafts, cx: &mut Shared) {
        self.save(drafts, cx);
        let Some(ed) = &self.editor else {
            cx.say("select a fork mailbox first", Level::Info);
            return;
        };
        let path = crate::store::draft_path(cx.store(), &ed.snapshot, &ed.mailbox)
            .with_extension("edit.json");
        // The mailbox's draft directory exists only once a draft was saved.
        let _ = std::fs::remove_file(&path);
        let written = path
            .parent()
            .map(crate::store::private_dir)
            .unwrap_or(Ok(()))
            .and_then(|_| crate::store::private_file(&path))
            .and_then(|mut f| std::io::Write::write_all(&mut f, ed.text().as_bytes()));
        if let Err(e) = written {
            cx.say(format!("{}: {e}", path.display()), Level::Error);
            return;
        }
        cx.emit(Effect::Exit(Exit::Editor(path)));
    }

    /// `$EDITOR` returned: take the file back into the editor — unless the
    /// editor failed (e.g. vim's `:cq`): then its text is discarded and the
    /// draft kept, and the status line says so.
    pub fn editor_returned(
        &mut self,
        path: &Path,
        outcome: Result<(), String>,
        drafts: &mut Drafts,
        cx: &mut Shared,
    ) {
        if let Err(e) = outcome {
            let _ = std::fs::remove_file(path);
            cx.say(
                format!("{e}: its text was discarded, the draft is unchanged"),
                Level::Error,
            );
            return;
        }
        let text = match crate::files::read_text_bounded(path, 1 << 20, "an edited payload") {
            Ok(t) => t,
            Err(e) => {
                cx.say(e.to_string(), Level::Error);
                return;
            }
        };
        let _ = std::fs::remove_file(path);
        let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
        if let Some(ed) = self.editor.as_mut() {
            ed.set_text(&text);
        }
        self.after_edit(drafts, cx);
        self.save(drafts, cx);
        cx.say("payload taken back from $EDITOR", Level::Ok);
    }
}

/// Write the draft of (`snap`, `mb`) and say what could not be done; when
/// another window changed the payload too, its text becomes a preset.
pub fn save_draft(drafts: &mut Drafts, cx: &mut Shared, snap: &str, mb: &str) {
    match drafts.save(cx.store(), snap, mb) {
        Ok(Saved::Written) => {}
        Ok(Saved::KeptTheirs(theirs)) => {
            let at = cx
                .clock()
                .now()
                .to_offset(cx.clock().local)
                .format(time::macros::format_description!("[hour][minute][second]"))
                .unwrap_or_default();
            let name = format!("other-window-{at}");
            let mut lib = crate::tui::payloads::Library::load(cx.store(), mb);
            lib.put_preset(&name, &theirs);
            let kept = lib.save(cx.store(), mb);
            cx.say(
                match kept {
                    Ok(()) => format!(
                        "{mb}: another window changed this payload too; yours is saved, theirs is preset {name} (L)"
                    ),
                    Err(e) => format!("{mb}: another window's payload could not be kept: {e}"),
                },
                Level::Error,
            );
        }
        Err(e) => {
            tracing::warn!("cannot save draft {snap}/{mb}: {e}");
            cx.say(format!("draft not saved: {e}"), Level::Error);
        }
    }
}
