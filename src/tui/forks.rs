//! The forks screen's state: forks with their live status, memory
//! inspections (were the mailboxes consumed?), stop and remove.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::app::{App, Dialog, Level, Mode};
use super::jobs;
use crate::fork::{Divergence, ForkEntry, ForkInfo, Forks, LiveStatus, divergence};
use crate::scan::ScanReport;
use crate::store::Store;

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
    /// Stop/remove operations in flight.
    pub pending: usize,
    /// Marked forks (bulk stop and remove).
    pub marked: HashSet<String>,
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
        rows.sort_by(|a, b| super::nav::natural(&a.info.name, &b.info.name));
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
            .filter(|r| super::nav::passes(&self.filter, &[&r.info.name, &r.info.meta.source]))
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

impl App {
    /// Scan the selected fork's memory.
    pub fn inspect_selected_fork(&mut self) {
        let Some(row) = self.forks.selected() else {
            return;
        };
        let info = row.info.clone();
        self.forks
            .inspections
            .insert(info.name.clone(), Inspection::Running);
        jobs::spawn_inspect(self.tx.clone(), self.store.clone(), info);
    }

    /// Ask before stopping or removing the marked forks (one question for
    /// all of them), or else the selected fork.
    pub fn ask_fork_op(&mut self, remove: bool) {
        if !self.forks.marked.is_empty() {
            let mut names: Vec<String> = self.forks.marked.iter().cloned().collect();
            names.sort_by(|a, b| crate::store::natural_cmp(a, b));
            self.dialog = Some(Dialog::BulkForkOp { names, remove });
            self.mode = Mode::Confirm;
            return;
        }
        let Some(row) = self.forks.selected() else {
            self.say("no fork selected", Level::Info);
            return;
        };
        let name = row.info.name.clone();
        self.dialog = Some(if remove {
            Dialog::RemoveFork(name)
        } else {
            Dialog::StopFork(name)
        });
        self.mode = Mode::Confirm;
    }

    /// Stop or remove `fork` in the background.
    pub fn fork_op(&mut self, fork: &str, remove: bool) {
        self.forks.pending += 1;
        let verb = if remove { "removing" } else { "stopping" };
        self.say(format!("{verb} {fork}…"), Level::Info);
        jobs::spawn_fork_op(
            self.tx.clone(),
            self.store.clone(),
            fork.to_string(),
            remove,
        );
    }
}
