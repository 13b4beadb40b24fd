//! Running a planned fan-out: K worker threads take the forks in order, each
//! fork an ordinary session through [`Forks::create`] with the events
//! forwarded (tagged with the fork's index) and kept.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::stats::StageClock;
use crate::error::ErrorKind;
use crate::fork::{ForkError, ForkOutcome, ForkRequest, Forks, MailboxSpec, SessionEvent};
use crate::scan::ScanReport;

/// One fork of a fan-out.
#[derive(Debug, Clone)]
pub struct PlannedFork {
    /// 0-based index.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Its mailboxes, payloads final.
    pub mailboxes: Vec<MailboxSpec>,
}

/// A fan-out ready to run.
#[derive(Debug, Clone)]
pub struct FanoutPlan {
    /// Source snapshot.
    pub snapshot: String,
    /// The forks' base name (what the fan-out is called).
    pub base: String,
    /// The forks, in order.
    pub forks: Vec<PlannedFork>,
    /// Sessions at a time.
    pub parallel: usize,
    /// Keep the other forks when one fails.
    pub keep_going: bool,
    /// Zero-copy forks.
    pub zero_copy: bool,
    /// Restore the forks.
    pub restore: bool,
    /// The snapshot's discovery, shared by every session.
    pub discovery: Option<Arc<ScanReport>>,
    /// A limit on sessions shared with other fan-outs (the check suite).
    pub permits: Option<Arc<Permits>>,
    /// Address of the forks' ack sockets (`--ack-bind`; default: the
    /// template's, else 127.0.0.1).
    pub ack_bind: Option<std::net::IpAddr>,
    /// Each fork's [`ForkRequest::ack_linger_ms`] (the check suite's
    /// `acks` rule; `None` for a fan-out).
    pub ack_linger_ms: Option<u64>,
    /// Each fork's [`ForkRequest::hold`]: the check suite keeps the forks
    /// it observes locked (busy to `rm`) until it is done with them.
    pub hold: bool,
}

impl FanoutPlan {
    /// The session request of fork `f` of this plan.
    pub fn request(&self, f: &PlannedFork) -> ForkRequest {
        let mut req = ForkRequest::new(&self.snapshot);
        req.fork_name = Some(f.name.clone());
        req.mailboxes = f.mailboxes.clone();
        req.zero_copy = self.zero_copy;
        req.restore = self.restore;
        req.discovery = self.discovery.clone();
        req.ack_bind = self.ack_bind;
        req.ack_linger_ms = self.ack_linger_ms;
        req.hold = self.hold;
        req
    }
}

/// What happened in a fan-out.
#[derive(Debug, Clone)]
pub enum FanoutEvent {
    /// An event of fork `index`'s session.
    Session {
        /// Fork index.
        index: usize,
        /// The event (its `fork` is the fork's name).
        event: SessionEvent,
    },
    /// Fork `index` ended: every fork ends exactly once, started or not.
    Ended {
        /// Fork index.
        index: usize,
        /// Its name.
        name: String,
        /// What its session made, or why it failed (or never started).
        result: Result<ForkOutcome, ForkError>,
        /// It never started (the fan-out was stopped first).
        not_started: bool,
    },
    /// A fork that was made was removed because the fan-out failed.
    Removed {
        /// Fork index.
        index: usize,
        /// Its name.
        name: String,
        /// Whether the removal worked.
        result: Result<(), String>,
    },
}

/// How one fork of a fan-out ended.
#[derive(Debug, Clone)]
pub struct ForkResult {
    /// Fork index.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// What its session made, or why not.
    pub result: Result<ForkOutcome, ForkError>,
    /// Its stage times.
    pub clock: StageClock,
    /// Its session's events.
    pub events: Vec<SessionEvent>,
    /// Removed after the fan-out failed.
    pub removed: bool,
    /// Never started (the fan-out was stopped first).
    pub not_started: bool,
}

/// How a fan-out ended.
#[derive(Debug, Clone)]
pub struct FanoutReport {
    /// Every fork, in index order.
    pub forks: Vec<ForkResult>,
    /// Wall time from the first session's start to the last one's end.
    pub elapsed: Duration,
}

impl FanoutReport {
    /// Forks whose session reached `done` (and that were not removed).
    pub fn done(&self) -> usize {
        self.forks
            .iter()
            .filter(|f| f.result.is_ok() && !f.removed)
            .count()
    }
    /// Forks whose session failed or never started.
    pub fn failed(&self) -> usize {
        self.forks.iter().filter(|f| f.result.is_err()).count()
    }
    /// The failure that decides the exit status: the first fork that failed
    /// on its own (not cancelled because another failed), else a cancel.
    pub fn first_failure(&self) -> Option<&ForkError> {
        let errs = || self.forks.iter().filter_map(|f| f.result.as_ref().err());
        errs().find(|e| !e.is_cancelled()).or_else(|| errs().next())
    }
    /// Sessions that reached `done` per second of wall time.
    pub fn forks_per_second(&self) -> f64 {
        let ok = self.forks.iter().filter(|f| f.result.is_ok()).count();
        ok as f64 / self.elapsed.as_secs_f64().max(1e-6)
    }
}

/// A counting semaphore over sessions, shared by fan-outs that run side by
/// side.
#[derive(Debug)]
pub struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Permits {
    /// `n` sessions at a time.
    pub fn new(n: usize) -> Permits {
        Permits {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Wait for a permit; `None` once `abort` is set.
    fn acquire<'a>(&'a self, abort: &AtomicBool) -> Option<Permit<'a>> {
        let mut free = self.free.lock().ok()?;
        loop {
            if abort.load(Ordering::Relaxed) {
                return None;
            }
            if *free > 0 {
                *free -= 1;
                return Some(Permit(self));
            }
            free = self
                .freed
                .wait_timeout(free, Duration::from_millis(50))
                .ok()?
                .0;
        }
    }
}

struct Permit<'a>(&'a Permits);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Ok(mut free) = self.0.free.lock() {
            *free += 1;
        }
        self.0.freed.notify_one();
    }
}

/// Run `plan`: events to `sink` (from worker threads), `cancel` stops
/// everything (sessions roll back). Without `keep_going`, the first
/// failure stops the rest and removes the forks already made.
pub fn run_fanout(
    forks: &Forks,
    plan: &FanoutPlan,
    sink: &(dyn Fn(FanoutEvent) + Sync),
    cancel: &AtomicBool,
) -> FanoutReport {
    let started = Instant::now();
    let n = plan.forks.len();
    let next = AtomicUsize::new(0);
    // Every session's cancel flag: set by the caller's cancel, or by the
    // first failure when the fan-out is all or nothing.
    let abort = AtomicBool::new(false);
    let finished = AtomicBool::new(false);
    let results: Mutex<Vec<Option<ForkResult>>> = Mutex::new(vec![None; n]);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                if cancel.load(Ordering::Relaxed) {
                    abort.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let workers: Vec<_> = (0..plan.parallel.clamp(1, n.max(1)))
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(f) = plan.forks.get(i) else { break };
                        let r = run_one(forks, plan, f, sink, &abort, cancel);
                        if r.result.is_err() && !plan.keep_going {
                            abort.store(true, Ordering::Relaxed);
                        }
                        sink(FanoutEvent::Ended {
                            index: i,
                            name: f.name.clone(),
                            result: r.result.clone(),
                            not_started: r.not_started,
                        });
                        if let Ok(mut all) = results.lock() {
                            all[i] = Some(r);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        finished.store(true, Ordering::Relaxed);
    });
    let mut all: Vec<ForkResult> = results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    let any_failed = all.iter().any(|f| f.result.is_err());
    if any_failed && !plan.keep_going {
        for f in all.iter_mut().filter(|f| f.result.is_ok()) {
            let result = forks.remove(&f.name).map(|_| ()).map_err(|e| e.to_string());
            f.removed = result.is_ok();
            sink(FanoutEvent::Removed {
                index: f.index,
                name: f.name.clone(),
                result,
            });
        }
    }
    FanoutReport {
        forks: all,
        elapsed: started.elapsed(),
    }
}

fn run_one(
    forks: &Forks,
    plan: &FanoutPlan,
    f: &PlannedFork,
    sink: &(dyn Fn(FanoutEvent) + Sync),
    abort: &AtomicBool,
    cancel: &AtomicBool,
) -> ForkResult {
    let not_started = |why: &str| ForkResult {
        index: f.index,
        name: f.name.clone(),
        result: Err(ForkError::new(
            ErrorKind::Cancelled,
            format!("not started: {why}"),
        )),
        clock: StageClock::default(),
        events: Vec::new(),
        removed: false,
        not_started: true,
    };
    let why = || {
        if cancel.load(Ordering::Relaxed) {
            "cancelled"
        } else {
            "another fork of the fan-out failed"
        }
    };
    if abort.load(Ordering::Relaxed) {
        return not_started(why());
    }
    let permit = match &plan.permits {
        Some(p) => match p.acquire(abort) {
            Some(permit) => Some(permit),
            None => return not_started(why()),
        },
        None => None,
    };
    let req = plan.request(f);
    let kept: Mutex<(StageClock, Vec<SessionEvent>)> = Mutex::default();
    let forward = |e: SessionEvent| {
        if let Ok(mut k) = kept.lock() {
            k.0.observe(&e);
            k.1.push(e.clone());
        }
        sink(FanoutEvent::Session {
            index: f.index,
            event: e,
        });
    };
    let result = forks.create(&req, &forward, abort);
    drop(permit);
    let (clock, events) = kept.into_inner().unwrap_or_default();
    ForkResult {
        index: f.index,
        name: f.name.clone(),
        result,
        clock,
        events,
        removed: false,
        not_started: false,
    }
}
