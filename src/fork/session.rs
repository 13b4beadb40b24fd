//! One fork session: a sequence of stage functions, each small, with what
//! rollback must undo kept explicit in [`Rollback`].
//!
//! `validate → copy → preflight → patch → restore → ack → done`; any error
//! (or a cancel) stamps the stage it happened in, runs rollback (stop the
//! VM, remove the fork directory if it still is the one this session made)
//! and ends in `failed`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::acks::ack_stage;
use super::checks::{patch_all, preflight};
use super::ownership::OwnedDir;
use super::prestart::Prestart;
use super::record::{ForkInfo, ForkMeta, ForkStatus, PatchedMailbox, StageTiming};
use super::{
    CopyError, ForkError, ForkRequest, Happening, PlannedMailbox, SessionEvent, Stage, copy_memory,
    copy_memory_into, generate_fork_name, resolve_mailboxes,
};
use crate::error::ErrorKind;
use crate::scan::{ScanOptions, ScanReport, scan_cached};
use crate::store::{
    FORK_META, GUEST_LOG, MEMORY_FILE, STATE_FILE, SnapshotInfo, Store, ValidName, now_rfc3339,
    write_json_atomic,
};
use crate::vmm::{PausedVm, ProcessRecord, RestoreRequest, RunningVm, Vmm, VmmError, VmmKind};

/// What a successful session produced.
#[derive(Debug, Clone)]
pub struct ForkOutcome {
    /// Fork name.
    pub name: String,
    /// Fork directory.
    pub dir: PathBuf,
    /// The VMM process, when restored.
    pub process: Option<ProcessRecord>,
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
            let err = if s.cancelled() && err.kind != ErrorKind::Cancelled {
                ForkError::cancelled()
            } else {
                err
            }
            .at(stage);
            s.emit(Happening::StageFailed(err.clone()));
            rb.run(&s);
            s.emit(Happening::Failed(err.clone()));
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
        self.started.elapsed().as_millis() as u64
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

    /// Crash tests only: with `FORKMAIL_HOLD_AT=<stage>` the session waits
    /// in that stage until cancelled (or killed), so a test can kill it
    /// exactly there: at the start of copy (its directory made), preflight,
    /// patch and ack; in restore once the VM is started, paused. Unset, this
    /// costs one environment lookup.
    fn hold_if_asked(&self, stage: Stage) {
        if std::env::var("FORKMAIL_HOLD_AT").is_ok_and(|v| v == stage.label()) {
            while !self.cancelled() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
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
        s.emit(Happening::RolledBack { notes });
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
                s.cancel,
            )
            .map_err(super::error::from_kinded)?;
            s.emit(Happening::Exported {
                dir: out.dir.clone(),
                files: out.files.clone(),
            });
            rb.export = Some(out);
        }
        made.record.meta.status = ForkStatus::Patched;
        finish(s, &mut made.record)?;
        rb.dir = None;
        rb.export = None;
        rb.prestart = None;
        return Ok(ForkOutcome {
            name: s.fork.clone(),
            dir: made.dir,
            process: None,
        });
    }
    s.check_cancel()?;

    s.begin(Stage::Restore, stage);
    let process = restore(req, &plan, &mut made, &offsets, s, rb, stage)?;
    s.check_cancel()?;

    s.begin(Stage::Ack, stage);
    let sender = plan_driver(&plan)?.ack_sender(&process);
    let acked = ack_stage(s, &plan.planned, &sender, Some(&process)).map_err(|e| {
        if e.kind == ErrorKind::GuestExited {
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
    rb.dir = None;
    rb.vm = Vm::None;
    Ok(ForkOutcome {
        name: s.fork.clone(),
        dir: made.dir,
        process: Some(process),
    })
}

/// validate: names, the snapshot, the driver, every contract rule, ack
/// sockets, frames, discovery. Nothing is written.
fn validate(
    store: &Store,
    req: &ForkRequest,
    drivers: Drivers,
    s: &Session,
) -> Result<Plan, ForkError> {
    let bad = |m: String| ForkError::new(ErrorKind::BadRequest, m);
    ValidName::new(&s.fork).map_err(|e| bad(format!("fork name: {e}")))?;
    let snapshot = store
        .snapshot(&req.snapshot)
        .map_err(super::error::from_kinded)?;
    if snapshot.meta.kind != "standby" {
        return Err(bad(format!(
            "snapshot {} is {:?}, not a standby snapshot: mailboxes need a fork that resumes",
            snapshot.name, snapshot.meta.kind
        )));
    }
    // A fork that is only patched needs no driver (an imported Firecracker
    // or Cloud Hypervisor snapshot has none); one that runs needs it now,
    // before anything is copied.
    let needs_vm = req.restore || req.zero_copy;
    let driver: Option<Arc<dyn Vmm>> = match drivers(snapshot.meta.vmm) {
        Ok(d) => Some(Arc::from(d)),
        Err(_) if !needs_vm => None,
        Err(e) => return Err(super::error::from_kinded(e)),
    };
    if let Some(driver) = driver.as_ref().filter(|_| needs_vm) {
        if req.zero_copy && !driver.supports_zero_copy() {
            return Err(bad(format!(
                "zero-copy forks need a VMM that maps memory privately; {} cannot",
                snapshot.meta.vmm.label()
            )));
        }
        driver
            .check_restorable(&snapshot.meta.vmm_config)
            .map_err(super::error::from_kinded)?;
    }
    if store.forks_dir().join(&s.fork).exists() {
        return Err(bad(format!("fork {} already exists", s.fork)));
    }
    if let Some(to) = &req.export {
        if req.restore || req.zero_copy {
            return Err(bad(
                "--export writes a patched copy for another VMM: it needs --no-restore and no --zero-copy".into(),
            ));
        }
        crate::transfer::check_export_target(to).map_err(super::error::from_kinded)?;
    }
    // The fork's own choice, else the template's, else the loopback.
    let ack_bind = req
        .ack_bind
        .or(snapshot.meta.ack_bind)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let planned = resolve_mailboxes(&req.mailboxes, ack_bind)?;
    let discovery = match &req.discovery {
        Some(d) => Arc::clone(d),
        None => Arc::new(
            scan_cached(
                &snapshot.memory_path(),
                &store.scan_cache_path(&snapshot.name),
                &ScanOptions {
                    cancel: Some(s.cancel),
                    ..Default::default()
                },
            )
            .map_err(super::error::from_kinded)?,
        ),
    };
    s.emit(Happening::Validated {
        mailboxes: planned.len(),
    });
    Ok(Plan {
        snapshot,
        driver,
        planned,
        discovery,
    })
}

/// copy: claim the fork directory (with its record), copy the device state
/// and, unless zero-copy, the memory file.
fn copy(
    store: &Store,
    req: &ForkRequest,
    plan: &Plan,
    s: &Session,
    rb: &mut Rollback,
) -> Result<Made, ForkError> {
    let snap = &plan.snapshot;
    let mut record = ForkInfo {
        name: s.fork.clone(),
        dir: PathBuf::new(),
        meta: ForkMeta {
            source: snap.name.clone(),
            vmm: snap.meta.vmm,
            created_at: now_rfc3339(),
            status: ForkStatus::Creating,
            zero_copy: req.zero_copy,
            pid: None,
            process: None,
            memory: req.zero_copy.then(|| snap.memory_path()),
            mailboxes: Vec::new(),
            stages: Vec::new(),
            vmm_config: snap.meta.vmm_config.clone(),
        },
    };
    // A prestarted VMM already lives in a hidden directory: that becomes
    // the fork's, its process recorded from the first write of the record.
    let hidden = rb.prestart.as_mut().and_then(|p| p.dir.take());
    if hidden.is_some() {
        record.meta.process = rb.prestart.as_ref().and_then(Prestart::process);
        record.meta.pid = record.meta.process.as_ref().map(|p| p.pid);
    }
    let meta = record.meta.clone();
    let fill =
        |dir: &Path| write_json_atomic(&dir.join(FORK_META), &meta).map_err(|e| e.to_string());
    let owned = match hidden {
        Some(h) => h.claim(&s.fork, fill)?,
        None => OwnedDir::create(&store.forks_dir(), &s.fork, fill)?,
    };
    let prestarted = rb.prestart.is_some();
    let dir = owned.path().to_path_buf();
    rb.dir = Some(owned);
    record.dir = dir.clone();
    s.emit(Happening::CopyStarted { dir: dir.clone() });
    s.hold_if_asked(Stage::Copy);

    let copy_err = |e: CopyError| match e {
        CopyError::Cancelled => ForkError::cancelled(),
        CopyError::Source(e) => super::error::from_kinded(e),
        CopyError::Io { .. } => ForkError::new(ErrorKind::Io, e.to_string()),
    };
    let state_src = snap.state_path();
    if std::fs::symlink_metadata(&state_src).is_ok() {
        copy_memory(&state_src, &dir.join(STATE_FILE), s.cancel, &mut |_, _| {})
            .map_err(copy_err)?;
    }
    if req.zero_copy {
        s.emit(Happening::ZeroCopy);
        return Ok(Made {
            run_memory: snap.memory_path(),
            dir,
            record,
        });
    }
    let mut last = Instant::now();
    let mut progress = |done: u64, total: u64| {
        if done == total || last.elapsed() >= Duration::from_millis(50) {
            last = Instant::now();
            s.emit(Happening::CopyProgress { bytes: done, total });
        }
    };
    let fork_memory = dir.join(MEMORY_FILE);
    let stats = if prestarted {
        // The file the prestarted VMM already maps.
        copy_memory_into(&snap.memory_path(), &fork_memory, s.cancel, &mut progress)
    } else {
        copy_memory(&snap.memory_path(), &fork_memory, s.cancel, &mut progress)
    }
    .map_err(copy_err)?;
    s.emit(Happening::Copied {
        method: stats.method,
        data_bytes: stats.data_bytes,
        size: stats.size,
    });
    Ok(Made {
        run_memory: fork_memory,
        dir,
        record,
    })
}

/// patch (copy mode): the fork's own file, before any VM exists.
fn patch_file(
    s: &Session,
    memory: &Path,
    planned: &[PlannedMailbox],
    offsets: &[u64],
) -> Result<(), ForkError> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(memory)
        .map_err(|e| ForkError::new(ErrorKind::Io, format!("open {}: {e}", memory.display())))?;
    patch_all(s, &mut f, planned, offsets)?;
    s.emit(Happening::Patched {
        frames: planned.len(),
        into_paused_guest: false,
    });
    Ok(())
}

/// restore: start the VM paused, record its process before it runs, patch
/// it (zero-copy), resume it.
fn restore(
    req: &ForkRequest,
    plan: &Plan,
    made: &mut Made,
    offsets: &[u64],
    s: &Session,
    rb: &mut Rollback,
    stage: &mut Stage,
) -> Result<ProcessRecord, ForkError> {
    let vmm_err = |e: VmmError| super::error::from_kinded(e);
    let state = made.dir.join(STATE_FILE);
    let restore_req = RestoreRequest {
        snapshot_dir: &plan.snapshot.dir,
        vmm_config: &plan.snapshot.meta.vmm_config,
        state: &state,
        fork_dir: &made.dir,
        memory: &made.run_memory,
        guest_log: &made.dir.join(GUEST_LOG),
        zero_copy: req.zero_copy,
    };
    let driver = plan_driver(plan)?;
    let loading = Instant::now();
    let prestarted = rb.prestart.as_mut().and_then(|p| p.vm.take());
    rb.prestart = None;
    let was_prestarted = prestarted.is_some();
    let mut paused = match prestarted {
        Some(vm) => vm.load(&state),
        None => driver.start_paused(&restore_req),
    }
    .map_err(vmm_err)?;
    s.emit(Happening::VmLoaded {
        prestarted: was_prestarted,
        took_ms: loading.elapsed().as_millis() as u64,
    });
    // Recorded before the guest runs: if this process dies from here on,
    // the fork's VMM can still be found and stopped.
    made.record.meta.process = paused.process();
    made.record.meta.pid = made.record.meta.process.as_ref().map(|p| p.pid);
    let saved = made.record.save();
    let memory = paused.memory().is_some();
    rb.vm = Vm::Paused(paused);
    saved.map_err(super::error::from_kinded)?;
    s.hold_if_asked(Stage::Restore);
    s.check_cancel()?;
    if req.zero_copy {
        s.begin(Stage::Patch, stage);
        let Vm::Paused(p) = &mut rb.vm else {
            return Err(ForkError::new(ErrorKind::Internal, "paused VM missing"));
        };
        let mem = p.memory().filter(|_| memory).ok_or_else(|| {
            ForkError::new(
                ErrorKind::VmmFailed,
                "the VMM offers no access to the paused guest's memory",
            )
        })?;
        patch_all(s, mem, &plan.planned, offsets)?;
        s.emit(Happening::Patched {
            frames: plan.planned.len(),
            into_paused_guest: true,
        });
        *stage = Stage::Restore;
        s.check_cancel()?;
    }
    let Vm::Paused(p) = std::mem::take(&mut rb.vm) else {
        return Err(ForkError::new(ErrorKind::Internal, "paused VM missing"));
    };
    let process = p.resume().map_err(vmm_err)?;
    rb.vm = Vm::Running {
        driver: Arc::clone(driver),
        process: process.clone(),
        dir: made.dir.clone(),
        memory: made.run_memory.clone(),
    };
    made.record.meta.process = Some(process.clone());
    made.record.meta.pid = Some(process.pid);
    made.record.save().map_err(super::error::from_kinded)?;
    s.emit(Happening::Restored {
        vmm: plan.snapshot.meta.vmm,
        pid: process.pid,
    });
    Ok(process)
}

/// The driver validate found: always there when the fork is restored.
fn plan_driver(plan: &Plan) -> Result<&Arc<dyn Vmm>, ForkError> {
    plan.driver.as_ref().ok_or_else(|| {
        ForkError::new(
            ErrorKind::Internal,
            "no VMM driver for a fork that is restored",
        )
    })
}

fn patched_mailboxes(planned: &[PlannedMailbox], offsets: &[u64]) -> Vec<PatchedMailbox> {
    planned
        .iter()
        .zip(offsets)
        .map(|(p, off)| PatchedMailbox {
            name: p.name.clone(),
            offset: *off,
            bytes: p.frame.len(),
            ack_port: p.ack.as_ref().map(|(w, _)| w.port()),
            acked: false,
        })
        .collect()
}

fn finish(s: &Session, record: &mut ForkInfo) -> Result<(), ForkError> {
    record.meta.stages = s.timings();
    record.meta.stages.push(StageTiming {
        stage: Stage::Done,
        elapsed_ms: s.ms(),
    });
    record.save().map_err(super::error::from_kinded)?;
    s.emit(Happening::Done);
    Ok(())
}

/// A guest-exited error with the last lines of the guest's log.
fn with_log_tail(mut e: ForkError, log: &Path) -> ForkError {
    let tail = crate::files::tail_text(log, 2048);
    let lines: Vec<&str> = tail.lines().rev().take(3).collect();
    if !lines.is_empty() {
        let lines: Vec<&str> = lines.into_iter().rev().collect();
        let tail = format!("; guest log ends with: {}", lines.join(" | "));
        e.message.push_str(&tail);
        e.reason.push_str(&tail);
    }
    e
}
