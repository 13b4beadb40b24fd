//! The payload library popup of a mailbox: its presets, then the payloads
//! last forked (newest first); Enter loads one into the editor, `s` saves
//! the editor's payload as a preset, `o`/`w` load from and write to a file
//! (Tab completes the path; an existing file is replaced only after a
//! yes). Deleting a preset asks first: it cannot be undone.

mod view;

use std::path::Path;

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::tui::action::{Action, Level};
use crate::tui::component::Component;
use crate::tui::effect::{Command, Effect, Open, PromptKind, PromptState, Prompted, Question};
use crate::tui::keymap::Place;
use crate::tui::payloads::Library;
use crate::tui::shared::Shared;

/// The largest payload file loaded.
const MAX_PAYLOAD_FILE: u64 = 1 << 20;

/// One row of the popup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What the row says (preset name, or when and where it was forked).
    pub label: String,
    /// The payload.
    pub payload: String,
    /// A preset's name (presets can be deleted).
    pub preset: Option<String>,
}

/// The open library popup.
#[derive(Debug, Clone)]
pub struct LibraryView {
    /// The mailbox.
    pub mailbox: String,
    /// The payload in the editor (what `s` saves).
    payload: String,
    /// Presets first, then history.
    pub entries: Vec<Entry>,
    /// Selected row.
    pub sel: usize,
    /// Closed (the app drops it).
    pub closed: bool,
}

impl LibraryView {
    /// The library of `mailbox`; `payload` is the editor's.
    pub fn open(mailbox: String, payload: String, cx: &Shared) -> LibraryView {
        let mut v = LibraryView {
            mailbox,
            payload,
            entries: Vec::new(),
            sel: 0,
            closed: false,
        };
        v.refresh(cx);
        v
    }

    fn refresh(&mut self, cx: &Shared) {
        let lib = Library::load(cx.store(), &self.mailbox);
        let mut entries: Vec<Entry> = lib
            .presets
            .iter()
            .map(|p| Entry {
                label: format!("preset  {}", p.name),
                payload: p.payload.clone(),
                preset: Some(p.name.clone()),
            })
            .collect();
        entries.extend(lib.history.iter().map(|f| Entry {
            label: format!("forked  {} · {}", cx.clock().human(&f.at), f.snapshot),
            payload: f.payload.clone(),
            preset: None,
        }));
        self.entries = entries;
        self.sel = self.sel.min(self.entries.len().saturating_sub(1));
    }

    /// The selected entry.
    pub fn selected(&self) -> Option<&Entry> {
        self.entries.get(self.sel)
    }

    fn save_preset(&mut self, name: &str, cx: &mut Shared) {
        let name = name.trim();
        if name.is_empty() {
            cx.say("a preset needs a name", Level::Error);
            return;
        }
        let mut lib = Library::load(cx.store(), &self.mailbox);
        lib.put_preset(name, &self.payload);
        match lib.save(cx.store(), &self.mailbox) {
            Ok(()) => cx.say(format!("preset {name} saved"), Level::Ok),
            Err(e) => cx.say(format!("library not saved: {e}"), Level::Error),
        }
        self.refresh(cx);
    }

    fn load_file(&mut self, path: &Path, cx: &mut Shared) {
        match crate::files::read_text_bounded(path, MAX_PAYLOAD_FILE, "a payload") {
            Ok(text) => {
                self.closed = true;
                let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
                cx.emit(Effect::Command(Command::LoadPayload {
                    text,
                    from: path.display().to_string(),
                }));
            }
            Err(e) => cx.say(e.to_string(), Level::Error),
        }
    }

    fn save_file(&mut self, path: &Path, cx: &mut Shared) {
        let payload = self
            .selected()
            .map(|e| e.payload.clone())
            .unwrap_or_else(|| self.payload.clone());
        let text = format!("{payload}\n");
        if std::fs::symlink_metadata(path).is_ok() {
            cx.emit(Effect::Open(Open::Confirm(Question {
                title: "Replace file".into(),
                lines: vec![format!(
                    "{} exists. Replace it with this payload?",
                    path.display()
                )],
                yes: "replace it".into(),
                no: "keep it".into(),
                then: Command::Overwrite {
                    path: path.to_path_buf(),
                    text,
                },
            })));
            return;
        }
        let res = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
        match res {
            Ok(()) => cx.say(format!("payload written to {}", path.display()), Level::Ok),
            Err(e) => cx.say(format!("{}: {e}", path.display()), Level::Error),
        }
    }

    /// What the prompt it opened says.
    pub fn prompted(&mut self, p: &Prompted, cx: &mut Shared) {
        if p.state != PromptState::Done {
            return;
        }
        let path = crate::tui::edge::typed_path(p.text.trim());
        match p.kind {
            PromptKind::PresetName => self.save_preset(&p.text, cx),
            PromptKind::LoadFile => self.load_file(&path, cx),
            PromptKind::SaveFile => self.save_file(&path, cx),
            _ => {}
        }
    }

    /// Carry out a command answered yes.
    pub fn command(&mut self, cmd: &Command, cx: &mut Shared) {
        match cmd {
            Command::DeletePreset { mailbox, name } => {
                let mut lib = Library::load(cx.store(), mailbox);
                lib.presets.retain(|p| &p.name != name);
                match lib.save(cx.store(), mailbox) {
                    Ok(()) => cx.say(format!("preset {name} deleted"), Level::Ok),
                    Err(e) => cx.say(format!("library not saved: {e}"), Level::Error),
                }
                self.refresh(cx);
            }
            Command::Overwrite { path, text } => match std::fs::write(path, text.as_bytes()) {
                Ok(()) => cx.say(format!("payload written to {}", path.display()), Level::Ok),
                Err(e) => cx.say(format!("{}: {e}", path.display()), Level::Error),
            },
            _ => {}
        }
    }
}

impl Component for LibraryView {
    fn place(&self) -> Place {
        Place::Library
    }

    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool {
        let prompt = |kind| {
            Effect::Open(Open::Prompt {
                kind,
                text: String::new(),
            })
        };
        match action {
            Action::Down => self.sel = (self.sel + 1).min(self.entries.len().saturating_sub(1)),
            Action::Up => self.sel = self.sel.saturating_sub(1),
            Action::Cancel => self.closed = true,
            Action::ToggleHelp => cx.emit(Effect::Open(Open::Help(Place::Library))),
            Action::Confirm => {
                let Some(e) = self.selected().cloned() else {
                    cx.say("nothing to load yet", Level::Info);
                    return true;
                };
                self.closed = true;
                cx.emit(Effect::Command(Command::LoadPayload {
                    text: e.payload,
                    from: e.label,
                }));
            }
            Action::SavePreset => cx.emit(prompt(PromptKind::PresetName)),
            Action::DeletePreset => match self.selected().and_then(|e| e.preset.clone()) {
                Some(name) => cx.emit(Effect::Open(Open::Confirm(Question {
                    title: "Delete preset".into(),
                    lines: vec![format!(
                        "Delete preset {name} of {}? This cannot be undone.",
                        self.mailbox
                    )],
                    yes: "delete it".into(),
                    no: "keep it".into(),
                    then: Command::DeletePreset {
                        mailbox: self.mailbox.clone(),
                        name,
                    },
                }))),
                None => cx.say(
                    "only presets can be deleted (the history keeps itself)",
                    Level::Info,
                ),
            },
            Action::LoadFile => cx.emit(prompt(PromptKind::LoadFile)),
            Action::SaveFile => cx.emit(prompt(PromptKind::SaveFile)),
            _ => return false,
        }
        true
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Shared) {
        view::draw(f, area, cx, self);
    }
}
