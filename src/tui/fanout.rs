//! Fan-outs and conformance checks as the TUI sees them: the fork dialog's
//! count and parallelism (with the payload previewed for the first and last
//! fork), a fan-out's member sessions grouped under one expandable row, and
//! the check table filled in as checks end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::app::{App, Dialog, Level, Screen};
use super::jobs;
use super::session::SessionView;
use crate::check::{CheckEvent, CheckId, CheckOptions, CheckResult};
use crate::fanout::{
    FanoutSpec, MemberRecorders, PayloadTemplate, member_name, plan_fanout, preview_payloads,
};
use crate::mailbox::check_payload;
use crate::sanitize::safe_owned;

/// A fan-out started from the TUI.
#[derive(Debug)]
pub struct FanoutView {
    /// Fan-out id.
    pub id: u64,
    /// Source snapshot.
    pub snapshot: String,
    /// Base name of its forks.
    pub base: String,
    /// Sessions at a time.
    pub parallel: usize,
    /// Its forks' session ids, in index order.
    pub members: Vec<u64>,
    /// Its forks are listed under it.
    pub expanded: bool,
    /// Cancels every fork of it.
    pub cancel: Arc<AtomicBool>,
    /// Summary once it ended.
    pub summary: Option<Vec<String>>,
    /// Its id in the session history, when it was read back from there
    /// (an earlier run's, the CLI's).
    pub history: Option<String>,
}

/// A conformance suite run started from the TUI.
#[derive(Debug)]
pub struct CheckView {
    /// Run id.
    pub id: u64,
    /// Snapshot checked.
    pub snapshot: String,
    /// Check → its result (`None`: running).
    pub rows: BTreeMap<CheckId, Option<CheckResult>>,
    /// `None` while running; whether it passed, or why it could not run.
    pub outcome: Option<Result<bool, String>>,
    /// Cancels the suite.
    pub cancel: Arc<AtomicBool>,
}

/// One row of the sessions list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRow {
    /// A single fork session (index into `sessions`).
    Single(usize),
    /// A fan-out (index into `fanouts`).
    Group(usize),
    /// A fork of an expanded fan-out (index into `sessions`).
    Member(usize),
    /// A conformance check run (index into `checks`).
    Check(usize),
}

/// Forks in a fork dialog's count field (1 when empty or not a number).
pub fn dialog_count(count: &str) -> usize {
    count.trim().parse().unwrap_or(1).max(1)
}

impl App {
    /// The sessions list's rows, in order.
    pub fn session_rows(&self) -> Vec<SessionRow> {
        let mut rows = Vec::new();
        for (i, s) in self.sessions.iter().enumerate() {
            match s.group {
                None => rows.push(SessionRow::Single(i)),
                Some(g) => {
                    let Some(gi) = self.fanouts.iter().position(|f| f.id == g) else {
                        continue;
                    };
                    let f = &self.fanouts[gi];
                    if f.members.first() == Some(&s.id) {
                        rows.push(SessionRow::Group(gi));
                        if f.expanded {
                            rows.extend(
                                self.sessions
                                    .iter()
                                    .enumerate()
                                    .filter(|(_, m)| m.group == Some(g))
                                    .map(|(j, _)| SessionRow::Member(j)),
                            );
                        }
                    }
                }
            }
        }
        rows.extend((0..self.checks.len()).map(SessionRow::Check));
        // The `/` filter: a row stays when its fork, fan-out or snapshot matches.
        let f = &self.filters.sessions;
        if !f.is_empty() {
            use super::nav::passes;
            rows.retain(|r| match *r {
                SessionRow::Single(i) | SessionRow::Member(i) => {
                    passes(f, &[&self.sessions[i].fork, &self.sessions[i].snapshot])
                }
                SessionRow::Group(gi) => {
                    passes(f, &[&self.fanouts[gi].base, &self.fanouts[gi].snapshot])
                }
                SessionRow::Check(ci) => passes(f, &[&self.checks[ci].snapshot]),
            });
        }
        rows
    }

    /// The selected row of the sessions list.
    pub fn selected_row(&self) -> Option<SessionRow> {
        self.session_rows().get(self.session_sel).copied()
    }

    /// The session of the selected row (a single session or a member).
    pub fn selected_session(&self) -> Option<&SessionView> {
        match self.selected_row()? {
            SessionRow::Single(i) | SessionRow::Member(i) => self.sessions.get(i),
            _ => None,
        }
    }

    /// The member sessions of fan-out `gi`.
    pub fn members(&self, gi: usize) -> Vec<&SessionView> {
        let Some(f) = self.fanouts.get(gi) else {
            return Vec::new();
        };
        f.members
            .iter()
            .filter_map(|id| self.sessions.iter().find(|s| s.id == *id))
            .collect()
    }

    /// Expand or fold the selected fan-out.
    pub fn toggle_expand(&mut self) {
        let gi = match self.selected_row() {
            Some(SessionRow::Group(gi)) => gi,
            Some(SessionRow::Member(i)) => {
                let g = self.sessions[i].group;
                match self.fanouts.iter().position(|f| Some(f.id) == g) {
                    Some(gi) => gi,
                    None => return,
                }
            }
            _ => return,
        };
        self.fanouts[gi].expanded = !self.fanouts[gi].expanded;
        // Keep the fan-out's own row selected.
        if let Some(pos) = self
            .session_rows()
            .iter()
            .position(|r| *r == SessionRow::Group(gi))
        {
            self.session_sel = pos;
        }
    }

    /// Refresh the fork dialog's preview of the first and last fork's
    /// payloads (fan-out only), as "fork: mailbox=payload" lines with
    /// whether the engine would refuse them.
    pub fn fanout_preview(
        specs: &[crate::fork::MailboxSpec],
        base: &str,
        count: usize,
    ) -> Vec<(String, bool)> {
        if count < 2 {
            return Vec::new();
        }
        let mut out = Vec::new();
        for i in [0, count - 1] {
            let name = member_name(base, i);
            match preview_payloads(specs, i, &name) {
                Ok(mbs) => {
                    for m in mbs {
                        let text = m.payload.unwrap_or_default();
                        let bad = check_payload(&text, m.wait_for_ack).problem.is_some();
                        out.push((safe_owned(&format!("{name}: {}={text}", m.name)), bad));
                    }
                }
                Err(e) => out.push((safe_owned(&format!("{name}: {e}")), true)),
            }
        }
        out
    }

    /// Start a fan-out of what the fork dialog says: `count` forks named
    /// `<base>-<i>`, `parallel` at a time, with the dialog's mailboxes and
    /// modes. `Err` says why it cannot start (shown in the dialog); nothing
    /// was made then.
    pub fn start_fanout(
        &mut self,
        form: &super::form::ForkForm,
        count: usize,
        parallel: usize,
    ) -> Result<(), String> {
        let (snapshot, base) = (form.snapshot.as_str(), form.name.as_str());
        let spec = FanoutSpec {
            snapshot: snapshot.to_string(),
            base_name: Some(base.to_string()),
            payloads: PayloadTemplate::Count {
                count,
                mailboxes: form.specs(),
            },
            parallel: parallel.max(1),
            keep_going: false,
            zero_copy: form.zero_copy,
            restore: !form.no_restore,
            ack_bind: None,
        };
        let (mut plan, _capacity) = plan_fanout(&self.store, &spec).map_err(|e| e.to_string())?;
        plan.discovery = self.catalog.cached(snapshot).cloned().or(plan.discovery);
        let gid = self.next_session_id;
        self.next_session_id += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        // Each fork is a session of its own in the history (listed after a
        // restart, replayable), known here so it is not listed twice.
        let recorders = MemberRecorders::start(&self.store, &plan, "tui");
        let mut members = Vec::new();
        for (i, f) in plan.forks.iter().enumerate() {
            let id = self.next_session_id;
            self.next_session_id += 1;
            let names = f.mailboxes.iter().map(|m| m.name.clone()).collect();
            let mut view = SessionView::new(id, &f.name, snapshot, names, self.clock.instant());
            view.group = Some(gid);
            view.cancel = Arc::clone(&cancel);
            view.started_at = Some(crate::store::now_rfc3339());
            if let Some(h) = recorders.header(i) {
                view.history_id = Some(h.id.clone());
                view.request = Some(h);
            }
            self.sessions.push(view);
            members.push(id);
        }
        self.fanouts.push(FanoutView {
            id: gid,
            snapshot: snapshot.to_string(),
            base: base.to_string(),
            parallel: plan.parallel,
            members: members.clone(),
            expanded: false,
            cancel: Arc::clone(&cancel),
            summary: None,
            history: None,
        });
        jobs::spawn_fanout(
            self.tx.clone(),
            self.store.clone(),
            plan,
            gid,
            members,
            cancel,
            recorders,
        );
        self.show(Screen::Sessions);
        let gi = self.fanouts.len() - 1;
        if let Some(pos) = self
            .session_rows()
            .iter()
            .position(|r| *r == SessionRow::Group(gi))
        {
            self.session_sel = pos;
        }
        self.say(
            format!("fan-out: {count} forks of {snapshot}, {parallel} at a time"),
            Level::Info,
        );
        Ok(())
    }

    /// A fan-out ended.
    pub fn fanout_end(&mut self, id: u64, summary: Vec<String>) {
        if let Some(f) = self.fanouts.iter_mut().find(|f| f.id == id) {
            self.status = None;
            let first = summary.first().cloned().unwrap_or_default();
            f.summary = Some(summary);
            self.say(first, Level::Info);
        }
        self.reload_store();
    }

    /// Run the conformance suite on the selected snapshot.
    pub fn run_check(&mut self) {
        let Some(snap) = self.catalog.selected() else {
            self.say("no snapshot selected", Level::Info);
            return;
        };
        let snapshot = snap.name.clone();
        let id = self.next_session_id;
        self.next_session_id += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        self.checks.push(CheckView {
            id,
            snapshot: snapshot.clone(),
            rows: CheckId::ALL.iter().map(|c| (*c, None)).collect(),
            outcome: None,
            cancel: Arc::clone(&cancel),
        });
        let opts = CheckOptions {
            snapshot: snapshot.clone(),
            mailboxes: Vec::new(),
            deadline_ms: crate::check::DEFAULT_DEADLINE_MS,
            zero_copy: false,
            parallel: 4,
        };
        jobs::spawn_check(self.tx.clone(), self.store.clone(), opts, id, cancel);
        self.show(Screen::Sessions);
        self.session_sel = self.session_rows().len().saturating_sub(1);
        self.say(format!("checking the guest of {snapshot}…"), Level::Info);
    }

    /// A check of a suite run ended.
    pub fn check_event(&mut self, id: u64, event: CheckEvent) {
        if let Some(c) = self.checks.iter_mut().find(|c| c.id == id)
            && let CheckEvent::Finished(r) = event
        {
            c.rows.insert(r.check, Some(r));
        }
    }

    /// A suite run ended.
    pub fn check_end(&mut self, id: u64, result: Result<bool, String>) {
        if let Some(c) = self.checks.iter_mut().find(|c| c.id == id) {
            let msg = match &result {
                Ok(true) => (
                    format!("the guest of {} passes every check", c.snapshot),
                    Level::Ok,
                ),
                Ok(false) => (
                    format!("the guest of {} fails a check", c.snapshot),
                    Level::Error,
                ),
                Err(e) => (format!("check of {}: {e}", c.snapshot), Level::Error),
            };
            c.outcome = Some(result);
            self.say(msg.0, msg.1);
        }
        self.reload_store();
    }

    /// The fork dialog's `Confirm`: a single fork, or a fan-out when the
    /// count is more than one.
    pub fn confirm_fork_dialog(&mut self, form: &super::form::ForkForm) {
        let n = dialog_count(&form.count);
        if n < 2 {
            match self.form_refusal(form) {
                None => {
                    self.dialog = None;
                    self.mode = super::app::Mode::Normal;
                    self.start_fork(form);
                }
                Some(why) => self.dialog_error(why),
            }
            return;
        }
        let k = form.parallel.trim().parse().unwrap_or(4).max(1);
        match self.start_fanout(form, n, k) {
            Ok(()) => {
                self.dialog = None;
                self.mode = super::app::Mode::Normal;
            }
            Err(why) => self.dialog_error(why),
        }
    }

    fn dialog_error(&mut self, why: String) {
        if let Some(Dialog::Fork(f)) = self.dialog.as_mut() {
            f.error = Some(safe_owned(&why));
        }
    }
}
