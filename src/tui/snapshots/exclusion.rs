//! Which fork mailboxes of a scan can take part in a fork: a mailbox is
//! included only when exactly one marker carries its name and that marker
//! is valid (name, token, and a frame before end of file). One rule, asked
//! once per scan (a guest can arm tens of thousands of markers).

use crate::mailbox::{MailboxKind, name_is_valid};
use crate::sanitize::safe_owned;
use crate::scan::ScanReport;

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
    use std::path::PathBuf;

    use super::*;

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
}
