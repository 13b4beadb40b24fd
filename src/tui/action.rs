//! What keys (and clicks) turn into, where they apply, and how the event
//! loop ends: the vocabulary every component speaks. Nothing here knows a
//! component.

use std::path::PathBuf;

use crossterm::event::KeyEvent;

/// What a key (or click) asks for. Which component handles it depends on
/// where it was pressed (see [`super::keymap::Place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the TUI.
    Quit,
    /// Open or close the help overlay.
    ToggleHelp,
    /// Open the message log (everything the status line said).
    Messages,
    /// Focus the next pane (wraps around).
    NextPane,
    /// Focus the previous pane (wraps around).
    PrevPane,
    /// Go right: the pane to the right or below (no wrap).
    Right,
    /// Go back: the pane to the left or above (no wrap).
    Left,
    /// Back out one level: clear an applied filter, leave the full-screen
    /// editor, else go back a pane.
    Back,
    /// Switch screen.
    Show(Screen),
    /// Selection up (or scroll up).
    Up,
    /// Selection down (or scroll down).
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
    /// Start typing a name filter (a search in the viewer).
    StartFilter,
    /// Ask for the path of a memory file to open read-only.
    OpenPath,
    /// Keep the prompt's text and close it.
    FilterDone,
    /// Close the prompt (a filter is cleared).
    FilterCancel,
    /// Complete the path typed in the prompt.
    Complete,
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
    /// Forget a finished session (its history goes).
    DismissSession,
    /// Scan the selected fork's memory.
    Inspect,
    /// Stop the selected (or marked) forks.
    StopFork,
    /// Remove the selected (or marked) forks.
    RemoveFork,
    /// Reload the store.
    Refresh,
    /// Copy the selection to the clipboard (OSC 52).
    Copy,
    /// Full-screen payload editor on / off.
    Zoom,
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Fork again what the selected session forked (opens the dialog).
    Replay,
    /// Open the selected session's (or check's) detail in the viewer.
    OpenDetail,
    /// Open the full-screen guest log viewer.
    OpenLog,
    /// Open the payload library (history and presets) of the mailbox.
    Library,
    /// Next field of a form (scroll right in the viewer).
    NextField,
    /// Previous field of a form (scroll left in the viewer).
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

/// Top-level screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    /// Snapshots, markers and the payload editor.
    Main,
    /// Fork sessions, live and past.
    Sessions,
    /// Forks in the store.
    Forks,
}

/// The panes of the three screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    /// Snapshot list.
    Snapshots,
    /// Markers of the selected snapshot.
    Markers,
    /// Payload editor.
    Editor,
    /// Session list.
    SessionList,
    /// Selected session's detail.
    SessionDetail,
    /// Fork list.
    ForkList,
    /// Selected fork's detail.
    ForkDetail,
}

impl Pane {
    /// The screen a pane belongs to.
    pub fn screen(self) -> Screen {
        match self {
            Pane::Snapshots | Pane::Markers | Pane::Editor => Screen::Main,
            Pane::SessionList | Pane::SessionDetail => Screen::Sessions,
            Pane::ForkList | Pane::ForkDetail => Screen::Forks,
        }
    }
}

/// How the event loop ends (or hands the terminal over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Leave the TUI.
    Quit,
    /// Hand the terminal to `$EDITOR` on this file, then come back.
    Editor(PathBuf),
    /// Hand the terminal to `$PAGER` on this file, then come back.
    Pager(PathBuf),
}

/// Severity of a status message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Neutral.
    Info,
    /// Something worked.
    Ok,
    /// Something failed.
    Error,
}
