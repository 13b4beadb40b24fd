//! Key names as the table and config files write them (`"k"`, `"ctrl-u"`,
//! `"pagedown"`, a chord `"ctrl-x ctrl-e"`), how they match a key event,
//! and how people see them (`^u`, `PgDn`, `^x ^e`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Parse one key name (no chord) into a code and modifiers.
fn parse_one(name: &str) -> Option<(KeyCode, KeyModifiers)> {
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

/// Parse a key name of the table: one key, or a chord of two separated by
/// a space (`"ctrl-x ctrl-e"`). Returns the keys in order.
pub fn parse_key(name: &str) -> Option<Vec<(KeyCode, KeyModifiers)>> {
    let parts: Vec<&str> = name.split(' ').collect();
    if parts.is_empty() || parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    parts.into_iter().map(parse_one).collect()
}

fn same(want: (KeyCode, KeyModifiers), key: &KeyEvent) -> bool {
    // Shift is implied by the character itself ('G', '?', '+').
    let key_mods = key.modifiers - KeyModifiers::SHIFT;
    want.0 == key.code && key_mods == want.1 - KeyModifiers::SHIFT
}

/// Whether `key` is the (one-key) key named `name`.
pub fn matches(name: &str, key: &KeyEvent) -> bool {
    matches!(parse_key(name).as_deref(), Some([one]) if same(*one, key))
}

/// Whether `name` is a chord whose first key is `key`.
pub fn starts_chord(name: &str, key: &KeyEvent) -> bool {
    matches!(parse_key(name).as_deref(), Some([first, _]) if same(*first, key))
}

/// Whether `name` is the chord `first` then `key`.
pub fn ends_chord(name: &str, first: &KeyEvent, key: &KeyEvent) -> bool {
    matches!(parse_key(name).as_deref(), Some([a, b]) if same(*a, first) && same(*b, key))
}

/// Display form of a key name (`ctrl-c` → `^c`, `down` → `↓`, a chord
/// `ctrl-x ctrl-e` → `^x ^e`).
pub fn display_key(name: &str) -> String {
    name.split(' ')
        .map(display_one)
        .collect::<Vec<_>>()
        .join(" ")
}

fn display_one(name: &str) -> String {
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
