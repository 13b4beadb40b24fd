//! Waiting for a booting guest's mailboxes by reading its memory. A QEMU
//! template runs with its RAM in the snapshot's `memory` file (`share=on`):
//! that file *is* the guest's RAM, so forkmail scans it while the guest boots
//! until every wanted marker is there. The guest needs no agent and prints
//! nothing for this: arming its mailboxes is all it does.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::TemplateError;
use crate::mailbox::MailboxKind;
use crate::scan::{ScanError, ScanOptions, ScanReport, scan_file};

/// Most markers an error message lists.
const MAX_LISTED: usize = 12;

/// A marker a template waits for: a name, and the token when it is known in
/// advance (else any token does, and the one found is the template's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedMarker {
    /// Mailbox name.
    pub name: String,
    /// Token, when given.
    pub token: Option<String>,
}

impl WantedMarker {
    /// Parse `NAME` or `NAME:TOKEN` (split at the first `:`, as
    /// `--mailbox` does; names may not hold `:` then).
    pub fn parse(text: &str) -> WantedMarker {
        match text.split_once(':') {
            Some((name, token)) => WantedMarker {
                name: name.into(),
                token: Some(token.into()),
            },
            None => WantedMarker {
                name: text.into(),
                token: None,
            },
        }
    }

    fn describe(&self) -> String {
        match &self.token {
            Some(t) => format!("{} (token {t})", self.name),
            None => self.name.clone(),
        }
    }
}

/// What one look at the guest's memory found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sighting {
    /// Every wanted marker found exactly once and valid, with its token, in
    /// the order asked; complete only when `missing` is empty.
    pub armed: Vec<(String, String)>,
    /// Wanted markers not (yet) there exactly once, with why.
    pub missing: Vec<String>,
    /// Every fork marker in memory, described (at most [`MAX_LISTED`]).
    pub seen: Vec<String>,
}

impl Sighting {
    /// Every wanted marker is there.
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// Judge a scan of the guest's memory against `wanted`.
    pub fn judge(report: &ScanReport, wanted: &[WantedMarker]) -> Sighting {
        let mut out = Sighting::default();
        for w in wanted {
            let matching: Vec<_> = report
                .fork_markers(&w.name)
                .filter(|m| w.token.as_ref().is_none_or(|t| &m.token == t))
                .collect();
            match matching.as_slice() {
                [m] if m.valid => out.armed.push((w.name.clone(), m.token.clone())),
                [m] => out.missing.push(format!(
                    "{}: invalid ({})",
                    w.describe(),
                    m.problem.as_deref().unwrap_or("breaks the contract")
                )),
                [] => out.missing.push(format!("{}: not in memory", w.describe())),
                many => {
                    out.missing
                        .push(format!("{}: {} copies in memory", w.describe(), many.len()))
                }
            }
        }
        let forks: Vec<_> = report
            .markers
            .iter()
            .filter(|m| m.kind == MailboxKind::Fork)
            .collect();
        for m in forks.iter().take(MAX_LISTED) {
            let mut d = format!(
                "{} (token {}) at {:#x}",
                m.name.as_deref().unwrap_or("?"),
                m.token,
                m.offset
            );
            if let Some(p) = &m.problem {
                d.push_str(&format!(", invalid: {p}"));
            }
            out.seen.push(d);
        }
        if forks.len() > MAX_LISTED {
            out.seen
                .push(format!("… and {} more", forks.len() - MAX_LISTED));
        }
        out
    }

    /// One line for an error: what is missing and what did appear.
    pub fn summary(&self) -> String {
        let seen = if self.seen.is_empty() {
            "no fork marker at all".to_string()
        } else {
            self.seen.join("; ")
        };
        format!(
            "missing: {}; in the guest's memory: {seen}",
            self.missing.join("; ")
        )
    }
}

/// Check the markers a template waits for: names by the contract's rule,
/// each once, tokens valid when given.
pub fn check_wanted(wanted: &[WantedMarker]) -> Result<(), TemplateError> {
    if wanted.is_empty() {
        return Err(TemplateError::Invalid(
            "--wait-for-marker needs at least one NAME[:TOKEN]".into(),
        ));
    }
    let given: Vec<(String, Option<String>)> = wanted
        .iter()
        .map(|w| (w.name.clone(), w.token.clone()))
        .collect();
    super::common::check_mailboxes(&given, crate::mailbox::MAX_MAILBOXES, &mut rand::rng())
        .map(|_| ())
}

/// Scan the booting guest's memory file once and judge it.
pub fn look(
    memory: &Path,
    wanted: &[WantedMarker],
    cancel: &AtomicBool,
) -> Result<Sighting, ScanError> {
    let report = scan_file(
        memory,
        &ScanOptions {
            cancel: Some(cancel),
            ..Default::default()
        },
    )?;
    Ok(Sighting::judge(&report, wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::encode_fork_marker;
    use std::os::unix::fs::FileExt;

    fn memory_with(markers: &[(u64, Vec<u8>)]) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("memory");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(1 << 20).unwrap();
        for (at, bytes) in markers {
            f.write_all_at(bytes, *at).unwrap();
        }
        (d, p)
    }

    #[test]
    fn a_wanted_marker_counts_once_it_is_there_exactly_once() {
        let wanted = [
            WantedMarker::parse("app.config:tok-1"),
            WantedMarker::parse("cfg"),
        ];
        let never = AtomicBool::new(false);
        let (_d, mem) = memory_with(&[(4096, encode_fork_marker("app.config", "tok-1"))]);
        let s = look(&mem, &wanted, &never).unwrap();
        assert!(!s.complete());
        assert_eq!(s.armed, vec![("app.config".into(), "tok-1".into())]);
        assert_eq!(s.missing, vec!["cfg: not in memory".to_string()]);
        assert!(s.summary().contains("app.config (token tok-1) at 0x1000"));

        let (_d, mem) = memory_with(&[
            (4096, encode_fork_marker("app.config", "tok-1")),
            (8192, encode_fork_marker("cfg", "generated-by-guest")),
        ]);
        let s = look(&mem, &wanted, &never).unwrap();
        assert!(s.complete(), "{s:?}");
        assert_eq!(s.armed[1], ("cfg".into(), "generated-by-guest".into()));
    }

    #[test]
    fn another_token_or_a_second_copy_is_not_armed() {
        let wanted = [WantedMarker::parse("app:right")];
        let never = AtomicBool::new(false);
        let (_d, mem) = memory_with(&[(4096, encode_fork_marker("app", "wrong"))]);
        let s = look(&mem, &wanted, &never).unwrap();
        assert_eq!(
            s.missing,
            vec!["app (token right): not in memory".to_string()]
        );
        assert_eq!(s.seen, vec!["app (token wrong) at 0x1000".to_string()]);
        let (_d, mem) = memory_with(&[
            (4096, encode_fork_marker("app", "right")),
            (8192, encode_fork_marker("app", "right")),
        ]);
        let s = look(&mem, &wanted, &never).unwrap();
        assert_eq!(
            s.missing,
            vec!["app (token right): 2 copies in memory".to_string()]
        );
        let (_d, mem) = memory_with(&[]);
        let s = look(&mem, &wanted, &never).unwrap();
        assert!(
            s.summary().ends_with("no fork marker at all"),
            "{}",
            s.summary()
        );
    }
}
