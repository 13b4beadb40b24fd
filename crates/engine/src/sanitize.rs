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
}
