//! The payload library of a mailbox: the payloads last forked (newest
//! first) and presets the person saved by name, kept in
//! `<store>/library/<mailbox>.json` beside the drafts; payloads also load
//! from and write to files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::app::{Action, App, Level, Mode};
use super::prompt::PromptKind;
use crate::fork::MailboxSpec;
use crate::store::{Store, private_dir, write_json_atomic};

/// Payloads kept in a mailbox's history.
pub const HISTORY_LEN: usize = 20;
/// The largest payload file loaded.
const MAX_PAYLOAD_FILE: u64 = 1 << 20;

/// A payload that was forked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forked {
    /// The payload text.
    pub payload: String,
    /// The snapshot it was forked from.
    pub snapshot: String,
    /// When (RFC 3339).
    pub at: String,
}

/// A named payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preset {
    /// Its name.
    pub name: String,
    /// The payload text.
    pub payload: String,
}

/// One mailbox's library file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    /// Presets, by name.
    #[serde(default)]
    pub presets: Vec<Preset>,
    /// Forked payloads, newest first, each payload once.
    #[serde(default)]
    pub history: Vec<Forked>,
}

/// The library file of `mailbox`.
pub fn library_path(store: &Store, mailbox: &str) -> PathBuf {
    store.root().join("library").join(format!("{mailbox}.json"))
}

impl Library {
    /// Read `mailbox`'s library (empty when there is none or it is unreadable).
    pub fn load(store: &Store, mailbox: &str) -> Library {
        crate::files::read_bounded(
            &library_path(store, mailbox),
            crate::files::MAX_METADATA_BYTES,
            "a payload library",
        )
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
    }

    /// Write it back.
    pub fn save(&self, store: &Store, mailbox: &str) -> Result<(), String> {
        let path = library_path(store, mailbox);
        if let Some(dir) = path.parent() {
            private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        write_json_atomic(&path, self).map_err(|e| e.to_string())
    }

    /// Put a forked payload first (once).
    pub fn remember(&mut self, payload: &str, snapshot: &str) {
        self.history.retain(|f| f.payload != payload);
        self.history.insert(
            0,
            Forked {
                payload: payload.into(),
                snapshot: snapshot.into(),
                at: crate::store::now_rfc3339(),
            },
        );
        self.history.truncate(HISTORY_LEN);
    }
}

/// One row of the library popup.
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
    /// Presets first, then history.
    pub entries: Vec<Entry>,
    /// Selected row.
    pub sel: usize,
}

impl LibraryView {
    fn build(lib: &Library, mailbox: &str, clock: &super::app::Clock) -> LibraryView {
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
            label: format!("forked  {} · {}", clock.human(&f.at), f.snapshot),
            payload: f.payload.clone(),
            preset: None,
        }));
        LibraryView {
            mailbox: mailbox.into(),
            entries,
            sel: 0,
        }
    }

    /// The selected entry.
    pub fn selected(&self) -> Option<&Entry> {
        self.entries.get(self.sel)
    }
}

/// `~/` at the start of a path typed by a person is their home.
fn expand(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

impl App {
    /// Open the library of the mailbox in the editor.
    pub fn open_library(&mut self) {
        let Some(ed) = &self.editor else {
            self.say(
                "select a fork mailbox in the markers pane first",
                Level::Info,
            );
            return;
        };
        let mailbox = ed.mailbox.clone();
        self.save_current_draft();
        self.refresh_library(&mailbox);
        self.mode = Mode::Library;
    }

    fn refresh_library(&mut self, mailbox: &str) {
        let sel = self.library.as_ref().map(|l| l.sel).unwrap_or(0);
        let mut view =
            LibraryView::build(&Library::load(&self.store, mailbox), mailbox, &self.clock);
        view.sel = sel.min(view.entries.len().saturating_sub(1));
        self.library = Some(view);
    }

    /// Keys in the library popup.
    pub fn library_action(&mut self, action: Action) {
        let Some(view) = self.library.as_mut() else {
            self.mode = Mode::Normal;
            return;
        };
        match action {
            Action::Down => view.sel = (view.sel + 1).min(view.entries.len().saturating_sub(1)),
            Action::Up => view.sel = view.sel.saturating_sub(1),
            Action::Cancel => {
                self.library = None;
                self.mode = Mode::Normal;
            }
            Action::Confirm => {
                let Some(e) = view.selected().cloned() else {
                    return;
                };
                self.library = None;
                self.mode = Mode::Normal;
                self.load_payload(&e.payload, &e.label);
            }
            Action::SavePreset => self.open_prompt(PromptKind::PresetName, String::new()),
            Action::DeletePreset => {
                let Some(name) = view.selected().and_then(|e| e.preset.clone()) else {
                    self.say(
                        "only presets can be deleted (history keeps itself)",
                        Level::Info,
                    );
                    return;
                };
                let mailbox = view.mailbox.clone();
                let mut lib = Library::load(&self.store, &mailbox);
                lib.presets.retain(|p| p.name != name);
                match lib.save(&self.store, &mailbox) {
                    Ok(()) => self.say(format!("preset {name} deleted"), Level::Ok),
                    Err(e) => self.say(format!("library not saved: {e}"), Level::Error),
                }
                self.refresh_library(&mailbox);
            }
            Action::LoadFile => self.open_prompt(PromptKind::LoadFile, String::new()),
            Action::SaveFile => self.open_prompt(PromptKind::SaveFile, String::new()),
            _ => {}
        }
    }

    /// Put `payload` in the editor (an edit: undo takes it back).
    fn load_payload(&mut self, payload: &str, from: &str) {
        if let Some(ed) = self.editor.as_mut() {
            ed.set_text(payload);
        }
        self.after_edit();
        self.save_current_draft();
        self.say(format!("loaded {}", crate::sanitize::safe(from)), Level::Ok);
    }

    /// Save the editor's payload as preset `name` (replacing one of that name).
    pub fn save_preset(&mut self, name: &str) {
        let name = name.trim();
        let Some(ed) = &self.editor else { return };
        if name.is_empty() {
            self.say("a preset needs a name", Level::Error);
            return;
        }
        let (mailbox, payload) = (ed.mailbox.clone(), ed.text());
        let mut lib = Library::load(&self.store, &mailbox);
        lib.presets.retain(|p| p.name != name);
        lib.presets.push(Preset {
            name: name.into(),
            payload,
        });
        lib.presets
            .sort_by(|a, b| super::nav::natural(&a.name, &b.name));
        match lib.save(&self.store, &mailbox) {
            Ok(()) => self.say(format!("preset {name} saved"), Level::Ok),
            Err(e) => self.say(format!("library not saved: {e}"), Level::Error),
        }
        self.refresh_library(&mailbox);
    }

    /// Load the payload in file `path` into the editor.
    pub fn library_load_file(&mut self, path: &str) {
        let p = expand(path.trim());
        match crate::files::read_text_bounded(&p, MAX_PAYLOAD_FILE, "a payload") {
            Ok(text) => {
                self.library = None;
                self.mode = Mode::Normal;
                let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
                self.load_payload(&text, &p.display().to_string());
            }
            Err(e) => self.say(e.to_string(), Level::Error),
        }
    }

    /// Write the selected library payload (else the editor's) to a new
    /// file `path`. An existing file is never overwritten.
    pub fn library_save_file(&mut self, path: &str) {
        let p = expand(path.trim());
        let payload = self
            .library
            .as_ref()
            .and_then(|l| l.selected())
            .map(|e| e.payload.clone())
            .or_else(|| self.editor.as_ref().map(|e| e.text()));
        let Some(payload) = payload else { return };
        let res = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{payload}\n").as_bytes()));
        match res {
            Ok(()) => self.say(format!("payload written to {}", p.display()), Level::Ok),
            Err(e) => self.say(format!("{}: {e}", p.display()), Level::Error),
        }
    }

    /// Remember the payloads of a fork that starts, per mailbox.
    pub fn remember_payloads(&mut self, snapshot: &str, specs: &[MailboxSpec]) {
        for m in specs {
            let Some(payload) = &m.payload else { continue };
            let mut lib = Library::load(&self.store, &m.name);
            lib.remember(payload, snapshot);
            if let Err(e) = lib.save(&self.store, &m.name) {
                tracing::warn!("payload library of {}: {e}", m.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_each_payload_once_newest_first() {
        let mut lib = Library::default();
        lib.remember("{\"a\":1}", "web");
        lib.remember("{\"b\":2}", "web");
        lib.remember("{\"a\":1}", "edge");
        let p: Vec<&str> = lib.history.iter().map(|f| f.payload.as_str()).collect();
        assert_eq!(p, ["{\"a\":1}", "{\"b\":2}"]);
        for i in 0..30 {
            lib.remember(&format!("{{\"n\":{i}}}"), "web");
        }
        assert_eq!(lib.history.len(), HISTORY_LEN);
    }

    #[test]
    fn a_library_round_trips_through_the_store() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(d.path().join("s")).expect("store");
        let mut lib = Library::default();
        lib.presets.push(Preset {
            name: "eu".into(),
            payload: "{}".into(),
        });
        lib.save(&store, "app.config").expect("save");
        assert_eq!(Library::load(&store, "app.config"), lib);
        assert_eq!(Library::load(&store, "other"), Library::default());
    }
}
