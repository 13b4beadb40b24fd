//! What a component asks the app for: an overlay opened, a screen shown, a
//! fork started, a command carried out by another component once a
//! question is answered. Plain data: the app turns it into components.

use std::path::PathBuf;

use super::action::{Exit, Screen};
use super::overlay::fork_dialog::form::ForkForm;
use crate::history::SessionHeader;

/// A request to the app.
#[derive(Debug)]
pub enum Effect {
    /// Switch to a screen.
    Show(Screen),
    /// Open an overlay on top of the others.
    Open(Open),
    /// Carry out a command (usually a question's answer).
    Command(Command),
    /// What the prompt's text is now (each key), or that it is done.
    Prompted(Prompted),
    /// Start the fork (or fan-out) the dialog describes: its reason when
    /// it cannot start goes back into the dialog.
    StartFork(Box<ForkForm>),
    /// Open the fork dialog as a past session asked (replay).
    Replay {
        /// What it asked.
        header: Box<SessionHeader>,
        /// The fork it made (the dialog's title names it).
        fork: String,
    },
    /// Run the conformance suite on this snapshot.
    RunCheck(String),
    /// End the loop, or hand the terminal over.
    Exit(Exit),
    /// Reload the store (snapshots, forks, history).
    ReloadStore,
}

/// An overlay to open.
#[derive(Debug)]
pub enum Open {
    /// The fork dialog.
    ForkDialog(Box<ForkForm>),
    /// The one-line prompt.
    Prompt {
        /// What for.
        kind: PromptKind,
        /// The text it starts with.
        text: String,
    },
    /// A yes/no question.
    Confirm(Question),
    /// The viewer.
    Viewer(ViewerSeed),
    /// The payload library of a mailbox.
    Library {
        /// The mailbox.
        mailbox: String,
        /// The payload in the editor now (what `s` saves).
        payload: String,
    },
    /// The message log.
    Messages,
    /// Help, listing the keys of `place` first.
    Help(super::keymap::Place),
}

/// What the prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// Filter the list of this pane (applies as typed).
    Filter(super::action::Pane),
    /// Search the viewer (applies as typed).
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

impl PromptKind {
    /// The label before the text in the status line.
    pub fn label(self) -> &'static str {
        match self {
            PromptKind::Filter(_) => "filter: /",
            PromptKind::Search => "search: /",
            PromptKind::PresetName => "preset name: ",
            PromptKind::SaveFile => "write payload to file (Tab completes): ",
            PromptKind::LoadFile => "load payload from file (Tab completes): ",
            PromptKind::OpenFile => "open memory file, read-only (Tab completes): ",
        }
    }
    /// Whether the text is a path (Tab completes it).
    pub fn is_path(self) -> bool {
        matches!(
            self,
            PromptKind::SaveFile | PromptKind::LoadFile | PromptKind::OpenFile
        )
    }
}

/// The prompt's text now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompted {
    /// What the prompt is for.
    pub kind: PromptKind,
    /// Its text.
    pub text: String,
    /// Typing, done (Enter) or cancelled (Esc).
    pub state: PromptState,
}

/// Where a prompt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptState {
    /// Still being typed.
    Typing,
    /// Enter: take the text.
    Done,
    /// Esc: drop it (a filter is cleared).
    Cancelled,
}

/// A yes/no question and what `y` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The title.
    pub title: String,
    /// The question and what it means (the first line is the question).
    pub lines: Vec<String>,
    /// What `y` says it does ("remove them all").
    pub yes: String,
    /// What `n` says it keeps ("keep them").
    pub no: String,
    /// What happens on `y`.
    pub then: Command,
}

/// Work one component asks of another (or of the app), usually once a
/// question was answered yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Cancel these sessions (they roll back).
    CancelSessions(Vec<u64>),
    /// Forget these finished sessions, history and all.
    DismissSessions(Vec<u64>),
    /// Stop (or remove) these forks.
    ForkOp {
        /// The forks.
        names: Vec<String>,
        /// Remove (else stop).
        remove: bool,
    },
    /// Delete a preset of a mailbox's library.
    DeletePreset {
        /// The mailbox.
        mailbox: String,
        /// The preset.
        name: String,
    },
    /// Put `text` in the payload editor (the library's load).
    LoadPayload {
        /// The payload.
        text: String,
        /// Where it comes from (said in the status line).
        from: String,
    },
    /// Write `text` to `path`, replacing what is there.
    Overwrite {
        /// The file.
        path: PathBuf,
        /// What to write.
        text: String,
    },
    /// Quit (running sessions are cancelled and roll back).
    Quit,
}

/// What the viewer shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerSeed {
    /// Its title.
    pub title: String,
    /// Lines shown first (a session's detail, evidence, messages),
    /// sanitized.
    pub head: Vec<String>,
    /// A file shown after them, followed as it grows (a guest log).
    pub file: Option<PathBuf>,
    /// Open at the end (a log), else at the top.
    pub at_end: bool,
}
