//! One fork session as the sessions screen sees it, live or read back
//! from the history: the engine's [`SessionEvent`]s folded by one fold,
//! [`SessionView::apply`] — the same for an event that just arrived and
//! for one read back after a restart. Every string kept for drawing is
//! sanitized here (names, details and errors can quote guest memory).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::fork::{Failure, Fate, ForkError, Happening, KeptLogs, SessionEvent, Stage, Status};
use crate::history::{PastSession, SessionHeader};
use crate::sanitize::{safe, safe_owned};
use crate::store::GUEST_LOG;

/// Lines of the guest log the detail shows.
pub const LOG_TAIL: usize = 8;

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
    /// The session was cancelled while it waited.
    Cancelled,
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

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: the fork is made.
    Done,
    /// Failed (and rolled back), with the failure.
    Failed,
    /// Cancelled (and rolled back).
    Cancelled,
    /// No final event was recorded: the process running it died.
    Interrupted,
}

/// The end of a fork's logs, kept when the fork went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// What became of the fork.
    pub fate: Fate,
    /// The end of its guest log (sanitized).
    pub guest: Vec<String>,
    /// The end of its VMM's log (sanitized).
    pub vmm: Vec<String>,
}

impl Kept {
    fn from_logs(fate: Fate, logs: &KeptLogs) -> Kept {
        let clean = |v: &[String]| v.iter().map(|l| safe_owned(l)).collect();
        Kept {
            fate,
            guest: clean(&logs.guest_log),
            vmm: clean(&logs.vmm_log),
        }
    }
}

/// One fork session, live or finished.
#[derive(Debug)]
pub struct SessionView {
    /// Session id (this run only).
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
    /// Session time the copy started at (for throughput and ETA).
    pub copy_started_ms: Option<u64>,
    /// Ack waits.
    pub acks: Vec<AckRow>,
    /// Latest elapsed time reported.
    pub elapsed_ms: u64,
    /// When the latest event arrived (UI clock), to run the clock between events.
    pub last_event_at: Instant,
    /// Why it failed (sanitized), when it did.
    pub failure: Option<Failure>,
    /// `None` while running.
    pub outcome: Option<Outcome>,
    /// Last lines of the guest log while the fork's directory is there.
    pub log_tail: Vec<String>,
    /// The guest log file, once the engine made the fork's directory.
    pub log_path: Option<PathBuf>,
    /// The end of the logs kept when the fork went (rolled back, stopped,
    /// removed).
    pub kept: Option<Kept>,
    /// Datagrams on the ack ports that did not count (forged, crossed, bad).
    pub ignored: usize,
    /// Set to cancel (the engine rolls back).
    pub cancel: Arc<AtomicBool>,
    /// What was asked (for replay), when known.
    pub request: Option<SessionHeader>,
    /// The session's id in the store's history, when recorded.
    pub history_id: Option<String>,
    /// Bytes of its history file read (later events are read from there).
    pub history_read: u64,
    /// When it started (RFC 3339), when known.
    pub started_at: Option<String>,
    /// Read back from the history (ran before this TUI started, or elsewhere).
    pub past: bool,
    /// The fan-out it belongs to.
    pub group: Option<u64>,
}

impl SessionView {
    /// A session about to start.
    pub fn new(id: u64, fork: &str, snapshot: &str, mailboxes: Vec<String>, now: Instant) -> Self {
        SessionView {
            id,
            fork: safe_owned(fork),
            snapshot: safe_owned(snapshot),
            mailboxes: mailboxes.iter().map(|m| safe_owned(m)).collect(),
            stages: BTreeMap::new(),
            copy: None,
            copy_started_ms: None,
            acks: Vec::new(),
            elapsed_ms: 0,
            last_event_at: now,
            failure: None,
            outcome: None,
            log_tail: Vec::new(),
            log_path: None,
            kept: None,
            ignored: 0,
            cancel: Arc::new(AtomicBool::new(false)),
            request: None,
            history_id: None,
            history_read: 0,
            started_at: None,
            past: false,
            group: None,
        }
    }

    /// A session read back from the history: its header, then every event
    /// through the same fold as a live one; a session without a final
    /// event was interrupted.
    pub fn from_history(id: u64, past: &PastSession, now: Instant) -> SessionView {
        let h = &past.header;
        let fork = past
            .fork()
            .map(str::to_string)
            .or_else(|| h.fork_name.clone())
            .unwrap_or_default();
        let names = h.mailboxes.iter().map(|m| m.name.clone()).collect();
        let mut s = SessionView::new(id, &fork, &h.snapshot, names, now);
        s.request = Some(h.clone());
        s.history_id = Some(h.id.clone());
        s.started_at = Some(h.started_at.clone());
        s.history_read = past.read_to;
        s.past = true;
        for e in &past.events {
            s.apply(e, now);
        }
        if s.outcome.is_none() {
            s.outcome = Some(Outcome::Interrupted);
        }
        for a in s.acks.iter_mut().filter(|a| a.state == AckState::Waiting) {
            a.state = AckState::Failed("no result recorded".into());
        }
        s.refresh_log();
        s
    }

    /// Bytes per second of the copy so far, and the seconds left, from the
    /// session's own clock (not the UI's).
    pub fn copy_rate(&self) -> Option<(u64, Option<u64>)> {
        let (done, total) = self.copy?;
        let since = self.elapsed_ms.saturating_sub(self.copy_started_ms?);
        crate::tui::text::progress_rate(done, total, since)
    }

    /// Session time now: the last reported time plus the time since.
    pub fn elapsed_now(&self, now: Instant) -> u64 {
        let since = now
            .saturating_duration_since(self.last_event_at)
            .as_millis();
        self.elapsed_ms + u64::try_from(since).unwrap_or(u64::MAX)
    }

    /// Still running.
    pub fn is_running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Ended and made its fork.
    pub fn done(&self) -> bool {
        self.outcome == Some(Outcome::Done)
    }

    /// Ended without a fork (failed, cancelled or interrupted).
    pub fn failed(&self) -> bool {
        matches!(
            self.outcome,
            Some(Outcome::Failed | Outcome::Cancelled | Outcome::Interrupted)
        )
    }

    /// Was cancelled.
    pub fn cancelled(&self) -> bool {
        self.outcome == Some(Outcome::Cancelled)
    }

    /// The error as said (sanitized), when it failed.
    pub fn error(&self) -> Option<String> {
        match self.outcome {
            Some(Outcome::Interrupted) => {
                Some("interrupted: no final event was recorded (forkmail gc cleans up)".into())
            }
            _ => self.failure.as_ref().map(|f| f.message.clone()),
        }
    }

    /// The stage now running, if any.
    pub fn current(&self) -> Option<Stage> {
        self.stages
            .iter()
            .filter(|(_, r)| matches!(r.status, Status::Started | Status::Progress))
            .map(|(s, _)| *s)
            .next_back()
    }

    /// Set the state of `mailbox`'s ack row.
    fn set_ack(&mut self, mailbox: &str, state: AckState) {
        let mb = safe(mailbox);
        if let Some(a) = self.acks.iter_mut().find(|a| a.mailbox == mb) {
            a.state = state;
        }
    }

    /// Fold one event in. `now` is the UI clock (for countdowns).
    pub fn apply(&mut self, e: &SessionEvent, now: Instant) {
        self.elapsed_ms = self.elapsed_ms.max(e.elapsed_ms);
        self.last_event_at = now;
        match &e.what {
            Happening::CopyStarted { dir } => {
                // From here on the fork directory is this session's own.
                self.log_path = Some(dir.join(GUEST_LOG));
                self.copy_started_ms = Some(e.elapsed_ms);
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
            Happening::StageFailed(f) => {
                if f.is_cancelled() {
                    for a in self
                        .acks
                        .iter_mut()
                        .filter(|a| a.state == AckState::Waiting)
                    {
                        a.state = AckState::Cancelled;
                    }
                } else if f.stage == Stage::Ack
                    && let Some(mb) = &f.mailbox
                {
                    self.set_ack(mb, AckState::Failed(safe_owned(&f.reason)));
                }
            }
            Happening::RolledBack { kept, .. }
                if !kept.guest_log.is_empty() || !kept.vmm_log.is_empty() =>
            {
                self.kept = Some(Kept::from_logs(Fate::RolledBack, kept));
            }
            Happening::ForkGone { fate, logs } => {
                // What became of the fork later: not a stage.
                self.kept = Some(Kept::from_logs(*fate, logs));
                self.log_tail.clear();
                return;
            }
            Happening::Failed(f) => {
                for a in self
                    .acks
                    .iter_mut()
                    .filter(|a| a.state == AckState::Waiting)
                {
                    a.state = if f.is_cancelled() {
                        AckState::Cancelled
                    } else {
                        AckState::Failed("abandoned".into())
                    };
                }
                self.failure = Some(sanitized(f));
                self.outcome = Some(if f.is_cancelled() {
                    Outcome::Cancelled
                } else {
                    Outcome::Failed
                });
            }
            Happening::Done => self.outcome = Some(Outcome::Done),
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
        if let Some(f) = e.failure() {
            row.error = Some(safe_owned(&f.message));
        }
        if let Happening::RollbackFailed { error } = &e.what {
            row.error = Some(safe_owned(error));
        }
    }

    /// The session's thread ended. Its final event came before (the
    /// engine always sends one); if it did not, the result says how it
    /// ended.
    pub fn end(&mut self, result: Result<String, ForkError>) {
        if self.outcome.is_none() {
            match result {
                Ok(_) => self.outcome = Some(Outcome::Done),
                Err(e) => {
                    let f = Failure::from(&e);
                    self.outcome = Some(if f.is_cancelled() {
                        Outcome::Cancelled
                    } else {
                        Outcome::Failed
                    });
                    self.failure = Some(sanitized(&f));
                }
            }
        }
        for a in self
            .acks
            .iter_mut()
            .filter(|a| a.state == AckState::Waiting)
        {
            a.state = AckState::Failed("abandoned".into());
        }
        self.refresh_log();
    }

    /// Re-read the tail of the guest log. Only the session's own fork
    /// directory is read, and only until the fork went (then its kept end
    /// is shown).
    pub fn refresh_log(&mut self) -> bool {
        let Some(path) = &self.log_path else {
            return false;
        };
        if self.kept.is_some() {
            return false;
        }
        let text = crate::files::tail_text(path, 4096);
        let lines: Vec<&str> = text.lines().collect();
        let skip = lines.len().saturating_sub(LOG_TAIL);
        // Guest-written: never let its control characters reach the terminal.
        let tail: Vec<String> = lines[skip..].iter().map(|l| safe_owned(l)).collect();
        let changed = tail != self.log_tail;
        self.log_tail = tail;
        changed
    }
}

/// `f` with its texts sanitized.
fn sanitized(f: &Failure) -> Failure {
    Failure {
        message: safe_owned(&f.message),
        reason: safe_owned(&f.reason),
        mailbox: f.mailbox.as_deref().map(safe_owned),
        ..f.clone()
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
