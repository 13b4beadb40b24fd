//! The sessions screen: the list of sessions (this run's, the history's,
//! fan-outs grouped, conformance runs) and the selected one's detail,
//! streamed live. The detail pane scrolls (`j`/`k`/`G`/PgDn, the wheel);
//! Enter shows the detail and the whole guest log in the viewer.
//!
//! A new pane of this screen goes beside the two: a struct owning its
//! state, placed in [`SessionsScreen::pane_areas`] and reached through
//! [`ORDER`], its keys under a [`Place`].

mod detail;
mod detail_group;
mod groups;
mod history;
mod list;
mod model;
mod run;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::fork::{ForkError, LiveStatus, Prestart, SessionEvent};
use crate::scan::ScanReport;
use crate::tui::action::{Action, Level, Pane};
use crate::tui::component::Component;
use crate::tui::effect::{Command, PromptKind, PromptState, Prompted};
use crate::tui::keymap::Place;
use crate::tui::msg::FanoutSummary;
use crate::tui::overlay::fork_dialog::form::ForkForm;
use crate::tui::shared::Shared;
use crate::tui::widget::pane_block;
pub use groups::{SessionRow, Sessions};
pub use model::{AckState, Outcome, SessionView};

/// The panes, left to right.
pub const ORDER: [Pane; 2] = [Pane::SessionList, Pane::SessionDetail];

/// The sessions screen.
#[derive(Default)]
pub struct SessionsScreen {
    model: Sessions,
    sel: usize,
    focus: Option<Pane>,
    scroll: usize,
    check_sel: usize,
    forks: HashMap<String, LiveStatus>,
}

impl SessionsScreen {
    /// The model (sessions, fan-outs, checks).
    pub fn model(&self) -> &Sessions {
        &self.model
    }
    /// The focused pane.
    pub fn focus(&self) -> Pane {
        self.focus.unwrap_or(Pane::SessionList)
    }
    /// The selected row.
    pub fn selected_row(&self) -> Option<SessionRow> {
        self.model.rows().get(self.sel).copied()
    }
    /// The session of the selected row (a single session or a member).
    pub fn selected_session(&self) -> Option<&SessionView> {
        match self.selected_row()? {
            SessionRow::Single(i) | SessionRow::Member(i) => self.model.list.get(i),
            _ => None,
        }
    }
    /// Sessions running now.
    pub fn running(&self) -> usize {
        self.model.running()
    }
    /// Whether something animates (a spinner, a countdown).
    pub fn busy(&self) -> bool {
        self.model.running() > 0 || self.model.checks.iter().any(|c| c.outcome.is_none())
    }
    /// The tab's label.
    pub fn tab(&self) -> String {
        let t = list::title(&self.model);
        t.replacen("Sessions", "2 Sessions", 1)
    }

    /// What is true of each fork of the store now (the detail says it).
    pub fn set_forks(&mut self, forks: HashMap<String, LiveStatus>) {
        self.forks = forks;
    }

    fn select(&mut self, row: SessionRow) {
        if let Some(p) = self.model.rows().iter().position(|r| *r == row) {
            self.set_sel(p);
        }
    }

    fn set_sel(&mut self, sel: usize) {
        if sel != self.sel {
            self.scroll = 0;
            self.check_sel = 0;
        }
        self.sel = sel;
    }

    /// Select session `id` (clearing a filter that hides it).
    pub fn select_session(&mut self, id: u64) {
        let find = |m: &Sessions| {
            m.rows().iter().position(|r| match r {
                SessionRow::Single(i) | SessionRow::Member(i) => m.list[*i].id == id,
                _ => false,
            })
        };
        if find(&self.model).is_none() {
            self.model.filter.clear();
        }
        if let Some(p) = find(&self.model) {
            self.set_sel(p);
        }
    }

    /// List the history's newest sessions (at start: the newest selected).
    pub fn load_history(&mut self, cx: &mut Shared) {
        self.model.merge_history(cx);
        self.sel = self.model.rows().len().saturating_sub(1);
    }

    /// Add sessions of the history not listed yet, and fold in what was
    /// appended to listed ones. Returns whether anything changed.
    pub fn refresh_history(&mut self, cx: &mut Shared) -> bool {
        let before = self.selected_row();
        let added = self.model.merge_history(cx);
        if let Some(row) = before
            && added
        {
            self.select(row);
        }
        let appended = self.model.read_appended(cx);
        let mut logs = false;
        for s in &mut self.model.list {
            logs |= s.refresh_log();
        }
        added || appended || logs
    }

    /// A tick: running sessions' logs grow.
    pub fn tick(&mut self) {
        for s in self.model.list.iter_mut().filter(|s| s.is_running()) {
            s.refresh_log();
        }
    }

    /// Start a fork (or fan-out) of `form`. Returns why it cannot start.
    pub fn start(
        &mut self,
        form: &ForkForm,
        discovery: Option<Arc<ScanReport>>,
        prestart: Option<Prestart>,
        cx: &mut Shared,
    ) -> Result<(), String> {
        if form.count() < 2 {
            let id = self.model.start_fork(form, discovery, prestart, cx)?;
            self.select_session(id);
            cx.say(
                format!("forking {} as {}", form.snapshot, form.name),
                Level::Info,
            );
        } else {
            let gid = self.model.start_fanout(form, discovery, cx)?;
            if let Some(gi) = self.model.fanouts.iter().position(|f| f.id == gid) {
                self.select(SessionRow::Group(gi));
            }
            cx.say(
                format!(
                    "fan-out: {} forks of {}, {} at a time",
                    form.count(),
                    form.snapshot,
                    form.parallel()
                ),
                Level::Info,
            );
        }
        self.focus = Some(Pane::SessionList);
        Ok(())
    }

    /// Follow a session run elsewhere in this process (see
    /// [`crate::tui::app::App::follow_session`]).
    pub fn follow(
        &mut self,
        fork: &str,
        snapshot: &str,
        mailboxes: &[&str],
        cx: &mut Shared,
    ) -> (u64, Arc<std::sync::atomic::AtomicBool>) {
        let id = cx.next_id();
        let names = mailboxes.iter().map(|m| m.to_string()).collect();
        let view = SessionView::new(id, fork, snapshot, names, cx.clock().instant());
        let cancel = Arc::clone(&view.cancel);
        self.model.list.push(view);
        self.select_session(id);
        (id, cancel)
    }

    /// Follow a fan-out run elsewhere in this process (see
    /// [`crate::tui::app::App::follow_fanout`]).
    pub fn follow_fanout(
        &mut self,
        base: &str,
        snapshot: &str,
        parallel: usize,
        forks: &[&str],
        mailboxes: &[&str],
        cx: &mut Shared,
    ) -> (Vec<u64>, Arc<std::sync::atomic::AtomicBool>) {
        let gid = cx.next_id();
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut members = Vec::new();
        for f in forks {
            let id = cx.next_id();
            let names = mailboxes.iter().map(|m| m.to_string()).collect();
            let mut view = SessionView::new(id, f, snapshot, names, cx.clock().instant());
            view.group = Some(gid);
            view.cancel = Arc::clone(&cancel);
            self.model.list.push(view);
            members.push(id);
        }
        self.model.fanouts.push(groups::FanoutView {
            id: gid,
            snapshot: snapshot.to_string(),
            base: base.to_string(),
            parallel,
            count: forks.len(),
            members: members.clone(),
            expanded: false,
            cancel: Arc::clone(&cancel),
            summary: None,
            history: None,
        });
        self.select(SessionRow::Group(self.model.fanouts.len() - 1));
        (members, cancel)
    }

    /// Follow a conformance-suite run elsewhere in this process.
    pub fn follow_check(&mut self, snapshot: &str, cx: &mut Shared) -> u64 {
        let id = cx.next_id();
        self.model.checks.push(groups::CheckView {
            id,
            snapshot: snapshot.to_string(),
            rows: crate::check::CheckId::ALL
                .iter()
                .map(|c| (*c, None))
                .collect(),
            outcome: None,
            cancel: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        });
        self.select(SessionRow::Check(self.model.checks.len() - 1));
        id
    }

    /// Run the conformance suite on `snapshot`.
    pub fn start_check(&mut self, snapshot: &str, cx: &mut Shared) {
        self.model.start_check(snapshot, cx);
        self.select(SessionRow::Check(self.model.checks.len() - 1));
    }

    /// An engine event.
    pub fn session_event(&mut self, id: u64, event: SessionEvent, cx: &Shared) {
        self.model.session_event(id, event, cx);
    }
    /// A session's thread ended.
    pub fn session_end(&mut self, id: u64, result: Result<String, ForkError>, cx: &mut Shared) {
        self.model.session_end(id, result, cx);
    }
    /// A fan-out ended.
    pub fn fanout_end(&mut self, id: u64, summary: FanoutSummary, cx: &mut Shared) {
        self.model.fanout_end(id, summary, cx);
    }
    /// A check ended.
    pub fn check_event(&mut self, id: u64, event: crate::check::CheckEvent) {
        self.model.check_event(id, event);
    }
    /// A suite run ended.
    pub fn check_end(&mut self, id: u64, result: Result<bool, String>, cx: &mut Shared) {
        self.model.check_end(id, result, cx);
    }

    /// Cancel every running session (quitting): they roll back. Returns
    /// how many.
    pub fn cancel_all(&mut self) -> usize {
        let running: Vec<_> = self.model.list.iter().filter(|s| s.is_running()).collect();
        for s in &running {
            s.cancel.store(true, Ordering::Relaxed);
        }
        running.len()
    }

    /// Carry out a command answered yes.
    pub fn command(&mut self, cmd: &Command, cx: &mut Shared) {
        match cmd {
            Command::CancelSessions(ids) => {
                // What ended while the question was open is left as it is.
                let mut n = 0;
                for s in self.model.list.iter().filter(|s| ids.contains(&s.id)) {
                    if s.is_running() {
                        s.cancel.store(true, Ordering::Relaxed);
                        n += 1;
                    }
                }
                cx.say(
                    match n {
                        0 => "it ended before the cancel: nothing to cancel".to_string(),
                        n => format!("cancelling {n} session(s); they roll back…"),
                    },
                    Level::Info,
                );
            }
            Command::DismissSessions(ids) => self.dismiss(ids, cx),
            _ => {}
        }
    }

    /// What the prompt says, for the list's filter.
    pub fn prompted(&mut self, p: &Prompted) {
        if let PromptKind::Filter(_) = p.kind {
            self.model.filter = match p.state {
                PromptState::Cancelled => String::new(),
                _ => p.text.clone(),
            };
            self.sel = self.sel.min(self.model.rows().len().saturating_sub(1));
        }
    }

    /// The list's filter, when one is set.
    pub fn filter(&self) -> Option<&str> {
        (!self.model.filter.is_empty()).then_some(self.model.filter.as_str())
    }
}

mod act;

impl Component for SessionsScreen {
    fn place(&self) -> Place {
        Place::of_pane(self.focus())
    }

    fn handle(&mut self, action: Action, cx: &mut Shared) -> bool {
        self.act(action, cx)
    }

    fn draw(&self, f: &mut Frame, body: Rect, cx: &Shared) {
        for (pane, rect) in self.pane_areas(body) {
            let focused = pane == self.focus();
            if pane == Pane::SessionList {
                list::draw(f, rect, cx, &self.model, self.sel, focused);
                continue;
            }
            let (title, lines) = self.detail(cx, rect.width.saturating_sub(2), false);
            let height = usize::from(rect.height.saturating_sub(2));
            let max = lines.len().saturating_sub(height);
            let scroll = self.scroll.min(max);
            let mut title = title;
            if lines.len() > height {
                title.push_str(&format!(
                    " · lines {}-{} of {}",
                    scroll + 1,
                    (scroll + height).min(lines.len()),
                    lines.len()
                ));
            }
            let shown: Vec<Line> = lines.into_iter().skip(scroll).take(height).collect();
            f.render_widget(
                Paragraph::new(shown).block(pane_block(cx.theme(), focused, title)),
                rect,
            );
        }
    }

    fn applies(&self, action: Action) -> bool {
        let row = self.selected_row();
        let running = row.map(|r| self.model.row_running(r));
        match action {
            Action::CancelSession => running == Some(true),
            Action::DismissSession => {
                running == Some(false) && !matches!(row, Some(SessionRow::Member(_)))
            }
            Action::ToggleExpand => {
                matches!(row, Some(SessionRow::Group(_) | SessionRow::Member(_)))
            }
            Action::Replay => self.selected_session().is_some_and(|s| s.request.is_some()),
            Action::OpenDetail | Action::Copy => row.is_some(),
            _ => true,
        }
    }
}

impl SessionsScreen {
    /// Where each pane is drawn in `body`.
    pub fn pane_areas(&self, body: Rect) -> Vec<(Pane, Rect)> {
        let w = (body.width / 3).clamp(20, 34);
        let [a, b] = Layout::horizontal([Constraint::Length(w), Constraint::Min(0)]).areas(body);
        vec![(Pane::SessionList, a), (Pane::SessionDetail, b)]
    }

    /// The detail of the selected row in `width` columns: its title and
    /// lines (`whole`: every kept log line, for the viewer).
    fn detail(&self, cx: &Shared, width: u16, whole: bool) -> (String, Vec<Line<'static>>) {
        let width = usize::from(width);
        match self.selected_row() {
            None => ("Session".into(), Vec::new()),
            Some(SessionRow::Group(gi)) => {
                let fo = &self.model.fanouts[gi];
                (
                    format!("Fan-out · {} ×{} ← {}", fo.base, fo.count, fo.snapshot),
                    detail_group::fanout_lines(cx, &self.model, gi, width),
                )
            }
            Some(SessionRow::Check(ci)) => {
                let c = &self.model.checks[ci];
                let sel = (self.focus() == Pane::SessionDetail).then_some(self.check_sel);
                (
                    format!("Check · the guest of {}", c.snapshot),
                    detail_group::check_lines(cx, c, width, sel),
                )
            }
            Some(SessionRow::Single(i) | SessionRow::Member(i)) => {
                let s = &self.model.list[i];
                let when = s
                    .started_at
                    .as_deref()
                    .map(|at| format!(" · {}", cx.clock().human(at)))
                    .unwrap_or_default();
                let origin = match s.request.as_ref().map(|h| h.origin.as_str()) {
                    Some("cli") => " · from the CLI",
                    _ if s.past => " · earlier run",
                    _ => "",
                };
                (
                    format!("Session · {} ← {}{when}{origin}", s.fork, s.snapshot),
                    detail::session_lines(cx, s, width, &self.forks, whole),
                )
            }
        }
    }
}
