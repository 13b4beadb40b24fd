//! The forks screen: the store's forks with their live status (no stale
//! pids) and their private memory, and the selected fork's detail — a
//! memory inspection on Enter (were its mailboxes consumed?), its guest
//! log on `o`. Stop and remove ask first, for the marked forks at once,
//! and say how each went in one message.
//!
//! A new pane of this screen goes beside the list and the detail: a
//! struct owning its state, placed in [`ForksScreen::pane_areas`], its
//! keys under a [`Place`].

mod state;
mod view;

use std::collections::HashMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use crate::fork::LiveStatus;
use crate::store::GUEST_LOG;
use crate::tui::action::{Action, Level, Pane};
use crate::tui::component::Component;
use crate::tui::effect::{
    Command, Effect, Open, PromptKind, PromptState, Prompted, Question, ViewerSeed,
};
use crate::tui::jobs;
use crate::tui::keymap::Place;
use crate::tui::shared::Shared;
use crate::tui::text::{step, u16_of};
pub use state::{ForkRow, ForksState, Inspection};

/// The forks screen.
#[derive(Default)]
pub struct ForksScreen {
    state: ForksState,
    focus: Option<Pane>,
}

impl ForksScreen {
    /// The forks and what is known of them.
    pub fn state(&self) -> &ForksState {
        &self.state
    }
    /// The focused pane.
    pub fn focus(&self) -> Pane {
        self.focus.unwrap_or(Pane::ForkList)
    }
    /// Whether something animates (an inspection, a stop or remove).
    pub fn busy(&self) -> bool {
        self.state.busy()
    }
    /// Stop/remove batches in flight.
    pub fn pending(&self) -> usize {
        self.state.pending
    }
    /// The tab's label.
    pub fn tab(&self) -> String {
        format!("3 Forks ({})", self.state.rows.len())
    }
    /// What is true of each fork now.
    pub fn statuses(&self) -> HashMap<String, LiveStatus> {
        self.state.statuses()
    }
    /// Whether fork `name` runs (or is being made) now.
    pub fn runs(&self, name: &str) -> bool {
        self.state.rows.iter().any(|r| {
            r.info.name == name && matches!(r.status, LiveStatus::Running | LiveStatus::Creating)
        })
    }

    /// Reload from the store. Returns whether anything changed.
    pub fn reload(&mut self, cx: &Shared) -> bool {
        self.state.reload(cx.store())
    }

    /// An inspection finished: shown in the detail, and said.
    pub fn inspected(
        &mut self,
        fork: &str,
        result: Result<std::sync::Arc<crate::scan::ScanReport>, String>,
        cx: &mut Shared,
    ) {
        let said = match &result {
            Ok(report) => self
                .state
                .rows
                .iter()
                .find(|r| r.info.name == fork)
                .map(|row| {
                    let c = ForksState::consumption(row, report);
                    let consumed = c.iter().filter(|c| c.seq == Some(0)).count();
                    (
                        format!(
                            "{fork}: {consumed} of {} mailbox(es) consumed by the guest",
                            c.len()
                        ),
                        Level::Ok,
                    )
                }),
            Err(e) => Some((format!("{fork}: inspection failed: {e}"), Level::Error)),
        };
        self.state.inspected(fork, result);
        if let Some((text, level)) = said {
            cx.say(text, level);
        }
    }

    /// Carry out a stop or remove answered yes.
    pub fn command(&mut self, cmd: &Command, cx: &mut Shared) {
        if let Command::ForkOp { names, remove } = cmd {
            self.state.pending += 1;
            self.state.busy_with.extend(names.iter().cloned());
            let verb = if *remove { "removing" } else { "stopping" };
            let what = match names.as_slice() {
                [one] => one.clone(),
                many => format!("{} forks", many.len()),
            };
            cx.say(format!("{verb} {what}…"), Level::Info);
            jobs::spawn_fork_ops(cx.tx().clone(), cx.store().clone(), names.clone(), *remove);
            self.state.marked.clear();
        }
    }

    /// A stop or remove batch finished: one message for all of it.
    pub fn ops_done(
        &mut self,
        remove: bool,
        results: Vec<(String, Result<bool, String>)>,
        cx: &mut Shared,
    ) {
        self.state.pending = self.state.pending.saturating_sub(1);
        for (name, _) in &results {
            self.state.busy_with.remove(name);
            // What was said about this fork no longer applies.
            self.state.inspections.remove(name);
        }
        let failed: Vec<&(String, Result<bool, String>)> =
            results.iter().filter(|(_, r)| r.is_err()).collect();
        let verb = if remove { "removed" } else { "stopped" };
        let ok = results.len() - failed.len();
        let text = match (results.as_slice(), failed.first()) {
            ([(name, Ok(true))], _) => format!("{verb} {name}"),
            ([(name, Ok(false))], _) if !remove => format!("{name} was not running"),
            ([(name, Ok(false))], _) => format!("{verb} {name}"),
            ([(name, Err(e))], _) => format!("{name}: {e}"),
            (_, None) => format!("{verb} {ok} forks (0 failed)"),
            (_, Some((name, Err(e)))) => {
                format!("{verb} {ok} forks ({} failed; {name}: {e})", failed.len())
            }
            (_, Some(_)) => format!("{verb} {ok} forks"),
        };
        cx.say(
            text,
            if failed.is_empty() {
                Level::Ok
            } else {
                Level::Error
            },
        );
    }

    /// What the prompt says, for the list's filter.
    pub fn prompted(&mut self, p: &Prompted) {
        if let PromptKind::Filter(_) = p.kind {
            self.state.filter = match p.state {
                PromptState::Cancelled => String::new(),
                _ => p.text.clone(),
            };
            self.state.sel = self
                .state
                .sel
                .min(self.state.visible().len().saturating_sub(1));
        }
    }

    /// The list's filter, when one is set.
    pub fn filter(&self) -> Option<&str> {
        (!self.state.filter.is_empty()).then_some(self.state.filter.as_str())
    }

    /// Where each pane is drawn in `body`.
    pub fn pane_areas(&self, body: Rect) -> Vec<(Pane, Rect)> {
        let rows = u16_of(self.state.visible().len());
        let h = (rows + 3).clamp(5, (body.height / 2).max(5));
        let [a, b] = Layout::vertical([Constraint::Length(h), Constraint::Min(0)]).areas(body);
        vec![(Pane::ForkList, a), (Pane::ForkDetail, b)]
    }

    /// A click on `pane` (drawn in `rect`) at row `y`.
    pub fn click(&mut self, pane: Pane, rect: Rect, y: u16) {
        self.focus = Some(pane);
        if pane == Pane::ForkList
            && let Some(row) =
                crate::tui::widget::row_at(rect, y, 1, self.state.visible().len(), self.state.sel)
        {
            self.state.sel = row;
        }
    }

    /// The wheel over the list.
    pub fn wheel(&mut self, down: bool) {
        let len = self.state.visible().len();
        let a = if down { Action::Down } else { Action::Up };
        self.state.sel = step(a, self.state.sel, len, 10);
    }

    /// Ask before stopping or removing the marked forks (one question for
    /// all of them), or else the selected fork.
    fn ask(&mut self, remove: bool, cx: &mut Shared) {
        let mut names: Vec<String> = self.state.marked.iter().cloned().collect();
        if names.is_empty() {
            match self.state.selected() {
                Some(r) => names.push(r.info.name.clone()),
                None => {
                    cx.say("no fork selected", Level::Info);
                    return;
                }
            }
        }
        names.sort_by(|a, b| crate::tui::text::natural(a, b));
        let n = names.len();
        let shown: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
        let mut list = shown.join(", ");
        if n > shown.len() {
            list.push_str(&format!(" and {} more", n - shown.len()));
        }
        let (title, question, yes, no) = match (remove, n) {
            (true, 1) => (
                "Remove fork".to_string(),
                format!(
                    "Remove {list}? This stops it and deletes its files (the end of its log stays in its session's history)."
                ),
                "remove",
                "keep it",
            ),
            (true, _) => (
                format!("Remove {n} forks"),
                format!("Remove {n} forks? This stops them and deletes their files."),
                "remove them all",
                "keep them",
            ),
            (false, 1) => (
                "Stop fork".to_string(),
                format!("Stop {list}? Its VM stops; its files stay."),
                "stop",
                "keep it running",
            ),
            (false, _) => (
                format!("Stop {n} forks"),
                format!("Stop {n} forks? Their VMs stop; their files stay."),
                "stop them all",
                "keep them",
            ),
        };
        let mut lines = vec![question];
        if n > 1 {
            lines.push(list);
        }
        cx.emit(Effect::Open(Open::Confirm(Question {
            title,
            lines,
            yes: yes.into(),
            no: no.into(),
            then: Command::ForkOp { names, remove },
        })));
    }
}

impl Component for ForksScreen {
    fn place(&self) -> Place {
        Place::of_pane(self.focus())
    }

    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool {
        let len = self.state.visible().len();
        match action {
            Action::NextPane | Action::PrevPane => {
                self.focus = Some(match self.focus() {
                    Pane::ForkList => Pane::ForkDetail,
                    _ => Pane::ForkList,
                })
            }
            Action::Right => self.focus = Some(Pane::ForkDetail),
            Action::Left => self.focus = Some(Pane::ForkList),
            Action::Back => {
                if self.focus() == Pane::ForkDetail {
                    self.focus = Some(Pane::ForkList);
                } else if !self.state.filter.is_empty() {
                    self.state.filter.clear();
                    cx.say("filter cleared", Level::Info);
                }
            }
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => self.state.sel = step(action, self.state.sel, len, 10),
            Action::Inspect => {
                let Some(row) = self.state.selected() else {
                    return true;
                };
                let info = row.info.clone();
                self.state
                    .inspections
                    .insert(info.name.clone(), Inspection::Running);
                jobs::spawn_inspect(cx.tx().clone(), cx.store().clone(), info);
                cx.say("scanning the fork's memory…", Level::Info);
            }
            Action::OpenLog => match self.state.selected() {
                Some(r) => cx.emit(Effect::Open(Open::Viewer(ViewerSeed {
                    title: format!("guest log · {}", r.info.name),
                    head: Vec::new(),
                    file: Some(r.info.dir.join(GUEST_LOG)),
                    at_end: true,
                }))),
                None => cx.say("no fork selected", Level::Info),
            },
            Action::ToggleMark => {
                self.state.toggle_mark();
                cx.say(format!("{} marked", self.state.marked.len()), Level::Info);
            }
            Action::MarkAllVisible => {
                self.state.mark_all_visible();
                cx.say(format!("{} marked", self.state.marked.len()), Level::Info);
            }
            Action::StopFork => self.ask(false, cx),
            Action::RemoveFork => self.ask(true, cx),
            Action::Refresh => {
                self.state.reload(cx.store());
                cx.say("forks reloaded", Level::Info);
            }
            Action::StartFilter => cx.emit(Effect::Open(Open::Prompt {
                kind: PromptKind::Filter(Pane::ForkList),
                text: self.state.filter.clone(),
            })),
            Action::Copy => match self.state.selected() {
                Some(r) => {
                    let name = r.info.name.clone();
                    cx.copy(name, "fork name");
                }
                None => cx.say("nothing selected to copy", Level::Info),
            },
            _ => return false,
        }
        true
    }

    fn draw(&self, f: &mut Frame, body: Rect, cx: &Shared) {
        for (pane, rect) in self.pane_areas(body) {
            let focused = pane == self.focus();
            if pane == Pane::ForkList {
                view::draw_list(f, rect, cx, &self.state, focused);
            } else {
                view::draw_detail(f, rect, cx, &self.state, focused);
            }
        }
    }

    fn applies(&self, action: Action) -> bool {
        match action {
            Action::Inspect
            | Action::OpenLog
            | Action::ToggleMark
            | Action::StopFork
            | Action::RemoveFork
            | Action::Copy => self.state.selected().is_some(),
            Action::MarkAllVisible => !self.state.visible().is_empty(),
            _ => true,
        }
    }
}
