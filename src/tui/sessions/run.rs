//! Starting work from the sessions screen's model: a fork session (its
//! history recorded), a fan-out (each fork a session of its own), a
//! conformance-suite run — all off the UI task — and folding in what they
//! report.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::groups::{CheckView, FanoutView, Sessions};
use super::model::SessionView;
use crate::check::{CheckEvent, CheckId, CheckOptions};
use crate::fanout::{FanoutSpec, MemberRecorders, PayloadTemplate, plan_fanout};
use crate::fork::{ForkError, ForkRequest, Prestart, SessionEvent};
use crate::history;
use crate::scan::ScanReport;
use crate::tui::action::Level;
use crate::tui::jobs;
use crate::tui::msg::FanoutSummary;
use crate::tui::overlay::fork_dialog::form::{ForkForm, Judge};
use crate::tui::shared::Shared;

impl Sessions {
    /// Forks being made by sessions of this run.
    pub fn running_forks(&self) -> Vec<String> {
        self.list
            .iter()
            .filter(|s| s.is_running())
            .map(|s| s.fork.clone())
            .collect()
    }

    /// Start a session forking what `form` says. `discovery` is the TUI's
    /// own scan of the snapshot (offsets are re-verified before any write),
    /// `prestart` a VMM started ahead. Returns the session's id, or why it
    /// cannot start.
    pub fn start_fork(
        &mut self,
        form: &ForkForm,
        discovery: Option<Arc<ScanReport>>,
        prestart: Option<Prestart>,
        cx: &mut Shared,
    ) -> Result<u64, String> {
        let running = self.running_forks();
        let judge = Judge {
            store: cx.store(),
            running: &running,
            report: discovery.as_deref(),
        };
        if let Some(why) = form.refusal(&judge) {
            return Err(why);
        }
        let mut req = ForkRequest::new(&form.snapshot);
        req.fork_name = Some(form.name.clone());
        req.mailboxes = form.specs()?;
        req.restore = !form.no_restore;
        req.zero_copy = form.zero_copy;
        // Explicit tokens are found by their exact bytes instead.
        if form.mailboxes.iter().all(|m| m.token.is_empty()) {
            req.discovery = discovery;
        }
        let id = cx.next_id();
        let names = req.mailboxes.iter().map(|m| m.name.clone()).collect();
        let mut view =
            SessionView::new(id, &form.name, &form.snapshot, names, cx.clock().instant());
        view.started_at = Some(crate::store::now_rfc3339());
        let recorder = match history::Recorder::start(cx.store(), &req, "tui") {
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
        crate::tui::payloads::remember_payloads(cx.store(), &form.snapshot, &req.mailboxes);
        let cancel = Arc::clone(&view.cancel);
        self.list.push(view);
        jobs::spawn_session(
            cx.tx().clone(),
            cx.store().clone(),
            req,
            prestart,
            id,
            cancel,
            recorder,
        );
        Ok(id)
    }

    /// Start a fan-out of what the fork dialog says: `count` forks named
    /// `<base>-<i>`, `parallel` at a time. Returns the fan-out's id, or
    /// why it cannot start (nothing was made then).
    pub fn start_fanout(
        &mut self,
        form: &ForkForm,
        discovery: Option<Arc<ScanReport>>,
        cx: &mut Shared,
    ) -> Result<u64, String> {
        let (count, parallel) = (form.count(), form.parallel());
        let spec = FanoutSpec {
            snapshot: form.snapshot.clone(),
            base_name: Some(form.name.clone()),
            payloads: PayloadTemplate::Count {
                count,
                mailboxes: form.templates(),
            },
            parallel,
            keep_going: false,
            zero_copy: form.zero_copy,
            restore: !form.no_restore,
            ack_bind: None,
        };
        let (mut plan, _capacity) = plan_fanout(cx.store(), &spec).map_err(|e| e.to_string())?;
        plan.discovery = discovery.or(plan.discovery);
        let gid = cx.next_id();
        let cancel = Arc::new(AtomicBool::new(false));
        // Each fork is a session of its own in the history (listed after a
        // restart, replayable), known here so it is not listed twice.
        let recorders = MemberRecorders::start(cx.store(), &plan, "tui");
        let mut members = Vec::new();
        for (i, f) in plan.forks.iter().enumerate() {
            let id = cx.next_id();
            let names = f.mailboxes.iter().map(|m| m.name.clone()).collect();
            let mut view =
                SessionView::new(id, &f.name, &form.snapshot, names, cx.clock().instant());
            view.group = Some(gid);
            view.cancel = Arc::clone(&cancel);
            view.started_at = Some(crate::store::now_rfc3339());
            if let Some(h) = recorders.header(i) {
                view.history_id = Some(h.id.clone());
                view.request = Some(h);
            }
            self.list.push(view);
            members.push(id);
        }
        self.fanouts.push(FanoutView {
            id: gid,
            snapshot: form.snapshot.clone(),
            base: form.name.clone(),
            parallel: plan.parallel,
            count,
            members: members.clone(),
            expanded: false,
            cancel: Arc::clone(&cancel),
            summary: None,
            history: None,
        });
        jobs::spawn_fanout(
            cx.tx().clone(),
            cx.store().clone(),
            plan,
            gid,
            members,
            cancel,
            recorders,
        );
        Ok(gid)
    }

    /// An engine event arrived.
    pub fn session_event(&mut self, id: u64, event: SessionEvent, cx: &Shared) {
        let now = cx.clock().instant();
        if let Some(s) = self.by_id_mut(id) {
            s.apply(&event, now);
            if matches!(
                event.stage(),
                crate::fork::Stage::Restore | crate::fork::Stage::Ack | crate::fork::Stage::Done
            ) {
                s.refresh_log();
            }
        }
    }

    /// A session's thread ended: say how (its detail says why).
    pub fn session_end(&mut self, id: u64, result: Result<String, ForkError>, cx: &mut Shared) {
        let grouped = self.by_id(id).is_some_and(|s| s.group.is_some());
        let said = match &result {
            Ok(f) => Some((format!("fork {f} is running"), Level::Ok, Some(f.clone()))),
            Err(e) if e.is_cancelled() => {
                Some(("fork cancelled; rolled back".to_string(), Level::Info, None))
            }
            // The session's detail states the error; the status line says
            // only that it failed, so the reason is not shown twice.
            Err(_) => Some((
                "fork failed and rolled back (the session shows why)".to_string(),
                Level::Error,
                None,
            )),
        };
        if let Some(s) = self.by_id_mut(id) {
            s.end(result);
            if let Some(h) = &s.history_id {
                let path = cx.store().sessions_dir().join(format!("{h}.jsonl"));
                s.history_read = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            }
        }
        // A fan-out's forks are summed up once it ends.
        if grouped {
            return;
        }
        if let Some((text, level, about)) = said {
            match about {
                Some(f) => cx.say_about(&f, text, level),
                None => cx.say(text, level),
            }
        }
    }

    /// A fan-out ended.
    pub fn fanout_end(&mut self, id: u64, summary: FanoutSummary, cx: &mut Shared) {
        if let Some(f) = self.fanouts.iter_mut().find(|f| f.id == id) {
            let level = if summary.failed > 0 {
                Level::Error
            } else {
                Level::Ok
            };
            cx.say(
                format!(
                    "fan-out {}: {} done, {} failed in {} ms",
                    f.base, summary.done, summary.failed, summary.elapsed_ms
                ),
                level,
            );
            f.summary = Some(summary);
        }
    }

    /// Run the conformance suite on `snapshot`.
    pub fn start_check(&mut self, snapshot: &str, cx: &mut Shared) {
        let id = cx.next_id();
        let cancel = Arc::new(AtomicBool::new(false));
        self.checks.push(CheckView {
            id,
            snapshot: snapshot.to_string(),
            rows: CheckId::ALL.iter().map(|c| (*c, None)).collect(),
            outcome: None,
            cancel: Arc::clone(&cancel),
        });
        let opts = CheckOptions {
            snapshot: snapshot.to_string(),
            mailboxes: Vec::new(),
            deadline_ms: crate::check::DEFAULT_DEADLINE_MS,
            zero_copy: false,
            parallel: 4,
        };
        jobs::spawn_check(cx.tx().clone(), cx.store().clone(), opts, id, cancel);
        cx.say(format!("checking the guest of {snapshot}…"), Level::Info);
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
    pub fn check_end(&mut self, id: u64, result: Result<bool, String>, cx: &mut Shared) {
        if let Some(c) = self.checks.iter_mut().find(|c| c.id == id) {
            let (text, level) = match &result {
                Ok(true) => (
                    format!("the guest of {} passes every check", c.snapshot),
                    Level::Ok,
                ),
                Ok(false) => (
                    format!(
                        "the guest of {} fails a check (Enter on it: the evidence)",
                        c.snapshot
                    ),
                    Level::Error,
                ),
                Err(e) => (format!("check of {}: {e}", c.snapshot), Level::Error),
            };
            c.outcome = Some(result);
            cx.say(text, level);
        }
    }
}
