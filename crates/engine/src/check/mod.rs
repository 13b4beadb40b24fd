//! `forkmail check`: does a snapshot's guest honour the mailbox contract?
//!
//! A battery of forks against the guest, each testing one rule from the
//! guest's side with what the host can observe: the acks (and their
//! latency), the frame's seq in the running fork's memory, the datagrams
//! that did not count, the guest's console, whether its VMM still runs.
//! Like fan-out it is a client of the engine: every fork is an ordinary
//! session ([`crate::fanout::run_fanout`]), read through its events; it
//! adds no stage of its own. Every fork it makes is removed at the end.
//!
//! The `acks` check runs first, listening longer than the deadline
//! ([`patience_ms`]) to tell a slow guest from one that never acks; the
//! other checks run in parallel after it and ask for acks only from a
//! guest that acks, so a guest that does not ack fails `acks` and is
//! judged on the other rules by what else it does (seq back to 0, its
//! console).

mod junit;
mod probe;
mod rules;
mod rules_payload;

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use junit::junit_xml;

use crate::error::{ErrorKind, Kinded};
use crate::fanout::Permits;
use crate::fork::{Forks, generate_fork_name};
use crate::mailbox::MailboxKind;
use crate::scan::{ScanOptions, scan_cached};
use crate::store::Store;

/// Default deadline for each ack (and grace period without one): shorter
/// than the demo's `slow-ack` guest (2.5 s), longer than a QEMU restore.
pub const DEFAULT_DEADLINE_MS: u64 = 2000;
/// The contract's longest ack deadline.
pub const MAX_DEADLINE_MS: u64 = 30_000;

/// How long the `acks` check listens for a late ack: long enough to tell
/// a slow guest (an ack after the deadline) from a silent one.
pub fn patience_ms(deadline_ms: u64) -> u64 {
    (deadline_ms * 4).clamp(deadline_ms + 1000, MAX_DEADLINE_MS.max(deadline_ms))
}

/// The checks, in the order the table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    /// One valid ack per mailbox, from the fork's own guest, in time.
    Acks,
    /// seq back to 0 once the payload is consumed.
    Consumption,
    /// The largest payload, UTF-8 and escapes, deep nesting, every mailbox.
    Limits,
    /// Two forks, two payloads: no crossed acks, each console its own.
    Independence,
    /// A mailbox not in the fork is left alone.
    NoPayload,
    /// Valid JSON the guest does not expect does not kill it (warning).
    Robustness,
}

impl CheckId {
    /// Every check, in table order.
    pub const ALL: [CheckId; 6] = [
        CheckId::Acks,
        CheckId::Consumption,
        CheckId::Limits,
        CheckId::Independence,
        CheckId::NoPayload,
        CheckId::Robustness,
    ];

    /// Its name (`no-payload`).
    pub fn label(self) -> &'static str {
        match self {
            CheckId::Acks => "acks",
            CheckId::Consumption => "consumption",
            CheckId::Limits => "limits",
            CheckId::Independence => "independence",
            CheckId::NoPayload => "no-payload",
            CheckId::Robustness => "robustness",
        }
    }

    /// The rule it tests, in one line.
    pub fn rule(self) -> &'static str {
        match self {
            CheckId::Acks => {
                "each mailbox acked once, exactly `stage=applied mailbox=<name>`, by the fork's own guest, within the deadline"
            }
            CheckId::Consumption => {
                "after the ack (or a grace period without one) the guest has reset the frame's seq to 0"
            }
            CheckId::Limits => {
                "a 3832-byte payload, multi-byte UTF-8 and escapes, deep nesting, every mailbox in one fork"
            }
            CheckId::Independence => {
                "two forks, two payloads: each guest acks its own fork only; each console shows its own payload"
            }
            CheckId::NoPayload => {
                "a mailbox not in the fork is left untouched (seq stays 0) and no datagram comes for it"
            }
            CheckId::Robustness => {
                "valid JSON the guest does not expect does not stop it (warning only)"
            }
        }
    }

    /// Whether a failure fails the suite (robustness only warns).
    pub fn required(self) -> bool {
        self != CheckId::Robustness
    }
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The rule holds.
    Pass,
    /// The rule is broken.
    Fail,
    /// A recommendation is not met (not a failure).
    Warn,
}

impl Verdict {
    /// Lowercase label.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Warn => "warn",
        }
    }
}

/// Ack latencies over the runs of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// Acks measured.
    pub samples: usize,
    /// Median, ms after the wait began.
    pub median_ms: u64,
    /// Largest.
    pub max_ms: u64,
    /// The deadline.
    pub deadline_ms: u64,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Which check.
    pub check: CheckId,
    /// The rule.
    pub rule: &'static str,
    /// Its verdict.
    pub verdict: Verdict,
    /// Whether a failure fails the suite.
    pub required: bool,
    /// What was observed (one line each; may quote guest text).
    pub evidence: Vec<String>,
    /// Wall time of the check.
    pub elapsed_ms: u64,
    /// Forks it made.
    pub forks: usize,
    /// Ack latencies (the `acks` check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

/// What the suite is asked.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Snapshot to check.
    pub snapshot: String,
    /// Mailboxes to check (empty: every fork mailbox of the snapshot).
    pub mailboxes: Vec<String>,
    /// Ack deadline and grace period, ms.
    pub deadline_ms: u64,
    /// Zero-copy forks.
    pub zero_copy: bool,
    /// Sessions at a time.
    pub parallel: usize,
}

/// What the suite reports while it runs.
#[derive(Debug, Clone)]
pub enum CheckEvent {
    /// A check began.
    Started(CheckId),
    /// A check ended.
    Finished(CheckResult),
}

/// The whole suite's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Snapshot checked.
    pub snapshot: String,
    /// Its VMM.
    pub vmm: crate::vmm::VmmKind,
    /// Zero-copy forks.
    pub zero_copy: bool,
    /// Mailboxes checked.
    pub mailboxes: Vec<String>,
    /// The deadline.
    pub deadline_ms: u64,
    /// Every check, in table order.
    pub results: Vec<CheckResult>,
    /// Wall time.
    pub elapsed_ms: u64,
    /// The suite was cancelled.
    pub cancelled: bool,
}

impl CheckReport {
    /// Every required check passed.
    pub fn passed(&self) -> bool {
        !self.cancelled
            && self
                .results
                .iter()
                .all(|r| !r.required || r.verdict != Verdict::Fail)
    }
}

/// Why the suite could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The snapshot or its discovery.
    #[error("{0}")]
    Setup(String, ErrorKind),
    /// A named mailbox is not a usable fork mailbox of the snapshot.
    #[error(
        "mailbox {name} is not a fork mailbox of {snapshot} that can be patched (found: {found})"
    )]
    NoSuchMailbox {
        /// The name.
        name: String,
        /// The snapshot.
        snapshot: String,
        /// The usable ones.
        found: String,
    },
    /// The snapshot has no usable fork mailbox.
    #[error("{0} has no fork mailbox that can be patched: nothing to check")]
    NoMailboxes(String),
    /// A deadline out of range.
    #[error(
        "--vmm-timeout {0}: expected 1 to {MAX_DEADLINE_MS} ms (the contract's ack deadline range)"
    )]
    Deadline(u64),
}

impl Kinded for CheckError {
    fn kind(&self) -> ErrorKind {
        match self {
            CheckError::Setup(_, k) => *k,
            CheckError::NoSuchMailbox { .. } => ErrorKind::MarkerMissing,
            CheckError::NoMailboxes(_) | CheckError::Deadline(_) => ErrorKind::BadRequest,
        }
    }
}

/// Run the suite on `opts.snapshot`: events to `sink` as checks start and
/// end; `cancel` rolls back the sessions running and stops the suite.
pub fn run_check(
    store: &Store,
    opts: &CheckOptions,
    sink: &(dyn Fn(CheckEvent) + Sync),
    cancel: &AtomicBool,
) -> Result<CheckReport, CheckError> {
    let started = Instant::now();
    if opts.deadline_ms == 0 || opts.deadline_ms > MAX_DEADLINE_MS {
        return Err(CheckError::Deadline(opts.deadline_ms));
    }
    let setup = |e: &dyn Kinded, m: String| CheckError::Setup(m, e.kind());
    let snap = store
        .snapshot(&opts.snapshot)
        .map_err(|e| setup(&e, e.to_string()))?;
    let discovery = scan_cached(
        &snap.memory_path(),
        &store.scan_cache_path(&snap.name),
        &ScanOptions::default(),
    )
    .map_err(|e| setup(&e, format!("discovery of {}: {e}", snap.name)))?;
    let usable = usable_mailboxes(&discovery);
    if usable.is_empty() {
        return Err(CheckError::NoMailboxes(snap.name.clone()));
    }
    let selected: Vec<String> = if opts.mailboxes.is_empty() {
        usable.iter().map(|(n, _)| n.clone()).collect()
    } else {
        for m in &opts.mailboxes {
            if !usable.iter().any(|(n, _)| n == m) {
                return Err(CheckError::NoSuchMailbox {
                    name: m.clone(),
                    snapshot: snap.name.clone(),
                    found: usable
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        opts.mailboxes.clone()
    };
    let forks = Forks::new(store);
    let ctx = probe::Ctx {
        forks: &forks,
        snapshot: snap.name.clone(),
        base: generate_fork_name("chk"),
        selected: selected.clone(),
        usable,
        deadline_ms: opts.deadline_ms,
        zero_copy: opts.zero_copy,
        permits: Arc::new(Permits::new(opts.parallel)),
        discovery: Arc::new(discovery),
        cancel,
        made: Mutex::new(Vec::new()),
    };
    let timed = |id: CheckId, f: &dyn Fn() -> CheckResult| {
        sink(CheckEvent::Started(id));
        let t = Instant::now();
        let mut r = f();
        r.elapsed_ms = crate::units::millis(t.elapsed());
        sink(CheckEvent::Finished(r.clone()));
        r
    };
    let acks_out: Mutex<Option<bool>> = Mutex::new(None);
    let mut results = vec![timed(CheckId::Acks, &|| {
        let (r, guest_acks) = rules::acks(&ctx);
        if let Ok(mut g) = acks_out.lock() {
            *g = Some(guest_acks);
        }
        r
    })];
    let guest_acks = acks_out.lock().ok().and_then(|g| *g).unwrap_or(false);
    let rest: Vec<CheckResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = CheckId::ALL[1..]
            .iter()
            .map(|&id| {
                let (ctx, timed) = (&ctx, &timed);
                scope.spawn(move || {
                    timed(id, &|| match id {
                        CheckId::Consumption => rules::consumption(ctx, guest_acks),
                        CheckId::Limits => rules_payload::limits(ctx, guest_acks),
                        CheckId::Independence => rules_payload::independence(ctx, guest_acks),
                        CheckId::NoPayload => rules_payload::no_payload(ctx, guest_acks),
                        CheckId::Robustness | CheckId::Acks => rules_payload::robustness(ctx),
                    })
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    results.extend(rest);
    results.sort_by_key(|r| r.check);
    ctx.remove_all();
    Ok(CheckReport {
        snapshot: snap.name.clone(),
        vmm: snap.meta.vmm,
        zero_copy: opts.zero_copy,
        mailboxes: selected,
        deadline_ms: opts.deadline_ms,
        results,
        elapsed_ms: crate::units::millis(started.elapsed()),
        cancelled: cancel.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// Fork mailboxes that can be patched (exactly one valid marker), with
/// their offsets, in marker order.
fn usable_mailboxes(report: &crate::scan::ScanReport) -> Vec<(String, u64)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for m in &report.markers {
        let Some(name) = m.name.as_deref().filter(|_| m.kind == MailboxKind::Fork) else {
            continue;
        };
        if !seen.insert(name.to_string()) {
            continue;
        }
        let same = report
            .markers
            .iter()
            .filter(|k| k.kind == MailboxKind::Fork && k.name.as_deref() == Some(name))
            .count();
        if same == 1 && m.valid && !m.duplicate && crate::mailbox::name_is_valid(name) {
            out.push((name.to_string(), m.offset));
        }
    }
    out
}

/// How long the checks watch after what they wait for (a guest that dies
/// shortly after consuming a payload).
fn observe_window(deadline_ms: u64) -> Duration {
    Duration::from_millis(deadline_ms.min(500))
}
