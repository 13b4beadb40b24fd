//! The one keymap table. It drives key handling, the hint bar and the `?`
//! help overlay, so what the help shows is what the keys do.
//!
//! Each component owns a section of it: its [`Place`] names the scopes its
//! keys come from, most specific first (a pane's own scope, its screen's,
//! then the global one; an overlay's alone).

mod bindings;
mod keys;

use super::action::{Action, Pane, Screen};
pub use bindings::{Bound, Keymap, KeymapError, Mapped, default_action, default_hints};
pub use keys::{display_key, matches, parse_key};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everywhere (normal mode).
    Global,
    /// Any pane of the snapshots screen.
    Main,
    /// The snapshots pane.
    Snapshots,
    /// The markers pane.
    Markers,
    /// The payload editor pane (not typing).
    Editor,
    /// Typing in the payload editor.
    Editing,
    /// The sessions screen.
    Sessions,
    /// The forks screen.
    Forks,
    /// The full-screen viewer (a guest log, a session's detail, evidence,
    /// the message log).
    LogView,
    /// The payload library popup.
    Library,
    /// The one-line prompt: a list filter, a log search, a preset name, a file.
    Filter,
    /// Yes/no confirmation dialogs.
    Dialog,
    /// The fork dialog.
    ForkDialog,
    /// The help overlay.
    Help,
}

impl Scope {
    /// The scope's name in a config file's `[keys]` (`"sessions.replay"`).
    pub fn id(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Main => "main",
            Scope::Snapshots => "snapshots",
            Scope::Markers => "markers",
            Scope::Editor => "editor",
            Scope::Editing => "editing",
            Scope::Sessions => "sessions",
            Scope::Forks => "forks",
            Scope::LogView => "log",
            Scope::Library => "library",
            Scope::Filter => "prompt",
            Scope::Dialog => "confirm",
            Scope::ForkDialog => "fork-dialog",
            Scope::Help => "help",
        }
    }

    /// Heading in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Main => "Snapshots screen",
            Scope::Snapshots => "Snapshots pane",
            Scope::Markers => "Markers pane",
            Scope::Editor => "Payload editor",
            Scope::Editing => "Typing a payload",
            Scope::Sessions => "Sessions screen",
            Scope::Forks => "Forks screen",
            Scope::LogView => "Viewer (logs, details, messages)",
            Scope::Library => "Payload library",
            Scope::Filter => "Prompt (filter, search, name, file)",
            Scope::Dialog => "Confirmations",
            Scope::ForkDialog => "Fork dialog",
            Scope::Help => "Help",
        }
    }
}

/// One row of the keymap: keys, what they do, where, and whether the action
/// is dangerous (it then always asks for confirmation).
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Key names: `"k"`, `"up"`, `"ctrl-c"`, `"tab"`, `"backtab"`, `"space"`.
    pub keys: &'static [&'static str],
    /// The action.
    pub action: Action,
    /// Where it applies.
    pub scope: Scope,
    /// What it does, for the help and hint bar.
    pub desc: &'static str,
    /// Destroys or stops something (asks first).
    pub dangerous: bool,
    /// Shown in the hint bar.
    pub hint: bool,
}

const fn b(
    keys: &'static [&'static str],
    action: Action,
    scope: Scope,
    desc: &'static str,
    hint: bool,
) -> Binding {
    Binding {
        keys,
        action,
        scope,
        desc,
        dangerous: false,
        hint,
    }
}

const fn danger(
    keys: &'static [&'static str],
    action: Action,
    scope: Scope,
    desc: &'static str,
) -> Binding {
    Binding {
        keys,
        action,
        scope,
        desc,
        dangerous: true,
        hint: true,
    }
}

use Action as A;
use Scope as S;

/// Every key binding of the TUI, by default (a config file can give an
/// action other keys: [`Keymap::with_overrides`]).
#[rustfmt::skip]
pub const KEYMAP: &[Binding] = &[
    b(&["?"], A::ToggleHelp, S::Global, "help", true),
    b(&["q"], A::Quit, S::Global, "quit", true),
    b(&["ctrl-c"], A::Quit, S::Global, "quit", false),
    b(&["tab"], A::NextPane, S::Global, "next pane", true),
    b(&["backtab"], A::PrevPane, S::Global, "previous pane", false),
    b(&["l", "right"], A::Right, S::Global, "go right: the next pane", false),
    b(&["h", "left"], A::Left, S::Global, "go back: the previous pane", false),
    b(&["esc"], A::Back, S::Global, "back out: clear the filter, leave full screen, else go back", false),
    b(&["1"], A::Show(Screen::Main), S::Global, "snapshots screen", false),
    b(&["2"], A::Show(Screen::Sessions), S::Global, "sessions screen", false),
    b(&["3"], A::Show(Screen::Forks), S::Global, "forks screen", false),
    b(&["j", "down"], A::Down, S::Global, "move down (a detail pane: scroll)", false),
    b(&["k", "up"], A::Up, S::Global, "move up (a detail pane: scroll)", false),
    b(&["g", "home"], A::Top, S::Global, "first row", false),
    b(&["G", "end"], A::Bottom, S::Global, "last row", false),
    b(&["ctrl-d", "pagedown"], A::PageDown, S::Global, "page down", false),
    b(&["ctrl-u", "pageup"], A::PageUp, S::Global, "page up", false),
    b(&["/"], A::StartFilter, S::Global, "filter this list", true),
    b(&["y"], A::Copy, S::Global, "copy the selected name, token, path or payload (OSC 52)", true),
    b(&["m"], A::Messages, S::Global, "message log: everything the status line said", false),
    b(&["f"], A::Fork, S::Main, "fork the selected snapshot", true),
    b(&["C"], A::RunCheck, S::Main, "check: run the guest conformance suite", false),
    b(&["r"], A::Rescan, S::Main, "rescan memory", false),
    b(&["z"], A::Zoom, S::Main, "full-screen payload editor on / off", false),
    b(&["enter"], A::NextPane, S::Snapshots, "show markers", false),
    b(&["i"], A::StartEdit, S::Snapshots, "type the selected mailbox's payload", true),
    b(&["o"], A::OpenPath, S::Snapshots, "open a memory file by path (read-only: raw, .zst, .lz4)", true),
    // Markers pane, most used first (the hint bar keeps this order).
    b(&["space", "x"], A::ToggleInclude, S::Markers, "include mailbox in fork", true),
    b(&["enter", "i"], A::StartEdit, S::Markers, "type the payload", true),
    b(&["e"], A::ExternalEditor, S::Markers, "open in $EDITOR", true),
    b(&["a"], A::ToggleAck, S::Markers, "wait for ack on / off", true),
    b(&["+", "="], A::TimeoutUp, S::Markers, "ack timeout +1 s", false),
    b(&["-"], A::TimeoutDown, S::Markers, "ack timeout -1 s", false),
    b(&["t"], A::RevealTokens, S::Markers, "reveal / mask tokens", true),
    b(&["L"], A::Library, S::Markers, "payload library: history and presets", false),
    b(&["i", "enter"], A::StartEdit, S::Editor, "type the payload", true),
    b(&["p"], A::Pretty, S::Editor, "pretty-print", true),
    b(&["c"], A::Compact, S::Editor, "compact", true),
    b(&["e"], A::ExternalEditor, S::Editor, "open in $EDITOR", true),
    b(&["L"], A::Library, S::Editor, "payload library: history and presets", true),
    b(&["space", "x"], A::ToggleInclude, S::Editor, "include mailbox in fork", false),
    b(&["a"], A::ToggleAck, S::Editor, "wait for ack on / off", false),
    b(&["+", "="], A::TimeoutUp, S::Editor, "ack timeout +1 s", false),
    b(&["-"], A::TimeoutDown, S::Editor, "ack timeout -1 s", false),
    b(&["esc"], A::StopEdit, S::Editing, "stop typing (draft saved)", true),
    b(&["ctrl-z"], A::Undo, S::Editing, "undo (a word or an edit at a time)", true),
    b(&["ctrl-y"], A::Redo, S::Editing, "redo", true),
    b(&["ctrl-f"], A::Zoom, S::Editing, "full screen on / off", true),
    b(&["ctrl-p"], A::Pretty, S::Editing, "pretty-print", true),
    b(&["ctrl-o"], A::Compact, S::Editing, "compact", false),
    b(&["ctrl-x ctrl-e"], A::ExternalEditor, S::Editing, "open in $EDITOR", false),
    b(&["ctrl-u", "pageup"], A::PageUp, S::Editing, "page up", false),
    b(&["ctrl-d", "pagedown"], A::PageDown, S::Editing, "page down", false),
    danger(&["x"], A::CancelSession, S::Sessions, "cancel session (rolls back)"),
    b(&["r"], A::Replay, S::Sessions, "replay: fork again with the same payloads", true),
    b(&["enter"], A::OpenDetail, S::Sessions, "open the detail and whole guest log in the viewer", true),
    danger(&["d"], A::DismissSession, S::Sessions, "dismiss finished session (forgets its history)"),
    b(&["space"], A::ToggleExpand, S::Sessions, "expand / fold a fan-out's forks", true),
    b(&["enter", "i"], A::Inspect, S::Forks, "inspect memory: mailboxes consumed?", true),
    b(&["o"], A::OpenLog, S::Forks, "open the guest log in the viewer", true),
    b(&["space"], A::ToggleMark, S::Forks, "mark / unmark fork", true),
    b(&["v"], A::MarkAllVisible, S::Forks, "mark all visible forks", true),
    danger(&["s"], A::StopFork, S::Forks, "stop fork (the marked ones)"),
    danger(&["d", "delete"], A::RemoveFork, S::Forks, "remove fork (the marked ones)"),
    b(&["r"], A::Refresh, S::Forks, "refresh", false),
    b(&["q", "esc"], A::Cancel, S::LogView, "close the viewer", true),
    b(&["?"], A::ToggleHelp, S::LogView, "help", true),
    b(&["/"], A::StartFilter, S::LogView, "search", true),
    b(&["n"], A::NextMatch, S::LogView, "next match", true),
    b(&["N"], A::PrevMatch, S::LogView, "previous match", false),
    b(&["w"], A::ToggleWrap, S::LogView, "wrap long lines on / off", true),
    b(&["y"], A::Copy, S::LogView, "copy the whole text (OSC 52)", true),
    b(&["o"], A::Pager, S::LogView, "open in $PAGER", true),
    b(&["j", "down"], A::Down, S::LogView, "scroll down", false),
    b(&["k", "up"], A::Up, S::LogView, "scroll up", false),
    b(&["h", "left"], A::PrevField, S::LogView, "scroll left (no wrap)", false),
    b(&["l", "right"], A::NextField, S::LogView, "scroll right (no wrap)", false),
    b(&["g", "home"], A::Top, S::LogView, "top", false),
    b(&["G", "end"], A::Bottom, S::LogView, "bottom (follows new lines)", false),
    b(&["ctrl-d", "pagedown"], A::PageDown, S::LogView, "page down", false),
    b(&["ctrl-u", "pageup"], A::PageUp, S::LogView, "page up", false),
    b(&["enter"], A::Confirm, S::Library, "load into the editor", true),
    b(&["?"], A::ToggleHelp, S::Library, "help", false),
    b(&["s"], A::SavePreset, S::Library, "save the current payload as a preset", true),
    danger(&["d", "delete"], A::DeletePreset, S::Library, "delete the selected preset"),
    b(&["o"], A::LoadFile, S::Library, "load a payload from a file", true),
    b(&["w"], A::SaveFile, S::Library, "write the selected payload to a file", true),
    b(&["j", "down"], A::Down, S::Library, "move down", false),
    b(&["k", "up"], A::Up, S::Library, "move up", false),
    b(&["esc", "q"], A::Cancel, S::Library, "close", true),
    b(&["enter"], A::FilterDone, S::Filter, "done", true),
    b(&["esc"], A::FilterCancel, S::Filter, "cancel (a filter is cleared)", true),
    b(&["tab"], A::Complete, S::Filter, "complete a path", false),
    b(&["y", "enter"], A::Confirm, S::Dialog, "confirm", true),
    b(&["n", "esc"], A::Cancel, S::Dialog, "cancel", true),
    b(&["enter"], A::Confirm, S::ForkDialog, "start the fork (or fan-out)", true),
    b(&["esc"], A::Cancel, S::ForkDialog, "cancel", true),
    b(&["tab", "down"], A::NextField, S::ForkDialog, "next field", true),
    b(&["backtab", "up"], A::PrevField, S::ForkDialog, "previous field", false),
    b(&["space"], A::ToggleInclude, S::ForkDialog, "toggle an option (no restore, zero copy, wait for ack)", true),
    b(&["+", "="], A::TimeoutUp, S::ForkDialog, "ack timeout +1 s", false),
    b(&["-"], A::TimeoutDown, S::ForkDialog, "ack timeout -1 s", false),
    b(&["pagedown"], A::PageDown, S::ForkDialog, "scroll the dialog down", false),
    b(&["pageup"], A::PageUp, S::ForkDialog, "scroll the dialog up", false),
    b(&["?", "esc", "q"], A::ToggleHelp, S::Help, "close help", true),
    b(&["j", "down"], A::Down, S::Help, "scroll down", false),
    b(&["k", "up"], A::Up, S::Help, "scroll up", false),
    b(&["g", "home"], A::Top, S::Help, "top", false),
    b(&["G", "end"], A::Bottom, S::Help, "bottom", false),
    b(&["ctrl-d", "pagedown"], A::PageDown, S::Help, "page down", false),
    b(&["ctrl-u", "pageup"], A::PageUp, S::Help, "page up", false),
];

/// Scopes in the order the help overlay and the docs list them.
pub const SCOPE_ORDER: [Scope; 14] = [
    Scope::Global,
    Scope::Main,
    Scope::Snapshots,
    Scope::Markers,
    Scope::Editor,
    Scope::Editing,
    Scope::Sessions,
    Scope::Forks,
    Scope::LogView,
    Scope::Library,
    Scope::Filter,
    Scope::ForkDialog,
    Scope::Dialog,
    Scope::Help,
];

/// The name of an action in a config file's `[keys]` table.
pub fn action_id(action: Action) -> Option<&'static str> {
    Some(match action {
        A::Quit => "quit",
        A::ToggleHelp => "help",
        A::Messages => "messages",
        A::NextPane => "next-pane",
        A::Right => "right",
        A::Left => "left",
        A::Back => "back",
        A::PrevPane => "previous-pane",
        A::Show(Screen::Main) => "snapshots-screen",
        A::Show(Screen::Sessions) => "sessions-screen",
        A::Show(Screen::Forks) => "forks-screen",
        A::Up => "up",
        A::Down => "down",
        A::Top => "top",
        A::Bottom => "bottom",
        A::PageUp => "page-up",
        A::PageDown => "page-down",
        A::Fork => "fork",
        A::StartFilter => "filter",
        A::OpenPath => "open-file",
        A::Rescan => "rescan",
        A::RevealTokens => "reveal-tokens",
        A::ToggleInclude => "include",
        A::ToggleAck => "ack",
        A::TimeoutUp => "timeout-up",
        A::TimeoutDown => "timeout-down",
        A::StartEdit => "edit",
        A::StopEdit => "stop-edit",
        A::Pretty => "pretty",
        A::Compact => "compact",
        A::ExternalEditor => "external-editor",
        A::CancelSession => "cancel-session",
        A::DismissSession => "dismiss-session",
        A::Inspect => "inspect",
        A::StopFork => "stop-fork",
        A::RemoveFork => "remove-fork",
        A::Refresh => "refresh",
        A::Copy => "copy",
        A::Zoom => "zoom",
        A::Undo => "undo",
        A::Redo => "redo",
        A::Replay => "replay",
        A::OpenLog => "open-log",
        A::OpenDetail => "open-detail",
        A::Library => "library",
        A::NextMatch => "next-match",
        A::PrevMatch => "previous-match",
        A::ToggleWrap => "wrap",
        A::Pager => "pager",
        A::SavePreset => "save-preset",
        A::DeletePreset => "delete-preset",
        A::SaveFile => "save-file",
        A::LoadFile => "load-file",
        A::ToggleExpand => "expand",
        A::ToggleMark => "mark",
        A::MarkAllVisible => "mark-all",
        A::RunCheck => "check",
        // Keys of forms, prompts and dialogs stay as they are.
        A::NextField
        | A::PrevField
        | A::FilterDone
        | A::FilterCancel
        | A::Complete
        | A::Confirm
        | A::Cancel
        | A::Text(_) => return None,
    })
}

/// The key list as Markdown (the table in `docs/tui.md` is this text; a test
/// keeps them in sync).
pub fn markdown() -> String {
    let mut out = String::new();
    for scope in SCOPE_ORDER {
        out.push_str(&format!(
            "\n**{}**\n\n| keys | action |\n|---|---|\n",
            scope.title()
        ));
        for b in KEYMAP.iter().filter(|b| b.scope == scope) {
            let keys: Vec<String> = b
                .keys
                .iter()
                .map(|k| format!("`{}`", display_key(k)))
                .collect();
            let danger = if b.dangerous { " (asks first)" } else { "" };
            out.push_str(&format!("| {} | {}{danger} |\n", keys.join(" "), b.desc));
        }
    }
    out
}

/// Where keys are pressed: a pane, typing in the payload, or an overlay.
/// Each component says which it is; the place names the scopes its keys
/// come from, most specific first, and what an unbound key does there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// The snapshots pane.
    Snapshots,
    /// The markers pane.
    Markers,
    /// The payload editor, not typing.
    Editor,
    /// Typing a payload.
    Typing,
    /// The sessions list.
    SessionList,
    /// A session's (fan-out's, check's) detail.
    SessionDetail,
    /// The forks list.
    ForkList,
    /// A fork's detail.
    ForkDetail,
    /// The viewer overlay.
    Viewer,
    /// The payload library overlay.
    Library,
    /// The one-line prompt.
    Prompt,
    /// A yes/no question.
    Confirm,
    /// The fork dialog.
    ForkDialog,
    /// The help overlay.
    Help,
}

/// What a key bound nowhere in a place does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbound {
    /// Nothing (the status line may say so).
    Nothing,
    /// It is typed ([`Action::Text`]).
    Text,
    /// It closes the overlay (help).
    Closes,
}

impl Place {
    /// Every place, for checks over the whole keymap.
    pub const ALL: [Place; 14] = [
        Place::Snapshots,
        Place::Markers,
        Place::Editor,
        Place::Typing,
        Place::SessionList,
        Place::SessionDetail,
        Place::ForkList,
        Place::ForkDetail,
        Place::Viewer,
        Place::Library,
        Place::Prompt,
        Place::Confirm,
        Place::ForkDialog,
        Place::Help,
    ];

    /// The scopes whose keys work here, most specific first.
    pub fn scopes(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Place::Snapshots => &[Snapshots, Main, Global],
            Place::Markers => &[Markers, Main, Global],
            Place::Editor => &[Editor, Main, Global],
            Place::Typing => &[Editing],
            Place::SessionList | Place::SessionDetail => &[Sessions, Global],
            Place::ForkList | Place::ForkDetail => &[Forks, Global],
            Place::Viewer => &[LogView],
            Place::Library => &[Library],
            Place::Prompt => &[Filter],
            Place::Confirm => &[Dialog],
            Place::ForkDialog => &[ForkDialog],
            Place::Help => &[Help],
        }
    }

    /// What a key bound nowhere here does.
    pub fn unbound(self) -> Unbound {
        match self {
            Place::Typing | Place::Prompt | Place::ForkDialog => Unbound::Text,
            Place::Help => Unbound::Closes,
            _ => Unbound::Nothing,
        }
    }

    /// The place of a pane (not typing).
    pub fn of_pane(pane: Pane) -> Place {
        match pane {
            Pane::Snapshots => Place::Snapshots,
            Pane::Markers => Place::Markers,
            Pane::Editor => Place::Editor,
            Pane::SessionList => Place::SessionList,
            Pane::SessionDetail => Place::SessionDetail,
            Pane::ForkList => Place::ForkList,
            Pane::ForkDetail => Place::ForkDetail,
        }
    }
}

/// The short label of a binding in the hint bar (the help overlay and the
/// docs keep the full description).
pub fn hint_label(b: &Binding) -> &'static str {
    match b.action {
        Action::StartFilter if b.scope == Scope::LogView => "search",
        Action::ToggleInclude if b.scope == Scope::ForkDialog => "toggle",
        Action::Confirm if b.scope == Scope::ForkDialog => "fork",
        Action::Confirm if b.scope == Scope::Library => "load",
        Action::Cancel if b.scope == Scope::LogView || b.scope == Scope::Library => "close",
        Action::Copy if b.scope == Scope::LogView => "copy all",
        Action::ToggleHelp if b.scope == Scope::Global => "help",
        Action::NextPane => "pane",
        Action::Fork => "fork",
        Action::StartFilter => "filter",
        Action::OpenPath => "open file",
        Action::ToggleInclude => "include",
        Action::StartEdit => "edit",
        Action::ExternalEditor => "$EDITOR",
        Action::ToggleAck => "ack",
        Action::RevealTokens => "tokens",
        Action::Pretty => "pretty",
        Action::Copy => "copy",
        Action::Replay => "replay",
        Action::OpenLog => "log",
        Action::OpenDetail => "open",
        Action::Messages => "messages",
        Action::Library => "library",
        Action::Zoom => "full screen",
        Action::ToggleWrap => "wrap",
        Action::Pager => "$PAGER",
        Action::NextField => "next field",
        Action::SavePreset => "save preset",
        Action::DeletePreset => "delete",
        Action::LoadFile => "load file",
        Action::SaveFile => "write file",
        Action::FilterCancel => "cancel",
        Action::CancelSession => "cancel (rolls back)",
        Action::DismissSession => "dismiss",
        Action::Inspect => "inspect",
        Action::StopFork => "stop",
        Action::RemoveFork => "remove",
        Action::ToggleMark => "mark",
        Action::MarkAllVisible => "mark all",
        Action::ToggleExpand => "expand",
        Action::RunCheck => "check",
        _ => b.desc.split(':').next().unwrap_or(b.desc),
    }
}

/// Where a binding goes in the hint bar: `?` first, then what the focused
/// pane is for (include, fork, edit…), then the rest, `q` and `tab` last
/// as everyone knows them. The bar drops what does not fit from the end.
pub(crate) fn hint_rank(b: &Binding) -> u8 {
    match (b.scope, b.action) {
        (Scope::Global, Action::ToggleHelp) => 0,
        (Scope::Global, Action::Quit) => 2,
        (Scope::Global, _) => 3,
        (Scope::Main, _) => 2,
        (_, Action::ToggleInclude) => 1,
        (_, Action::RevealTokens) => 3,
        _ => 1,
    }
}

#[cfg(test)]
mod tests;
