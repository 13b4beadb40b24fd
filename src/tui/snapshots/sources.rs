//! Read-only snapshots in the TUI: the run's sources (`--source`,
//! `$FORKMAIL_SOURCES`, `/var/lib/hypeman`) listed under the store's own
//! snapshots, unreadable entries with their reasons, and memory files opened
//! by path (`o`). Their markers are shown like the store's; they are never
//! forked (a reason says how: import first).

use std::path::PathBuf;

use crate::sanitize::safe_owned;
use crate::source::{Listed, MemoryFormat, SnapshotKind, SourceSet, SourceSnapshot, snapshot_at};
use crate::store::SnapshotInfo;

/// The label of the group of files opened by path.
pub const OPENED: &str = "opened";

/// One source as the snapshots pane lists it.
#[derive(Debug, Clone)]
pub struct SourceGroup {
    /// Its label (`LABEL/NAME`), or [`OPENED`].
    pub label: String,
    /// Its entries, in the source's order.
    pub entries: Vec<SourceEntry>,
}

/// One entry of a source.
#[derive(Debug, Clone)]
pub enum SourceEntry {
    /// A snapshot (read-only).
    Snapshot(Box<SourceSnapshot>),
    /// Something that could not be read, with why (sanitized).
    Problem {
        /// Its id (or the source's path when the source itself failed).
        id: String,
        /// The kebab-case problem name.
        problem: &'static str,
        /// The message.
        reason: String,
    },
}

/// One row of the snapshots pane.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// A snapshot of the store.
    Store(&'a SnapshotInfo),
    /// A read-only snapshot of a source (or a file opened by path).
    Source {
        /// Its source's label.
        label: &'a str,
        /// The snapshot.
        snap: &'a SourceSnapshot,
    },
    /// An entry that cannot be read.
    Problem {
        /// Its source's label.
        label: &'a str,
        /// Its id.
        id: &'a str,
        /// The kebab-case problem name.
        problem: &'a str,
        /// Why.
        reason: &'a str,
    },
}

impl Entry<'_> {
    /// The key scans and failures are remembered by: the store name, or
    /// `LABEL/ID` (store names hold no `/`, so the two never meet).
    pub fn key(&self) -> String {
        match self {
            Entry::Store(s) => s.name.clone(),
            Entry::Source { label, snap } => format!("{label}/{}", snap.id),
            Entry::Problem { label, id, .. } => format!("{label}/{id}"),
        }
    }

    /// The name shown.
    pub fn name(&self) -> &str {
        match self {
            Entry::Store(s) => &s.name,
            Entry::Source { snap, .. } => &snap.name,
            Entry::Problem { id, .. } => id,
        }
    }

    /// The source's label (`store` for the store).
    pub fn label(&self) -> &str {
        match self {
            Entry::Store(_) => crate::source::set::STORE_LABEL,
            Entry::Source { label, .. } | Entry::Problem { label, .. } => label,
        }
    }

    /// Guest memory size, when known.
    pub fn memory_size(&self) -> Option<u64> {
        match self {
            Entry::Store(s) => Some(s.memory_size),
            Entry::Source { snap, .. } => snap.memory_size.bytes(),
            Entry::Problem { .. } => None,
        }
    }

    /// Why this entry cannot be forked from the TUI, if it cannot.
    pub fn fork_refusal(&self) -> Option<String> {
        match self {
            Entry::Store(_) => None,
            Entry::Source { label, snap } if *label == OPENED => Some(format!(
                "{} is a memory file opened read-only: forkmail never writes it; import a snapshot directory into the store to fork it",
                snap.memory
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )),
            Entry::Source { label, snap } => Some(format!(
                "{label}/{} is read-only: `forkmail import {label}/{}` copies it into the store, then fork it there",
                snap.id, snap.id
            )),
            Entry::Problem { label, id, .. } => Some(format!("{label}/{id} cannot be read")),
        }
    }
}

/// Why a source snapshot has nothing to scan, if it has not.
pub fn not_scannable(snap: &SourceSnapshot) -> Option<&'static str> {
    if snap.scannable() {
        return None;
    }
    Some(match (snap.kind, snap.format) {
        (SnapshotKind::Stopped, _) => "a stopped snapshot holds no memory: nothing to scan",
        (_, MemoryFormat::QemuMigrationStream) => {
            "QEMU memory is a migration stream, not raw guest RAM: nothing to scan"
        }
        (_, MemoryFormat::VzMachineState) => {
            "vz's machine-state.vzm is Apple's opaque format, not raw guest RAM: nothing to scan"
        }
        _ => "no memory file: nothing to scan",
    })
}

/// A reason as the pane shows it: paths inside the source start with its
/// label (`hypeman:guests/web/metadata.json`), which the row already names,
/// instead of the whole root.
fn shorten(reason: &str, root: Option<&std::path::Path>, label: &str) -> String {
    let text = match root {
        Some(root) => reason.replace(&format!("{}/", root.display()), &format!("{label}:")),
        None => reason.to_string(),
    };
    safe_owned(&text)
}

fn group(label: &str, root: Option<&std::path::Path>, listed: Vec<Listed>) -> SourceGroup {
    let entries = listed
        .into_iter()
        .map(|l| match l {
            Listed::Snapshot(s) => SourceEntry::Snapshot(Box::new(s)),
            Listed::Problem(p) => SourceEntry::Problem {
                id: safe_owned(&p.id.clone().unwrap_or_else(|| p.path.display().to_string())),
                problem: p.error.problem(),
                reason: shorten(&p.error.to_string(), root, label),
            },
        })
        .collect();
    SourceGroup {
        label: label.into(),
        entries,
    }
}

/// List every source of `set` and every file of `opened`, for the pane.
pub fn list_groups(set: &SourceSet, opened: &[PathBuf]) -> Vec<SourceGroup> {
    let mut out = Vec::new();
    for (s, listed) in set.list() {
        let root = s.source.as_ref().ok().map(|src| src.root());
        let mut g = group(&s.label, root, listed);
        if let Err(e) = &s.source {
            g.entries.push(SourceEntry::Problem {
                id: safe_owned(&s.path.display().to_string()),
                problem: e.problem(),
                reason: safe_owned(&e.to_string()),
            });
        }
        out.push(g);
    }
    if !opened.is_empty() {
        let mut g = SourceGroup {
            label: OPENED.into(),
            entries: Vec::new(),
        };
        for path in opened {
            match snapshot_at(path) {
                Some(Ok(s)) => g.entries.push(SourceEntry::Snapshot(Box::new(s))),
                Some(Err(e)) => g.entries.push(SourceEntry::Problem {
                    id: safe_owned(&path.display().to_string()),
                    problem: e.problem(),
                    reason: safe_owned(&e.to_string()),
                }),
                None => g.entries.push(SourceEntry::Problem {
                    id: safe_owned(&path.display().to_string()),
                    problem: "missing",
                    reason: "no such file (any more)".into(),
                }),
            }
        }
        out.push(g);
    }
    out
}
