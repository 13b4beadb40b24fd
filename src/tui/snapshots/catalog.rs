//! The snapshot list's model: the store's snapshots and every source's,
//! the name filter and selection, and what is known of each one's
//! discovery. Discovery goes through the one on-disk cache the engine and
//! `forkmail markers` use: a snapshot scanned before shows its markers at
//! once (read from the cache off the UI task), the selected one is scanned
//! (with progress) when it is not, and a changed memory file is scanned
//! again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::sources::{Entry, SourceEntry, SourceGroup, list_groups, not_scannable};
use crate::error::ErrorKind;
use crate::sanitize::safe_owned;
use crate::scan::{FileIdentity, ScanReport};
use crate::source::SourceSet;
use crate::store::SnapshotInfo;
use crate::tui::jobs;
use crate::tui::msg::ScanFailure;
use crate::tui::shared::Shared;
use crate::tui::text::{natural, passes};

/// A running scan.
#[derive(Debug)]
pub struct ScanJob {
    /// Row key scanned.
    pub snapshot: String,
    /// File identity at start.
    pub key: FileIdentity,
    /// Data bytes read.
    pub done: u64,
    /// Data bytes in total.
    pub total: u64,
    /// When it started (for throughput and ETA).
    pub started: std::time::Instant,
    /// Set to abandon the scan.
    pub cancel: Arc<AtomicBool>,
}

/// Snapshots, filter, selection and what is known of their discovery.
#[derive(Debug, Default)]
pub struct Catalog {
    /// The store's snapshots, in natural order of names.
    pub snapshots: Vec<SnapshotInfo>,
    /// Snapshots of the store that failed to load (sanitized reasons).
    pub errors: Vec<String>,
    /// Name filter (substring).
    pub filter: String,
    /// Selected row among the visible ones.
    pub sel: usize,
    cache: HashMap<String, (FileIdentity, Arc<ScanReport>)>,
    /// Scan failures by row key (sanitized messages).
    pub failed: HashMap<String, String>,
    /// The running scan.
    pub scan_job: Option<ScanJob>,
    /// The run's read-only sources.
    pub source_set: SourceSet,
    /// Memory files opened by path (`o`), canonical.
    pub opened: Vec<PathBuf>,
    /// What the sources and opened files list, refreshed with the store.
    pub sources: Vec<SourceGroup>,
    /// Row keys whose cached discovery was looked for already.
    peeked: std::collections::HashSet<String>,
    /// Looks into the cache running.
    pub peeking: usize,
}

impl Catalog {
    /// The store's snapshots matching the filter.
    pub fn visible(&self) -> Vec<&SnapshotInfo> {
        self.snapshots
            .iter()
            .filter(|s| passes(&self.filter, &[&s.name]))
            .collect()
    }
    /// Every row of the snapshots pane that matches the filter: the store's
    /// snapshots first, then each source's entries, unreadable ones included.
    pub fn rows(&self) -> Vec<Entry<'_>> {
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
                if passes(&self.filter, &[row.name()]) {
                    out.push(row);
                }
            }
        }
        out
    }
    /// Snapshots in all (the store's and the sources'), filter or not.
    pub fn total(&self) -> usize {
        self.snapshots.len()
            + self
                .sources
                .iter()
                .flat_map(|g| &g.entries)
                .filter(|e| matches!(e, SourceEntry::Snapshot(_)))
                .count()
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
    /// The discovery of row `key`, when known.
    pub fn cached(&self, key: &str) -> Option<&Arc<ScanReport>> {
        self.cache.get(key).map(|c| &c.1)
    }
    /// The discovery of the selected row, when known.
    pub fn report(&self) -> Option<&Arc<ScanReport>> {
        self.cached(&self.selected_entry()?.key())
    }
    /// Whether row `key`'s discovery may still come: it is being scanned,
    /// or the cache is being looked in for it.
    pub fn pending(&self, key: &str) -> bool {
        self.scanning(key) || (self.peeking > 0 && self.peeked.contains(key))
    }
    /// Whether row `key` is being scanned.
    pub fn scanning(&self, key: &str) -> bool {
        self.scan_job.as_ref().is_some_and(|j| j.snapshot == key)
    }
    /// Record scan progress.
    pub fn progress(&mut self, snapshot: &str, done: u64, total: u64) {
        if let Some(j) = self.scan_job.as_mut().filter(|j| j.snapshot == snapshot) {
            j.done = done;
            j.total = total;
        }
    }
    /// Record a finished scan. Only the current job's result is kept (a
    /// scan superseded by another selection is dropped).
    pub fn finish_scan(
        &mut self,
        snapshot: &str,
        key: FileIdentity,
        result: Result<Arc<ScanReport>, ScanFailure>,
    ) {
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
    /// A discovery found in the cache off the UI task: kept unless the
    /// file changed since or a scan knows better.
    pub fn peeked(&mut self, snapshot: &str, key: FileIdentity, report: Arc<ScanReport>) {
        if self.cache.contains_key(snapshot) || self.scanning(snapshot) {
            return;
        }
        self.cache.insert(snapshot.to_string(), (key, report));
    }

    /// Reload the store's snapshots and the sources. Returns whether
    /// anything shown changed, and the new broken-snapshot message if the
    /// broken ones changed.
    pub fn reload(&mut self, cx: &Shared) -> (bool, Option<String>) {
        let selected = self.selected_entry().map(|e| e.key());
        let (mut snaps, errors) = match cx.store().snapshots() {
            Ok((s, bad)) => (s, bad.iter().map(|e| safe_owned(&e.to_string())).collect()),
            Err(e) => (Vec::new(), vec![safe_owned(&e.to_string())]),
        };
        snaps.sort_by(|a, b| natural(&a.name, &b.name));
        let fingerprint = |v: &[SnapshotInfo]| -> Vec<(String, u64, u64, String)> {
            v.iter()
                .map(|s| {
                    let f = (s.memory_size, s.allocated, s.meta.created_at.clone());
                    (s.name.clone(), f.0, f.1, f.2)
                })
                .collect()
        };
        let broken_changed = errors != self.errors;
        let mut changed = fingerprint(&snaps) != fingerprint(&self.snapshots) || broken_changed;
        // A snapshot whose snapshot.json does not load is not listed: say so
        // instead of letting it vanish (the pane title keeps counting it).
        let note = match errors.first() {
            Some(first) if broken_changed => Some(match errors.len() {
                1 => format!("broken snapshot: {first}"),
                n => format!("broken snapshot: {first} (+{} more)", n - 1),
            }),
            _ => None,
        };
        self.snapshots = snaps;
        self.errors = errors;
        let groups = list_groups(&self.source_set, &self.opened);
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
        changed |= source_keys(&groups) != source_keys(&self.sources);
        self.sources = groups;
        let names: Vec<String> = self.rows().iter().map(|e| e.key()).collect();
        self.cache.retain(|k, _| names.contains(k));
        if let Some(key) = selected
            && let Some(i) = self.rows().iter().position(|e| e.key() == key)
        {
            self.sel = i;
        }
        let len = self.rows().len();
        self.sel = self.sel.min(len.saturating_sub(1));
        self.peek_cached(cx);
        (changed, note)
    }

    /// The memory file of row `entry`, or why there is nothing to scan.
    fn memory_of(entry: &Entry) -> Result<PathBuf, Option<String>> {
        match entry {
            Entry::Store(snap) => Ok(snap.memory_path()),
            Entry::Source { snap, .. } => match (&snap.memory, not_scannable(snap)) {
                (Some(m), None) => Ok(m.clone()),
                (_, why) => Err(Some(why.unwrap_or("nothing to scan").to_string())),
            },
            Entry::Problem { .. } => Err(None),
        }
    }

    /// Look for the discovery of every row not known yet in the cache, off
    /// the UI task (what `forkmail markers`, a fork or an earlier run
    /// found): the MARKERS column fills in without a scan.
    fn peek_cached(&mut self, cx: &Shared) {
        let mut todo = Vec::new();
        for e in self.rows() {
            let key = e.key();
            if self.cache.contains_key(&key) || self.peeked.contains(&key) {
                continue;
            }
            if let Ok(memory) = Catalog::memory_of(&e) {
                let cache = cache_path(cx, &key, &memory);
                todo.push((key, memory, cache));
            }
        }
        self.peeked.extend(todo.iter().map(|t| t.0.clone()));
        if !todo.is_empty() {
            self.peeking += 1;
            jobs::spawn_peek(cx.tx().clone(), todo);
        }
    }

    /// Scan the selected row if its discovery is not known (through the
    /// cache, with progress).
    pub fn ensure_scan(&mut self, cx: &Shared) {
        let Some(entry) = self.selected_entry() else {
            return;
        };
        let name = entry.key();
        let path = match Catalog::memory_of(&entry) {
            Ok(p) => p,
            Err(Some(why)) => {
                self.failed.insert(name, why);
                return;
            }
            Err(None) => return,
        };
        let Ok(key) = FileIdentity::of(&path) else {
            let why = format!("{}: cannot read", path.display());
            self.failed.insert(name, why);
            return;
        };
        if self.cache.get(&name).is_some_and(|c| c.0 == key) {
            return;
        }
        if self.failed.contains_key(&name) && self.scan_job.is_none() {
            return; // shown as failed; `r` retries
        }
        if let Some(job) = &self.scan_job {
            if job.snapshot == name && job.key == key {
                return;
            }
            job.cancel.store(true, Ordering::Relaxed);
        }
        let cancel = Arc::new(AtomicBool::new(false));
        self.scan_job = Some(ScanJob {
            snapshot: name.clone(),
            key,
            done: 0,
            total: 0,
            started: cx.clock().instant(),
            cancel: Arc::clone(&cancel),
        });
        let cache = cache_path(cx, &name, &path);
        jobs::spawn_scan(cx.tx().clone(), name, path, cache, key, cancel);
    }

    /// Forget the selected row's discovery (the cache entry too) so it is
    /// scanned again.
    pub fn forget_selected(&mut self, cx: &Shared) {
        let Some(entry) = self.selected_entry() else {
            return;
        };
        let name = entry.key();
        if let Ok(memory) = Catalog::memory_of(&entry) {
            let _ = std::fs::remove_file(cache_path(cx, &name, &memory));
        }
        self.cache.remove(&name);
        self.failed.remove(&name);
        if let Some(j) = self.scan_job.take() {
            j.cancel.store(true, Ordering::Relaxed);
        }
    }
}

/// Where the discovery of row `key` (memory file `memory`) is remembered:
/// in the store, never in a source.
fn cache_path(cx: &Shared, key: &str, memory: &Path) -> PathBuf {
    if key.contains('/') {
        cx.store().scan_cache_path_for_file(memory)
    } else {
        cx.store().scan_cache_path(key)
    }
}
