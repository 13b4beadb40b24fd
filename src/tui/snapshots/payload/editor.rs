//! The editor of one mailbox's payload: the text area, the contract's
//! verdict on the text as typed (or, for a fan-out template, on the text
//! the first fork would get), the mailbox's JSON Schema, and an undo that
//! takes back a word or an edit at a time (not a character).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::{CursorMove, TextArea};

use super::schema::{Schema, SchemaError};
use crate::fanout::template::{Vars, expand, has_placeholders};
use crate::mailbox::{PayloadCheck, check_payload};

/// Undo steps kept.
const UNDO_DEPTH: usize = 200;

/// The text and cursor at one point of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    lines: Vec<String>,
    cursor: (usize, usize),
}

/// What a key did, for grouping edits into undo steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    /// A word character typed.
    Word,
    /// Anything else typed (space, punctuation, a newline).
    Other,
    /// Text deleted.
    Delete,
}

/// The editor of one mailbox's payload.
pub struct Editor {
    /// Snapshot name.
    pub snapshot: String,
    /// Mailbox name.
    pub mailbox: String,
    textarea: TextArea<'static>,
    /// The contract's verdict on the text (expanded, for a template).
    pub validation: PayloadCheck,
    /// The text holds fan-out placeholders (`{{i}}`): it is checked as the
    /// first fork would get it; `Err` when one is unknown.
    pub template: Option<Result<(), String>>,
    /// The mailbox's JSON Schema (`<store>/schemas/<mailbox>.json`), or
    /// why it cannot be used; `None` without one.
    pub schema: Option<Result<Schema, String>>,
    /// What the schema says of the current text.
    pub schema_errors: Vec<SchemaError>,
    /// The text as last loaded or saved (saving is skipped when unchanged).
    pub saved_text: String,
    undo: Vec<Snapshot>,
    redo: Vec<Snapshot>,
    /// The last edit, while a group continues (`None`: the next edit
    /// starts a new undo step).
    last: Option<Edit>,
}

/// A text area holding `text`, its cursor where typing makes sense.
fn text_area(lines: Vec<String>) -> TextArea<'static> {
    let mut ta = TextArea::new(lines);
    ta.set_tab_length(2);
    // The editor keeps its own history (edits grouped by word).
    ta.set_max_histories(0);
    ta
}

/// An empty object puts the cursor between its braces, so typing
/// `"mtu":9000` gives `{"mtu":9000}`; other text starts at its top.
fn place_cursor(ta: &mut TextArea<'static>) {
    let lines = ta.lines();
    if lines.len() == 1 && lines[0].trim() == "{}" {
        let col = lines[0].find('{').unwrap_or(0) + 1;
        ta.move_cursor(CursorMove::Jump(0, u16::try_from(col).unwrap_or(u16::MAX)));
    } else {
        ta.move_cursor(CursorMove::Top);
        ta.move_cursor(CursorMove::Head);
    }
}

fn lines_of(text: &str) -> Vec<String> {
    text.split('\n').map(String::from).collect()
}

/// Carriage returns as a terminal pastes them (CR, CRLF) become newlines.
pub fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

impl Editor {
    /// The editor of (`snapshot`, `mailbox`) holding `payload`.
    pub fn new(
        snapshot: &str,
        mailbox: &str,
        payload: &str,
        wait_for_ack: bool,
        schema: Option<Result<Schema, String>>,
    ) -> Editor {
        let mut textarea = text_area(lines_of(payload));
        place_cursor(&mut textarea);
        let mut ed = Editor {
            snapshot: snapshot.into(),
            mailbox: mailbox.into(),
            textarea,
            validation: check_payload(payload, wait_for_ack),
            template: None,
            schema,
            schema_errors: Vec::new(),
            saved_text: payload.to_string(),
            undo: Vec::new(),
            redo: Vec::new(),
            last: None,
        };
        ed.check(wait_for_ack);
        ed
    }

    /// The text.
    pub fn text(&self) -> String {
        self.textarea.lines().join("\n")
    }

    /// The text area (to draw it).
    pub fn textarea(&self) -> &TextArea<'static> {
        &self.textarea
    }

    /// Check the text again: the contract's rules (on the first fork's
    /// expansion when it is a template), then the schema.
    pub fn check(&mut self, wait_for_ack: bool) {
        let text = self.text();
        // `{{i}}`, `{{fork}}`, `{{uuid}}`; an unknown `{{word}}` is an error.
        let expanded = text
            .contains("{{")
            .then(|| expand(&text, &Vars::new(0, "fork-0")));
        let checked = match expanded {
            Some(Ok(e)) if has_placeholders(&text) => {
                self.template = Some(Ok(()));
                e
            }
            Some(Err(e)) => {
                self.template = Some(Err(e.to_string()));
                text
            }
            _ => {
                self.template = None;
                text
            }
        };
        self.validation = check_payload(&checked, wait_for_ack);
        self.schema_errors = match &self.schema {
            Some(Ok(s)) if self.validation.problem.is_none() => s.check(&checked),
            _ => Vec::new(),
        };
    }

    fn snapshot(&self) -> Snapshot {
        let c = self.textarea.cursor();
        Snapshot {
            lines: self.textarea.lines().to_vec(),
            cursor: (c.0, c.1),
        }
    }

    fn restore(&mut self, s: Snapshot) {
        self.textarea = text_area(s.lines);
        let (r, c) = s.cursor;
        self.textarea.move_cursor(CursorMove::Jump(
            u16::try_from(r).unwrap_or(u16::MAX),
            u16::try_from(c).unwrap_or(u16::MAX),
        ));
    }

    /// Start an undo step holding the text as it is now.
    fn push_undo(&mut self) {
        let s = self.snapshot();
        if self.undo.last() != Some(&s) {
            self.undo.push(s);
            if self.undo.len() > UNDO_DEPTH {
                self.undo.remove(0);
            }
        }
        self.redo.clear();
    }

    /// A key typed. Returns whether the text changed. Punctuation after a
    /// word, deleting after typing, or moving the cursor starts a new undo
    /// step.
    pub fn input(&mut self, key: KeyEvent) -> bool {
        let edit = match key.code {
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                if c.is_alphanumeric() || c == '_' {
                    Some(Edit::Word)
                } else {
                    Some(Edit::Other)
                }
            }
            KeyCode::Enter | KeyCode::Tab => Some(Edit::Other),
            KeyCode::Backspace | KeyCode::Delete => Some(Edit::Delete),
            _ => None,
        };
        let Some(edit) = edit else {
            // Moving (or a key of the text area's own, like ^e): the next
            // edit is a step of its own.
            let before = self.snapshot();
            let changed = self.textarea.input(key);
            if changed {
                self.undo.push(before);
            }
            self.last = None;
            return changed;
        };
        // A step is the punctuation or spaces typed and the word after
        // them (`": "postgres`); a word ends one. Deleting is its own step.
        let continues = matches!(
            (self.last, edit),
            (Some(Edit::Word), Edit::Word)
                | (Some(Edit::Other), Edit::Word | Edit::Other)
                | (Some(Edit::Delete), Edit::Delete)
        );
        if !continues {
            self.push_undo();
        }
        let changed = self.textarea.input(key);
        self.last = Some(edit);
        changed
    }

    /// Insert `text` at the cursor as one undo step (a paste).
    pub fn insert(&mut self, text: &str) {
        self.push_undo();
        self.textarea.insert_str(normalize_newlines(text));
        self.last = None;
    }

    /// Replace the whole text as one undo step (reformat, the library,
    /// `$EDITOR`).
    pub fn set_text(&mut self, text: &str) {
        self.push_undo();
        self.textarea = text_area(lines_of(text));
        place_cursor(&mut self.textarea);
        self.last = None;
    }

    /// Take back the last step. Returns whether there was one.
    pub fn undo(&mut self) -> bool {
        let Some(prev) = self.undo.pop() else {
            return false;
        };
        self.redo.push(self.snapshot());
        self.restore(prev);
        self.last = None;
        true
    }

    /// Do again the last step taken back. Returns whether there was one.
    pub fn redo(&mut self) -> bool {
        let Some(next) = self.redo.pop() else {
            return false;
        };
        self.undo.push(self.snapshot());
        self.restore(next);
        self.last = None;
        true
    }

    /// Move the cursor (paging, the wheel).
    pub fn move_cursor(&mut self, m: CursorMove) {
        self.textarea.move_cursor(m);
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(ed: &mut Editor, text: &str) {
        for c in text.chars() {
            let code = if c == '\n' {
                KeyCode::Enter
            } else {
                KeyCode::Char(c)
            };
            ed.input(KeyEvent::new(code, KeyModifiers::NONE));
        }
    }

    /// Item 10: undo takes back a word, then the next, not a character.
    #[test]
    fn undo_takes_back_a_word_at_a_time() {
        let mut ed = Editor::new("s", "m", "{}", false, None);
        typed(&mut ed, "\"db\": \"postgres\"");
        assert_eq!(ed.text(), "{\"db\": \"postgres\"}");
        assert!(ed.undo());
        assert_eq!(ed.text(), "{\"db\": \"postgres}");
        assert!(ed.undo());
        assert_eq!(ed.text(), "{\"db}");
        assert!(ed.redo());
        assert_eq!(ed.text(), "{\"db\": \"postgres}");
        // Deleting is a step of its own.
        ed.input(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
        ed.input(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
        assert_eq!(ed.text(), "{\"db\": \"postgr}");
        assert!(ed.undo());
        assert_eq!(ed.text(), "{\"db\": \"postgres}");
    }

    /// Item 10: a pasted CR or CRLF is a newline, and a paste is one step.
    #[test]
    fn a_paste_with_carriage_returns_keeps_its_lines() {
        let mut ed = Editor::new("s", "m", "{}", false, None);
        ed.insert("\"a\": 1,\r\n\"b\": 2,\r\"c\": 3");
        assert_eq!(ed.text(), "{\"a\": 1,\n\"b\": 2,\n\"c\": 3}");
        assert!(ed.undo());
        assert_eq!(ed.text(), "{}");
    }

    /// Item 6: a fan-out template is valid after expansion, and checked so.
    #[test]
    fn a_template_is_checked_as_the_first_fork_gets_it() {
        let ed = Editor::new(
            "s",
            "m",
            r#"{"replica":{{i}},"fork":"{{fork}}"}"#,
            true,
            None,
        );
        assert_eq!(ed.template, Some(Ok(())));
        assert!(ed.validation.problem.is_none(), "{:?}", ed.validation);
        let ed = Editor::new("s", "m", r#"{"x":{{nope}}}"#, true, None);
        assert!(matches!(&ed.template, Some(Err(e)) if e.contains("unknown placeholder")));
        assert!(ed.validation.problem.is_some());
    }
}
