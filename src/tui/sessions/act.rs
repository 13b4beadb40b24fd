//! The sessions screen's keys: moving through the list, scrolling the
//! detail, opening it in the viewer, cancel and dismiss (each asks first,
//! saying what goes), replay, expand, filter, copy — and the mouse.

use ratatui::layout::Rect;

use super::detail::plain;
use super::detail_group::{check_evidence, check_report};
use super::{ORDER, SessionRow, SessionsScreen};
use crate::history;
use crate::tui::action::{Action, Level, Pane};
use crate::tui::effect::{Command, Effect, Open, PromptKind, Question, ViewerSeed};
use crate::tui::shared::Shared;
use crate::tui::text::step;

impl SessionsScreen {
    /// Handle an action; returns whether it was this screen's.
    pub(super) fn act(&mut self, action: Action, cx: &mut Shared) -> bool {
        match action {
            Action::NextPane | Action::PrevPane | Action::Right | Action::Left => {
                let i = ORDER.iter().position(|p| *p == self.focus()).unwrap_or(0);
                let j = match action {
                    Action::NextPane | Action::PrevPane => 1 - i,
                    Action::Right => 1,
                    _ => 0,
                };
                self.focus = Some(ORDER[j]);
            }
            Action::Back => {
                if self.focus() == Pane::SessionDetail {
                    self.focus = Some(Pane::SessionList);
                } else if !self.model.filter.is_empty() {
                    self.model.filter.clear();
                    cx.say("filter cleared", Level::Info);
                }
            }
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => self.move_or_scroll(action, cx),
            Action::CancelSession => self.ask_cancel(cx),
            Action::DismissSession => self.ask_dismiss(cx),
            Action::Replay => match self
                .selected_session()
                .and_then(|s| s.request.clone().map(|h| (h, s.fork.clone())))
            {
                Some((h, fork)) => cx.emit(Effect::Replay {
                    header: Box::new(h),
                    fork,
                }),
                None => cx.say(
                    "this session cannot be replayed (nothing was recorded of it)",
                    Level::Info,
                ),
            },
            Action::OpenDetail => self.open_detail(cx),
            Action::ToggleExpand => self.toggle_expand(),
            Action::StartFilter => cx.emit(Effect::Open(Open::Prompt {
                kind: PromptKind::Filter(Pane::SessionList),
                text: self.model.filter.clone(),
            })),
            Action::Copy => self.copy(cx),
            _ => return false,
        }
        true
    }

    /// The detail pane's height now (from the terminal's size).
    fn detail_height(&self, cx: &Shared) -> (u16, usize) {
        let body = crate::tui::widget::chrome(cx.area()).body;
        let rect = self
            .pane_areas(body)
            .into_iter()
            .find(|(p, _)| *p == Pane::SessionDetail)
            .map(|(_, r)| r)
            .unwrap_or_default();
        (
            rect.width.saturating_sub(2),
            usize::from(rect.height.saturating_sub(2)),
        )
    }

    fn move_or_scroll(&mut self, action: Action, cx: &Shared) {
        if self.focus() == Pane::SessionList {
            let len = self.model.rows().len();
            let new = step(action, self.sel, len, 10);
            self.set_sel(new);
            return;
        }
        if let Some(SessionRow::Check(ci)) = self.selected_row() {
            let n = self.model.checks[ci].rows.len();
            self.check_sel = step(action, self.check_sel, n, 5);
            return;
        }
        let (width, height) = self.detail_height(cx);
        let lines = self.detail(cx, width, false).1.len();
        let max = lines.saturating_sub(height);
        let page = height.max(1);
        let s = self.scroll.min(max);
        self.scroll = match action {
            Action::Up => s.saturating_sub(1),
            Action::Down => s + 1,
            Action::PageUp => s.saturating_sub(page),
            Action::PageDown => s + page,
            Action::Top => 0,
            Action::Bottom => max,
            _ => s,
        }
        .min(max);
    }

    /// Ask before cancelling the selected session (a fan-out: all of its
    /// forks); a check is cancelled at once (it makes nothing to keep).
    fn ask_cancel(&mut self, cx: &mut Shared) {
        let Some(row) = self.selected_row() else {
            cx.say("no running session selected", Level::Info);
            return;
        };
        if let SessionRow::Check(ci) = row {
            let c = &self.model.checks[ci];
            if c.outcome.is_none() {
                c.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                cx.say("cancelling the check…", Level::Info);
            }
            return;
        }
        let ids: Vec<u64> = self
            .model
            .row_sessions(row)
            .into_iter()
            .filter(|id| self.model.by_id(*id).is_some_and(|s| s.is_running()))
            .collect();
        if ids.is_empty() {
            cx.say("no running session selected", Level::Info);
            return;
        }
        let what = match row {
            SessionRow::Group(gi) => format!(
                "Cancel fan-out {}? Its {} running fork(s) roll back; forks made stay unless the fan-out removes them.",
                self.model.fanouts[gi].base,
                ids.len()
            ),
            _ => "Cancel this fork session? It rolls back.".to_string(),
        };
        cx.emit(Effect::Open(Open::Confirm(Question {
            title: "Cancel".into(),
            lines: vec![what],
            yes: "cancel it".into(),
            no: "let it run".into(),
            then: Command::CancelSessions(ids),
        })));
    }

    /// Ask before forgetting the selected finished session (a fan-out: all
    /// of its forks' histories).
    fn ask_dismiss(&mut self, cx: &mut Shared) {
        let Some(row) = self.selected_row() else {
            cx.say("no session selected", Level::Info);
            return;
        };
        if let SessionRow::Check(ci) = row {
            if self.model.checks[ci].outcome.is_some() {
                self.model.checks.remove(ci);
                self.sel = self.sel.min(self.model.rows().len().saturating_sub(1));
                cx.say("check dismissed (it kept no history)", Level::Info);
            }
            return;
        }
        if self.model.row_running(row) {
            cx.say(
                "a running session cannot be dismissed (x cancels it)",
                Level::Info,
            );
            return;
        }
        if matches!(row, SessionRow::Member(_)) {
            cx.say(
                "a fan-out's fork goes with its fan-out: dismiss the fan-out's row",
                Level::Info,
            );
            return;
        }
        let ids = self.model.row_sessions(row);
        let histories = ids
            .iter()
            .filter(|id| {
                self.model
                    .by_id(**id)
                    .is_some_and(|s| s.history_id.is_some())
            })
            .count();
        let what = match row {
            SessionRow::Group(gi) => format!(
                "Forget fan-out {} and the histories of its {histories} fork(s)? This cannot be undone (its forks stay).",
                self.model.fanouts[gi].base
            ),
            _ => "Forget this session and its history? This cannot be undone (its fork stays)."
                .to_string(),
        };
        cx.emit(Effect::Open(Open::Confirm(Question {
            title: "Dismiss".into(),
            lines: vec![what],
            yes: "forget".into(),
            no: "keep".into(),
            then: Command::DismissSessions(ids),
        })));
    }

    /// Forget sessions `ids`, their histories with them.
    pub(super) fn dismiss(&mut self, ids: &[u64], cx: &mut Shared) {
        let mut forgot = 0;
        for s in self.model.list.iter().filter(|s| ids.contains(&s.id)) {
            if let Some(h) = &s.history_id {
                history::forget(cx.store(), h);
                forgot += 1;
            }
        }
        let groups: Vec<u64> = self
            .model
            .list
            .iter()
            .filter(|s| ids.contains(&s.id))
            .filter_map(|s| s.group)
            .collect();
        self.model.list.retain(|s| !ids.contains(&s.id));
        self.model.fanouts.retain(|f| !groups.contains(&f.id));
        self.sel = self.sel.min(self.model.rows().len().saturating_sub(1));
        cx.say(
            format!("forgot {} session(s) ({forgot} history file(s))", ids.len()),
            Level::Ok,
        );
    }

    /// Enter: the detail (a session: with its whole guest log) in the
    /// viewer, scrollable and searchable.
    fn open_detail(&mut self, cx: &mut Shared) {
        let Some(row) = self.selected_row() else {
            return;
        };
        let seed = match row {
            SessionRow::Check(ci) => {
                let c = &self.model.checks[ci];
                let detail = self.focus() == Pane::SessionDetail;
                let id = c.rows.keys().nth(self.check_sel).copied();
                match (detail, id) {
                    (true, Some(id)) => ViewerSeed {
                        title: format!("check {} · {}", id.label(), c.snapshot),
                        head: check_evidence(c, id),
                        file: None,
                        at_end: false,
                    },
                    _ => ViewerSeed {
                        title: format!("check · the guest of {}", c.snapshot),
                        head: check_report(c),
                        file: None,
                        at_end: false,
                    },
                }
            }
            _ => {
                let (width, _) = self.detail_height(cx);
                let width = width.max(cx.area().width.saturating_sub(2));
                let (_, lines) = self.detail(cx, width, true);
                let title = match self.selected_session() {
                    Some(s) => format!("session {}", s.fork),
                    None => match row {
                        SessionRow::Group(gi) => format!("fan-out {}", self.model.fanouts[gi].base),
                        _ => "session".into(),
                    },
                };
                let file = self
                    .selected_session()
                    .filter(|s| s.kept.is_none())
                    .and_then(|s| s.log_path.clone())
                    .filter(|p| p.exists());
                let mut head = plain(&lines);
                if file.is_some() {
                    head.push(" ── guest.log (whole) ──".into());
                }
                ViewerSeed {
                    title,
                    head,
                    file,
                    at_end: false,
                }
            }
        };
        cx.emit(Effect::Open(Open::Viewer(seed)));
    }

    /// Expand or fold the selected fan-out (its row stays selected).
    fn toggle_expand(&mut self) {
        let gi = match self.selected_row() {
            Some(SessionRow::Group(gi)) => gi,
            Some(SessionRow::Member(i)) => {
                let g = self.model.list[i].group;
                match self.model.fanouts.iter().position(|f| Some(f.id) == g) {
                    Some(gi) => gi,
                    None => return,
                }
            }
            _ => return,
        };
        self.model.fanouts[gi].expanded = !self.model.fanouts[gi].expanded;
        self.select(SessionRow::Group(gi));
    }

    /// `y`: a session's fork name; in a check's detail, the row's evidence.
    fn copy(&mut self, cx: &mut Shared) {
        match self.selected_row() {
            Some(SessionRow::Check(ci)) => {
                let c = &self.model.checks[ci];
                let text = match c.rows.keys().nth(self.check_sel) {
                    Some(id) if self.focus() == Pane::SessionDetail => {
                        check_evidence(c, *id).join("\n")
                    }
                    _ => check_report(c).join("\n"),
                };
                cx.copy(text, "check evidence");
            }
            Some(SessionRow::Group(gi)) => {
                let names: Vec<String> = self
                    .model
                    .members(gi)
                    .iter()
                    .map(|s| s.fork.clone())
                    .collect();
                cx.copy(names.join("\n"), "fork names");
            }
            Some(_) => {
                if let Some(s) = self.selected_session() {
                    let name = s.fork.clone();
                    cx.copy(name, "fork name");
                }
            }
            None => cx.say("nothing selected to copy", Level::Info),
        }
    }

    /// A click on `pane` (drawn in `rect`) at row `y`.
    pub fn click(&mut self, pane: Pane, rect: Rect, y: u16) {
        self.focus = Some(pane);
        if pane == Pane::SessionList
            && let Some(row) =
                crate::tui::widget::row_at(rect, y, 0, self.model.rows().len(), self.sel)
        {
            self.set_sel(row);
        }
    }

    /// The wheel over `pane`: the list moves, the detail scrolls.
    pub fn wheel(&mut self, pane: Pane, down: bool, cx: &Shared) {
        let keep = self.focus;
        self.focus = Some(pane);
        self.move_or_scroll(if down { Action::Down } else { Action::Up }, cx);
        self.focus = keep;
    }
}
