//! Moving around: selections in every list (through its filter), the mouse
//! (a click selects a row or switches a tab, the wheel scrolls lists, help
//! and logs), and what `y` copies.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::app::{Action, App, Level, Mode, Pane};
use super::fanout::SessionRow;
use super::session::SessionView;
use crate::scan::Marker;

/// Whether `name` passes `filter` (case-insensitive substring; empty passes).
pub fn passes(filter: &str, names: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    names.iter().any(|n| n.to_lowercase().contains(&f))
}

/// Natural order of names: `fan-2` before `fan-10`.
pub fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    alphanumeric_sort::compare_str(a, b)
}

impl App {
    /// Indices (into the scan report) of the markers the filter lets through.
    pub fn visible_markers(&self) -> Vec<usize> {
        let Some(r) = self.markers() else {
            return Vec::new();
        };
        r.markers
            .iter()
            .enumerate()
            .filter(|(_, m)| passes(&self.filters.markers, &[m.name.as_deref().unwrap_or("")]))
            .map(|(i, _)| i)
            .collect()
    }

    /// The selected marker.
    pub fn selected_marker(&self) -> Option<&Marker> {
        let i = *self.visible_markers().get(self.marker_sel)?;
        self.markers()?.markers.get(i)
    }

    /// The selected session, to change it.
    pub fn selected_session_mut(&mut self) -> Option<&mut SessionView> {
        match self.selected_row()? {
            SessionRow::Single(i) | SessionRow::Member(i) => self.sessions.get_mut(i),
            _ => None,
        }
    }

    /// Select the session with UI id `id` (clearing a filter that hides it).
    pub fn select_session_id(&mut self, id: u64) {
        let find = |app: &App| {
            app.session_rows().iter().position(|r| match r {
                SessionRow::Single(i) | SessionRow::Member(i) => app.sessions[*i].id == id,
                _ => false,
            })
        };
        if find(self).is_none() {
            self.filters.sessions.clear();
        }
        if let Some(p) = find(self) {
            self.session_sel = p;
        }
    }

    /// Move the selection of the focused pane.
    pub fn move_sel(&mut self, action: Action) {
        let step = |sel: usize, len: usize, page: usize| -> usize {
            if len == 0 {
                return 0;
            }
            match action {
                Action::Up => sel.saturating_sub(1),
                Action::Down => (sel + 1).min(len - 1),
                Action::Top => 0,
                Action::Bottom => len - 1,
                Action::PageUp => sel.saturating_sub(page),
                Action::PageDown => (sel + page).min(len - 1),
                _ => sel,
            }
        };
        match self.focus {
            Pane::Snapshots => {
                let len = self.catalog.rows().len();
                let new = step(self.catalog.sel, len, 10);
                self.select_snapshot_row(new);
            }
            Pane::Markers => {
                let len = self.visible_markers().len();
                let new = step(self.marker_sel, len, 10);
                self.select_marker_row(new);
            }
            Pane::Editor => {
                if let Some(ed) = self.editor.as_mut() {
                    use ratatui_textarea::CursorMove;
                    let page = self.area.height.saturating_sub(8).max(1);
                    match action {
                        Action::Up => ed.textarea.move_cursor(CursorMove::Up),
                        Action::Down => ed.textarea.move_cursor(CursorMove::Down),
                        Action::Top => ed.textarea.move_cursor(CursorMove::Top),
                        Action::Bottom => ed.textarea.move_cursor(CursorMove::Bottom),
                        Action::PageUp => {
                            for _ in 0..page {
                                ed.textarea.move_cursor(CursorMove::Up);
                            }
                        }
                        Action::PageDown => {
                            for _ in 0..page {
                                ed.textarea.move_cursor(CursorMove::Down);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Pane::SessionList => {
                let len = self.session_rows().len();
                self.session_sel = step(self.session_sel, len, 10);
            }
            Pane::SessionDetail => {
                if let Some(s) = self.selected_session_mut() {
                    s.scroll = match action {
                        Action::Up => s.scroll.saturating_sub(1),
                        Action::Down => s.scroll.saturating_add(1),
                        Action::PageUp => s.scroll.saturating_sub(10),
                        Action::PageDown => s.scroll.saturating_add(10),
                        Action::Top => 0,
                        _ => s.scroll,
                    };
                }
            }
            Pane::ForkList | Pane::ForkDetail => {
                let len = self.forks.visible().len();
                self.forks.sel = step(self.forks.sel, len, 10);
            }
        }
    }

    fn select_snapshot_row(&mut self, row: usize) {
        if row != self.catalog.sel {
            self.save_current_draft();
            self.catalog.sel = row;
            self.marker_sel = 0;
            self.selection_changed();
        }
    }

    fn select_marker_row(&mut self, row: usize) {
        if row != self.marker_sel {
            self.save_current_draft();
            self.marker_sel = row;
            self.sync_editor();
        }
    }

    /// Handle a mouse event: a click selects the row under it (or switches
    /// to a tab), the wheel scrolls what is under it.
    pub fn on_mouse(&mut self, m: MouseEvent) {
        let pos = Position::new(m.column, m.row);
        let down = matches!(m.kind, MouseEventKind::ScrollDown);
        let wheel = matches!(
            m.kind,
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp
        );
        let click = matches!(m.kind, MouseEventKind::Down(MouseButton::Left));
        match self.mode {
            Mode::Help if wheel => {
                self.scroll_help(if down { Action::Down } else { Action::Up });
                self.dirty = true;
                return;
            }
            Mode::LogView if wheel => {
                self.log_action(if down { Action::Down } else { Action::Up });
                self.dirty = true;
                return;
            }
            Mode::Normal => {}
            _ => return,
        }
        if click && let Some(screen) = super::widget::tabs::hit(self, m.column, m.row) {
            self.show(screen);
            self.dirty = true;
            return;
        }
        let hit = super::view::pane_areas(self, self.area)
            .into_iter()
            .find(|(_, r)| r.contains(pos));
        let Some((pane, rect)) = hit else { return };
        self.dirty = true;
        if click {
            self.focus = pane;
            if let Some(row) = self.row_at(pane, rect, m.row) {
                match pane {
                    Pane::Snapshots => self.select_snapshot_row(row),
                    Pane::Markers => self.select_marker_row(row),
                    Pane::SessionList => self.session_sel = row,
                    Pane::ForkList => self.forks.sel = row,
                    _ => {}
                }
            }
        } else if wheel {
            let prev = self.focus;
            self.focus = pane;
            self.update(if down { Action::Down } else { Action::Up });
            if pane == Pane::Editor {
                self.focus = prev;
            }
        }
    }

    /// The list row drawn at screen row `y` of `pane` (drawn in `rect`), as
    /// ratatui scrolls a list to keep its selection in view.
    fn row_at(&self, pane: Pane, rect: Rect, y: u16) -> Option<usize> {
        // Tables have a header row under the border; the session list has none.
        let (header, len, sel) = match pane {
            Pane::Snapshots => (1, self.catalog.rows().len(), self.catalog.sel),
            Pane::Markers => (1, self.visible_markers().len(), self.marker_sel),
            Pane::SessionList => (0, self.session_rows().len(), self.session_sel),
            Pane::ForkList => (1, self.forks.visible().len(), self.forks.sel),
            _ => return None,
        };
        let top = rect.y + 1 + header;
        let height = rect.height.saturating_sub(2 + header) as usize;
        if y < top || height == 0 {
            return None;
        }
        let offset = sel.saturating_sub(height - 1);
        let row = offset + (y - top) as usize;
        (row < len).then_some(row)
    }

    /// What `y` would copy, and what it is.
    pub fn copy_target(&self) -> Option<(String, &'static str)> {
        match self.focus {
            Pane::Snapshots => self
                .catalog
                .selected()
                .map(|s| (s.memory_path().display().to_string(), "memory file path")),
            Pane::Markers => self.selected_marker().map(|m| (m.token.clone(), "token")),
            Pane::Editor => self.editor.as_ref().map(|e| (e.text(), "payload")),
            Pane::SessionList | Pane::SessionDetail => self
                .selected_session()
                .map(|s| (s.fork.clone(), "fork name")),
            Pane::ForkList | Pane::ForkDetail => self
                .forks
                .selected()
                .map(|r| (r.info.name.clone(), "fork name")),
        }
    }

    /// `y`: copy the selection to the clipboard through the terminal (OSC
    /// 52, so it works over SSH and in tmux).
    pub fn copy_selected(&mut self) {
        let Some((text, what)) = self.copy_target() else {
            self.say("nothing selected to copy", Level::Info);
            return;
        };
        // No control character reaches the clipboard (a paste runs it).
        let clip = if what == "payload" {
            crate::sanitize::clipboard_json(&text)
        } else {
            crate::sanitize::clipboard_text(&text)
        };
        self.say(clip.note(what), Level::Ok);
        self.copied = Some(clip.text);
    }
}

/// The OSC 52 sequence that puts `text` on the terminal's clipboard.
pub fn osc52(text: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\x1b]52;c;{b64}\x07")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_naturally() {
        let mut v = vec!["fan-10", "fan-2", "fan-1", "alpha"];
        v.sort_by(|a, b| natural(a, b));
        assert_eq!(v, ["alpha", "fan-1", "fan-2", "fan-10"]);
    }

    #[test]
    fn osc52_carries_base64() {
        assert_eq!(osc52("hi"), "\x1b]52;c;aGk=\x07");
    }

    #[test]
    fn filters_are_case_insensitive_substrings() {
        assert!(passes("", &["x"]));
        assert!(passes("WE", &["web"]));
        assert!(!passes("zz", &["web", "edge"]));
    }
}
