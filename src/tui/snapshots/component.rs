//! The snapshots screen as a component: its keys (the focused pane's
//! section of the keymap, or typing), what they do, the mouse, and where
//! each pane is drawn.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use super::{SnapshotsScreen, exclusion, payload};
use crate::tui::action::{Action, Level, Pane};
use crate::tui::component::Component;
use crate::tui::effect::{Effect, Open, PromptKind};
use crate::tui::keymap::Place;
use crate::tui::shared::Shared;
use crate::tui::text::u16_of;

impl SnapshotsScreen {
    /// Where each pane is drawn in `body` (mouse hits too).
    pub fn pane_areas(&self, body: Rect) -> Vec<(Pane, Rect)> {
        if self.payload.zoomed() {
            return vec![(Pane::Editor, body)];
        }
        let snaps = u16_of(self.list.catalog.rows().len());
        let most = (body.height * 2 / 5).max(5);
        let snap_h = (snaps + 3).clamp(5, most);
        let markers = self
            .markers
            .wanted_height(self.report().map(|r| r.as_ref()));
        let marker_h = markers.clamp(5, (body.height * 2 / 5).max(5));
        let [a, b, c] = Layout::vertical([
            Constraint::Length(snap_h),
            Constraint::Length(marker_h),
            Constraint::Min(5),
        ])
        .areas(body);
        vec![(Pane::Snapshots, a), (Pane::Markers, b), (Pane::Editor, c)]
    }

    /// A click on `pane` (drawn in `rect`) at screen row `y`: focus it and
    /// select the row under the pointer.
    pub fn click(&mut self, pane: Pane, rect: Rect, y: u16, cx: &mut Shared) {
        self.focus_on(pane, cx);
        let (len, sel) = match pane {
            Pane::Snapshots => (self.list.catalog.rows().len(), self.list.catalog.sel),
            Pane::Markers => {
                let report = self.report().map(|r| r.as_ref());
                (self.markers.visible(report).len(), self.markers.sel)
            }
            _ => return,
        };
        let Some(row) = crate::tui::widget::row_at(rect, y, 1, len, sel) else {
            return;
        };
        let moved = match pane {
            Pane::Snapshots => self.list.select(row),
            _ => {
                let report = self.report().cloned();
                self.markers.select(row, report.as_deref())
            }
        };
        if moved {
            self.payload.save(&mut self.drafts, cx);
            self.selection_changed(cx);
        }
    }

    /// The wheel over `pane`: scroll it (the editor's cursor moves a line).
    pub fn wheel(&mut self, pane: Pane, down: bool, cx: &mut Shared) {
        let action = if down { Action::Down } else { Action::Up };
        let keep = self.focus;
        self.focus = pane;
        self.move_sel(action, cx);
        if pane == Pane::Editor {
            self.focus = keep;
        }
    }
}

impl Component for SnapshotsScreen {
    fn place(&self) -> Place {
        if self.payload.typing() {
            Place::Typing
        } else {
            Place::of_pane(self.focus)
        }
    }

    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool {
        if self.payload.typing() && self.payload.typing_action(action, &mut self.drafts, cx) {
            return true;
        }
        match action {
            Action::NextPane | Action::PrevPane | Action::Right | Action::Left | Action::Back => {
                self.move_focus(action, cx)
            }
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => self.move_sel(action, cx),
            Action::Fork => self.open_fork_dialog(cx),
            Action::StartFilter => match self.focus {
                Pane::Editor => cx.say("the payload editor has no filter", Level::Info),
                pane => {
                    let text = self.filter().unwrap_or_default().to_string();
                    cx.emit(Effect::Open(Open::Prompt {
                        kind: PromptKind::Filter(pane),
                        text,
                    }));
                }
            },
            Action::OpenPath => cx.emit(Effect::Open(Open::Prompt {
                kind: PromptKind::OpenFile,
                text: String::new(),
            })),
            Action::Rescan => {
                self.list.catalog.forget_selected(cx);
                self.selection_changed(cx);
                cx.say("scanning again", Level::Info);
            }
            Action::RevealTokens => self.markers.toggle_reveal(cx),
            Action::ToggleInclude | Action::ToggleAck | Action::TimeoutUp | Action::TimeoutDown => {
                self.toggle(action, cx)
            }
            Action::StartEdit => self.start_edit(cx),
            Action::Pretty | Action::Compact => {
                self.payload
                    .reformat(action == Action::Pretty, &mut self.drafts, cx)
            }
            Action::ExternalEditor => self.payload.external_editor(&mut self.drafts, cx),
            Action::Zoom => {
                if self.payload.toggle_zoom(cx) {
                    self.focus = Pane::Editor;
                }
            }
            Action::Library => match self.payload.editor() {
                Some(ed) => {
                    let (mailbox, payload) = (ed.mailbox.clone(), ed.text());
                    self.payload.save(&mut self.drafts, cx);
                    cx.emit(Effect::Open(Open::Library { mailbox, payload }));
                }
                None => cx.say(
                    "select a fork mailbox in the markers pane first",
                    Level::Info,
                ),
            },
            Action::Copy => match self.copy_target() {
                Some((text, what)) => cx.copy(text, what),
                None => cx.say("nothing selected to copy", Level::Info),
            },
            Action::RunCheck => match self.list.catalog.selected() {
                Some(s) => cx.emit(Effect::RunCheck(s.name.clone())),
                None => cx.say("select a snapshot of the store to check", Level::Info),
            },
            _ => return false,
        }
        true
    }

    fn draw(&self, f: &mut Frame, body: Rect, cx: &Shared) {
        let excluded = self.payload.editor().and_then(|ed| {
            self.list
                .catalog
                .cached(&ed.snapshot)
                .and_then(|r| exclusion::exclusion(r, &ed.mailbox))
        });
        for (pane, rect) in self.pane_areas(body) {
            let focused = pane == self.focus;
            match pane {
                Pane::Snapshots => self.list.draw(f, rect, cx, focused),
                Pane::Markers => {
                    self.markers
                        .draw(f, rect, cx, focused, &self.list.catalog, &self.drafts)
                }
                _ => self.payload.draw(
                    f,
                    rect,
                    cx,
                    focused,
                    &payload::Around {
                        drafts: &self.drafts,
                        excluded: excluded.as_ref(),
                        empty: &self.no_payload_note(),
                    },
                ),
            }
        }
    }

    fn applies(&self, action: Action) -> bool {
        let editor = self.payload.editor().is_some();
        match action {
            Action::StartEdit if self.focus == Pane::Snapshots => {
                self.list.catalog.selected().is_some()
            }
            Action::StartEdit
            | Action::Pretty
            | Action::Compact
            | Action::ExternalEditor
            | Action::Library
            | Action::ToggleInclude
            | Action::ToggleAck => editor,
            Action::RevealTokens => self.report().is_some_and(|r| !r.markers.is_empty()),
            Action::Fork => self.list.catalog.selected().is_some(),
            Action::StartFilter => self.focus != Pane::Editor,
            Action::Copy => self.copy_target().is_some(),
            Action::NextPane => !self.payload.zoomed(),
            _ => true,
        }
    }

    fn paste(&mut self, text: &str, cx: &mut Shared) -> bool {
        if self.payload.editor().is_none() {
            cx.say(
                "nothing takes a paste here: select a fork mailbox, then paste into its payload",
                Level::Info,
            );
            return true;
        }
        self.focus = Pane::Editor;
        self.payload.paste(text, &mut self.drafts, cx)
    }
}
