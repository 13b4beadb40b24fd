//! What flows into [`App::update`](super::app::App::update) and out of it:
//! actions from keys, messages from background work, dialogs, and how the
//! event loop ends.

use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::KeyEvent;

use super::app::Screen;
use super::catalog::FileKey;
use crate::scan::ScanReport;

/// What a key (or click) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the TUI.
    Quit,
    /// Open or close the help overlay.
    ToggleHelp,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Switch screen.
    Show(Screen),
    /// Selection up.
    Up,
    /// Selection down.
    Down,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Open the fork dialog for the selected snapshot.
    Fork,
    /// Start typing a name filter.
    StartFilter,
    /// Ask for the path of a memory file to open read-only.
    OpenPath,
    /// Keep the filter and stop typing.
    FilterDone,
    /// Clear the filter.
    FilterCancel,
    /// Scan the selected snapshot again.
    Rescan,
    /// Show or mask tokens.
    RevealTokens,
    /// Include the selected mailbox in the fork or not.
    ToggleInclude,
    /// Wait for the selected mailbox's ack or not.
    ToggleAck,
    /// Ack timeout + 1 s.
    TimeoutUp,
    /// Ack timeout - 1 s.
    TimeoutDown,
    /// Start typing in the payload editor.
    StartEdit,
    /// Stop typing (saves the draft).
    StopEdit,
    /// Pretty-print the payload.
    Pretty,
    /// Compact the payload.
    Compact,
    /// Edit the payload in `$EDITOR`.
    ExternalEditor,
    /// Cancel the selected running session.
    CancelSession,
    /// Remove a finished session from the list.
    DismissSession,
    /// Scan the selected fork's memory.
    Inspect,
    /// Stop the selected fork.
    StopFork,
    /// Remove the selected fork.
    RemoveFork,
    /// Reload the store.
    Refresh,
    /// Copy the selected name, token or path to the clipboard (OSC 52).
    Copy,
    /// Full-screen payload editor on / off.
    Zoom,
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Fork again what the selected session forked (opens the dialog).
    Replay,
    /// Open the full-screen guest log viewer.
    OpenLog,
    /// Open the payload library (history and presets) of the mailbox.
    Library,
    /// Next field of a form.
    NextField,
    /// Previous field of a form.
    PrevField,
    /// Next search match.
    NextMatch,
    /// Previous search match.
    PrevMatch,
    /// Wrap long lines on / off.
    ToggleWrap,
    /// Hand the file to `$PAGER`.
    Pager,
    /// Save the payload as a named preset.
    SavePreset,
    /// Delete the selected preset.
    DeletePreset,
    /// Write the selected payload to a file.
    SaveFile,
    /// Load a payload from a file.
    LoadFile,
    /// Expand or fold a fan-out's row in the sessions list.
    ToggleExpand,
    /// Mark or unmark the selected fork.
    ToggleMark,
    /// Mark every visible fork (or unmark them all when all are marked).
    MarkAllVisible,
    /// Run the conformance suite on the selected snapshot.
    RunCheck,
    /// Yes / start.
    Confirm,
    /// No / close.
    Cancel,
    /// A key typed into a text field.
    Text(KeyEvent),
}

/// Messages from background work to the UI task.
#[derive(Debug)]
pub enum Msg {
    /// A scan advanced.
    ScanProgress {
        /// Snapshot name.
        snapshot: String,
        /// Data bytes read.
        done: u64,
        /// Data bytes in total.
        total: u64,
    },
    /// A scan finished.
    ScanDone {
        /// Snapshot name.
        snapshot: String,
        /// The memory file's identity when the scan started.
        key: FileKey,
        /// Report or why not.
        result: Result<Arc<ScanReport>, super::catalog::ScanFailure>,
    },
    /// A session event.
    Session {
        /// Session id.
        id: u64,
        /// The event.
        event: crate::fork::SessionEvent,
    },
    /// A session ended.
    SessionEnd {
        /// Session id.
        id: u64,
        /// Fork name or the failure.
        result: Result<String, crate::fork::ForkError>,
    },
    /// Something changed under the store.
    StoreChanged,
    /// A fork inspection finished.
    Inspected {
        /// Fork name.
        fork: String,
        /// Report or error text.
        result: Result<Arc<ScanReport>, String>,
    },
    /// A fan-out ended.
    FanoutEnd {
        /// Fan-out id.
        id: u64,
        /// Summary lines (done/failed, per-stage spread, divergence).
        summary: Vec<String>,
    },
    /// A check of the conformance suite started or ended.
    Check {
        /// Suite run id.
        id: u64,
        /// The event.
        event: crate::check::CheckEvent,
    },
    /// The conformance suite ended.
    CheckEnd {
        /// Suite run id.
        id: u64,
        /// Whether every required check passed, or why it could not run.
        result: Result<bool, String>,
    },
    /// A VMM started ahead of a fork is ready (or could not start).
    Prestarted {
        /// Which job.
        id: u64,
        /// The prestart, `None` when the VMM gains nothing from it.
        result: Result<Option<crate::fork::Prestart>, String>,
    },
    /// A stop/remove finished.
    ForkOp {
        /// The fork.
        fork: String,
        /// What happened.
        message: String,
        /// Whether it worked.
        ok: bool,
    },
}

/// How the event loop should end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Leave the TUI.
    Quit,
    /// Hand the terminal to `$EDITOR` on this file, then come back.
    Editor(PathBuf),
    /// Hand the terminal to `$PAGER` on this file, then come back.
    Pager(PathBuf),
}

/// Open yes/no question or the fork dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    /// The fork dialog (a form: name, options, per-mailbox settings).
    Fork(Box<super::form::ForkForm>),
    /// Stop or remove several forks (one confirmation).
    BulkForkOp {
        /// The forks.
        names: Vec<String>,
        /// Remove (else stop).
        remove: bool,
    },
    /// Stop a fork.
    StopFork(String),
    /// Remove a fork.
    RemoveFork(String),
    /// Cancel a running session.
    CancelSession(u64),
    /// Quit while this many sessions run (they are cancelled, roll back).
    Quit(usize),
}

/// Severity of the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Neutral.
    Info,
    /// Something worked.
    Ok,
    /// Something failed.
    Error,
}
