//! Fork sessions as the TUI sees them: the fork dialog, starting a session
//! off the UI task, and folding its [`SessionEvent`]s into a view model.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossterm::event::KeyCode;

use super::app::{Action, App, Dialog, Level, Mode, Screen};
use super::jobs;
use crate::fork::{
    ForkError, ForkRequest, Happening, MailboxSpec, SessionEvent, Stage, Status, generate_fork_name,
};
use crate::mailbox::{MailboxKind, check_payload, name_is_valid};
use crate::sanitize::{safe, safe_owned};
use crate::scan::ScanReport;
use crate::store::{GUEST_LOG, ValidName};

/// Lines of guest log kept.
const LOG_TAIL: usize = 8;

/// State of one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRow {
    /// Latest status.
    pub status: Status,
    /// When it started (ms since session start).
    pub started_ms: u64,
    /// When it last changed.
    pub elapsed_ms: u64,
    /// Latest detail.
    pub detail: Option<String>,
    /// Error, when failed.
    pub error: Option<String>,
}

/// State of one mailbox's ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckState {
    /// Waiting; see the deadline.
    Waiting,
    /// Acked (detail).
    Acked(String),
    /// Failed (reason).
    Failed(String),
}

/// One mailbox waiting for (or done with) its ack.
#[derive(Debug, Clone)]
pub struct AckRow {
    /// Mailbox name.
    pub mailbox: String,
    /// UDP port.
    pub port: Option<u16>,
    /// Deadline in ms from the start of the wait.
    pub deadline_ms: u64,
    /// When the wait started (UI clock).
    pub started_at: Instant,
    /// State.
    pub state: AckState,
}

/// One fork session, live or finished.
#[derive(Debug)]
pub struct SessionView {
    /// Session id (UI only).
    pub id: u64,
    /// Fork name.
    pub fork: String,
    /// Source snapshot.
    pub snapshot: String,
    /// Mailboxes sent.
    pub mailboxes: Vec<String>,
    /// Stages seen so far.
    pub stages: BTreeMap<Stage, StageRow>,
    /// Copy progress (bytes, total).
    pub copy: Option<(u64, u64)>,
    /// Ack waits.
    pub acks: Vec<AckRow>,
    /// Latest elapsed time reported.
    pub elapsed_ms: u64,
    /// When the latest event arrived (UI clock), to run the clock between events.
    pub last_event_at: Instant,
    /// Final error.
    pub error: Option<String>,
    /// `None` while running; the fork name or the failure (sanitized) when ended.
    pub outcome: Option<Result<String, String>>,
    /// Last lines of the guest log.
    pub log_tail: Vec<String>,
    /// The guest log file, once the engine made the fork's directory.
    pub log_path: Option<PathBuf>,
    /// Datagrams on the ack ports that did not count (forged, crossed, bad).
    pub ignored: usize,
    /// The session was cancelled (not failed).
    pub cancelled: bool,
    /// Set to cancel (the engine rolls back).
    pub cancel: Arc<AtomicBool>,
    /// Detail scroll.
    pub scroll: u16,
    /// The fan-out it belongs to.
    pub group: Option<u64>,
}

impl SessionView {
    /// A session about to start.
    pub fn new(id: u64, fork: &str, snapshot: &str, mailboxes: Vec<String>, now: Instant) -> Self {
        SessionView {
            id,
            fork: fork.into(),
            snapshot: snapshot.into(),
            mailboxes,
            stages: BTreeMap::new(),
            copy: None,
            acks: Vec::new(),
            elapsed_ms: 0,
            last_event_at: now,
            error: None,
            outcome: None,
            log_tail: Vec::new(),
            log_path: None,
            ignored: 0,
            cancelled: false,
            cancel: Arc::new(AtomicBool::new(false)),
            scroll: 0,
            group: None,
        }
    }

    /// Session time now: the last reported time plus the time since.
    pub fn elapsed_now(&self, now: Instant) -> u64 {
        let since = now
            .saturating_duration_since(self.last_event_at)
            .as_millis() as u64;
        self.elapsed_ms + since
    }

    /// Still running.
    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Ended in failure.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Some(Err(_))) || self.stages.contains_key(&Stage::Failed)
    }

    /// The stage now running, if any.
    pub fn current(&self) -> Option<Stage> {
        self.stages
            .iter()
            .filter(|(_, r)| matches!(r.status, Status::Started | Status::Progress))
            .map(|(s, _)| *s)
            .next_back()
    }

    /// Fold one event in. `now` is the UI clock (for countdowns). Every
    /// string kept for drawing goes through the sanitizer: names, details
    /// and errors can quote guest memory.
    pub fn apply(&mut self, e: &SessionEvent, now: Instant) {
        self.elapsed_ms = self.elapsed_ms.max(e.elapsed_ms);
        self.last_event_at = now;
        match &e.what {
            Happening::CopyStarted { dir } => {
                // From here on the fork directory is this session's own.
                self.log_path = Some(dir.join(GUEST_LOG));
            }
            Happening::CopyProgress { bytes, total } => self.copy = Some((*bytes, *total)),
            Happening::Copied { data_bytes, .. } => self.copy = Some((*data_bytes, *data_bytes)),
            Happening::AckWaiting {
                mailbox,
                port,
                deadline_ms,
            } => {
                self.acks.push(AckRow {
                    mailbox: safe_owned(mailbox),
                    port: Some(*port),
                    deadline_ms: *deadline_ms,
                    started_at: now,
                    state: AckState::Waiting,
                });
                return;
            }
            Happening::Acked { mailbox, .. } => {
                let detail = e.detail().unwrap_or_else(|| "acked".into());
                self.set_ack(mailbox, AckState::Acked(safe_owned(&detail)));
                return;
            }
            Happening::DatagramIgnored { .. } => {
                self.ignored += 1;
                return;
            }
            Happening::StageFailed(err) if err.stage == Stage::Ack => {
                if let Some(mb) = &err.mailbox {
                    self.set_ack(mb, AckState::Failed(safe_owned(&err.reason)));
                }
            }
            _ => {}
        }
        let stage = e.stage();
        let status = e.status();
        let row = self.stages.entry(stage).or_insert(StageRow {
            status,
            started_ms: e.elapsed_ms,
            elapsed_ms: e.elapsed_ms,
            detail: None,
            error: None,
        });
        row.status = status;
        row.elapsed_ms = e.elapsed_ms;
        if let Some(d) = e.detail() {
            row.detail = Some(match e.mailbox() {
                Some(m) => format!("[{}] {}", safe(m), safe(&d)),
                None => safe_owned(&d),
            });
        }
        if let Some(err) = e.error() {
            row.error = Some(safe_owned(&err.message));
            if matches!(e.what, Happening::Failed(_)) {
                self.error = Some(safe_owned(&err.message));
                self.cancelled = err.is_cancelled();
            }
        }
    }

    fn set_ack(&mut self, mailbox: &str, state: AckState) {
        let mb = safe(mailbox);
        if let Some(a) = self.acks.iter_mut().find(|a| a.mailbox == mb) {
            a.state = state;
        }
    }

    /// The session ended.
    pub fn end(&mut self, result: Result<String, ForkError>) {
        for a in self
            .acks
            .iter_mut()
            .filter(|a| a.state == AckState::Waiting)
        {
            a.state = AckState::Failed("abandoned".into());
        }
        let result = result.map_err(|e| {
            self.cancelled = e.is_cancelled();
            safe_owned(&e.message)
        });
        if let Err(e) = &result
            && self.error.is_none()
        {
            self.error = Some(e.clone());
        }
        self.outcome = Some(result);
        self.refresh_log();
    }

    /// Re-read the tail of the guest log (kept when the fork is removed).
    /// Only the session's own fork directory is read: until the engine says
    /// it made one, there is no log to show.
    pub fn refresh_log(&mut self) {
        let Some(path) = &self.log_path else {
            return;
        };
        let text = crate::files::tail_text(path, 4096);
        let lines: Vec<&str> = text.lines().collect();
        let skip = lines.len().saturating_sub(LOG_TAIL);
        // Guest-written: never let its control characters reach the terminal.
        self.log_tail = lines[skip..].iter().map(|l| safe_owned(l)).collect();
    }
}

/// Why a fork mailbox of a scan cannot take part in a fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    /// Its marker occurs more than once: forkmail refuses to patch an
    /// ambiguous mailbox.
    Duplicate,
    /// Its marker breaks the contract (the problem, sanitized).
    Invalid(String),
}

impl Exclusion {
    /// A few words, for titles and the IN column's neighbours.
    pub fn short(&self) -> &'static str {
        match self {
            Exclusion::Duplicate => "duplicate marker",
            Exclusion::Invalid(_) => "invalid marker",
        }
    }
    /// The full reason, for the fork dialog and the status line.
    pub fn reason(&self) -> String {
        match self {
            Exclusion::Duplicate => {
                "duplicate marker: forkmail refuses to patch an ambiguous mailbox".into()
            }
            Exclusion::Invalid(p) => format!("invalid marker: {p}"),
        }
    }
}

/// Whether fork mailbox `name` of `report` can be included, and why not.
/// A mailbox is includable only when exactly one marker carries its name
/// and that marker is valid (name, token, and a frame before end of file).
pub fn exclusion(report: &ScanReport, name: &str) -> Option<Exclusion> {
    let mut same = report
        .markers
        .iter()
        .filter(|m| m.kind == MailboxKind::Fork && m.name.as_deref() == Some(name));
    let first = same.next()?;
    if first.duplicate || same.next().is_some() {
        return Some(Exclusion::Duplicate);
    }
    if !first.valid || !name_is_valid(name) {
        let p = first.problem.as_deref().unwrap_or("bad marker");
        return Some(Exclusion::Invalid(safe_owned(p)));
    }
    None
}

impl App {
    /// Open the fork dialog for the selected snapshot.
    pub fn open_fork_dialog(&mut self) {
        // Read-only snapshots are never forked here; say what to do instead.
        if let Some(why) = self.catalog.selected_entry().and_then(|e| e.fork_refusal()) {
            self.say(why, Level::Error);
            return;
        }
        let Some(snap) = self.catalog.selected() else {
            self.say("no snapshot selected", Level::Info);
            return;
        };
        let snapshot = snap.name.clone();
        if self.catalog.cached(&snapshot).is_none() {
            self.say(
                format!("{snapshot}: wait for the scan to finish"),
                Level::Info,
            );
            return;
        }
        self.save_current_draft();
        self.want_prestart(&snapshot);
        let excluded = self.excluded_mailboxes(&snapshot);
        let mailboxes = self
            .included_mailboxes(&snapshot)
            .iter()
            .map(|m| {
                let ack = if m.wait_for_ack {
                    let ms = m.ack_timeout_ms.unwrap_or(0);
                    format!("ack within {:.1} s", ms as f64 / 1000.0)
                } else {
                    "no ack".into()
                };
                let text = m.payload.as_deref().unwrap_or("");
                let bad = check_payload(text, m.wait_for_ack).problem.is_some();
                (format!("{} ({ack})", m.name), bad)
            })
            .collect();
        self.dialog = Some(Dialog::Fork {
            name: generate_fork_name(&snapshot),
            mailboxes,
            excluded,
            snapshot,
            error: None,
            count: "1".into(),
            parallel: "4".into(),
            field: 0,
            preview: Vec::new(),
        });
        self.mode = Mode::ForkName;
    }

    /// Mailbox specs of the included mailboxes of `snapshot`, in marker order.
    pub fn included_mailboxes(&mut self, snapshot: &str) -> Vec<MailboxSpec> {
        let Some(report) = self.catalog.cached(snapshot).cloned() else {
            return Vec::new();
        };
        let mut names: Vec<String> = Vec::new();
        for m in &report.markers {
            if m.kind == MailboxKind::Fork
                && let Some(n) = &m.name
                && name_is_valid(n)
                && !names.contains(n)
                && exclusion(&report, n).is_none()
            {
                names.push(n.clone());
            }
        }
        let mut specs = Vec::new();
        for name in names {
            let d = self.draft(snapshot, &name).clone();
            if d.include {
                specs.push(MailboxSpec {
                    name,
                    token: None,
                    payload: Some(d.payload),
                    wait_for_ack: d.wait_for_ack,
                    ack_timeout_ms: Some(d.ack_timeout_ms as i64),
                });
            }
        }
        specs
    }

    /// Fork mailboxes of `snapshot` that cannot take part in a fork, each
    /// as "name: reason", in marker order.
    pub fn excluded_mailboxes(&self, snapshot: &str) -> Vec<String> {
        let Some(report) = self.catalog.cached(snapshot) else {
            return Vec::new();
        };
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for m in &report.markers {
            let Some(n) = m.name.as_deref().filter(|_| m.kind == MailboxKind::Fork) else {
                continue;
            };
            if seen.contains(&n) {
                continue;
            }
            seen.push(n);
            if let Some(x) = exclusion(report, n) {
                out.push(format!("{}: {}", safe(n), x.reason()));
            }
        }
        out
    }

    /// Keys while a dialog is open.
    pub fn dialog_action(&mut self, action: Action) {
        let Some(dialog) = self.dialog.clone() else {
            self.mode = Mode::Normal;
            return;
        };
        match (dialog, action) {
            (_, Action::Cancel) => {
                self.dialog = None;
                self.mode = Mode::Normal;
            }
            (d @ Dialog::Fork { .. }, Action::Confirm) => self.confirm_fork_dialog(d),
            (
                Dialog::Fork {
                    snapshot,
                    mut name,
                    mailboxes,
                    excluded,
                    mut count,
                    mut parallel,
                    mut field,
                    ..
                },
                a @ (Action::Text(_) | Action::NextField | Action::PrevField),
            ) => {
                match a {
                    Action::NextField => field = (field + 1) % 3,
                    Action::PrevField => field = (field + 2) % 3,
                    Action::Text(key) => {
                        let text = match field {
                            0 => &mut name,
                            1 => &mut count,
                            _ => &mut parallel,
                        };
                        match key.code {
                            KeyCode::Char(c) if field == 0 && text.len() < 63 => text.push(c),
                            KeyCode::Char(c)
                                if field > 0 && c.is_ascii_digit() && text.len() < 4 =>
                            {
                                text.push(c)
                            }
                            KeyCode::Backspace => {
                                text.pop();
                            }
                            _ => return,
                        }
                    }
                    _ => return,
                }
                let preview =
                    self.fanout_preview(&snapshot, &name, super::fanout::dialog_count(&count));
                self.dialog = Some(Dialog::Fork {
                    snapshot,
                    name,
                    mailboxes,
                    excluded,
                    error: None,
                    count,
                    parallel,
                    field,
                    preview,
                });
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
                    Dialog::Fork { .. } => {}
                }
            }
            _ => {}
        }
    }

    /// Why forking `snapshot` as `name` would fail for what is known now: an
    /// invalid or used fork name, an included payload the engine would
    /// refuse. `None` when it may start.
    pub fn fork_refusal(&mut self, snapshot: &str, name: &str) -> Option<String> {
        if let Err(e) = ValidName::new(name) {
            return Some(e.to_string());
        }
        let in_store = std::fs::symlink_metadata(self.store.forks_dir().join(name)).is_ok();
        let in_session = self
            .sessions
            .iter()
            .any(|s| s.fork == name && s.is_running());
        if in_store || in_session {
            return Some(format!("fork {name} already exists: choose another name"));
        }
        if let Some(r) = self.catalog.cached(snapshot)
            && r.truncated
        {
            return Some(format!(
                "discovery stopped at {} markers, so a copy of any mailbox could be hidden: fork from the CLI with --token NAME=TOKEN",
                r.markers.len()
            ));
        }
        for m in self.included_mailboxes(snapshot) {
            let text = m.payload.as_deref().unwrap_or("");
            if let Some(p) = check_payload(text, m.wait_for_ack).problem {
                return Some(format!("mailbox {}: {p}", m.name));
            }
        }
        None
    }

    /// Start a session forking `snapshot` as `fork`.
    pub fn start_fork(&mut self, snapshot: &str, fork: &str) {
        let mut req = ForkRequest::new(snapshot);
        req.fork_name = Some(fork.to_string());
        req.mailboxes = self.included_mailboxes(snapshot);
        req.discovery = self.catalog.cached(snapshot).cloned();
        let id = self.next_session_id;
        self.next_session_id += 1;
        let names = req.mailboxes.iter().map(|m| m.name.clone()).collect();
        let view = SessionView::new(id, fork, snapshot, names, self.clock.instant());
        let cancel = Arc::clone(&view.cancel);
        self.sessions.push(view);
        let last = self.sessions.len() - 1;
        if let Some(pos) = self
            .session_rows()
            .iter()
            .position(|r| *r == super::fanout::SessionRow::Single(last))
        {
            self.session_sel = pos;
        }
        let prestart = self.take_prestart(snapshot);
        jobs::spawn_session(
            self.tx.clone(),
            self.store.clone(),
            req,
            prestart,
            id,
            cancel,
        );
        self.show(Screen::Sessions);
        self.say(format!("forking {snapshot} as {fork}"), Level::Info);
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
        let msg = match &result {
            Ok(f) => (format!("fork {f} is running"), Level::Ok),
            Err(e) if e.is_cancelled() => ("fork cancelled; rolled back".to_string(), Level::Info),
            Err(e) => (format!("fork failed: {}", e.message), Level::Error),
        };
        if let Some(s) = self.sessions.iter_mut().find(|s| s.id == id) {
            s.end(result);
        }
        self.say(msg.0, msg.1);
        self.reload_store();
    }

    /// Ask before cancelling the selected session (for a fan-out's row or
    /// one of its forks: the whole fan-out; for a check: the suite).
    pub fn ask_cancel_session(&mut self) {
        use super::fanout::SessionRow;
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

    /// Drop the selected finished session (or finished fan-out, or check)
    /// from the list.
    pub fn dismiss_session(&mut self) {
        use super::fanout::SessionRow;
        match self.selected_row() {
            Some(SessionRow::Single(i)) if !self.sessions[i].is_running() => {
                self.sessions.remove(i);
            }
            Some(SessionRow::Group(gi)) => {
                if self.members(gi).iter().any(|s| s.is_running()) {
                    return;
                }
                let g = self.fanouts.remove(gi).id;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn marker(name: &str, valid: bool, duplicate: bool) -> crate::scan::Marker {
        crate::scan::Marker {
            kind: MailboxKind::Fork,
            name: Some(name.into()),
            token: "t".into(),
            offset: 0,
            seq: 0,
            payload_len: 0,
            payload: None,
            duplicate,
            valid,
            problem: (!valid).then(|| "frame runs past end of file".into()),
            page_aligned: true,
        }
    }

    #[test]
    fn invalid_and_duplicate_mailboxes_are_not_includable() {
        let report = ScanReport {
            path: PathBuf::from("m"),
            file_size: 0,
            data_bytes: 0,
            extents: 0,
            markers: vec![
                marker("ok.box", true, false),
                marker("near.end", false, false),
                marker("twice", true, true),
                marker("twice", true, true),
            ],
            truncated: false,
            elapsed: Default::default(),
        };
        assert_eq!(exclusion(&report, "ok.box"), None);
        assert_eq!(
            exclusion(&report, "near.end"),
            Some(Exclusion::Invalid("frame runs past end of file".into()))
        );
        assert_eq!(exclusion(&report, "twice"), Some(Exclusion::Duplicate));
    }

    fn no_controls(s: &str) -> bool {
        !s.chars().any(|c| c.is_control())
    }

    fn ev(elapsed_ms: u64, what: Happening) -> SessionEvent {
        SessionEvent {
            fork: "f".into(),
            elapsed_ms,
            what,
        }
    }

    #[test]
    fn guest_log_and_event_text_never_carry_control_characters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join(GUEST_LOG);
        std::fs::write(
            &log,
            "ok line\n\x1b]0;owned\x07title\n\x1b[2J\x1b[Hclear\r\nbell\x07\u{9b}31m\n",
        )
        .expect("write log");
        let now = Instant::now();
        let mut s = SessionView::new(1, "f", "snap", vec![], now);
        s.apply(
            &ev(
                0,
                Happening::CopyStarted {
                    dir: dir.path().to_path_buf(),
                },
            ),
            now,
        );
        s.refresh_log();
        assert_eq!(s.log_tail.len(), 4, "{:?}", s.log_tail);
        assert!(
            s.log_tail.iter().all(|l| no_controls(l)),
            "{:?}",
            s.log_tail
        );
        assert_eq!(s.log_tail[1], "�]0;owned�title");

        let evil = "mb\x1b[31m";
        s.apply(
            &ev(
                1,
                Happening::AckWaiting {
                    mailbox: evil.into(),
                    port: 1,
                    deadline_ms: 10,
                },
            ),
            now,
        );
        let err =
            ForkError::mailbox(ErrorKind::AckTimeout, evil, "guest said \x1b[5m").at(Stage::Ack);
        s.apply(&ev(2, Happening::StageFailed(err)), now);
        s.apply(
            &ev(
                3,
                Happening::FrameWritten {
                    mailbox: evil.into(),
                    bytes: 3,
                    offset: 0,
                },
            ),
            now,
        );
        s.end(Err(ForkError::new(ErrorKind::Io, "boom\x1b[0m")));
        assert!(s.acks.iter().all(|a| no_controls(&a.mailbox)));
        assert!(matches!(&s.acks[0].state, AckState::Failed(t) if no_controls(t)));
        for r in s.stages.values() {
            assert!(r.detail.as_deref().is_none_or(no_controls), "{r:?}");
            assert!(r.error.as_deref().is_none_or(no_controls), "{r:?}");
        }
        assert!(s.error.as_deref().is_some_and(no_controls));
        assert!(matches!(&s.outcome, Some(Err(t)) if no_controls(t)));
    }

    #[test]
    fn a_session_shows_no_log_before_it_made_its_own_directory() {
        // Another fork's directory of the same name holds a log: it is not shown.
        let now = Instant::now();
        let mut s = SessionView::new(1, "taken", "snap", vec![], now);
        s.refresh_log();
        assert!(s.log_tail.is_empty());
        assert!(s.log_path.is_none());
        let err = ForkError::new(ErrorKind::BadRequest, "fork taken already exists");
        s.apply(&ev(1, Happening::StageFailed(err.clone())), now);
        s.end(Err(err));
        assert!(s.log_path.is_none() && s.log_tail.is_empty());
    }

    #[test]
    fn a_cancelled_session_says_so() {
        let now = Instant::now();
        let mut s = SessionView::new(1, "f", "snap", vec![], now);
        s.apply(
            &ev(1, Happening::Failed(ForkError::cancelled().at(Stage::Ack))),
            now,
        );
        s.end(Err(ForkError::cancelled()));
        assert!(s.cancelled);
    }
}
