//! The full-screen viewer: lines given (a session's detail, a check's
//! evidence, the message log) and a file after them (a guest log: the last
//! 16 MiB of it, followed as it grows while at the bottom) — scrollable,
//! searchable (the match itself is marked), wrapped or not, copied whole
//! with `y`, handed to `$PAGER` with `o`.

mod view;

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::sanitize::safe_owned;
use crate::tui::action::{Action, Exit, Level};
use crate::tui::component::Component;
use crate::tui::effect::{Effect, Open, PromptKind, ViewerSeed};
use crate::tui::keymap::Place;
use crate::tui::shared::Shared;

/// The most of a file the viewer reads (its end).
pub const MAX_LOG_BYTES: u64 = 16 << 20;

/// The viewer's state.
#[derive(Debug)]
pub struct Viewer {
    /// What it shows (the title).
    pub title: String,
    head: Vec<String>,
    /// The file shown after the lines given, if any.
    pub path: Option<PathBuf>,
    file_lines: Vec<String>,
    /// Bytes of the file before the part read, when it is larger than the limit.
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
    len: u64,
    /// Lines a page holds (from the terminal's size).
    pub page: usize,
    /// Closed (the app drops it).
    pub closed: bool,
    paged: Option<tempfile::NamedTempFile>,
}

impl Viewer {
    /// A viewer on `seed`, its page `page` lines.
    pub fn open(seed: ViewerSeed, page: usize) -> Viewer {
        let mut v = Viewer {
            title: seed.title,
            head: seed.head.iter().map(|l| safe_owned(l)).collect(),
            path: seed.file,
            file_lines: Vec::new(),
            skipped: 0,
            scroll: 0,
            hscroll: 0,
            wrap: true,
            follow: seed.at_end,
            search: String::new(),
            matches: Vec::new(),
            current: 0,
            len: u64::MAX,
            page: page.max(1),
            closed: false,
            paged: None,
        };
        v.reload();
        if !seed.at_end {
            v.scroll = 0;
        }
        v
    }

    /// Every line shown, in order.
    pub fn line(&self, i: usize) -> &str {
        if i < self.head.len() {
            &self.head[i]
        } else {
            &self.file_lines[i - self.head.len()]
        }
    }

    /// Lines in all.
    pub fn total(&self) -> usize {
        self.head.len() + self.file_lines.len()
    }

    /// Read the file again if it changed. Returns whether it did.
    pub fn reload(&mut self) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len == self.len {
            return false;
        }
        self.len = len;
        let text = crate::files::tail_text(path, MAX_LOG_BYTES);
        self.skipped = len.saturating_sub(MAX_LOG_BYTES);
        // Guest-written: never let its control characters reach the terminal.
        self.file_lines = text.lines().map(safe_owned).collect();
        if self.skipped > 0 && !self.file_lines.is_empty() {
            self.file_lines.remove(0); // the first line read is cut
        }
        self.find_matches();
        if self.follow {
            self.scroll = self.max_scroll();
        }
        self.scroll = self.scroll.min(self.max_scroll());
        true
    }

    fn max_scroll(&self) -> usize {
        self.total().saturating_sub(self.page)
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
            (0..self.total())
                .filter(|i| self.line(*i).to_lowercase().contains(&needle))
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

    /// The whole text.
    pub fn text(&self) -> String {
        (0..self.total())
            .map(|i| self.line(i))
            .collect::<Vec<_>>()
            .join("\n")
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
        self.follow = self.path.is_some() && self.scroll >= max;
    }

    /// `o`: the file (or, without one, the text) in `$PAGER`.
    fn pager(&mut self, cx: &mut Shared) {
        let path = match &self.path {
            Some(p) => p.clone(),
            None => {
                let written = tempfile::Builder::new()
                    .prefix("forkmail-view-")
                    .tempfile()
                    .and_then(|mut f| {
                        std::io::Write::write_all(&mut f, self.text().as_bytes())?;
                        Ok(f)
                    });
                match written {
                    Ok(f) => {
                        let p = f.path().to_path_buf();
                        self.paged = Some(f);
                        p
                    }
                    Err(e) => {
                        cx.say(format!("cannot hand the text to $PAGER: {e}"), Level::Error);
                        return;
                    }
                }
            }
        };
        cx.emit(Effect::Exit(Exit::Pager(path)));
    }
}

impl Component for Viewer {
    fn place(&self) -> Place {
        Place::Viewer
    }

    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool {
        self.page = usize::from(cx.area().height.saturating_sub(5)).max(1);
        match action {
            Action::Cancel => self.closed = true,
            Action::StartFilter => cx.emit(Effect::Open(Open::Prompt {
                kind: PromptKind::Search,
                text: self.search.clone(),
            })),
            Action::Pager => self.pager(cx),
            Action::Copy => {
                let n = self.total();
                cx.copy(self.text(), &format!("{n} line(s)"));
            }
            Action::ToggleHelp => cx.emit(Effect::Open(Open::Help(Place::Viewer))),
            a => self.act(a),
        }
        true
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Shared) {
        let body = crate::tui::widget::chrome(area).body;
        view::draw(f, body, cx, self);
    }
}
