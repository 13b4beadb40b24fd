//! Session history: every fork session, from the TUI or the CLI, kept in
//! the store so it outlives the process that ran it.
//!
//! `<store>/sessions/<id>.json` holds what was asked (snapshot, payloads,
//! tokens given, ack settings, restore and zero-copy), so a session can be
//! replayed; `<store>/sessions/<id>.jsonl` holds its events, one per line,
//! exactly the flat lines of `fork --json`. Both are owner-only: payloads
//! and tokens can be secrets. Ids sort by start time
//! (`20260101-000500123456-1a`). The renderers' session runners record;
//! the engine's stages know nothing of it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, Kinded};
use crate::fork::{ForkRequest, Happening, MailboxSpec, SessionEvent};
use crate::store::{Store, private_dir, private_file};

/// Sessions kept; older ones are forgotten when a new one starts.
pub const KEEP_SESSIONS: usize = 200;
/// Format version of a session header.
pub const HISTORY_VERSION: u32 = 1;
/// The most of one history file read back.
const MAX_HISTORY_BYTES: u64 = 8 << 20;

/// Errors of the session history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A history file could not be written or read.
    #[error("session history {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A history file does not parse.
    #[error("session history {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No session of that id.
    #[error("no session {0} in the history")]
    NotFound(String),
}

impl Kinded for HistoryError {
    fn kind(&self) -> ErrorKind {
        match self {
            HistoryError::Io { .. } | HistoryError::Corrupt { .. } => ErrorKind::Io,
            HistoryError::NotFound(_) => ErrorKind::NotFound,
        }
    }
}

/// One mailbox as it was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedMailbox {
    /// Mailbox name.
    pub name: String,
    /// Token given explicitly (`None`: from discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Payload text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Waited for the guest's ack.
    pub wait_for_ack: bool,
    /// Ack deadline in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_timeout_ms: Option<i64>,
}

impl From<&MailboxSpec> for RecordedMailbox {
    fn from(m: &MailboxSpec) -> Self {
        RecordedMailbox {
            name: m.name.clone(),
            token: m.token.clone(),
            payload: m.payload.clone(),
            wait_for_ack: m.wait_for_ack,
            ack_timeout_ms: m.ack_timeout_ms,
        }
    }
}

impl From<&RecordedMailbox> for MailboxSpec {
    fn from(m: &RecordedMailbox) -> Self {
        MailboxSpec {
            name: m.name.clone(),
            token: m.token.clone(),
            payload: m.payload.clone(),
            wait_for_ack: m.wait_for_ack,
            ack_timeout_ms: m.ack_timeout_ms,
        }
    }
}

/// What a session was asked to do (`<id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionHeader {
    /// Format version.
    pub version: u32,
    /// The session's id (its file names).
    pub id: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Who ran it: `tui` or `cli`.
    pub origin: String,
    /// Source snapshot.
    pub snapshot: String,
    /// Fork name asked for (`None`: generated; the events name it).
    #[serde(default)]
    pub fork_name: Option<String>,
    /// The fork was restored (not `--no-restore`).
    pub restore: bool,
    /// Zero-copy mode.
    pub zero_copy: bool,
    /// The mailboxes, in request order.
    pub mailboxes: Vec<RecordedMailbox>,
    /// The fan-out this session is a fork of (`None`: a single session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout: Option<FanoutTag>,
}

/// Where a session sits in a fan-out, so a listing can group it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutTag {
    /// The fan-out's own id (shaped like a session id).
    pub id: String,
    /// The forks' base name.
    pub base: String,
    /// This fork's 0-based index.
    pub index: usize,
    /// Forks in the fan-out.
    pub count: usize,
    /// Sessions at a time.
    pub parallel: usize,
}

impl SessionHeader {
    /// The request to fork the same again (a new fork name is the caller's).
    pub fn request(&self) -> ForkRequest {
        let mut req = ForkRequest::new(&self.snapshot);
        req.mailboxes = self.mailboxes.iter().map(MailboxSpec::from).collect();
        req.restore = self.restore;
        req.zero_copy = self.zero_copy;
        req
    }
}

/// A session read back from the history.
#[derive(Debug, Clone)]
pub struct PastSession {
    /// What was asked.
    pub header: SessionHeader,
    /// What happened, in order: the engine's events as they were emitted
    /// (lines that do not parse are skipped), then what became of the fork
    /// later ([`Happening::ForkGone`](crate::fork::Happening::ForkGone)).
    pub events: Vec<SessionEvent>,
    /// Bytes of the event file read (where [`read_more`] goes on).
    pub read_to: u64,
}

impl PastSession {
    /// Whether the session has its final event (`done` or `failed`); a
    /// session without one was interrupted (or still runs elsewhere).
    pub fn finished(&self) -> bool {
        self.events.iter().any(SessionEvent::is_final)
    }

    /// The fork it made (or was making), as its events name it.
    pub fn fork(&self) -> Option<&str> {
        self.events.first().map(|e| e.fork.as_str())
    }
}

/// Records one session as it runs. Writing is best effort: a full disk
/// must not fail a fork, so errors are logged once and recording stops.
#[derive(Debug)]
pub struct Recorder {
    header: SessionHeader,
    events: Option<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
    /// Events may still be written: the file is opened at the first event
    /// and closed at the final one (or a write error), so a fan-out of a
    /// thousand forks holds open only its running sessions' files.
    writable: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HistoryError + '_ {
    move |source| HistoryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A new session id: its start time to the microsecond (strictly
/// increasing within a process, even when the wall clock steps back or two
/// sessions start in one microsecond), then 8 random bits.
pub fn new_id() -> String {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST_MICROS: AtomicI64 = AtomicI64::new(0);
    // Microseconds since 1970 fit an i64 for 292,000 years.
    let now = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000)
        .unwrap_or(i64::MAX);
    let mut prev = LAST_MICROS.load(Ordering::Relaxed);
    let micros = loop {
        let next = now.max(prev + 1);
        match LAST_MICROS.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(p) => prev = p,
        }
    };
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year][month][day]-[hour][minute][second][subsecond digits:6]"
    );
    let stamp = at
        .format(&fmt)
        .unwrap_or_else(|_| "00000000-000000000000".into());
    format!("{stamp}-{:02x}", rand::random::<u8>())
}

/// Whether `id` is shaped like a session id (it names files).
pub fn id_is_valid(id: &str) -> bool {
    crate::fork::evidence::session_id_is_valid(id)
}

impl Recorder {
    /// Start recording a session of `req` run by `origin` (`tui`, `cli`):
    /// writes its header, opens its event file, forgets the oldest sessions
    /// beyond [`KEEP_SESSIONS`].
    pub fn start(store: &Store, req: &ForkRequest, origin: &str) -> Result<Recorder, HistoryError> {
        let r = Recorder::begin(store, req, origin, None)?;
        prune(store, KEEP_SESSIONS);
        Ok(r)
    }

    /// Start recording the forks of a fan-out (`base`, `parallel` at a
    /// time), in order so their ids sort in index order: like
    /// [`Recorder::start`] for each, tagged with the fan-out, pruning once
    /// and never one of these sessions. A session that cannot be recorded
    /// is `None` (logged).
    pub fn start_fanout(
        store: &Store,
        reqs: &[ForkRequest],
        origin: &str,
        base: &str,
        parallel: usize,
    ) -> Vec<Option<Recorder>> {
        let id = new_id();
        let all = reqs
            .iter()
            .enumerate()
            .map(|(index, req)| {
                let tag = FanoutTag {
                    id: id.clone(),
                    base: base.to_string(),
                    index,
                    count: reqs.len(),
                    parallel,
                };
                Recorder::begin(store, req, origin, Some(tag))
                    .map_err(|e| tracing::warn!("{e}"))
                    .ok()
            })
            .collect();
        prune(store, KEEP_SESSIONS.max(reqs.len()));
        all
    }

    fn begin(
        store: &Store,
        req: &ForkRequest,
        origin: &str,
        fanout: Option<FanoutTag>,
    ) -> Result<Recorder, HistoryError> {
        let dir = store.sessions_dir();
        private_dir(&dir).map_err(io(&dir))?;
        let id = new_id();
        let header = SessionHeader {
            version: HISTORY_VERSION,
            id: id.clone(),
            started_at: crate::store::now_rfc3339(),
            origin: origin.into(),
            snapshot: req.snapshot.clone(),
            fork_name: req.fork_name.clone(),
            restore: req.restore,
            zero_copy: req.zero_copy,
            mailboxes: req.mailboxes.iter().map(RecordedMailbox::from).collect(),
            fanout,
        };
        let head_path = dir.join(format!("{id}.json"));
        let mut f = private_file(&head_path).map_err(io(&head_path))?;
        serde_json::to_writer_pretty(&mut f, &header).map_err(|e| HistoryError::Io {
            path: head_path.clone(),
            source: e.into(),
        })?;
        let path = dir.join(format!("{id}.jsonl"));
        // Made now (its name is the session's), opened when events come.
        private_file(&path).map_err(io(&path))?;
        Ok(Recorder {
            header,
            events: None,
            path,
            writable: true,
        })
    }

    /// The session's id.
    pub fn id(&self) -> &str {
        &self.header.id
    }

    /// What the session was asked to do.
    pub fn header(&self) -> &SessionHeader {
        &self.header
    }

    /// Append one event (flushed at once: a crash keeps what happened).
    /// The fork directory is marked with this session's id as the copy
    /// starts, so what later becomes of the fork is appended here
    /// ([`crate::fork::evidence`]).
    pub fn record(&mut self, e: &SessionEvent) {
        if let Happening::CopyStarted { dir } = &e.what {
            let mark = dir.join(crate::fork::evidence::SESSION_FILE);
            if let Err(err) = std::fs::write(&mark, format!("{}\n", self.header.id)) {
                tracing::warn!("{}: {err}", mark.display());
            }
        }
        if self.events.is_none() && self.writable {
            match std::fs::OpenOptions::new().append(true).open(&self.path) {
                Ok(f) => self.events = Some(std::io::BufWriter::new(f)),
                Err(err) => {
                    tracing::warn!(
                        "session history {}: {err}; not recording further",
                        self.path.display()
                    );
                    self.writable = false;
                }
            }
        }
        let Some(w) = self.events.as_mut() else {
            return;
        };
        let res = serde_json::to_string(e)
            .map_err(std::io::Error::from)
            .and_then(|line| writeln!(w, "{line}"))
            .and_then(|_| w.flush());
        if let Err(err) = res {
            tracing::warn!(
                "session history {}: {err}; not recording further",
                self.path.display()
            );
            self.events = None;
            self.writable = false;
        }
        if e.is_final() {
            // The session is over: its file closes.
            self.events = None;
            self.writable = false;
        }
    }
}

/// Ids of the sessions in the history, oldest first.
pub fn ids(store: &Store) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(store.sessions_dir())
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let id = name.strip_suffix(".json")?;
                    id_is_valid(id).then(|| id.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Read session `id` back.
pub fn load(store: &Store, id: &str) -> Result<PastSession, HistoryError> {
    if !id_is_valid(id) {
        return Err(HistoryError::NotFound(id.into()));
    }
    let dir = store.sessions_dir();
    let head_path = dir.join(format!("{id}.json"));
    let bytes = crate::files::read_bounded(
        &head_path,
        crate::files::MAX_METADATA_BYTES,
        "a session header",
    )
    .map_err(|e| match e {
        e if e.io_kind() == Some(std::io::ErrorKind::NotFound) => HistoryError::NotFound(id.into()),
        e => HistoryError::Corrupt {
            path: head_path.clone(),
            reason: e.to_string(),
        },
    })?;
    let header: SessionHeader =
        serde_json::from_slice(&bytes).map_err(|e| HistoryError::Corrupt {
            path: head_path.clone(),
            reason: e.to_string(),
        })?;
    let mut past = PastSession {
        header,
        events: Vec::new(),
        read_to: 0,
    };
    read_more(store, &mut past);
    Ok(past)
}

/// Read the events appended to `past`'s history since it was read (a
/// session running elsewhere, a fork stopped or removed later). Returns
/// how many were added.
pub fn read_more(store: &Store, past: &mut PastSession) -> usize {
    let (events, to) = events_since(store, &past.header.id, past.read_to);
    past.read_to = to;
    let n = events.len();
    past.events.extend(events);
    n
}

/// The events of session `id`'s history from byte `offset` on, and the
/// offset to read on from. Only whole lines are taken (a line being
/// written is read next time); lines that do not parse are skipped.
pub fn events_since(store: &Store, id: &str, offset: u64) -> (Vec<SessionEvent>, u64) {
    use std::io::{Read, Seek, SeekFrom};
    if !id_is_valid(id) {
        return (Vec::new(), offset);
    }
    let path = store.sessions_dir().join(format!("{id}.jsonl"));
    let Ok(mut f) = crate::files::open_regular(&path) else {
        return (Vec::new(), offset);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len <= offset || offset >= MAX_HISTORY_BYTES || f.seek(SeekFrom::Start(offset)).is_err() {
        return (Vec::new(), offset);
    }
    let mut buf = Vec::new();
    if f.take(MAX_HISTORY_BYTES - offset)
        .read_to_end(&mut buf)
        .is_err()
    {
        return (Vec::new(), offset);
    }
    let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let events = buf[..whole]
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<SessionEvent>(line).ok())
        .collect();
    (events, offset + whole as u64)
}

/// Read session `id`'s header alone (cheap: listings group fan-outs by it).
pub fn header(store: &Store, id: &str) -> Option<SessionHeader> {
    if !id_is_valid(id) {
        return None;
    }
    let path = store.sessions_dir().join(format!("{id}.json"));
    let bytes =
        crate::files::read_bounded(&path, crate::files::MAX_METADATA_BYTES, "a session header")
            .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Forget session `id` (both files).
pub fn forget(store: &Store, id: &str) {
    if !id_is_valid(id) {
        return;
    }
    let dir = store.sessions_dir();
    let _ = std::fs::remove_file(dir.join(format!("{id}.json")));
    let _ = std::fs::remove_file(dir.join(format!("{id}.jsonl")));
}

/// Keep only the newest `keep` sessions.
pub fn prune(store: &Store, keep: usize) {
    let all = ids(store);
    let excess = all.len().saturating_sub(keep);
    for id in &all[..excess] {
        forget(store, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_session_reads_back_with_its_request() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(d.path().join("s")).expect("store");
        let mut req = ForkRequest::new("web");
        req.zero_copy = true;
        req.mailboxes = vec![MailboxSpec {
            name: "app".into(),
            token: Some("tok".into()),
            payload: Some(r#"{"a":1}"#.into()),
            wait_for_ack: true,
            ack_timeout_ms: Some(2500),
        }];
        let mut rec = Recorder::start(&store, &req, "cli").expect("start");
        rec.record(&SessionEvent {
            fork: "web-1".into(),
            elapsed_ms: 3,
            what: Happening::Done,
        });
        let id = rec.id().to_string();
        drop(rec);
        assert_eq!(ids(&store), vec![id.clone()]);
        let past = load(&store, &id).expect("load");
        assert!(past.finished());
        assert_eq!(past.fork(), Some("web-1"));
        assert_eq!(past.events[0].what, Happening::Done);
        let again = past.header.request();
        assert_eq!(again.mailboxes, req.mailboxes);
        assert!(again.zero_copy && again.restore);
        let mode = std::fs::metadata(store.sessions_dir().join(format!("{id}.jsonl")))
            .expect("meta")
            .permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077, 0);
        forget(&store, &id);
        assert!(ids(&store).is_empty());
    }

    #[test]
    fn the_oldest_sessions_are_forgotten_beyond_the_limit() {
        let d = tempfile::tempdir().expect("tempdir");
        let store = Store::open(d.path().join("s")).expect("store");
        let req = ForkRequest::new("web");
        let first = Recorder::start(&store, &req, "cli").expect("start");
        for _ in 0..3 {
            Recorder::start(&store, &req, "cli").expect("start");
        }
        prune(&store, 2);
        let left = ids(&store);
        assert_eq!(left.len(), 2);
        assert!(!left.contains(&first.id().to_string()));
    }

    #[test]
    fn ids_that_could_escape_the_directory_are_refused() {
        assert!(id_is_valid("20260101-000000000-1a2b"));
        assert!(!id_is_valid("../x"));
        assert!(!id_is_valid(""));
    }
}
