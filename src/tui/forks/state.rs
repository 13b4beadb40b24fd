//! The forks screen's state: forks with their live status, memory
//! inspections (were the mailboxes consumed?), stop and remove.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::fork::{Divergence, ForkEntry, ForkInfo, Forks, LiveStatus, divergence};
use crate::scan::ScanReport;
use crate::store::Store;
use crate::tui::text::{natural, passes};

/// One fork row.
#[derive(Debug, Clone)]
pub struct ForkRow {
    /// The fork.
    pub info: ForkInfo,
    /// What is true of it now.
    pub status: LiveStatus,
    /// Memory it no longer shares with its template.
    pub divergence: Option<Divergence>,
}

impl ForkRow {
    /// The VMM's pid, only while it runs (no stale pids).
    pub fn live_pid(&self) -> Option<u32> {
        matches!(self.status, LiveStatus::Running | LiveStatus::Creating)
            .then(|| self.info.meta.process.as_ref().map(|p| p.pid))
            .flatten()
    }
}

/// A memory inspection of a fork.
#[derive(Debug, Clone)]
pub enum Inspection {
    /// Scanning.
    Running,
    /// Scanned.
    Done(Arc<ScanReport>),
    /// The scan failed.
    Failed(String),
}

/// What one patched mailbox looks like in the fork's memory now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumption {
    /// Mailbox name.
    pub mailbox: String,
    /// seq now (`None`: marker not found).
    pub seq: Option<u32>,
    /// Ack recorded in fork.json.
    pub acked: bool,
}

/// Forks, selection and inspections.
#[derive(Debug, Default)]
pub struct ForksState {
    /// Forks by name.
    pub rows: Vec<ForkRow>,
    /// Selected row.
    pub sel: usize,
    /// Inspections by fork name.
    pub inspections: HashMap<String, Inspection>,
    /// Stop/remove batches in flight.
    pub pending: usize,
    /// Marked forks (bulk stop and remove).
    pub marked: HashSet<String>,
    /// Forks being stopped or removed (a message about them goes once
    /// they are done).
    pub busy_with: HashSet<String>,
    /// Name filter (fork or source).
    pub filter: String,
}

impl ForksState {
    /// Reload from the store. Returns whether anything changed.
    pub fn reload(&mut self, store: &Store) -> bool {
        let entries = Forks::new(store).list().unwrap_or_default();
        let mut rows: Vec<ForkRow> = entries
            .into_iter()
            .filter_map(|e: ForkEntry| {
                Some(ForkRow {
                    divergence: divergence(&e),
                    status: e.status,
                    info: e.info?,
                })
            })
            .collect();
        rows.sort_by(|a, b| natural(&a.info.name, &b.info.name));
        let fp = |r: &[ForkRow]| -> Vec<(String, LiveStatus, Option<u32>, usize)> {
            r.iter()
                .map(|r| {
                    let acked = r.info.meta.mailboxes.iter().filter(|m| m.acked).count();
                    (r.info.name.clone(), r.status, r.live_pid(), acked)
                })
                .collect()
        };
        let changed = fp(&rows) != fp(&self.rows)
            || rows
                .iter()
                .map(|r| r.divergence)
                .ne(self.rows.iter().map(|r| r.divergence));
        self.rows = rows;
        self.sel = self.sel.min(self.visible().len().saturating_sub(1));
        let names: HashSet<&str> = self.rows.iter().map(|r| r.info.name.as_str()).collect();
        self.inspections.retain(|k, _| names.contains(k.as_str()));
        self.marked.retain(|k| names.contains(k.as_str()));
        changed
    }

    /// The rows the filter lets through (natural order of names, as listed).
    pub fn visible(&self) -> Vec<&ForkRow> {
        self.rows
            .iter()
            .filter(|r| passes(&self.filter, &[&r.info.name, &r.info.meta.source]))
            .collect()
    }

    /// Mark or unmark the selected fork.
    pub fn toggle_mark(&mut self) {
        let Some(name) = self.selected().map(|r| r.info.name.clone()) else {
            return;
        };
        if !self.marked.remove(&name) {
            self.marked.insert(name);
        }
    }

    /// Private memory of the forks listed, in all (what the PRIVATE
    /// column adds up to).
    pub fn private_total(&self) -> Option<u64> {
        let v: Vec<u64> = self
            .rows
            .iter()
            .filter_map(|r| r.divergence.map(|d| d.bytes))
            .collect();
        (!v.is_empty()).then(|| v.iter().sum())
    }

    /// What is true of each fork now, by name.
    pub fn statuses(&self) -> std::collections::HashMap<String, LiveStatus> {
        self.rows
            .iter()
            .map(|r| (r.info.name.clone(), r.status))
            .collect()
    }

    /// Mark every visible fork; unmark them when all already are.
    pub fn mark_all_visible(&mut self) {
        let names: Vec<String> = self.visible().iter().map(|r| r.info.name.clone()).collect();
        if names.iter().all(|n| self.marked.contains(n)) {
            for n in &names {
                self.marked.remove(n);
            }
        } else {
            self.marked.extend(names);
        }
    }

    /// Work in flight (spinner visible).
    pub fn busy(&self) -> bool {
        self.pending > 0
            || self
                .inspections
                .values()
                .any(|i| matches!(i, Inspection::Running))
    }

    /// Selected fork (of the visible ones).
    pub fn selected(&self) -> Option<&ForkRow> {
        self.visible().get(self.sel).copied()
    }

    /// Record an inspection result.
    pub fn inspected(&mut self, fork: &str, result: Result<Arc<ScanReport>, String>) {
        let i = match result {
            Ok(r) => Inspection::Done(r),
            Err(e) => Inspection::Failed(e),
        };
        self.inspections.insert(fork.to_string(), i);
    }

    /// Per patched mailbox: its seq in the fork's memory now.
    pub fn consumption(row: &ForkRow, report: &ScanReport) -> Vec<Consumption> {
        row.info
            .meta
            .mailboxes
            .iter()
            .map(|m| Consumption {
                mailbox: m.name.clone(),
                seq: report
                    .markers
                    .iter()
                    .find(|k| k.offset == m.offset)
                    .or_else(|| report.fork_markers(&m.name).next())
                    .map(|k| k.seq),
                acked: m.acked,
            })
            .collect()
    }
}
