//! Running fork sessions from the TUI: starting one off the UI task (it is
//! recorded in the store's session history), folding its events in,
//! confirmations, cancel, dismiss, and the sessions of earlier runs read
//! back from the history.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::app::{Action, App, Dialog, Level, Mode, Screen};
use super::fanout::SessionRow;
use super::form::ForkForm;
use super::jobs;
use super::session::SessionView;
use crate::fork::{ForkError, ForkRequest, SessionEvent, Stage};
use crate::history;

/// Past sessions listed at start (the newest).
pub const PAST_SESSIONS_SHOWN: usize = 50;

impl App {
    /// Keys while a dialog is open.
    pub fn dialog_action(&mut self, action: Action) {
        let Some(dialog) = self.dialog.clone() else {
            self.mode = Mode::Normal;
            return;
        };
        match (dialog, action) {
            (Dialog::Fork(_), a) => self.form_action(a),
            (_, Action::Cancel) => {
                self.dialog = None;
                self.mode = Mode::Normal;
            }
            (d, Action::Confirm) => {
                self.dialog = None;
                self.mode = Mode::Normal;
                match d {
                    Dialog::StopFork(f) => self.fork_op(&f, false),
                    Dialog::RemoveFork(f) => self.fork_op(&f, true),
                    Dialog::BulkForkOp { names, remove } => {
                        for f in &names {
                            self.fork_op(f, remove);
                        }
                        self.forks.marked.clear();
                    }
                    Dialog::CancelSession(id) => {
                        if let Some(s) = self.sessions.iter().find(|s| s.id == id) {
                            s.cancel.store(true, Ordering::Relaxed);
                        }
                    }
                    Dialog::Quit(_) => self.quit(),
                    Dialog::Fork(_) => {}
                }
            }
            _ => {}
        }
    }

    /// Start a session forking what `form` says.
    pub fn start_fork(&mut self, form: &ForkForm) {
        let mut req = ForkRequest::new(&form.snapshot);
        req.fork_name = Some(form.name.clone());
        req.mailboxes = form.specs();
        req.restore = !form.no_restore;
        req.zero_copy = form.zero_copy;
        // Offsets from the TUI's own scan are re-verified before any write;
        // explicit tokens are found by their exact bytes instead.
        if form.mailboxes.iter().all(|m| m.token.is_empty()) {
            req.discovery = self.catalog.cached(&form.snapshot).cloned();
        }
        let id = self.next_session_id;
        self.next_session_id += 1;
        let names = req.mailboxes.iter().map(|m| m.name.clone()).collect();
        let mut view =
            SessionView::new(id, &form.name, &form.snapshot, names, self.clock.instant());
        view.started_at = Some(crate::store::now_rfc3339());
        let recorder = match history::Recorder::start(&self.store, &req, "tui") {
            Ok(r) => {
                view.history_id = Some(r.id().to_string());
                view.request = Some(r.header().clone());
                Some(r)
            }
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        };
        self.remember_payloads(&form.snapshot, &req.mailboxes);
        let cancel = Arc::clone(&view.cancel);
        self.sessions.push(view);
        // A VMM prestarted for this snapshot is used when it fits the
        // request (the engine checks the mode).
        let prestart = self.take_prestart(&form.snapshot);
        jobs::spawn_session(
            self.tx.clone(),
            self.store.clone(),
            req,
            prestart,
            id,
            cancel,
            recorder,
        );
        self.show(Screen::Sessions);
        self.select_session_id(id);
        self.say(
            format!("forking {} as {}", form.snapshot, form.name),
            Level::Info,
        );
    }

    /// An engine event arrived.
    pub fn session_event(&mut self, id: u64, event: SessionEvent) {
        let now = self.clock.instant();
        if let Some(s) = self.sessions.iter_mut().find(|s| s.id == id) {
            s.apply(&event, now);
            if matches!(event.stage(), Stage::Restore | Stage::Ack | Stage::Done) {
                s.refresh_log();
            }
        }
    }

    /// A session ended.
    pub fn session_end(&mut self, id: u64, result: Result<String, ForkError>) {
        let (text, level, about) = match &result {
            Ok(f) => (format!("fork {f} is running"), Level::Ok, Some(f.clone())),
            Err(e) if e.is_cancelled() => {
                ("fork cancelled; rolled back".to_string(), Level::Info, None)
            }
            // The session's detail states the error; the status line says
            // only that it failed, so the reason is not shown twice.
            Err(_) => (
                "fork failed and rolled back (the session shows why)".to_string(),
                Level::Error,
                None,
            ),
        };
        if let Some(s) = self.sessions.iter_mut().find(|s| s.id == id) {
            s.end(result);
        }
        match about {
            Some(f) => self.say_about(&f, text, level),
            None => self.say(text, level),
        }
        self.reload_store();
    }

    /// Ask before cancelling the selected session (a fan-out: all of its
    /// forks; a check: at once).
    pub fn ask_cancel_session(&mut self) {
        let running = match self.selected_row() {
            Some(SessionRow::Single(i) | SessionRow::Member(i)) => {
                self.sessions[i].is_running().then(|| self.sessions[i].id)
            }
            Some(SessionRow::Group(gi)) => {
                let ms = self.members(gi);
                ms.iter().any(|s| s.is_running()).then(|| ms[0].id)
            }
            Some(SessionRow::Check(ci)) => {
                let c = &self.checks[ci];
                if c.outcome.is_none() {
                    c.cancel.store(true, Ordering::Relaxed);
                    self.say("cancelling the check…", Level::Info);
                }
                return;
            }
            None => None,
        };
        match running {
            Some(id) => {
                self.dialog = Some(Dialog::CancelSession(id));
                self.mode = Mode::Confirm;
            }
            None => self.say("no running session selected", Level::Info),
        }
    }

    /// Drop the selected finished session (or fan-out, or check) from the
    /// list; a single session's history goes with it.
    pub fn dismiss_session(&mut self) {
        match self.selected_row() {
            Some(SessionRow::Single(i)) if !self.sessions[i].is_running() => {
                let s = self.sessions.remove(i);
                if let Some(h) = &s.history_id {
                    history::forget(&self.store, h);
                }
            }
            Some(SessionRow::Group(gi)) => {
                if self.members(gi).iter().any(|s| s.is_running()) {
                    return;
                }
                let g = self.fanouts.remove(gi).id;
                // Its forks' histories go with it, as a single session's does.
                for s in self.sessions.iter().filter(|s| s.group == Some(g)) {
                    if let Some(h) = &s.history_id {
                        history::forget(&self.store, h);
                    }
                }
                self.sessions.retain(|s| s.group != Some(g));
            }
            Some(SessionRow::Check(ci)) if self.checks[ci].outcome.is_some() => {
                self.checks.remove(ci);
            }
            _ => return,
        }
        self.session_sel = self
            .session_sel
            .min(self.session_rows().len().saturating_sub(1));
    }

    /// List the newest sessions of the store's history (at start).
    pub fn load_history(&mut self) {
        self.merge_history();
        self.session_sel = self.session_rows().len().saturating_sub(1);
    }

    /// Add sessions of the history not listed yet (run by an earlier TUI or
    /// the CLI). Returns whether any was added.
    pub fn merge_history(&mut self) -> bool {
        let ids = history::ids(&self.store);
        let skip = ids.len().saturating_sub(PAST_SESSIONS_SHOWN);
        let mut added = false;
        for hid in &ids[skip..] {
            if self
                .sessions
                .iter()
                .any(|s| s.history_id.as_deref() == Some(hid.as_str()))
            {
                continue;
            }
            let Ok(past) = history::load(&self.store, hid) else {
                continue;
            };
            // A session still running elsewhere shows once it ended.
            if !past.finished() && self.sessions_elsewhere_running(&past) {
                continue;
            }
            let id = self.next_session_id;
            self.next_session_id += 1;
            let mut view = SessionView::from_past(id, &past, self.clock.instant());
            if let Some(tag) = &past.header.fanout {
                view.group = Some(self.past_fanout(tag, &past.header.snapshot, id));
            }
            // Keep the list in start order: past sessions before this run's.
            let at = self
                .sessions
                .iter()
                .position(|s| s.history_id.as_deref().is_none_or(|h| h > hid.as_str()))
                .unwrap_or(self.sessions.len());
            self.sessions.insert(at, view);
            if at <= self.session_sel && self.sessions.len() > 1 {
                self.session_sel += 1;
            }
            added = true;
        }
        added
    }

    /// The fan-out a past session of fan-out `tag` goes under (made on its
    /// first fork read back); session `member` joins its members.
    fn past_fanout(&mut self, tag: &history::FanoutTag, snapshot: &str, member: u64) -> u64 {
        let at = self
            .fanouts
            .iter()
            .position(|f| f.history.as_deref() == Some(tag.id.as_str()));
        let gi = match at {
            Some(gi) => gi,
            None => {
                let gid = self.next_session_id;
                self.next_session_id += 1;
                self.fanouts.push(super::fanout::FanoutView {
                    id: gid,
                    snapshot: crate::sanitize::safe_owned(snapshot),
                    base: crate::sanitize::safe_owned(&tag.base),
                    parallel: tag.parallel,
                    members: Vec::new(),
                    expanded: false,
                    cancel: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                    summary: None,
                    history: Some(tag.id.clone()),
                });
                self.fanouts.len() - 1
            }
        };
        self.fanouts[gi].members.push(member);
        self.fanouts[gi].id
    }

    /// Whether the fork of a past session without a final event is still
    /// being made by a session of another process.
    fn sessions_elsewhere_running(&self, past: &history::PastSession) -> bool {
        let Some(fork) = past.events.first().map(|e| e.fork.as_str()) else {
            return false;
        };
        crate::store::ValidName::new(fork)
            .map(|n| crate::fork::session_running(&self.store.fork_dir(&n)))
            .unwrap_or(false)
    }
}
