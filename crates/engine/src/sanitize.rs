//! Guest- and file-controlled text on its way to the terminal, for both
//! renderers: the TUI replaces (layout stays right), the CLI escapes (a QA
//! engineer sees exactly which bytes were there).
//!
//! Mailbox names, tokens, problems, engine details and `guest.log` lines
//! come from guest memory or from files a guest wrote. ratatui already drops
//! control characters while rendering, but dropping them silently hides
//! that something was there, and a layout computed on the raw string is
//! off. Every such string goes through [`safe`] before it is kept for
//! drawing: control characters (C0, DEL, C1 — ESC among them) and the
//! invisible bidi overrides become a visible `�`, tabs become a space.

use std::borrow::Cow;

/// Replacement for a character that must not reach the terminal.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Whether `c` must not reach a terminal as is: control characters and the
/// invisible bidi controls that reorder what is shown.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200E}' | '\u{200F}'            // LRM, RLM
            | '\u{202A}'..='\u{202E}'          // embeddings and overrides
            | '\u{2066}'..='\u{2069}'          // isolates
        )
}

/// `s` with every control character replaced by `�` (tab by a space).
pub fn safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\t' => ' ',
                c if is_unsafe(c) => REPLACEMENT,
                c => c,
            })
            .collect(),
    )
}

/// [`safe`] into an owned `String`.
pub fn safe_owned(s: &str) -> String {
    safe(s).into_owned()
}

/// `s` with every unsafe character escaped (`\u{1b}`), for tables on stdout.
pub fn escaped(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text on its way to the clipboard (the TUI's `y`, through OSC 52), and
/// how many characters were escaped on the way.
///
/// What is pasted into a shell without bracketed paste runs there: a
/// guest's token `tok ESC]0;PWN BEL \n rm -rf ~ \n` would retitle the
/// terminal and run a command. So no control character (nor a bidi
/// control) reaches the clipboard: each is copied escaped, as the CLI shows
/// it (`\u{1b}`), and the caller says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipboardText {
    /// What to copy: no unsafe character left.
    pub text: String,
    /// Characters escaped (0: copied as it is).
    pub escaped: usize,
}

impl ClipboardText {
    /// What to add to "copied": nothing, or how many characters were
    /// escaped.
    pub fn note(&self) -> String {
        match self.escaped {
            0 => String::new(),
            n => format!(", {n} control character(s) escaped as shown (\\u{{…}})"),
        }
    }
}

/// `s` for the clipboard: every unsafe character escaped (`\u{1b}`), tabs
/// and newlines included (a newline runs a pasted line).
pub fn clipboard_text(s: &str) -> ClipboardText {
    let escaped = s.chars().filter(|c| is_unsafe(*c)).count();
    ClipboardText {
        text: self::escaped(s).into_owned(),
        escaped,
    }
}

/// A JSON payload for the clipboard: the same JSON value, on one line.
/// Raw control characters can only be whitespace between JSON tokens (a
/// string cannot hold one), so newlines, carriage returns and tabs become
/// spaces; anything else unsafe (a bidi control inside a string) becomes
/// its JSON escape (`\u202e`), the same character to a JSON parser. Text
/// that is not JSON stays free of control characters all the same.
pub fn clipboard_json(s: &str) -> ClipboardText {
    let mut escaped = 0;
    let mut text = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => text.push(' '),
            c if is_unsafe(c) => {
                escaped += 1;
                for u in c.encode_utf16(&mut [0; 2]) {
                    text.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => text.push(c),
        }
    }
    ClipboardText { text, escaped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(safe("mailbox=app.config ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn escapes_and_controls_become_visible_replacements() {
        let evil = "a\x1b]0;pwned\x07b\x1b[2Jc\rd\u{9b}e\u{7f}f\u{202e}g\th";
        let out = safe(evil);
        assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
        assert_eq!(out, "a�]0;pwned�b�[2Jc�d�e�f�g h");
    }

    #[test]
    fn escaped_shows_which_bytes_were_there() {
        assert!(matches!(escaped("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escaped("a\x1b]0;x\x07\u{202e}b"),
            "a\\u{1b}]0;x\\u{7}\\u{202e}b"
        );
    }

    #[test]
    fn the_clipboard_never_gets_a_control_character() {
        let token = "tok\x1b]0;PWN\x07\nrm -rf ~\n";
        let c = clipboard_text(token);
        assert!(!c.text.chars().any(is_unsafe), "{:?}", c.text);
        assert_eq!(c.text, "tok\\u{1b}]0;PWN\\u{7}\\nrm -rf ~\\n");
        assert_eq!(c.escaped, 4);
        assert!(c.note().contains("4 control character(s) escaped"));
        let plain = clipboard_text("a1a1-web.config");
        assert_eq!((plain.text.as_str(), plain.escaped), ("a1a1-web.config", 0));
        assert_eq!(plain.note(), "");
    }

    #[test]
    fn a_json_payload_is_copied_as_the_same_json_on_one_line() {
        let payload = "{\n\t\"a\": \"x\u{202e}y\",\r\n  \"b\": [1,\n2]\n}";
        let c = clipboard_json(payload);
        assert!(!c.text.chars().any(is_unsafe), "{:?}", c.text);
        let before: serde_json::Value = serde_json::from_str(payload).unwrap();
        let after: serde_json::Value = serde_json::from_str(&c.text).unwrap();
        assert_eq!(before, after);
        assert_eq!(c.escaped, 1, "the newlines are whitespace, not escapes");
        // Not JSON: still nothing unsafe.
        let c = clipboard_json("x\x1b[2J\x07");
        assert!(!c.text.chars().any(is_unsafe), "{:?}", c.text);
    }
}
