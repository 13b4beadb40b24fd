//! One fork session: a sequence of stage functions, each small, with what
//! rollback must undo kept explicit in [`Rollback`].
//!
//! `validate → copy → preflight → patch → restore → ack → done`; any error
//! (or a cancel) stamps the stage it happened in, runs rollback (stop the
//! VM, remove the fork directory if it still is the one this session made)
//! and ends in `failed`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod stages;

use super::acks::ack_stage;
use super::checks::preflight;
use super::ownership::OwnedDir;
use super::prestart::Prestart;
use super::record::{ForkInfo, ForkStatus, StageTiming};
use super::{
    Failure, ForkError, ForkRequest, Happening, KeptLogs, PlannedMailbox, SessionEvent, Stage,
    generate_fork_name,
};
use crate::error::ErrorKind;
use crate::scan::ScanReport;
use crate::store::{GUEST_LOG, MEMORY_FILE, SnapshotInfo, Store};
use crate::vmm::{PausedVm, ProcessRecord, RunningVm, Vmm, VmmError, VmmKind};
use stages::{
    copy, finish, patch_file, patched_mailboxes, plan_driver, restore, validate, with_log_tail,
};

/// What a successful session produced.
#[derive(Debug, Clone)]
pub struct ForkOutcome {
    /// Fork name.
    pub name: String,
    /// Fork directory.
    pub dir: PathBuf,
    /// The VMM process, when restored.
    pub process: Option<ProcessRecord>,
    /// The fork's lock, kept when the request asked to
    /// ([`ForkRequest::hold`](super::ForkRequest::hold)).
    pub held: Option<Arc<super::HeldFork>>,
}

impl ForkOutcome {
    /// The VMM's pid, when restored.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }
}

/// Where the engine gets a VMM driver for a snapshot's kind.
pub type Drivers<'a> = &'a (dyn Fn(VmmKind) -> Result<Box<dyn Vmm>, VmmError> + Sync);

type Sink<'a> = &'a (dyn Fn(SessionEvent) + Sync);

/// Run one fork session with the registered drivers. Events go to `sink`
/// (from this thread and from ack threads); `cancel` aborts at the next
/// check and rolls back. The error has already been emitted as events.
pub fn run_session(
    store: &Store,
    req: &ForkRequest,
    sink: Sink,
    cancel: &AtomicBool,
) -> Result<ForkOutcome, ForkError> {
    run_session_with(store, req, sink, cancel, &crate::vmm::driver)
}

/// [`run_session`] with the drivers given (tests pass a fake VMM).
pub fn run_session_with(
    store: &Store,
    req: &ForkRequest,
    sink: Sink,
    cancel: &AtomicBool,
    drivers: Drivers,
) -> Result<ForkOutcome, ForkError> {
    run_session_prestarted(store, req, None, sink, cancel, drivers)
}

/// [`run_session_with`], restoring on a VMM started ahead of time when
/// `prestart` fits the request (same snapshot, same mode); otherwise it is
/// torn down and the VMM starts as usual. It is consumed either way.
pub fn run_session_prestarted(
    store: &Store,
    req: &ForkRequest,
    prestart: Option<Prestart>,
    sink: Sink,
    cancel: &AtomicBool,
    drivers: Drivers,
) -> Result<ForkOutcome, ForkError> {
    let prestart = prestart.filter(|p| p.fits(&req.snapshot, req.zero_copy) && req.restore);
    let s = Session {
        fork: req
            .fork_name
            .clone()
            .unwrap_or_else(|| generate_fork_name(&req.snapshot)),
        started: Instant::now(),
        sink,
        cancel,
        timings: Mutex::new(Vec::new()),
    };
    let mut rb = Rollback {
        prestart,
        ..Rollback::default()
    };
    let mut stage = Stage::Validate;
    // A panic anywhere in a stage (a driver, a sink) is a failure like any
    // other: the fork is rolled back, nothing half-made stays.
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drive(store, req, drivers, &s, &mut rb, &mut stage)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Err(ForkError::new(
            ErrorKind::Internal,
            format!("internal error (a bug in forkmail): {what}"),
        ))
    });
    match ran {
        Ok(outcome) => Ok(outcome),
        Err(err) => {
            // A cancel noticed inside a stage reads as whatever that stage
            // was doing; it is a cancel all the same.
            let err = if s.cancelled() && err.kind() != ErrorKind::Cancelled {
                ForkError::cancelled()
            } else {
                err
            }
            .at(stage);
            s.emit(Happening::StageFailed(Failure::from(&err)));
            rb.run(&s);
            s.emit(Happening::Failed(Failure::from(&err)));
            Err(err)
        }
    }
}

/// The session's own state, shared with its stage functions.
pub(super) struct Session<'a> {
    pub(super) fork: String,
    started: Instant,
    sink: Sink<'a>,
    pub(super) cancel: &'a AtomicBool,
    timings: Mutex<Vec<StageTiming>>,
}

impl Session<'_> {
    pub(super) fn ms(&self) -> u64 {
        crate::units::millis(self.started.elapsed())
    }

    pub(super) fn emit(&self, what: Happening) {
        let e = SessionEvent {
            fork: self.fork.clone(),
            elapsed_ms: self.ms(),
            what,
        };
        let ends_stage = e.ends_stage();
        if ends_stage && let Ok(mut t) = self.timings.lock() {
            t.push(StageTiming {
                stage: e.stage(),
                elapsed_ms: e.elapsed_ms,
            });
        }
        (self.sink)(e)
    }

    pub(super) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn check_cancel(&self) -> Result<(), ForkError> {
        if self.cancelled() {
            Err(ForkError::cancelled())
        } else {
            Ok(())
        }
    }

    fn begin(&self, stage: Stage, current: &mut Stage) {
        *current = stage;
        self.emit(Happening::StageStarted(stage));
        if stage != Stage::Restore {
            self.hold_if_asked(stage);
        }
    }

    /// Crash tests only ([`crate::test_hooks`]): hold at `stage` until
    /// cancelled. Without the `test-hooks` feature this is nothing.
    fn hold_if_asked(&self, _stage: Stage) {
        #[cfg(feature = "test-hooks")]
        crate::test_hooks::hold_if_asked(_stage, || self.cancelled());
    }

    fn timings(&self) -> Vec<StageTiming> {
        self.timings.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// What rollback must undo, kept as the stages make it.
#[derive(Default)]
struct Rollback {
    /// A VMM started ahead of time, until restore takes it.
    prestart: Option<Prestart>,
    dir: Option<OwnedDir>,
    vm: Vm,
    export: Option<crate::transfer::Exported>,
}

/// The fork's VM as far as it got.
#[derive(Default)]
enum Vm {
    #[default]
    None,
    /// Started and loaded, not yet run.
    Paused(Box<dyn PausedVm>),
    /// Running: stopped through its driver.
    Running {
        driver: Arc<dyn Vmm>,
        process: ProcessRecord,
        dir: PathBuf,
        memory: PathBuf,
    },
}

impl Rollback {
    fn run(self, s: &Session) {
        s.emit(Happening::StageStarted(Stage::Rollback));
        let mut notes = Vec::new();
        if let Some(p) = self.prestart
            && let Some(process) = p.process()
        {
            drop(p);
            notes.push(format!("stopped the prestarted VMM pid {}", process.pid));
        }
        match self.vm {
            Vm::None => {}
            Vm::Paused(p) => {
                p.abort();
                notes.push("stopped the paused VM".to_string());
            }
            Vm::Running {
                driver,
                process,
                dir,
                memory,
            } => {
                let vm = RunningVm {
                    dir: &dir,
                    process: &process,
                    memory: &memory,
                };
                match driver.stop(&vm, Duration::from_secs(3)) {
                    Ok(true) => notes.push(format!("stopped VMM pid {}", process.pid)),
                    Ok(false) => notes.push(format!("VMM pid {} had exited", process.pid)),
                    Err(e) => notes.push(format!("could not stop VMM pid {}: {e}", process.pid)),
                }
            }
        }
        if let Some(out) = self.export {
            out.undo();
            notes.push(format!("removed the export in {}", out.dir.display()));
        }
        // The fork's logs go with its directory: their end is kept in the
        // event (the VM is stopped by now, so they are complete).
        let kept = self
            .dir
            .as_ref()
            .map(|d| KeptLogs::read(d.path()))
            .unwrap_or_default();
        if let Some(dir) = self.dir {
            let path = dir.path().to_path_buf();
            match dir.remove() {
                Ok(true) => notes.push(format!("removed {}", path.display())),
                Ok(false) => notes.push(format!(
                    "left {} alone: it is no longer the directory this session made",
                    path.display()
                )),
                Err(e) => {
                    s.emit(Happening::RollbackFailed {
                        error: format!("cannot remove {}: {e}", path.display()),
                    });
                    return;
                }
            }
        }
        if notes.is_empty() {
            notes.push("nothing was written".into());
        }
        s.emit(Happening::RolledBack { notes, kept });
    }
}

/// What validate found.
struct Plan {
    snapshot: SnapshotInfo,
    /// `None` only for a fork that is not restored and has no driver.
    driver: Option<Arc<dyn Vmm>>,
    planned: Vec<PlannedMailbox>,
    discovery: Arc<ScanReport>,
}

/// What copy made.
struct Made {
    dir: PathBuf,
    /// The memory file the VM runs on (the fork's copy, or the template's).
    run_memory: PathBuf,
    record: ForkInfo,
}

fn drive(
    store: &Store,
    req: &ForkRequest,
    drivers: Drivers,
    s: &Session,
    rb: &mut Rollback,
    stage: &mut Stage,
) -> Result<ForkOutcome, ForkError> {
    s.begin(Stage::Validate, stage);
    let plan = validate(store, req, drivers, s)?;
    s.check_cancel()?;

    *stage = Stage::Copy;
    let mut made = copy(store, req, &plan, s, rb)?;
    s.check_cancel()?;

    s.begin(Stage::Preflight, stage);
    let offsets = preflight(s, &plan.planned, &made.run_memory, &plan.discovery)?;
    s.emit(Happening::Preflighted {
        markers: offsets.len(),
    });
    s.check_cancel()?;

    if !req.zero_copy {
        s.begin(Stage::Patch, stage);
        patch_file(s, &made.dir.join(MEMORY_FILE), &plan.planned, &offsets)?;
    }
    made.record.meta.mailboxes = patched_mailboxes(&plan.planned, &offsets);

    if !req.restore {
        if let Some(to) = &req.export {
            let out = crate::transfer::export_fork(
                &plan.snapshot,
                &made.dir.join(MEMORY_FILE),
                to,
                req.export_keep_source_paths,
                s.cancel,
            )
            .map_err(ForkError::layer)?;
            s.emit(Happening::Exported {
                dir: out.dir.clone(),
                files: out.files.clone(),
            });
            rb.export = Some(out);
        }
        made.record.meta.status = ForkStatus::Patched;
        finish(s, &mut made.record)?;
        let held = hold(req, rb);
        rb.export = None;
        rb.prestart = None;
        return Ok(ForkOutcome {
            name: s.fork.clone(),
            dir: made.dir,
            process: None,
            held,
        });
    }
    s.check_cancel()?;

    s.begin(Stage::Restore, stage);
    let process = restore(req, &plan, &mut made, &offsets, s, rb, stage)?;
    s.check_cancel()?;

    s.begin(Stage::Ack, stage);
    let sender = plan_driver(&plan)?.ack_sender(&process);
    let linger = req.ack_linger_ms.map(std::time::Duration::from_millis);
    let acked = ack_stage(s, &plan.planned, &sender, Some(&process), linger).map_err(|e| {
        if e.kind() == ErrorKind::GuestExited {
            with_log_tail(e, &made.dir.join(GUEST_LOG))
        } else {
            e
        }
    })?;
    for (m, a) in made.record.meta.mailboxes.iter_mut().zip(acked) {
        m.acked = a;
    }
    made.record.meta.status = ForkStatus::Running;
    finish(s, &mut made.record)?;
    let held = hold(req, rb);
    rb.vm = Vm::None;
    Ok(ForkOutcome {
        name: s.fork.clone(),
        dir: made.dir,
        process: Some(process),
        held,
    })
}

/// The session succeeded: rollback has nothing left to remove, and the
/// fork's lock goes with the session — or to the caller, when asked.
fn hold(req: &ForkRequest, rb: &mut Rollback) -> Option<Arc<super::HeldFork>> {
    let dir = rb.dir.take()?;
    req.hold.then(|| Arc::new(dir.into_held()))
}
