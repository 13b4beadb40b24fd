//! The stage functions of a session, in pipeline order: each does one
//! stage's work and records in the [`Rollback`] what undoing it takes.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Drivers, Made, Plan, Rollback, Session, Vm};
use crate::error::ErrorKind;
use crate::fork::checks::patch_all;
use crate::fork::ownership::OwnedDir;
use crate::fork::prestart::Prestart;
use crate::fork::record::{ForkInfo, ForkMeta, ForkStatus, PatchedMailbox, StageTiming};
use crate::fork::{
    CopyError, ForkError, ForkRequest, Happening, PlannedMailbox, Stage, copy_memory,
    copy_memory_into, resolve_mailboxes,
};
use crate::scan::{ScanOptions, scan_cached};
use crate::store::{
    FORK_META, GUEST_LOG, MEMORY_FILE, STATE_FILE, Store, ValidName, now_rfc3339, write_json_atomic,
};
use crate::vmm::{ProcessRecord, RestoreRequest, Vmm, VmmError};

/// validate: names, the snapshot, the driver, every contract rule, ack
/// sockets, frames, discovery. Nothing is written.
pub(super) fn validate(
    store: &Store,
    req: &ForkRequest,
    drivers: Drivers,
    s: &Session,
) -> Result<Plan, ForkError> {
    let bad = |m: String| ForkError::new(ErrorKind::BadRequest, m);
    ValidName::new(&s.fork).map_err(|e| bad(format!("fork name: {e}")))?;
    let snapshot = store.snapshot(&req.snapshot).map_err(ForkError::layer)?;
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
        Err(e) => return Err(ForkError::layer(e)),
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
            .map_err(ForkError::layer)?;
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
        crate::transfer::check_exportable(&snapshot, to, req.export_keep_source_paths)
            .map_err(ForkError::layer)?;
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
            .map_err(ForkError::layer)?,
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
pub(super) fn copy(
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
        e => ForkError::layer(e),
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
pub(super) fn patch_file(
    s: &Session,
    memory: &Path,
    planned: &[PlannedMailbox],
    offsets: &[u64],
) -> Result<(), ForkError> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(memory)
        .map_err(|e| ForkError::io(format!("open {}", memory.display()), e))?;
    patch_all(s, &mut f, planned, offsets)?;
    s.emit(Happening::Patched {
        frames: planned.len(),
        into_paused_guest: false,
    });
    Ok(())
}

/// restore: start the VM paused, record its process before it runs, patch
/// it (zero-copy), resume it.
pub(super) fn restore(
    req: &ForkRequest,
    plan: &Plan,
    made: &mut Made,
    offsets: &[u64],
    s: &Session,
    rb: &mut Rollback,
    stage: &mut Stage,
) -> Result<ProcessRecord, ForkError> {
    let vmm_err = |e: VmmError| ForkError::layer(e);
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
        took_ms: crate::units::millis(loading.elapsed()),
    });
    // Recorded before the guest runs: if this process dies from here on,
    // the fork's VMM can still be found and stopped.
    made.record.meta.process = paused.process();
    made.record.meta.pid = made.record.meta.process.as_ref().map(|p| p.pid);
    let saved = made.record.save();
    let memory = paused.memory().is_some();
    rb.vm = Vm::Paused(paused);
    saved.map_err(ForkError::layer)?;
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
    made.record.save().map_err(ForkError::layer)?;
    s.emit(Happening::Restored {
        vmm: plan.snapshot.meta.vmm,
        pid: process.pid,
    });
    Ok(process)
}

/// The driver validate found: always there when the fork is restored.
pub(super) fn plan_driver(plan: &Plan) -> Result<&Arc<dyn Vmm>, ForkError> {
    plan.driver.as_ref().ok_or_else(|| {
        ForkError::new(
            ErrorKind::Internal,
            "no VMM driver for a fork that is restored",
        )
    })
}

pub(super) fn patched_mailboxes(
    planned: &[PlannedMailbox],
    offsets: &[u64],
) -> Vec<PatchedMailbox> {
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

pub(super) fn finish(s: &Session, record: &mut ForkInfo) -> Result<(), ForkError> {
    record.meta.stages = s.timings();
    record.meta.stages.push(StageTiming {
        stage: Stage::Done,
        elapsed_ms: s.ms(),
    });
    record.save().map_err(ForkError::layer)?;
    s.emit(Happening::Done);
    Ok(())
}

/// A guest-exited error with the last lines of the guest's log.
pub(super) fn with_log_tail(e: ForkError, log: &Path) -> ForkError {
    let tail = crate::files::tail_text(log, 2048);
    let lines: Vec<&str> = tail.lines().rev().take(3).collect();
    if !lines.is_empty() {
        let lines: Vec<&str> = lines.into_iter().rev().collect();
        return e.with_evidence(format!("guest log ends with: {}", lines.join(" | ")));
    }
    e
}
