//! The snapshot list, its name filter, and what the TUI keeps of each
//! snapshot's discovery for display. Discovery itself goes through the one
//! on-disk cache the engine and `forkmail markers` use (scans run off the
//! UI task, with progress); revisiting a snapshot is instant, and a changed
//! memory file is scanned again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::app::{App, Level};
use super::jobs;
use super::sources::{Entry, SourceEntry, SourceGroup, list_groups, not_scannable};
use crate::error::ErrorKind;
use crate::sanitize::safe_owned;
use crate::scan::ScanReport;
use crate::source::SourceSet;
use crate::store::SnapshotInfo;

/// Identity of a memory file's contents (the discovery cache's key).
pub use crate::scan::FileIdentity as FileKey;

/// Why a scan did not produce a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanFailure {
    /// What kind of failure (a cancel is not shown as one).
    pub kind: ErrorKind,
    /// What, where and why (sanitized).
    pub message: String,
}

/// A running scan.
#[derive(Debug)]
pub struct ScanJob {
    /// Snapshot scanned.
    pub snapshot: String,
    /// File identity at start.
    pub key: FileKey,
    /// Data bytes read.
    pub done: u64,
    /// Data bytes in total.
    pub total: u64,
    /// When it started (for throughput and ETA).
    pub started: std::time::Instant,
    /// Set to abandon the scan.
    pub cancel: Arc<AtomicBool>,
}

/// Snapshots, filter, selection and scan cache.
#[derive(Debug, Default)]
pub struct Catalog {
    /// All snapshots, by name.
    pub snapshots: Vec<SnapshotInfo>,
    /// Snapshots that failed to load.
    pub errors: Vec<String>,
    /// Name filter (substring).
    pub filter: String,
    /// Selected row among the visible ones.
    pub sel: usize,
    cache: HashMap<String, (FileKey, Arc<ScanReport>)>,
    /// Scan failures by snapshot (sanitized messages).
    pub failed: HashMap<String, String>,
    /// The running scan.
    pub scan_job: Option<ScanJob>,
    /// The run's read-only sources.
    pub source_set: SourceSet,
    /// Memory files opened by path (`o`), canonical.
    pub opened: Vec<PathBuf>,
    /// What the sources and opened files list, refreshed with the store.
    pub sources: Vec<SourceGroup>,
}

impl Catalog {
    /// Snapshots matching the filter.
    pub fn visible(&self) -> Vec<&SnapshotInfo> {
        let f = self.filter.to_lowercase();
        self.snapshots
            .iter()
            .filter(|s| f.is_empty() || s.name.contains(&f))
            .collect()
    }
    /// Every row of the snapshots pane that matches the filter: the store's
    /// snapshots first (as [`Catalog::visible`]), then each source's
    /// entries, unreadable ones included.
    pub fn rows(&self) -> Vec<Entry<'_>> {
        let f = self.filter.to_lowercase();
        let matches = |name: &str| f.is_empty() || name.to_lowercase().contains(&f);
        let mut out: Vec<Entry> = self.visible().into_iter().map(Entry::Store).collect();
        for g in &self.sources {
            for e in &g.entries {
                let row = match e {
                    SourceEntry::Snapshot(snap) => Entry::Source {
                        label: &g.label,
                        snap: snap.as_ref(),
                    },
                    SourceEntry::Problem {
                        id,
                        problem,
                        reason,
                    } => Entry::Problem {
                        label: &g.label,
                        id,
                        problem,
                        reason,
                    },
                };
                if matches(row.name()) {
                    out.push(row);
                }
            }
        }
        out
    }
    /// The selected row.
    pub fn selected_entry(&self) -> Option<Entry<'_>> {
        self.rows().into_iter().nth(self.sel)
    }
    /// The selected snapshot, when it is one of the store's (only those
    /// are edited and forked).
    pub fn selected(&self) -> Option<&SnapshotInfo> {
        match self.selected_entry()? {
            Entry::Store(s) => Some(s),
            _ => None,
        }
    }
    /// Cached report of `name`.
    pub fn cached(&self, name: &str) -> Option<&Arc<ScanReport>> {
        self.cache.get(name).map(|c| &c.1)
    }
    /// Number of markers, when known.
    pub fn marker_count(&self, name: &str) -> Option<usize> {
        self.cached(name).map(|r| r.markers.len())
    }
    /// Record scan progress.
    pub fn progress(&mut self, snapshot: &str, done: u64, total: u64) {
        if let Some(j) = self.scan_job.as_mut().filter(|j| j.snapshot == snapshot) {
            j.done = done;
            j.total = total;
        }
    }
    /// Record a finished scan.
    pub fn finish_scan(
        &mut self,
        snapshot: &str,
        key: FileKey,
        result: Result<Arc<ScanReport>, ScanFailure>,
    ) {
        // A scan that was superseded (the selection moved on) is dropped even
        // if it finished: only the current job's result is cached.
        if !self
            .scan_job
            .as_ref()
            .is_some_and(|j| j.snapshot == snapshot && j.key == key)
        {
            return;
        }
        self.scan_job = None;
        match result {
            Ok(r) => {
                self.failed.remove(snapshot);
                self.cache.insert(snapshot.to_string(), (key, r));
            }
            Err(e) if e.kind != ErrorKind::Cancelled => {
                self.failed.insert(snapshot.to_string(), e.message);
            }
            Err(_) => {}
        }
    }
    fn forget(&mut self, name: &str) {
        self.cache.remove(name);
        self.failed.remove(name);
    }
}

impl App {
    /// Reload snapshots (the store's and the sources') and forks from
    /// disk. Returns whether anything changed.
    pub fn reload_store(&mut self) -> bool {
        let selected = self.catalog.selected_entry().map(|e| e.key());
        let (mut snaps, errors) = match self.store.snapshots() {
            Ok((s, bad)) => (s, bad.iter().map(|e| safe_owned(&e.to_string())).collect()),
            Err(e) => (Vec::new(), vec![safe_owned(&e.to_string())]),
        };
        snaps.sort_by(|a, b| super::nav::natural(&a.name, &b.name));
        let fingerprint = |v: &[SnapshotInfo]| -> Vec<(String, u64, u64, String)> {
            v.iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        s.memory_size,
                        s.allocated,
                        s.meta.created_at.clone(),
                    )
                })
                .collect()
        };
        let broken_changed = errors != self.catalog.errors;
        let mut changed =
            fingerprint(&snaps) != fingerprint(&self.catalog.snapshots) || broken_changed;
        // A snapshot whose snapshot.json does not load is not listed: say so
        // instead of letting it vanish (the pane title keeps counting it).
        if broken_changed && let Some(first) = errors.first() {
            let more = match errors.len() {
                1 => String::new(),
                n => format!(" (+{} more)", n - 1),
            };
            self.say(format!("broken snapshot: {first}{more}"), Level::Error);
        }
        self.catalog.snapshots = snaps;
        self.catalog.errors = errors;
        let groups = list_groups(&self.catalog.source_set, &self.catalog.opened);
        let source_keys = |gs: &[SourceGroup]| -> Vec<(String, Option<u64>)> {
            gs.iter()
                .flat_map(|g| {
                    g.entries.iter().map(move |e| match e {
                        SourceEntry::Snapshot(s) => {
                            (format!("{}/{}", g.label, s.id), s.memory_file_bytes)
                        }
                        SourceEntry::Problem { id, reason, .. } => {
                            (format!("{}/{id}: {reason}", g.label), None)
                        }
                    })
                })
                .collect()
        };
        changed |= source_keys(&groups) != source_keys(&self.catalog.sources);
        self.catalog.sources = groups;
        let names: Vec<String> = self.catalog.rows().iter().map(|e| e.key()).collect();
        self.catalog.cache.retain(|k, _| names.contains(k));
        if let Some(key) = selected
            && let Some(i) = self.catalog.rows().iter().position(|e| e.key() == key)
        {
            self.catalog.sel = i;
        }
        let len = self.catalog.rows().len();
        self.catalog.sel = self.catalog.sel.min(len.saturating_sub(1));
        changed |= self.forks.reload(&self.store);
        // A message about a fork that no longer runs is stale.
        if let Some(f) = self.status_about.clone()
            && !self.forks.rows.iter().any(|r| {
                r.info.name == f
                    && matches!(
                        r.status,
                        crate::fork::LiveStatus::Running | crate::fork::LiveStatus::Creating
                    )
            })
        {
            self.clear_status();
            changed = true;
        }
        self.selection_changed();
        changed
    }

    /// The selected snapshot changed (or may have): scan if needed, show its
    /// first mailbox in the editor.
    pub fn selection_changed(&mut self) {
        let selected = self.catalog.selected().map(|s| s.name.clone());
        self.keep_prestart_only_for(selected.as_deref());
        self.ensure_scan();
        // Load every mailbox's draft so the markers pane shows the saved
        // include/ack settings, not defaults, before each row is visited.
        if let Some(snap) = self.catalog.selected().map(|s| s.name.clone())
            && let Some(report) = self.catalog.cached(&snap).cloned()
        {
            let names = report.markers.iter().filter_map(|m| m.name.as_deref());
            // Names come from guest memory: only well-formed ones become paths.
            for name in names.filter(|n| crate::mailbox::name_is_valid(n)) {
                self.draft(&snap, name);
            }
        }
        let len = self.visible_markers().len();
        self.marker_sel = self.marker_sel.min(len.saturating_sub(1));
        self.sync_editor();
    }

    fn ensure_scan(&mut self) {
        let Some(entry) = self.catalog.selected_entry() else {
            return;
        };
        let name = entry.key();
        let path = match entry {
            Entry::Store(snap) => snap.memory_path(),
            Entry::Source { snap, .. } => {
                let memory = snap
                    .memory
                    .clone()
                    .filter(|_| not_scannable(snap).is_none());
                match (memory, not_scannable(snap)) {
                    (Some(m), _) => m,
                    (None, why) => {
                        let why = why.unwrap_or("nothing to scan").to_string();
                        self.catalog.failed.insert(name, why);
                        return;
                    }
                }
            }
            Entry::Problem { .. } => return,
        };
        let Ok(key) = FileKey::of(&path) else {
            self.catalog
                .failed
                .insert(name, format!("{}: cannot read", path.display()));
            return;
        };
        if self.catalog.cache.get(&name).is_some_and(|c| c.0 == key) {
            return;
        }
        if self.catalog.failed.contains_key(&name) && self.catalog.scan_job.is_none() {
            return; // shown as failed; `r` retries
        }
        if let Some(job) = &self.catalog.scan_job {
            if job.snapshot == name && job.key == key {
                return;
            }
            job.cancel.store(true, Ordering::Relaxed);
        }
        let cancel = Arc::new(AtomicBool::new(false));
        self.catalog.scan_job = Some(ScanJob {
            snapshot: name.clone(),
            key,
            done: 0,
            total: 0,
            started: self.clock.instant(),
            cancel: Arc::clone(&cancel),
        });
        let cache = self.cache_path(&name, &path);
        jobs::spawn_scan(self.tx.clone(), name, path, cache, key, cancel);
    }

    /// Where the discovery of the row `key` (memory file `memory`) is
    /// remembered: in the store, never in a source.
    fn cache_path(&self, key: &str, memory: &std::path::Path) -> PathBuf {
        if key.contains('/') {
            self.store.scan_cache_path_for_file(memory)
        } else {
            self.store.scan_cache_path(key)
        }
    }

    /// Forget the selected snapshot's scan and scan it again.
    pub fn rescan(&mut self) {
        let selected = self.catalog.selected_entry().map(|e| {
            let memory = match e {
                Entry::Store(s) => Some(s.memory_path()),
                Entry::Source { snap, .. } => snap.memory.clone(),
                Entry::Problem { .. } => None,
            };
            (e.key(), memory)
        });
        if let Some((name, memory)) = selected {
            // `r` means scan again: the remembered result goes too.
            if let Some(m) = memory {
                let _ = std::fs::remove_file(self.cache_path(&name, &m));
            }
            self.catalog.forget(&name);
            if let Some(j) = self.catalog.scan_job.take() {
                j.cancel.store(true, Ordering::Relaxed);
            }
            self.selection_changed();
        }
    }
}
