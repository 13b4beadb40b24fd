//! The one-line prompt in the status line: the filter of a list (it
//! applies as typed), the viewer's search, a preset name, a file path
//! (Tab completes it, as a shell does). Its text goes to whoever opened it
//! as [`Prompted`] effects.

use std::path::Path;

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::tui::action::{Action, Level};
use crate::tui::component::Component;
use crate::tui::effect::{Effect, PromptKind, PromptState, Prompted};
use crate::tui::keymap::Place;
use crate::tui::shared::Shared;

/// The longest text a prompt takes.
const MAX_TEXT: usize = 4096;

/// The prompt being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// What it is for.
    pub kind: PromptKind,
    /// The text so far.
    pub text: String,
}

impl Prompt {
    /// A prompt for `kind` starting with `text`.
    pub fn new(kind: PromptKind, text: String) -> Prompt {
        Prompt { kind, text }
    }

    fn tell(&self, state: PromptState, cx: &mut Shared) {
        cx.emit(Effect::Prompted(Prompted {
            kind: self.kind,
            text: self.text.clone(),
            state,
        }));
    }

    /// Type `c`.
    fn push(&mut self, c: char, cx: &mut Shared) {
        if self.text.chars().count() < MAX_TEXT {
            self.text.push(c);
        }
        self.tell(PromptState::Typing, cx);
    }

    /// Tab: complete the path typed so far (a unique match whole, else as
    /// far as the matches agree; the matches are said).
    fn complete(&mut self, cx: &mut Shared) {
        if !self.kind.is_path() {
            return;
        }
        let (done, matches) = complete_path(&self.text);
        if matches.len() > 1 {
            let shown: Vec<&str> = matches.iter().take(8).map(String::as_str).collect();
            let more = matches.len().saturating_sub(shown.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            cx.say(
                format!("{} matches: {}{more}", matches.len(), shown.join("  ")),
                Level::Info,
            );
        } else if matches.is_empty() {
            cx.say("no file matches", Level::Info);
        }
        self.text = done;
        self.tell(PromptState::Typing, cx);
    }
}

/// Complete `typed` as a path: the text completed as far as the entries of
/// its directory that start with its last part agree, and those entries'
/// names (a directory's with `/`).
pub fn complete_path(typed: &str) -> (String, Vec<String>) {
    let (dir_text, prefix) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let dir = if dir_text.is_empty() {
        Path::new(".").to_path_buf()
    } else {
        crate::tui::edge::typed_path(dir_text)
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    if !name.starts_with(prefix)
                        || (name.starts_with('.') && !prefix.starts_with('.'))
                    {
                        return None;
                    }
                    let is_dir = e.path().is_dir();
                    Some(if is_dir { format!("{name}/") } else { name })
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let common = match names.split_first() {
        None => prefix.to_string(),
        Some((first, rest)) => rest.iter().fold(first.clone(), |common, n| {
            let len = common
                .chars()
                .zip(n.chars())
                .take_while(|(a, b)| a == b)
                .count();
            common.chars().take(len).collect()
        }),
    };
    (format!("{dir_text}{common}"), names)
}

impl Component for Prompt {
    fn place(&self) -> Place {
        Place::Prompt
    }

    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool {
        match action {
            Action::FilterDone => self.tell(PromptState::Done, cx),
            Action::FilterCancel => self.tell(PromptState::Cancelled, cx),
            Action::Complete => self.complete(cx),
            Action::Text(key) => match key.code {
                KeyCode::Char(c) => self.push(c, cx),
                KeyCode::Backspace => {
                    self.text.pop();
                    self.tell(PromptState::Typing, cx);
                }
                _ => return false,
            },
            _ => return false,
        }
        true
    }

    /// Drawn by the status line (see [`crate::tui::widget::status`]).
    fn draw(&self, _f: &mut Frame, _area: Rect, _cx: &Shared) {}

    fn paste(&mut self, text: &str, cx: &mut Shared) -> bool {
        // One line: a pasted newline ends nothing, it is dropped.
        for c in text.chars().filter(|c| !c.is_control()) {
            if self.text.chars().count() < MAX_TEXT {
                self.text.push(c);
            }
        }
        self.tell(PromptState::Typing, cx);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Item 11: a path prompt completes with Tab.
    #[test]
    fn tab_completes_a_path_as_far_as_the_files_agree() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("payload-eu.json"), "{}").expect("write");
        std::fs::write(d.path().join("payload-us.json"), "{}").expect("write");
        std::fs::create_dir(d.path().join("snapdir")).expect("mkdir");
        let base = format!("{}/", d.path().display());
        let (done, m) = complete_path(&format!("{base}pay"));
        assert_eq!(done, format!("{base}payload-"));
        assert_eq!(m, ["payload-eu.json", "payload-us.json"]);
        let (done, m) = complete_path(&format!("{base}sn"));
        assert_eq!(done, format!("{base}snapdir/"));
        assert_eq!(m.len(), 1);
        let (done, m) = complete_path(&format!("{base}zz"));
        assert_eq!(done, format!("{base}zz"));
        assert!(m.is_empty());
    }
}
