//! The sessions screen's model: single sessions, fan-outs (their forks
//! grouped under one expandable row) and conformance-suite runs, in the
//! order they started, filtered by name.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::model::SessionView;
use crate::check::{CheckId, CheckResult};
use crate::tui::msg::FanoutSummary;
use crate::tui::text::passes;

/// A fan-out (started here, or read back from the history).
#[derive(Debug)]
pub struct FanoutView {
    /// Fan-out id (this run).
    pub id: u64,
    /// Source snapshot.
    pub snapshot: String,
    /// Base name of its forks.
    pub base: String,
    /// Sessions at a time.
    pub parallel: usize,
    /// Forks it was asked to make.
    pub count: usize,
    /// Its forks' session ids, in index order.
    pub members: Vec<u64>,
    /// Its forks are listed under it.
    pub expanded: bool,
    /// Cancels every fork of it.
    pub cancel: Arc<AtomicBool>,
    /// What it did, once it ended.
    pub summary: Option<FanoutSummary>,
    /// Its id in the session history.
    pub history: Option<String>,
}

/// A conformance suite run started here.
#[derive(Debug)]
pub struct CheckView {
    /// Run id.
    pub id: u64,
    /// Snapshot checked.
    pub snapshot: String,
    /// Check → its result (`None`: running).
    pub rows: BTreeMap<CheckId, Option<CheckResult>>,
    /// `None` while running; whether it passed, or why it could not run.
    pub outcome: Option<Result<bool, String>>,
    /// Cancels the suite.
    pub cancel: Arc<AtomicBool>,
}

/// One row of the sessions list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRow {
    /// A single fork session (index into the sessions).
    Single(usize),
    /// A fan-out (index into the fan-outs).
    Group(usize),
    /// A fork of an expanded fan-out (index into the sessions).
    Member(usize),
    /// A conformance check run (index into the checks).
    Check(usize),
}

/// Sessions, fan-outs and checks, with the list's filter.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Every session, in start order (past ones first).
    pub list: Vec<SessionView>,
    /// Fan-outs.
    pub fanouts: Vec<FanoutView>,
    /// Conformance runs.
    pub checks: Vec<CheckView>,
    /// The list's filter.
    pub filter: String,
}

impl Sessions {
    /// The session with id `id`.
    pub fn by_id(&self, id: u64) -> Option<&SessionView> {
        self.list.iter().find(|s| s.id == id)
    }
    /// The session with id `id`, to change it.
    pub fn by_id_mut(&mut self, id: u64) -> Option<&mut SessionView> {
        self.list.iter_mut().find(|s| s.id == id)
    }

    /// The member sessions of fan-out `gi`, in index order.
    pub fn members(&self, gi: usize) -> Vec<&SessionView> {
        let Some(f) = self.fanouts.get(gi) else {
            return Vec::new();
        };
        f.members.iter().filter_map(|id| self.by_id(*id)).collect()
    }

    /// Rows of the list in all, before the filter (what the counts say).
    pub fn entries(&self) -> usize {
        self.list.iter().filter(|s| s.group.is_none()).count()
            + self.fanouts.len()
            + self.checks.len()
    }

    /// Sessions running now (a fan-out's forks each count).
    pub fn running(&self) -> usize {
        self.list.iter().filter(|s| s.is_running()).count()
    }

    /// The list's rows, in order, through the filter.
    pub fn rows(&self) -> Vec<SessionRow> {
        let mut rows = Vec::new();
        for (i, s) in self.list.iter().enumerate() {
            let Some(g) = s.group else {
                rows.push(SessionRow::Single(i));
                continue;
            };
            let Some(gi) = self.fanouts.iter().position(|f| f.id == g) else {
                continue;
            };
            let f = &self.fanouts[gi];
            if f.members.first() == Some(&s.id) {
                rows.push(SessionRow::Group(gi));
                if f.expanded {
                    rows.extend(f.members.iter().filter_map(|id| {
                        self.list
                            .iter()
                            .position(|m| m.id == *id)
                            .map(SessionRow::Member)
                    }));
                }
            }
        }
        rows.extend((0..self.checks.len()).map(SessionRow::Check));
        // A row stays when its fork, fan-out or snapshot matches.
        let f = &self.filter;
        if !f.is_empty() {
            rows.retain(|r| match *r {
                SessionRow::Single(i) | SessionRow::Member(i) => {
                    passes(f, &[&self.list[i].fork, &self.list[i].snapshot])
                }
                SessionRow::Group(gi) => {
                    passes(f, &[&self.fanouts[gi].base, &self.fanouts[gi].snapshot])
                }
                SessionRow::Check(ci) => passes(f, &[&self.checks[ci].snapshot]),
            });
        }
        rows
    }

    /// Whether the work of `row` still runs.
    pub fn row_running(&self, row: SessionRow) -> bool {
        match row {
            SessionRow::Single(i) | SessionRow::Member(i) => self.list[i].is_running(),
            SessionRow::Group(gi) => self.members(gi).iter().any(|s| s.is_running()),
            SessionRow::Check(ci) => self.checks[ci].outcome.is_none(),
        }
    }

    /// The session ids of `row` (a fan-out: all of its forks).
    pub fn row_sessions(&self, row: SessionRow) -> Vec<u64> {
        match row {
            SessionRow::Single(i) | SessionRow::Member(i) => vec![self.list[i].id],
            SessionRow::Group(gi) => self.fanouts[gi].members.clone(),
            SessionRow::Check(_) => Vec::new(),
        }
    }
}
