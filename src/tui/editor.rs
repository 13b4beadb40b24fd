//! The payload editor: per-mailbox drafts (persisted in the store), live
//! validation against the contract, pretty/compact, and `$EDITOR` hand-off.

use std::path::PathBuf;

use ratatui_textarea::TextArea;
use serde_json::Value;

use super::app::{Action, App, Exit, Level, Mode, Pane};
use super::schema::{Schema, SchemaError};
use crate::mailbox::{
    DEFAULT_ACK_TIMEOUT_MS, MailboxKind, PayloadCheck, check_payload, name_is_valid,
};
pub use crate::store::Draft;
use crate::store::write_json_atomic;

/// The editor of one mailbox's payload.
pub struct Editor {
    /// Snapshot name.
    pub snapshot: String,
    /// Mailbox name.
    pub mailbox: String,
    /// The text area.
    pub textarea: TextArea<'static>,
    /// The engine's verdict on the current text ([`check_payload`]).
    pub validation: PayloadCheck,
    /// The mailbox's JSON Schema (`<store>/schemas/<mailbox>.json`), or
    /// why it cannot be used; `None` without one.
    pub schema: Option<Result<Schema, String>>,
    /// What the schema says of the current text.
    pub schema_errors: Vec<SchemaError>,
    /// The text as last loaded or saved (saving is skipped when unchanged).
    saved_text: String,
}

impl Editor {
    fn new(
        snapshot: &str,
        mailbox: &str,
        draft: &Draft,
        schema: Option<Result<Schema, String>>,
    ) -> Editor {
        let textarea = text_area(&draft.payload);
        let mut ed = Editor {
            snapshot: snapshot.into(),
            mailbox: mailbox.into(),
            textarea,
            validation: check_payload(&draft.payload, draft.wait_for_ack),
            schema,
            schema_errors: Vec::new(),
            saved_text: draft.payload.clone(),
        };
        ed.check_schema();
        ed
    }

    fn check_schema(&mut self) {
        self.schema_errors = match &self.schema {
            Some(Ok(s)) if self.validation.problem.is_none() => s.check(&self.text()),
            _ => Vec::new(),
        };
    }
    /// The text.
    pub fn text(&self) -> String {
        self.textarea.lines().join("\n")
    }

    /// Replace the text (undoable like an edit).
    pub fn set_text(&mut self, text: &str) {
        self.textarea.select_all();
        self.textarea.cut();
        self.textarea.insert_str(text);
        place_cursor(&mut self.textarea);
    }
}

/// A text area holding `text`, its cursor where typing makes sense.
pub fn text_area(text: &str) -> TextArea<'static> {
    let lines: Vec<String> = text.split('\n').map(String::from).collect();
    let mut ta = TextArea::new(lines);
    ta.set_tab_length(2);
    place_cursor(&mut ta);
    ta
}

/// An empty object puts the cursor between its braces, so typing
/// `"mtu":9000` gives `{"mtu":9000}`; other text starts at its top.
fn place_cursor(ta: &mut TextArea<'static>) {
    use ratatui_textarea::CursorMove;
    let lines = ta.lines();
    if lines.len() == 1 && lines[0].trim() == "{}" {
        let col = lines[0].find('{').unwrap_or(0) + 1;
        ta.move_cursor(CursorMove::Jump(0, col as u16));
    } else {
        ta.move_cursor(CursorMove::Top);
        ta.move_cursor(CursorMove::Head);
    }
}

/// Draft file of a mailbox: `<drafts>/<snapshot>/<mailbox>.json`. Mailbox
/// names cannot hold `/`, and the `.json` suffix keeps `.`/`..` harmless.
pub fn draft_path(app: &App, snapshot: &str, mailbox: &str) -> PathBuf {
    crate::store::draft_path(&app.store, snapshot, mailbox)
}

impl App {
    /// The draft of (`snapshot`, `mailbox`), loaded from disk on first use.
    pub fn draft(&mut self, snapshot: &str, mailbox: &str) -> &mut Draft {
        let key = (snapshot.to_string(), mailbox.to_string());
        if !self.drafts.contains_key(&key) {
            let loaded = crate::files::read_bounded(
                &draft_path(self, snapshot, mailbox),
                crate::files::MAX_METADATA_BYTES,
                "a draft",
            )
            .ok()
            .and_then(|b| serde_json::from_slice::<Draft>(&b).ok())
            .unwrap_or_else(|| Draft {
                ack_timeout_ms: match self.options.ack_timeout_ms {
                    0 => DEFAULT_ACK_TIMEOUT_MS,
                    ms => ms,
                },
                ..Draft::default()
            });
            self.drafts.insert(key.clone(), loaded);
        }
        self.drafts.entry(key).or_default()
    }

    /// The mailbox of the selected marker (fork markers only).
    pub fn selected_mailbox(&self) -> Option<(String, String)> {
        let snap = self.catalog.selected()?;
        let m = self.selected_marker()?;
        let name = m.name.as_deref()?;
        // The name comes from guest memory and names a draft file: only a
        // name that follows the contract's rule (no '/') is editable.
        if m.kind != MailboxKind::Fork || !name_is_valid(name) {
            return None;
        }
        Some((snap.name.clone(), name.to_string()))
    }

    /// Point the editor at the selected mailbox.
    pub fn sync_editor(&mut self) {
        let Some((snap, mb)) = self.selected_mailbox() else {
            self.editor = None;
            if self.mode == Mode::Editing {
                self.mode = Mode::Normal;
            }
            return;
        };
        if self
            .editor
            .as_ref()
            .is_some_and(|e| e.snapshot == snap && e.mailbox == mb)
        {
            return;
        }
        let draft = self.draft(&snap, &mb).clone();
        let schema = super::schema::load(&self.store, &mb);
        self.editor = Some(Editor::new(&snap, &mb, &draft, schema));
    }

    /// Write the edited draft to the store (when its text changed).
    pub fn save_current_draft(&mut self) {
        let Some(ed) = self.editor.as_mut() else {
            return;
        };
        let text = ed.text();
        if text == ed.saved_text {
            return;
        }
        ed.saved_text = text.clone();
        let (snap, mb) = (ed.snapshot.clone(), ed.mailbox.clone());
        self.draft(&snap, &mb).payload = text;
        self.persist_draft(&snap, &mb);
    }

    fn persist_draft(&mut self, snap: &str, mb: &str) {
        let path = draft_path(self, snap, mb);
        let draft = self.draft(snap, mb).clone();
        let res = path
            .parent()
            .map(crate::store::private_dir)
            .unwrap_or(Ok(()))
            .map_err(|e| e.to_string())
            .and_then(|_| write_json_atomic(&path, &draft).map_err(|e| e.to_string()));
        if let Err(e) = res {
            tracing::warn!("cannot save draft {}: {e}", path.display());
            self.say(format!("draft not saved: {e}"), Level::Error);
        }
    }

    /// Start typing in the editor.
    pub fn start_edit(&mut self) {
        if let Some(snap) = self.editor.as_ref().map(|e| e.snapshot.clone()) {
            self.focus = Pane::Editor;
            self.mode = Mode::Editing;
            self.want_prestart(&snap);
        } else {
            self.say(
                "select a fork mailbox in the markers pane first",
                Level::Info,
            );
        }
    }

    /// Keys while typing.
    pub fn editing_action(&mut self, action: Action) {
        match action {
            Action::StopEdit => {
                self.mode = Mode::Normal;
                self.save_current_draft();
            }
            Action::Pretty | Action::Compact => self.reformat(action == Action::Pretty),
            Action::ExternalEditor => self.external_editor(),
            Action::Zoom => self.toggle_zoom(),
            Action::Undo | Action::Redo => {
                let changed = self.editor.as_mut().is_some_and(|ed| {
                    if action == Action::Undo {
                        ed.textarea.undo()
                    } else {
                        ed.textarea.redo()
                    }
                });
                if changed {
                    self.after_edit();
                }
            }
            Action::PageUp | Action::PageDown => self.move_sel(action),
            Action::Text(key) => {
                let changed = self
                    .editor
                    .as_mut()
                    .is_some_and(|ed| ed.textarea.input(key));
                if changed {
                    self.after_edit();
                }
            }
            _ => {}
        }
    }

    /// Re-validate after the text changed.
    pub fn after_edit(&mut self) {
        let Some(ed) = &self.editor else { return };
        let (snap, mb, text) = (ed.snapshot.clone(), ed.mailbox.clone(), ed.text());
        let draft = self.draft(&snap, &mb);
        draft.payload = text;
        let v = check_payload(&draft.payload, draft.wait_for_ack);
        if let Some(ed) = self.editor.as_mut() {
            ed.validation = v;
            ed.check_schema();
        }
    }

    /// Pretty-print (`true`) or compact the payload; refuses invalid JSON.
    pub fn reformat(&mut self, pretty: bool) {
        let Some(ed) = self.editor.as_mut() else {
            return;
        };
        let value: Value = match serde_json::from_str(&ed.text()) {
            Ok(v) => v,
            Err(e) => {
                self.say(format!("cannot reformat: {e}"), Level::Error);
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
        self.after_edit();
        self.save_current_draft();
    }

    /// Include/ack/timeout changes of the selected mailbox.
    pub fn toggle(&mut self, action: Action) {
        let Some((snap, mb)) = self.selected_mailbox() else {
            self.say("select a fork mailbox first", Level::Info);
            return;
        };
        if action == Action::ToggleInclude
            && let Some(x) = self
                .catalog
                .cached(&snap)
                .and_then(|r| super::session::exclusion(r, &mb))
        {
            self.say(
                format!("{mb} cannot be included: {}", x.reason()),
                Level::Error,
            );
            return;
        }
        let d = self.draft(&snap, &mb);
        match action {
            Action::ToggleInclude => d.include = !d.include,
            Action::ToggleAck => d.wait_for_ack = !d.wait_for_ack,
            Action::TimeoutUp => d.ack_timeout_ms = (d.ack_timeout_ms + 1000).min(30_000),
            Action::TimeoutDown => {
                d.ack_timeout_ms = d.ack_timeout_ms.saturating_sub(1000).max(1000)
            }
            _ => {}
        }
        self.after_edit();
        self.persist_draft(&snap, &mb);
    }

    /// Hand the payload to `$EDITOR` (the loop suspends the terminal).
    pub fn external_editor(&mut self) {
        self.save_current_draft();
        let Some(ed) = &self.editor else {
            self.say("select a fork mailbox first", Level::Info);
            return;
        };
        let path = draft_path(self, &ed.snapshot, &ed.mailbox).with_extension("edit.json");
        // The mailbox's draft directory exists only once a draft was saved.
        let _ = std::fs::remove_file(&path);
        let written = path
            .parent()
            .map(crate::store::private_dir)
            .unwrap_or(Ok(()))
            .and_then(|_| crate::store::private_file(&path))
            .and_then(|mut f| std::io::Write::write_all(&mut f, ed.text().as_bytes()));
        if let Err(e) = written {
            self.say(format!("{}: {e}", path.display()), Level::Error);
            return;
        }
        self.exit = Some(Exit::Editor(path));
    }

    /// `$EDITOR` returned: take the file back into the editor — unless the
    /// editor failed (e.g. vim's `:cq`): then its text is discarded and the
    /// draft kept, and the status line says so.
    pub fn editor_returned(&mut self, path: &std::path::Path, outcome: Result<(), String>) {
        self.dirty = true;
        if let Err(e) = outcome {
            let _ = std::fs::remove_file(path);
            self.say(
                format!("{e}: its text was discarded, the draft is unchanged"),
                Level::Error,
            );
            return;
        }
        let text = match crate::files::read_text_bounded(path, 1 << 20, "an edited payload") {
            Ok(t) => t,
            Err(e) => {
                self.say(e.to_string(), Level::Error);
                return;
            }
        };
        let _ = std::fs::remove_file(path);
        let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
        if let Some(ed) = self.editor.as_mut() {
            ed.set_text(&text);
        }
        self.after_edit();
        self.save_current_draft();
        self.say("payload taken back from $EDITOR", Level::Ok);
    }
}
