//! One fork session, start to finish, with rollback on any failure.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::scan::{ScanOptions, scan_cached};
use crate::store::{
    ForkInfo, ForkMeta, ForkStatus, MEMORY_FILE, PatchedMailbox, STATE_FILE, SnapshotInfo,
    StageTiming, Store, ValidName, now_rfc3339,
};
use crate::vmm::{self, PausedVm, RestoreRequest};

use super::acks::ack_stage;
use super::checks::{patch_all, preflight};
use super::{
    ForkRequest, SessionEvent, Stage, Status, copy_memory, generate_fork_name, resolve_mailboxes,
};

/// What a successful session produced.
#[derive(Debug, Clone)]
pub struct ForkOutcome {
    /// Fork name.
    pub name: String,
    /// Fork directory.
    pub dir: PathBuf,
    /// VMM pid, when restored.
    pub pid: Option<u32>,
}

type Sink<'a> = &'a (dyn Fn(SessionEvent) + Sync);

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
    pub(super) fn event(&self, stage: Stage, status: Status) -> SessionEvent {
        SessionEvent::new(&self.fork, stage, status, self.ms())
    }
    pub(super) fn emit(&self, e: SessionEvent) {
        if e.status == Status::Ok
            && e.mailbox.is_none()
            && let Ok(mut t) = self.timings.lock()
        {
            t.push(StageTiming {
                stage: e.stage.label().into(),
                elapsed_ms: e.elapsed_ms,
            });
        }
        (self.sink)(e)
    }
    pub(super) fn start(&self, stage: Stage) {
        self.emit(self.event(stage, Status::Started));
    }
    pub(super) fn ok(&self, stage: Stage, detail: Option<String>) {
        let mut e = self.event(stage, Status::Ok);
        e.detail = detail;
        self.emit(e);
    }
    pub(super) fn check_cancel(&self) -> Result<(), StageError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(StageError::new("cancelled"))
        } else {
            Ok(())
        }
    }
}

#[derive(Debug)]
pub(super) struct StageError {
    pub(super) message: String,
    pub(super) mailbox: Option<String>,
}

impl StageError {
    pub(super) fn new(m: impl Into<String>) -> StageError {
        StageError {
            message: m.into(),
            mailbox: None,
        }
    }
    pub(super) fn at(mailbox: &str, m: impl Into<String>) -> StageError {
        StageError {
            message: m.into(),
            mailbox: Some(mailbox.into()),
        }
    }
}

/// What rollback must undo.
#[derive(Default)]
struct Undo {
    fork_dir: Option<PathBuf>,
    pid: Option<u32>,
    paused: Option<Box<dyn PausedVm>>,
}

/// Run one fork session. Events go to `sink` (from this thread and from ack
/// threads); `cancel` aborts at the next check and rolls back. Returns the
/// outcome or the error message of the failed stage (already emitted).
pub fn run_session(
    store: &Store,
    req: &ForkRequest,
    sink: Sink,
    cancel: &AtomicBool,
) -> Result<ForkOutcome, String> {
    let fork = req
        .fork_name
        .clone()
        .unwrap_or_else(|| generate_fork_name(&req.snapshot));
    let s = Session {
        fork,
        started: Instant::now(),
        sink,
        cancel,
        timings: Mutex::new(Vec::new()),
    };
    let mut undo = Undo::default();
    let mut stage = Stage::Validate;
    match drive(store, req, &s, &mut undo, &mut stage) {
        Ok(outcome) => Ok(outcome),
        Err(err) => {
            let mut e = s.event(stage, Status::Failed);
            e.error = Some(err.message.clone());
            e.mailbox = err.mailbox.clone();
            s.emit(e);
            rollback(&s, undo);
            let mut e = s.event(Stage::Failed, Status::Failed);
            e.error = Some(match &err.mailbox {
                Some(m) if !err.message.starts_with(&format!("mailbox {m}")) => {
                    format!("mailbox {m}: {}", err.message)
                }
                _ => err.message.clone(),
            });
            let msg = e.error.clone().unwrap_or_default();
            s.emit(e);
            Err(msg)
        }
    }
}

fn rollback(s: &Session, undo: Undo) {
    s.start(Stage::Rollback);
    let mut notes = Vec::new();
    if let Some(p) = undo.paused {
        p.abort();
        notes.push("stopped the paused VM".to_string());
    }
    if let (Some(pid), Some(dir)) = (undo.pid, undo.fork_dir.as_ref())
        && vmm::process::stop(pid, dir, Duration::from_secs(3))
    {
        notes.push(format!("stopped VMM pid {pid}"));
    }
    if let Some(dir) = undo.fork_dir {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => notes.push(format!("removed {}", dir.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let mut ev = s.event(Stage::Rollback, Status::Failed);
                ev.error = Some(format!("cannot remove {}: {e}", dir.display()));
                s.emit(ev);
                return;
            }
        }
    }
    if notes.is_empty() {
        notes.push("nothing was written".into());
    }
    s.ok(Stage::Rollback, Some(notes.join("; ")));
}

fn drive(
    store: &Store,
    req: &ForkRequest,
    s: &Session,
    undo: &mut Undo,
    stage: &mut Stage,
) -> Result<ForkOutcome, StageError> {
    // validate
    *stage = Stage::Validate;
    s.start(Stage::Validate);
    let name = ValidName::new(&s.fork).map_err(|e| StageError::new(format!("fork name: {e}")))?;
    let snapshot = store
        .snapshot(&req.snapshot)
        .map_err(|e| StageError::new(e.to_string()))?;
    if snapshot.meta.kind != "standby" {
        return Err(StageError::new(format!(
            "snapshot {} is {:?}, not a standby snapshot",
            snapshot.name, snapshot.meta.kind
        )));
    }
    let driver = vmm::driver(snapshot.meta.vmm).map_err(|e| StageError::new(e.to_string()))?;
    if req.zero_copy && !driver.supports_zero_copy() {
        return Err(StageError::new(format!(
            "zero-copy forks need a VMM that maps memory privately; {} cannot",
            snapshot.meta.vmm.label()
        )));
    }
    let fork_dir = store.fork_dir(&name);
    if fork_dir.exists() {
        return Err(StageError::new(format!(
            "fork {} already exists at {}",
            s.fork,
            fork_dir.display()
        )));
    }
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
            .map_err(|e| StageError::new(e.to_string()))?,
        ),
    };
    let planned = resolve_mailboxes(&req.mailboxes).map_err(StageError::new)?;
    s.ok(
        Stage::Validate,
        Some(format!("{} mailbox(es) valid", planned.len())),
    );
    s.check_cancel()?;

    // copy
    *stage = Stage::Copy;
    s.start(Stage::Copy);
    std::fs::create_dir(&fork_dir).map_err(|e| {
        StageError::new(format!(
            "cannot create fork directory {}: {e}",
            fork_dir.display()
        ))
    })?;
    undo.fork_dir = Some(fork_dir.clone());
    let mut meta = ForkMeta {
        source: snapshot.name.clone(),
        vmm: snapshot.meta.vmm,
        created_at: now_rfc3339(),
        status: ForkStatus::Creating,
        zero_copy: req.zero_copy,
        pid: None,
        mailboxes: Vec::new(),
        stages: Vec::new(),
        vmm_config: snapshot.meta.vmm_config.clone(),
    };
    let info = ForkInfo {
        name: s.fork.clone(),
        dir: fork_dir.clone(),
        meta: meta.clone(),
    };
    info.save().map_err(|e| StageError::new(e.to_string()))?;
    let fork_memory = fork_dir.join(MEMORY_FILE);
    let run_memory = copy_stage(s, &snapshot, &fork_dir, &fork_memory, req.zero_copy)?;
    s.check_cancel()?;

    // preflight
    *stage = Stage::Preflight;
    s.start(Stage::Preflight);
    let offsets = preflight(&planned, &run_memory, &discovery)?;
    s.ok(
        Stage::Preflight,
        Some(format!(
            "{} marker(s) verified, every payload fits",
            offsets.len()
        )),
    );
    s.check_cancel()?;

    let restore_req = RestoreRequest {
        snapshot: &snapshot,
        fork_dir: &fork_dir,
        memory: &run_memory,
        zero_copy: req.zero_copy,
    };
    // patch (copy mode: the fork's own file, before the VM exists)
    *stage = Stage::Patch;
    if !req.zero_copy {
        s.start(Stage::Patch);
        let mut f = File::options()
            .write(true)
            .read(true)
            .open(&fork_memory)
            .map_err(|e| StageError::new(format!("open {}: {e}", fork_memory.display())))?;
        patch_all(s, &mut f, &planned, &offsets)?;
        s.ok(
            Stage::Patch,
            Some(format!("{} frame(s) written", planned.len())),
        );
    }
    meta.mailboxes = planned
        .iter()
        .zip(&offsets)
        .map(|(p, off)| PatchedMailbox {
            name: p.name.clone(),
            offset: *off,
            bytes: p.frame.len(),
            ack_port: p.ack.as_ref().map(|(w, _)| w.port()),
            acked: false,
        })
        .collect();

    if !req.restore {
        meta.status = ForkStatus::Patched;
        finish(s, &fork_dir, meta)?;
        undo.fork_dir = None;
        return Ok(ForkOutcome {
            name: s.fork.clone(),
            dir: fork_dir,
            pid: None,
        });
    }
    s.check_cancel()?;

    // restore
    *stage = Stage::Restore;
    s.start(Stage::Restore);
    let paused = driver
        .start_paused(&restore_req)
        .map_err(|e| StageError::new(e.to_string()))?;
    undo.pid = paused.pid();
    undo.paused = Some(paused);
    if req.zero_copy {
        *stage = Stage::Patch;
        s.start(Stage::Patch);
        let mem = undo
            .paused
            .as_mut()
            .and_then(|p| p.memory())
            .ok_or_else(|| {
                StageError::new("the VMM offers no access to the paused guest's memory")
            })?;
        patch_all(s, mem, &planned, &offsets)?;
        s.ok(
            Stage::Patch,
            Some(format!(
                "{} frame(s) written into the paused guest",
                planned.len()
            )),
        );
        *stage = Stage::Restore;
    }
    let paused = undo
        .paused
        .take()
        .ok_or_else(|| StageError::new("internal: paused VM missing"))?;
    let pid = paused
        .resume()
        .map_err(|e| StageError::new(e.to_string()))?;
    undo.pid = Some(pid);
    meta.pid = Some(pid);
    meta.status = ForkStatus::Running;
    ForkInfo {
        name: s.fork.clone(),
        dir: fork_dir.clone(),
        meta: meta.clone(),
    }
    .save()
    .map_err(|e| StageError::new(e.to_string()))?;
    s.ok(
        Stage::Restore,
        Some(format!("{} running, pid {pid}", snapshot.meta.vmm.label())),
    );

    // ack
    *stage = Stage::Ack;
    let acked = ack_stage(s, &planned, driver.as_ref())?;
    for (m, a) in meta.mailboxes.iter_mut().zip(acked) {
        m.acked = a;
    }
    finish(s, &fork_dir, meta)?;
    undo.fork_dir = None;
    undo.pid = None;
    Ok(ForkOutcome {
        name: s.fork.clone(),
        dir: fork_dir,
        pid: Some(pid),
    })
}

fn finish(s: &Session, fork_dir: &Path, mut meta: ForkMeta) -> Result<(), StageError> {
    meta.stages = s.timings.lock().map(|t| t.clone()).unwrap_or_default();
    meta.stages.push(StageTiming {
        stage: "done".into(),
        elapsed_ms: s.ms(),
    });
    ForkInfo {
        name: s.fork.clone(),
        dir: fork_dir.to_path_buf(),
        meta,
    }
    .save()
    .map_err(|e| StageError::new(e.to_string()))?;
    s.ok(Stage::Done, None);
    Ok(())
}

/// Copy memory (unless zero-copy) and the VMM state. Returns the memory
/// file the VM will run on.
fn copy_stage(
    s: &Session,
    snapshot: &SnapshotInfo,
    fork_dir: &Path,
    fork_memory: &Path,
    zero_copy: bool,
) -> Result<PathBuf, StageError> {
    let state_src = snapshot.state_path();
    if state_src.exists() {
        std::fs::copy(&state_src, fork_dir.join(STATE_FILE))
            .map_err(|e| StageError::new(format!("copy {}: {e}", state_src.display())))?;
    }
    if zero_copy {
        s.ok(
            Stage::Copy,
            Some("zero-copy: the fork maps the template's memory privately".into()),
        );
        return Ok(snapshot.memory_path());
    }
    let mut last = Instant::now();
    let mut progress = |done: u64, total: u64| {
        if done == total || last.elapsed() >= Duration::from_millis(50) {
            last = Instant::now();
            let mut e = s.event(Stage::Copy, Status::Progress);
            e.bytes = Some(done);
            e.total = Some(total);
            s.emit(e);
        }
    };
    let stats = copy_memory(
        &snapshot.memory_path(),
        fork_memory,
        s.cancel,
        &mut progress,
    )
    .map_err(|e| StageError::new(format!("copy {}: {e}", snapshot.memory_path().display())))?;
    let mut e = s.event(Stage::Copy, Status::Ok);
    e.bytes = Some(stats.data_bytes);
    e.total = Some(stats.data_bytes);
    e.detail = Some(format!(
        "{}: {} of data in {}",
        stats.method.label(),
        crate::units::human_size(stats.data_bytes),
        crate::units::human_size(stats.size)
    ));
    s.emit(e);
    Ok(fork_memory.to_path_buf())
}
