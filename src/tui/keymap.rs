//! The one keymap table. It drives key handling, the hint bar and the `?`
//! help overlay, so what the help shows is what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{Action, Mode, Pane, Screen};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The name filter prompt.
    Filter,
    /// The prompt for a memory file's path.
    PathPrompt,
    /// Yes/no confirmation dialogs.
    Dialog,
    /// The fork dialog (typing the fork name).
    ForkDialog,
    /// The help overlay.
    Help,
}

impl Scope {
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
            Scope::Filter => "Filter prompt",
            Scope::PathPrompt => "Open-a-file prompt",
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

/// Every key binding of the TUI.
pub const KEYMAP: &[Binding] = &[
    b(&["?"], A::ToggleHelp, S::Global, "help", true),
    b(&["q"], A::Quit, S::Global, "quit", true),
    b(&["ctrl-c"], A::Quit, S::Global, "quit", false),
    b(&["tab"], A::NextPane, S::Global, "next pane", true),
    b(&["backtab"], A::PrevPane, S::Global, "previous pane", false),
    b(
        &["1"],
        A::Show(Screen::Main),
        S::Global,
        "snapshots screen",
        false,
    ),
    b(
        &["2"],
        A::Show(Screen::Sessions),
        S::Global,
        "sessions screen",
        false,
    ),
    b(
        &["3"],
        A::Show(Screen::Forks),
        S::Global,
        "forks screen",
        false,
    ),
    b(&["j", "down"], A::Down, S::Global, "move down", false),
    b(&["k", "up"], A::Up, S::Global, "move up", false),
    b(&["g", "home"], A::Top, S::Global, "first row", false),
    b(&["G", "end"], A::Bottom, S::Global, "last row", false),
    b(
        &["ctrl-d", "pagedown"],
        A::PageDown,
        S::Global,
        "page down",
        false,
    ),
    b(
        &["ctrl-u", "pageup"],
        A::PageUp,
        S::Global,
        "page up",
        false,
    ),
    b(&["f"], A::Fork, S::Main, "fork the selected snapshot", true),
    b(&["/"], A::StartFilter, S::Snapshots, "filter by name", true),
    b(
        &["C"],
        A::RunCheck,
        S::Main,
        "check: run the guest conformance suite",
        false,
    ),
    b(&["r"], A::Rescan, S::Main, "rescan memory", false),
    b(
        &["o"],
        A::OpenPath,
        S::Snapshots,
        "open a memory file by path (read-only: raw, .zst, .lz4)",
        true,
    ),
    b(
        &["enter", "l", "right"],
        A::NextPane,
        S::Snapshots,
        "show markers",
        false,
    ),
    // Markers pane, most used first (the hint bar keeps this order).
    b(
        &["space", "x"],
        A::ToggleInclude,
        S::Markers,
        "include mailbox in fork",
        true,
    ),
    b(
        &["enter", "i"],
        A::StartEdit,
        S::Markers,
        "edit payload",
        true,
    ),
    b(
        &["e"],
        A::ExternalEditor,
        S::Markers,
        "open in $EDITOR",
        true,
    ),
    b(
        &["a"],
        A::ToggleAck,
        S::Markers,
        "wait for ack on / off",
        true,
    ),
    b(
        &["+", "="],
        A::TimeoutUp,
        S::Markers,
        "ack timeout +1 s",
        false,
    ),
    b(
        &["-"],
        A::TimeoutDown,
        S::Markers,
        "ack timeout -1 s",
        false,
    ),
    b(
        &["t"],
        A::RevealTokens,
        S::Markers,
        "reveal / mask tokens",
        true,
    ),
    b(
        &["i", "enter"],
        A::StartEdit,
        S::Editor,
        "edit payload",
        true,
    ),
    b(&["p"], A::Pretty, S::Editor, "pretty-print", true),
    b(&["c"], A::Compact, S::Editor, "compact", true),
    b(
        &["e"],
        A::ExternalEditor,
        S::Editor,
        "open in $EDITOR",
        true,
    ),
    b(
        &["space", "x"],
        A::ToggleInclude,
        S::Editor,
        "include mailbox in fork",
        false,
    ),
    b(
        &["a"],
        A::ToggleAck,
        S::Editor,
        "wait for ack on / off",
        false,
    ),
    b(
        &["+", "="],
        A::TimeoutUp,
        S::Editor,
        "ack timeout +1 s",
        false,
    ),
    b(&["-"], A::TimeoutDown, S::Editor, "ack timeout -1 s", false),
    b(
        &["esc"],
        A::StopEdit,
        S::Editing,
        "stop typing (draft saved)",
        true,
    ),
    b(&["ctrl-p"], A::Pretty, S::Editing, "pretty-print", true),
    b(&["ctrl-o"], A::Compact, S::Editing, "compact", true),
    b(
        &["ctrl-e"],
        A::ExternalEditor,
        S::Editing,
        "open in $EDITOR",
        true,
    ),
    danger(
        &["x"],
        A::CancelSession,
        S::Sessions,
        "cancel session (rolls back)",
    ),
    b(
        &["d"],
        A::DismissSession,
        S::Sessions,
        "dismiss finished session",
        true,
    ),
    b(
        &["enter", "space"],
        A::ToggleExpand,
        S::Sessions,
        "expand / fold a fan-out's forks",
        true,
    ),
    b(
        &["enter", "i"],
        A::Inspect,
        S::Forks,
        "inspect memory: mailboxes consumed?",
        true,
    ),
    b(
        &["space"],
        A::ToggleMark,
        S::Forks,
        "mark / unmark fork",
        true,
    ),
    b(
        &["v"],
        A::MarkAllVisible,
        S::Forks,
        "mark all visible forks",
        true,
    ),
    b(
        &["/"],
        A::StartFilter,
        S::Forks,
        "filter forks by name",
        true,
    ),
    danger(&["s"], A::StopFork, S::Forks, "stop fork (the marked ones)"),
    danger(
        &["d", "delete"],
        A::RemoveFork,
        S::Forks,
        "remove fork (the marked ones)",
    ),
    b(&["r"], A::Refresh, S::Forks, "refresh", false),
    b(&["enter"], A::FilterDone, S::Filter, "keep filter", true),
    b(&["esc"], A::FilterCancel, S::Filter, "clear filter", true),
    b(
        &["enter"],
        A::Confirm,
        S::PathPrompt,
        "open it and scan its markers",
        true,
    ),
    b(&["esc"], A::Cancel, S::PathPrompt, "cancel", true),
    b(&["y", "enter"], A::Confirm, S::Dialog, "confirm", true),
    b(&["n", "esc"], A::Cancel, S::Dialog, "cancel", true),
    b(
        &["enter"],
        A::Confirm,
        S::ForkDialog,
        "start the fork (or fan-out)",
        true,
    ),
    b(
        &["tab"],
        A::NextField,
        S::ForkDialog,
        "next field: name, count, parallelism",
        true,
    ),
    b(
        &["backtab"],
        A::PrevField,
        S::ForkDialog,
        "previous field",
        false,
    ),
    b(&["esc"], A::Cancel, S::ForkDialog, "cancel", true),
    b(
        &["?", "esc", "q"],
        A::ToggleHelp,
        S::Help,
        "close help",
        true,
    ),
    b(&["j", "down"], A::Down, S::Help, "scroll down", false),
    b(&["k", "up"], A::Up, S::Help, "scroll up", false),
    b(&["g", "home"], A::Top, S::Help, "top", false),
    b(&["G", "end"], A::Bottom, S::Help, "bottom", false),
    b(
        &["ctrl-d", "pagedown"],
        A::PageDown,
        S::Help,
        "page down",
        false,
    ),
    b(&["ctrl-u", "pageup"], A::PageUp, S::Help, "page up", false),
];

/// Scopes in the order the help overlay and the docs list them.
pub const SCOPE_ORDER: [Scope; 13] = [
    Scope::Global,
    Scope::Main,
    Scope::Snapshots,
    Scope::Markers,
    Scope::Editor,
    Scope::Editing,
    Scope::Sessions,
    Scope::Forks,
    Scope::Filter,
    Scope::PathPrompt,
    Scope::ForkDialog,
    Scope::Dialog,
    Scope::Help,
];

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

/// Parse a key name of the table into a code and modifiers.
pub fn parse_key(name: &str) -> Option<(KeyCode, KeyModifiers)> {
    let (mods, rest) = match name.strip_prefix("ctrl-") {
        Some(r) => (KeyModifiers::CONTROL, r),
        None => (KeyModifiers::NONE, name),
    };
    let code = match rest {
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        "enter" => KeyCode::Enter,
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "delete" => KeyCode::Delete,
        "space" => KeyCode::Char(' '),
        s => {
            let mut chars = s.chars();
            let c = chars.next()?;
            if chars.next().is_some() {
                return None;
            }
            KeyCode::Char(c)
        }
    };
    Some((code, mods))
}

/// Whether `key` is the key named `name`.
pub fn matches(name: &str, key: &KeyEvent) -> bool {
    let Some((code, mods)) = parse_key(name) else {
        return false;
    };
    // Shift is implied by the character itself ('G', '?', '+').
    let key_mods = key.modifiers - KeyModifiers::SHIFT;
    let want = mods - KeyModifiers::SHIFT;
    code == key.code && key_mods == want
}

/// Display form of a key name (`ctrl-c` → `^c`, `down` → `↓`).
pub fn display_key(name: &str) -> String {
    match name {
        "up" => "↑".into(),
        "down" => "↓".into(),
        "left" => "←".into(),
        "right" => "→".into(),
        "backtab" => "S-tab".into(),
        "pagedown" => "PgDn".into(),
        "pageup" => "PgUp".into(),
        other => match other.strip_prefix("ctrl-") {
            Some(k) => format!("^{k}"),
            None => other.into(),
        },
    }
}

/// The scopes active for a mode and focus, most specific first.
pub fn scopes(mode: Mode, screen: Screen, pane: Pane) -> Vec<Scope> {
    match mode {
        Mode::Help => vec![Scope::Help],
        Mode::Filter => vec![Scope::Filter],
        Mode::OpenPath => vec![Scope::PathPrompt],
        Mode::Confirm => vec![Scope::Dialog],
        Mode::ForkName => vec![Scope::ForkDialog],
        Mode::Editing => vec![Scope::Editing],
        Mode::Normal => {
            let mut v = Vec::new();
            match screen {
                Screen::Main => {
                    v.push(match pane {
                        Pane::Markers => Scope::Markers,
                        Pane::Editor => Scope::Editor,
                        _ => Scope::Snapshots,
                    });
                    v.push(Scope::Main);
                }
                Screen::Sessions => v.push(Scope::Sessions),
                Screen::Forks => v.push(Scope::Forks),
            }
            v.push(Scope::Global);
            v
        }
    }
}

/// Map a key to an action: a pure function of mode, focus and key.
/// Typing modes turn unbound keys into text input.
pub fn map_key(mode: Mode, screen: Screen, pane: Pane, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if matches("ctrl-c", &key) {
        return Some(Action::Quit);
    }
    for scope in scopes(mode, screen, pane) {
        for bind in KEYMAP.iter().filter(|b| b.scope == scope) {
            if bind.keys.iter().any(|k| matches(k, &key)) {
                return Some(bind.action);
            }
        }
    }
    match mode {
        Mode::Editing | Mode::Filter | Mode::ForkName | Mode::OpenPath => Some(Action::Text(key)),
        Mode::Confirm => None,
        Mode::Help => Some(Action::ToggleHelp),
        Mode::Normal => None,
    }
}

/// The short label of a binding in the hint bar (the help overlay and the
/// docs keep the full description).
pub fn hint_label(b: &Binding) -> &'static str {
    match b.action {
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
        Action::CancelSession => "cancel (rolls back)",
        Action::DismissSession => "dismiss",
        Action::Inspect => "inspect",
        Action::StopFork => "stop",
        Action::RemoveFork => "remove",
        Action::ToggleMark => "mark",
        Action::MarkAllVisible => "mark all",
        Action::ToggleExpand => "expand",
        Action::RunCheck => "check",
        Action::NextField => "next field",
        _ => b.desc.split(':').next().unwrap_or(b.desc),
    }
}

/// Where a binding goes in the hint bar: `?` first, then what the focused
/// pane is for (include, fork, edit…), then the rest, `q` and `tab` last
/// as everyone knows them. The bar drops what does not fit from the end.
fn hint_rank(b: &Binding) -> u8 {
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

/// Bindings shown in the hint bar for a mode and focus, most important
/// first; `?` always leads.
pub fn hints(mode: Mode, screen: Screen, pane: Pane) -> Vec<&'static Binding> {
    let mut v: Vec<&'static Binding> = scopes(mode, screen, pane)
        .into_iter()
        .flat_map(|s| KEYMAP.iter().filter(move |b| b.scope == s && b.hint))
        .collect();
    // Fork comes right after include: the two keys the markers pane is for.
    v.sort_by_key(|b| match (b.scope, b.action) {
        (Scope::Main, Action::Fork) => (1, 1),
        (_, Action::ToggleInclude) => (1, 0),
        _ => (hint_rank(b), 2),
    });
    v
}

#[cfg(test)]
#[path = "keymap_tests.rs"]
mod tests;
