//! The full-screen guest log viewer: every line the guest printed (the
//! last 16 MiB of it), scrollable, searchable, with wrapping on or off, and
//! handed to `$PAGER` on request. It follows new lines while at the bottom.

use std::path::PathBuf;

use super::app::{Action, App, Exit, Level, Mode, Screen};
use crate::sanitize::safe_owned;
use crate::store::GUEST_LOG;

/// The most of a log the viewer reads (its end).
pub const MAX_LOG_BYTES: u64 = 16 << 20;

/// The viewer's state.
#[derive(Debug, Clone)]
pub struct LogViewer {
    /// What the log belongs to (the title).
    pub title: String,
    /// The log file.
    pub path: PathBuf,
    /// Its lines, sanitized for the terminal.
    pub lines: Vec<String>,
    /// Bytes before the part read, when the file is larger than the limit.
    pub skipped: u64,
    /// First line shown.
    pub scroll: usize,
    /// Columns scrolled right (wrapping off).
    pub hscroll: usize,
    /// Wrap long lines.
    pub wrap: bool,
    /// Stay at the bottom as lines arrive.
    pub follow: bool,
    /// Search text (case-insensitive).
    pub search: String,
    /// Lines matching the search.
    pub matches: Vec<usize>,
    /// The current match (index into `matches`).
    pub current: usize,
    /// The file's length when last read.
    len: u64,
    /// Lines a page holds (from the last draw's terminal size).
    pub page: usize,
}

impl LogViewer {
    /// A viewer on `path`, at its end.
    pub fn open(title: String, path: PathBuf, page: usize) -> LogViewer {
        let mut v = LogViewer {
            title,
            path,
            lines: Vec::new(),
            skipped: 0,
            scroll: 0,
            hscroll: 0,
            wrap: true,
            follow: true,
            search: String::new(),
            matches: Vec::new(),
            current: 0,
            len: u64::MAX,
            page: page.max(1),
        };
        v.reload();
        v
    }

    /// Read the file again if it changed. Returns whether it did.
    pub fn reload(&mut self) -> bool {
        let len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if len == self.len {
            return false;
        }
        self.len = len;
        let text = crate::files::tail_text(&self.path, MAX_LOG_BYTES);
        self.skipped = len.saturating_sub(MAX_LOG_BYTES);
        // Guest-written: never let its control characters reach the terminal.
        self.lines = text.lines().map(safe_owned).collect();
        if self.skipped > 0 && !self.lines.is_empty() {
            self.lines.remove(0); // the first line read is cut
        }
        self.find_matches();
        if self.follow {
            self.scroll = self.max_scroll();
        }
        self.scroll = self.scroll.min(self.max_scroll());
        true
    }

    fn max_scroll(&self) -> usize {
        self.lines.len().saturating_sub(self.page)
    }

    /// Set the search text and jump to the first match at or below the view.
    pub fn set_search(&mut self, text: String) {
        self.search = text;
        self.find_matches();
        self.current = self
            .matches
            .iter()
            .position(|&l| l >= self.scroll)
            .unwrap_or(0);
        self.show_current();
    }

    fn find_matches(&mut self) {
        let needle = self.search.to_lowercase();
        self.matches = if needle.is_empty() {
            Vec::new()
        } else {
            self.lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.to_lowercase().contains(&needle))
                .map(|(i, _)| i)
                .collect()
        };
        self.current = self.current.min(self.matches.len().saturating_sub(1));
    }

    fn show_current(&mut self) {
        if let Some(&line) = self.matches.get(self.current) {
            self.follow = false;
            if line < self.scroll || line >= self.scroll + self.page {
                self.scroll = line.saturating_sub(self.page / 3).min(self.max_scroll());
            }
        }
    }

    /// Scroll or search.
    pub fn act(&mut self, action: Action) {
        let max = self.max_scroll();
        match action {
            Action::Down => self.scroll = (self.scroll + 1).min(max),
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::PageDown => self.scroll = (self.scroll + self.page).min(max),
            Action::PageUp => self.scroll = self.scroll.saturating_sub(self.page),
            Action::Top => self.scroll = 0,
            Action::Bottom => self.scroll = max,
            Action::NextField if !self.wrap => self.hscroll += 8,
            Action::PrevField => self.hscroll = self.hscroll.saturating_sub(8),
            Action::ToggleWrap => {
                self.wrap = !self.wrap;
                self.hscroll = 0;
            }
            Action::NextMatch | Action::PrevMatch if !self.matches.is_empty() => {
                let n = self.matches.len();
                self.current = if action == Action::NextMatch {
                    (self.current + 1) % n
                } else {
                    (self.current + n - 1) % n
                };
                let line = self.matches[self.current];
                self.scroll = line.saturating_sub(self.page / 3).min(max);
            }
            _ => {}
        }
        self.follow = self.scroll >= max;
    }
}

impl App {
    /// Open the viewer on the selected session's or fork's guest log.
    pub fn open_log(&mut self) {
        // Enter on a fan-out's row expands or folds it.
        if self.screen == Screen::Sessions
            && matches!(
                self.selected_row(),
                Some(super::fanout::SessionRow::Group(_))
            )
        {
            self.toggle_expand();
            return;
        }
        let target = match self.screen {
            Screen::Sessions => match self.selected_session() {
                Some(s) => s
                    .log_path
                    .clone()
                    .map(|p| (format!("guest log · {}", s.fork), p)),
                None => return,
            },
            Screen::Forks => self.forks.selected().map(|r| {
                (
                    format!("guest log · {}", r.info.name),
                    r.info.dir.join(GUEST_LOG),
                )
            }),
            Screen::Main => None,
        };
        let Some((title, path)) = target else {
            self.say(
                "no guest log: the session never made its fork directory",
                Level::Info,
            );
            return;
        };
        let page = self.area.height.saturating_sub(5) as usize;
        self.log_view = Some(LogViewer::open(title, path, page));
        self.mode = Mode::LogView;
    }

    /// Keys in the log viewer.
    pub fn log_action(&mut self, action: Action) {
        match action {
            Action::Cancel => {
                self.log_view = None;
                self.mode = Mode::Normal;
            }
            Action::StartFilter => self.start_filter(),
            Action::Pager => {
                if let Some(v) = &self.log_view {
                    self.exit = Some(Exit::Pager(v.path.clone()));
                }
            }
            a => {
                let page = self.area.height.saturating_sub(5) as usize;
                if let Some(v) = self.log_view.as_mut() {
                    v.page = page.max(1);
                    v.act(a);
                }
            }
        }
    }

    /// `$PAGER` returned.
    pub fn pager_returned(&mut self, outcome: Result<(), String>) {
        self.dirty = true;
        if let Err(e) = outcome {
            self.say(e, Level::Error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(lines: usize) -> (tempfile::TempDir, LogViewer) {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join(GUEST_LOG);
        let text: String = (0..lines).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, text).expect("write log");
        let v = LogViewer::open("t".into(), p, 10);
        (d, v)
    }

    #[test]
    fn the_viewer_opens_at_the_end_and_follows_new_lines() {
        let (_d, mut v) = viewer(100);
        assert_eq!(v.lines.len(), 100);
        assert_eq!(v.scroll, 90);
        std::fs::write(&v.path, "a\n".repeat(120)).expect("grow");
        assert!(v.reload());
        assert_eq!(v.scroll, 110, "still at the bottom");
        v.act(Action::Top);
        assert!(!v.follow);
    }

    #[test]
    fn search_jumps_between_matches_and_wraps_around() {
        let (_d, mut v) = viewer(100);
        v.act(Action::Top);
        v.set_search("LINE 5".into());
        assert_eq!(v.matches, vec![5, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59]);
        v.act(Action::PrevMatch);
        assert_eq!(v.matches[v.current], 59);
        v.act(Action::NextMatch);
        assert_eq!(v.matches[v.current], 5);
        assert_eq!(v.scroll, 2);
    }

    #[test]
    fn control_characters_never_reach_the_screen() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join(GUEST_LOG);
        std::fs::write(&p, "ok\n\x1b]0;title\x07x\n").expect("write");
        let v = LogViewer::open("t".into(), p, 10);
        assert!(v.lines.iter().all(|l| !l.chars().any(char::is_control)));
    }
}
