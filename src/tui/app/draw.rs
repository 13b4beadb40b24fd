//! The frame: the tab line, the shown screen's panes, the status line (the
//! prompt when one is open), the hint bar (what applies where keys go
//! now), and the overlays on top, bottom first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::App;
use crate::tui::action::Screen;
use crate::tui::component::Component;
use crate::tui::overlay::Overlay;
use crate::tui::widget::{chrome, hints, status, tabs};

/// The smallest terminal the TUI draws in (columns, rows).
pub const MIN_SIZE: (u16, u16) = (60, 16);

/// Whether `area` is too small to draw the TUI in.
pub fn too_small(area: Rect) -> bool {
    area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1
}

impl App {
    /// The tab labels, with their counts (the same the panes' titles say).
    pub(super) fn tab_labels(&self) -> [(Screen, String); 3] {
        [
            (
                Screen::Main,
                format!("1 Snapshots ({})", self.snapshots.catalog().total()),
            ),
            (Screen::Sessions, self.sessions.tab()),
            (Screen::Forks, self.forks.tab()),
        ]
    }

    /// Draw the whole screen.
    pub fn draw(&mut self, f: &mut Frame) {
        let area = f.area();
        self.shared.set_area(area);
        let t = *self.shared.theme();
        if too_small(area) {
            let (w, h) = MIN_SIZE;
            let text = format!(
                "terminal too small (need {w}×{h}, have {}×{}): make it larger, or q quits",
                area.width, area.height
            );
            f.render_widget(
                Paragraph::new(Line::styled(text, t.warn())).wrap(Wrap { trim: true }),
                area,
            );
            return;
        }
        let c = chrome(area);
        tabs::draw(f, c.tabs, &t, &self.tab_labels(), self.screen);
        self.screen_component().draw(f, c.body, &self.shared);
        let prompt = self.overlays.iter().rev().find_map(|o| match o {
            Overlay::Prompt(p) => Some(p),
            _ => None,
        });
        let filter = match self.screen {
            Screen::Main => self.snapshots.filter(),
            Screen::Sessions => self.sessions.filter(),
            Screen::Forks => self.forks.filter(),
        };
        status::draw(f, c.status, &self.shared, prompt, filter, &self.watch_note);
        let top: &dyn Component = match self.overlays.last() {
            Some(o) => o,
            None => self.screen_component(),
        };
        hints::draw(f, c.hints, &self.shared, top);
        for o in &self.overlays {
            if !matches!(o, Overlay::Prompt(_)) {
                o.draw(f, area, &self.shared);
            }
        }
        self.dirty = false;
    }
}
