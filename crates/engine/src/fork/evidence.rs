//! Evidence that outlives a fork: the end of its guest log (and its VMM's
//! log) is kept in the history of the session that made it when the fork
//! goes — by rollback ([`super::Happening::RolledBack`]), or later when it
//! is stopped or removed ([`super::Happening::ForkGone`], appended here).
//!
//! The session history marks the fork directory with its session's id
//! ([`SESSION_FILE`]) as the copy starts; the lifecycle reads it back to
//! know whose history to append to. A fork without the mark (made while
//! nothing recorded) keeps nothing.

use std::io::Write;
use std::path::Path;

use super::Happening;
use super::event::{Fate, KeptLogs, SessionEvent};
use crate::store::{GUEST_LOG, Store};

/// The file in a fork's directory that names the session (history id)
/// that made it.
pub const SESSION_FILE: &str = "session";
/// Lines of each log kept.
pub const KEPT_LINES: usize = 40;
/// The most of each log's end read.
const KEPT_BYTES: u64 = 16 << 10;
/// The VMM's own log, where a driver keeps one apart from the guest's.
const VMM_LOG: &str = crate::vmm::qemu::QEMU_LOG;

/// Whether `id` is shaped like a session id (it names files: letters,
/// digits and `-`, at most 64).
pub fn session_id_is_valid(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn tail_lines(path: &Path) -> Vec<String> {
    let text = crate::files::tail_text(path, KEPT_BYTES);
    let lines: Vec<&str> = text.lines().collect();
    // A read that starts mid-file starts mid-line: that first piece goes.
    let cut = usize::from(
        std::fs::metadata(path).is_ok_and(|m| m.len() > KEPT_BYTES) && !lines.is_empty(),
    );
    let from = lines.len().saturating_sub(KEPT_LINES).max(cut);
    lines[from..].iter().map(|l| l.to_string()).collect()
}

impl KeptLogs {
    /// The end of the logs in fork directory `dir` (empty where there are
    /// none). Cheap: at most 16 KiB of each is read.
    pub fn read(dir: &Path) -> KeptLogs {
        KeptLogs {
            guest_log: tail_lines(&dir.join(GUEST_LOG)),
            vmm_log: tail_lines(&dir.join(VMM_LOG)),
        }
    }
}

/// The session that made the fork in `dir`, when recorded.
pub fn session_of(dir: &Path) -> Option<String> {
    let text =
        crate::files::read_text_bounded(&dir.join(SESSION_FILE), 128, "a session id").ok()?;
    let id = text.trim();
    session_id_is_valid(id).then(|| id.to_string())
}

/// Fork `fork` (in `dir`) goes with `fate`: append the end of its logs to
/// the history of the session that made it. Best effort (logged): keeping
/// evidence never stops a stop or a remove.
pub(crate) fn note_gone(store: &Store, dir: &Path, fork: &str, fate: Fate) {
    let Some(id) = session_of(dir) else { return };
    let path = store.sessions_dir().join(format!("{id}.jsonl"));
    let event = SessionEvent {
        fork: fork.to_string(),
        elapsed_ms: 0,
        what: Happening::ForkGone {
            fate,
            logs: KeptLogs::read(dir),
        },
    };
    // Appended only to a history that exists (never made here).
    let res = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| {
            let line = serde_json::to_string(&event).map_err(std::io::Error::from)?;
            writeln!(f, "{line}")
        });
    if let Err(e) = res {
        tracing::warn!("session history {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_a_long_log_is_kept_whole_lines_only() {
        let d = tempfile::tempdir().expect("tempdir");
        let text: String = (0..5000).map(|i| format!("line {i:05}\n")).collect();
        std::fs::write(d.path().join(GUEST_LOG), text).expect("write");
        let kept = KeptLogs::read(d.path());
        assert_eq!(kept.guest_log.len(), KEPT_LINES);
        assert_eq!(
            kept.guest_log.last().map(String::as_str),
            Some("line 04999")
        );
        assert!(kept.guest_log.iter().all(|l| l.len() == 10), "{kept:?}");
        assert!(kept.vmm_log.is_empty());
    }

    #[test]
    fn a_session_mark_that_could_name_another_file_is_ignored() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join(SESSION_FILE), "../../etc/passwd\n").expect("write");
        assert_eq!(session_of(d.path()), None);
        std::fs::write(d.path().join(SESSION_FILE), "20260101-000000000000-1a\n").expect("write");
        assert_eq!(
            session_of(d.path()).as_deref(),
            Some("20260101-000000000000-1a")
        );
    }
}
