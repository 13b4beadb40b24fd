//! Fork sessions as the TUI sees them: the fork dialog, starting a session
//! off the UI task, and folding its [`SessionEvent`]s into a view model.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::fork::{ForkError, Happening, SessionEvent, Stage, Status};
use crate::history::SessionHeader;
use crate::mailbox::{MailboxKind, name_is_valid};
use crate::sanitize::{safe, safe_owned};
use crate::scan::ScanReport;
use crate::store::GUEST_LOG;

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
    /// Session time the copy started at (for throughput and ETA).
    pub copy_started_ms: Option<u64>,
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
    /// What was asked (for replay), when known.
    pub request: Option<SessionHeader>,
    /// The session's id in the store's history, when recorded.
    pub history_id: Option<String>,
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
            fork: fork.into(),
            snapshot: snapshot.into(),
            mailboxes,
            stages: BTreeMap::new(),
            copy: None,
            copy_started_ms: None,
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
            request: None,
            history_id: None,
            started_at: None,
            past: false,
            group: None,
        }
    }

    /// Bytes per second of the copy so far, and the seconds left, from the
    /// session's own clock (not the UI's).
    pub fn copy_rate(&self) -> Option<(f64, Option<f64>)> {
        let (done, total) = self.copy?;
        let since = self.elapsed_ms.saturating_sub(self.copy_started_ms?);
        if since == 0 || done == 0 {
            return None;
        }
        let rate = done as f64 * 1000.0 / since as f64;
        let eta = (done < total).then(|| (total - done) as f64 / rate);
        Some((rate, eta))
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
            Happening::StageFailed(err) if err.stage == Stage::Ack => {
                if let Some(mb) = &err.mailbox {
                    self.set_ack(mb, AckState::Failed(safe_owned(&err.reason)));
                }
            }
            Happening::ForkGone { .. } => return,
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
        if let Some(err) = e.failure() {
            row.error = Some(safe_owned(&err.message));
            if matches!(e.what, Happening::Failed(_)) {
                self.error = Some(safe_owned(&err.message));
                self.cancelled = err.is_cancelled();
            }
        }
    }

    /// Set the state of `mailbox`'s ack row.
    pub fn set_ack(&mut self, mailbox: &str, state: AckState) {
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
            safe_owned(&e.to_string())
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
    exclusions(report).remove(name)
}

/// Every fork mailbox name of `report` that cannot take part in a fork, with
/// why, in one pass over its markers (only excluded names are keys).
pub fn exclusions(report: &ScanReport) -> std::collections::HashMap<&str, Exclusion> {
    let mut by_name: std::collections::HashMap<&str, (usize, &crate::scan::Marker)> =
        std::collections::HashMap::new();
    for m in report
        .markers
        .iter()
        .filter(|m| m.kind == MailboxKind::Fork)
    {
        if let Some(name) = m.name.as_deref() {
            by_name.entry(name).or_insert((0, m)).0 += 1;
        }
    }
    by_name
        .into_iter()
        .filter_map(|(name, (count, first))| {
            let why = if first.duplicate || count > 1 {
                Exclusion::Duplicate
            } else if !first.valid || !name_is_valid(name) {
                let p = first.problem.as_deref().unwrap_or("bad marker");
                Exclusion::Invalid(safe_owned(p))
            } else {
                return None;
            };
            Some((name, why))
        })
        .collect()
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
        // The one-pass map says the same for every name.
        let all = exclusions(&report);
        for name in ["ok.box", "near.end", "twice"] {
            assert_eq!(all.get(name).cloned(), exclusion(&report, name), "{name}");
        }
        assert_eq!(all.len(), 2);
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
        s.apply(&ev(2, Happening::StageFailed((&err).into())), now);
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
        s.apply(&ev(1, Happening::StageFailed((&err).into())), now);
        s.end(Err(err));
        assert!(s.log_path.is_none() && s.log_tail.is_empty());
    }

    #[test]
    fn a_cancelled_session_says_so() {
        let now = Instant::now();
        let mut s = SessionView::new(1, "f", "snap", vec![], now);
        s.apply(
            &ev(
                1,
                Happening::Failed((&ForkError::cancelled().at(Stage::Ack)).into()),
            ),
            now,
        );
        s.end(Err(ForkError::cancelled()));
        assert!(s.cancelled);
    }
}
