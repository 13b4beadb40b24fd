//! The one-line prompt in the status line: the filter of the focused list
//! (`/` on snapshots, markers, sessions, forks), the log viewer's search,
//! the payload library's preset name and file paths, and a memory file to
//! open read-only (`o`). Filters apply as
//! they are typed.

use crossterm::event::KeyCode;

use super::app::{Action, App, Level, Mode, Pane};

/// Which list a filter narrows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Snapshots (by name).
    Snapshots,
    /// Markers (by mailbox name).
    Markers,
    /// Sessions (by fork or snapshot name).
    Sessions,
    /// Forks (by fork or source name).
    Forks,
}

/// What the prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// Filter a list.
    Filter(ListKind),
    /// Search the guest log.
    Search,
    /// Name a preset of the payload library.
    PresetName,
    /// Write the selected library payload to this file.
    SaveFile,
    /// Load a payload from this file.
    LoadFile,
    /// Open this memory file (or snapshot directory) read-only.
    OpenFile,
}

/// The prompt being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// What it is for.
    pub kind: PromptKind,
    /// The text so far.
    pub text: String,
    /// The mode to go back to.
    pub back: Mode,
}

impl Prompt {
    /// The label before the text in the status line.
    pub fn label(&self) -> &'static str {
        match self.kind {
            PromptKind::Filter(_) => "filter: /",
            PromptKind::Search => "search: /",
            PromptKind::PresetName => "preset name: ",
            PromptKind::SaveFile => "write payload to file: ",
            PromptKind::LoadFile => "load payload from file: ",
            PromptKind::OpenFile => "open memory file (read-only): ",
        }
    }
}

impl App {
    /// `/`: filter the focused list, or search the open log.
    pub fn start_filter(&mut self) {
        let kind = match (self.mode, self.focus) {
            (Mode::LogView, _) => PromptKind::Search,
            (_, Pane::Snapshots) => PromptKind::Filter(ListKind::Snapshots),
            (_, Pane::Markers) => PromptKind::Filter(ListKind::Markers),
            (_, Pane::SessionList | Pane::SessionDetail) => PromptKind::Filter(ListKind::Sessions),
            (_, Pane::ForkList | Pane::ForkDetail) => PromptKind::Filter(ListKind::Forks),
            (_, Pane::Editor) => {
                self.say("the payload editor has no filter", Level::Info);
                return;
            }
        };
        self.open_prompt(kind, String::new());
    }

    /// Open the prompt for `kind`, starting with `text`.
    pub fn open_prompt(&mut self, kind: PromptKind, text: String) {
        let text = match kind {
            PromptKind::Filter(list) => self.filter_text(list).to_string(),
            PromptKind::Search => self
                .log_view
                .as_ref()
                .map(|v| v.search.clone())
                .unwrap_or_default(),
            _ => text,
        };
        self.prompt = Some(Prompt {
            kind,
            text,
            back: self.mode,
        });
        self.mode = Mode::Filter;
    }

    fn filter_text(&self, list: ListKind) -> &str {
        match list {
            ListKind::Snapshots => &self.catalog.filter,
            ListKind::Markers => &self.filters.markers,
            ListKind::Sessions => &self.filters.sessions,
            ListKind::Forks => &self.forks.filter,
        }
    }

    /// Keys while the prompt is open.
    pub fn prompt_action(&mut self, action: Action) {
        let Some(p) = self.prompt.clone() else {
            self.mode = Mode::Normal;
            return;
        };
        match action {
            Action::FilterDone => {
                self.prompt = None;
                self.mode = p.back;
                self.prompt_done(p.kind, &p.text);
            }
            Action::FilterCancel => {
                self.prompt = None;
                self.mode = p.back;
                match p.kind {
                    PromptKind::Filter(list) => self.set_filter(list, String::new()),
                    PromptKind::Search => self.set_search(String::new()),
                    _ => {}
                }
            }
            Action::Text(key) => match key.code {
                KeyCode::Char(c) => self.prompt_char(c),
                KeyCode::Backspace => {
                    if let Some(p) = self.prompt.as_mut() {
                        p.text.pop();
                    }
                    self.prompt_changed();
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// One character typed (or pasted) into the prompt.
    pub fn prompt_char(&mut self, c: char) {
        if let Some(p) = self.prompt.as_mut()
            && p.text.chars().count() < 4096
        {
            p.text.push(c);
        }
        self.prompt_changed();
    }

    fn prompt_changed(&mut self) {
        let Some(p) = self.prompt.clone() else { return };
        match p.kind {
            PromptKind::Filter(list) => self.set_filter(list, p.text),
            PromptKind::Search => self.set_search(p.text),
            _ => {}
        }
    }

    fn prompt_done(&mut self, kind: PromptKind, text: &str) {
        match kind {
            PromptKind::Filter(_) | PromptKind::Search => {}
            PromptKind::PresetName => self.save_preset(text),
            PromptKind::SaveFile => self.library_save_file(text),
            PromptKind::LoadFile => self.library_load_file(text),
            PromptKind::OpenFile => {
                let path = text.trim();
                if !path.is_empty() {
                    self.open_path(std::path::PathBuf::from(path));
                }
            }
        }
    }

    /// Set a list's filter and keep its selection on a visible row.
    pub fn set_filter(&mut self, list: ListKind, text: String) {
        match list {
            ListKind::Snapshots => {
                self.save_current_draft();
                self.catalog.filter = text;
                let len = self.catalog.rows().len();
                self.catalog.sel = self.catalog.sel.min(len.saturating_sub(1));
                self.marker_sel = 0;
                self.selection_changed();
            }
            ListKind::Markers => {
                self.save_current_draft();
                self.filters.markers = text;
                let len = self.visible_markers().len();
                self.marker_sel = self.marker_sel.min(len.saturating_sub(1));
                self.sync_editor();
            }
            ListKind::Sessions => {
                self.filters.sessions = text;
                let len = self.session_rows().len();
                self.session_sel = self.session_sel.min(len.saturating_sub(1));
            }
            ListKind::Forks => {
                self.forks.filter = text;
                let len = self.forks.visible().len();
                self.forks.sel = self.forks.sel.min(len.saturating_sub(1));
            }
        }
    }

    fn set_search(&mut self, text: String) {
        if let Some(v) = self.log_view.as_mut() {
            v.set_search(text);
        }
    }
}
