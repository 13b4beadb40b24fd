//! The fork lifecycle as library API — create, list with live status, stop,
//! remove, inspect, clean up after a crash — used identically by the CLI
//! and the TUI.
//!
//! Only a fork's recorded VMM process is ever signalled, and only after it
//! is proven to be that process ([`crate::vmm::ProcessRecord`]). A fork whose
//! session is still running is busy: `stop` and `rm` refuse it.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::ownership::{remove_fork_dir, session_running, sweep_hidden, try_lock};
use super::record::{ForkInfo, ForkStatus};
use super::session::{Drivers, ForkOutcome, run_session_with};
use super::{ForkError, ForkRequest, SessionEvent};
use crate::error::{ErrorKind, Kinded};
use crate::mailbox::{MAILBOX_SIZE, MemoryAt};
use crate::scan::{ScanError, ScanOptions, ScanReport, decode_mailbox, scan_file};
use crate::store::{FORK_META, Store, StoreError, ValidName};
use crate::vmm::{ProcessRecord, RunningVm, VmmError};

/// How long a VMM gets to stop before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What is true of a fork now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveStatus {
    /// Its session is running.
    Creating,
    /// Its session died before it finished (e.g. `kill -9`).
    Interrupted,
    /// Patched, never restored.
    Patched,
    /// Its VMM runs.
    Running,
    /// Its VMM is gone without `forkmail stop`.
    Exited,
    /// Stopped with `forkmail stop`.
    Stopped,
    /// Its `fork.json` is missing or unreadable.
    Broken,
}

impl LiveStatus {
    /// Lowercase label (as in `forks --json`).
    pub fn label(self) -> &'static str {
        match self {
            LiveStatus::Creating => "creating",
            LiveStatus::Interrupted => "interrupted",
            LiveStatus::Patched => "patched",
            LiveStatus::Running => "running",
            LiveStatus::Exited => "exited",
            LiveStatus::Stopped => "stopped",
            LiveStatus::Broken => "broken",
        }
    }
}

/// One fork as listed.
#[derive(Debug, Clone)]
pub struct ForkEntry {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// What is true now.
    pub status: LiveStatus,
    /// Its record, unless broken.
    pub info: Option<ForkInfo>,
    /// Why it is broken.
    pub problem: Option<String>,
}

impl ForkEntry {
    /// The VMM pid, only while it runs (no stale pids).
    pub fn live_pid(&self) -> Option<u32> {
        (self.status == LiveStatus::Running || self.status == LiveStatus::Creating)
            .then(|| self.info.as_ref()?.meta.process.as_ref().map(|p| p.pid))
            .flatten()
    }
}

/// Why a lifecycle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Store access.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The fork's session is still running.
    #[error(
        "fork {0} is still being created by a running session; cancel that session first (Ctrl-C where it runs, or `x` in the TUI)"
    )]
    Busy(String),
    /// The fork is made, and a running forkmail command still works on it
    /// (`forkmail check` observing it).
    #[error(
        "fork {0} is in use: a running forkmail command (`forkmail check`) observes it; it is removed when that command ends"
    )]
    InUse(String),
    /// The VMM could not be reached.
    #[error(transparent)]
    Vmm(#[from] VmmError),
    /// Reading the fork's memory failed.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// Removing failed.
    #[error("remove {path}: {source}")]
    Remove {
        /// The directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl Kinded for LifecycleError {
    fn kind(&self) -> ErrorKind {
        match self {
            LifecycleError::Store(e) => e.kind(),
            LifecycleError::Busy(_) | LifecycleError::InUse(_) => ErrorKind::Busy,
            LifecycleError::Vmm(e) => e.kind(),
            LifecycleError::Scan(e) => e.kind(),
            LifecycleError::Remove { .. } => ErrorKind::Io,
        }
    }
}

/// Whether `e` says the fork is no longer there (removed meanwhile).
fn gone(e: &LifecycleError) -> bool {
    match e {
        LifecycleError::Store(StoreError::NoSuchFork { .. }) => true,
        LifecycleError::Remove { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// The forks of a store.
pub struct Forks<'a> {
    store: &'a Store,
    drivers: Drivers<'a>,
}

impl<'a> Forks<'a> {
    /// The forks of `store`, with the registered VMM drivers.
    pub fn new(store: &'a Store) -> Forks<'a> {
        Forks {
            store,
            drivers: &crate::vmm::driver,
        }
    }

    /// The forks of `store` with the drivers given (tests).
    pub fn with_drivers(store: &'a Store, drivers: Drivers<'a>) -> Forks<'a> {
        Forks { store, drivers }
    }

    /// Run a fork session (see [`super::run_session`]).
    pub fn create(
        &self,
        req: &ForkRequest,
        sink: &(dyn Fn(SessionEvent) + Sync),
        cancel: &AtomicBool,
    ) -> Result<ForkOutcome, ForkError> {
        run_session_with(self.store, req, sink, cancel, self.drivers)
    }

    /// Start `snapshot`'s VMM ahead of a fork (see [`super::Prestart`]);
    /// `Ok(None)` when its driver gains nothing from it (the simulator).
    pub fn prestart(
        &self,
        snapshot: &str,
        zero_copy: bool,
    ) -> Result<Option<super::Prestart>, ForkError> {
        let snap = self.store.snapshot(snapshot).map_err(ForkError::layer)?;
        let driver = (self.drivers)(snap.meta.vmm).map_err(ForkError::layer)?;
        super::Prestart::start(self.store, &snap, driver.as_ref(), zero_copy)
    }

    /// Run a fork session on a VMM started ahead of time (used when it fits
    /// the request; torn down otherwise).
    pub fn create_prestarted(
        &self,
        req: &ForkRequest,
        prestart: Option<super::Prestart>,
        sink: &(dyn Fn(SessionEvent) + Sync),
        cancel: &AtomicBool,
    ) -> Result<ForkOutcome, ForkError> {
        super::session::run_session_prestarted(
            self.store,
            req,
            prestart,
            sink,
            cancel,
            self.drivers,
        )
    }

    /// Every fork with its live status, broken ones included, sorted by name.
    pub fn list(&self) -> Result<Vec<ForkEntry>, StoreError> {
        Ok(self
            .store
            .fork_dirs()?
            .into_iter()
            .map(|dir| self.entry_at(&dir))
            .collect())
    }

    /// Fork `name` with its live status.
    pub fn get(&self, name: &str) -> Result<ForkEntry, StoreError> {
        let valid = ValidName::new(name)?;
        let dir = self.store.fork_dir(&valid);
        if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return Err(StoreError::NoSuchFork {
                name: name.into(),
                store: self.store.root().to_path_buf(),
            });
        }
        Ok(self.entry_at(&dir))
    }

    fn entry_at(&self, dir: &Path) -> ForkEntry {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match ForkInfo::load(dir) {
            Ok(info) => ForkEntry {
                status: self.status(&info),
                name,
                dir: dir.to_path_buf(),
                info: Some(info),
                problem: None,
            },
            Err(e) => ForkEntry {
                status: if session_running(dir) {
                    LiveStatus::Creating
                } else {
                    LiveStatus::Broken
                },
                name,
                dir: dir.to_path_buf(),
                info: None,
                problem: Some(if dir.join(FORK_META).exists() {
                    e.to_string()
                } else {
                    format!("{} is missing", dir.join(FORK_META).display())
                }),
            },
        }
    }

    /// What is true of `info` now.
    pub fn status(&self, info: &ForkInfo) -> LiveStatus {
        match info.meta.status {
            ForkStatus::Creating if session_running(&info.dir) => LiveStatus::Creating,
            ForkStatus::Creating => LiveStatus::Interrupted,
            ForkStatus::Patched => LiveStatus::Patched,
            ForkStatus::Stopped => LiveStatus::Stopped,
            ForkStatus::Running => {
                if self.vmm_alive(info) {
                    LiveStatus::Running
                } else {
                    LiveStatus::Exited
                }
            }
        }
    }

    fn vmm_alive(&self, info: &ForkInfo) -> bool {
        self.with_vm(info, |driver, vm| match driver {
            Some(d) => d.is_alive(vm),
            None => vm.process.is_alive(),
        })
        .unwrap_or(false)
    }

    /// Run `f` on the fork's recorded VMM and its driver (`None` when no
    /// driver is registered for its kind). `None` when no VMM was recorded.
    fn with_vm<T>(
        &self,
        info: &ForkInfo,
        f: impl FnOnce(Option<&dyn crate::vmm::Vmm>, &RunningVm) -> T,
    ) -> Option<T> {
        let process = info.meta.process.as_ref()?;
        let memory = info.vm_memory();
        let vm = RunningVm {
            dir: &info.dir,
            process,
            memory: &memory,
        };
        let driver = (self.drivers)(info.meta.vmm).ok();
        Some(f(driver.as_deref(), &vm))
    }

    /// Stop fork `name`'s VMM (it stays on disk). `Ok(true)` when one ran.
    pub fn stop(&self, name: &str) -> Result<bool, LifecycleError> {
        let entry = self.get(name)?;
        let _lock = self.lock(&entry)?;
        let Some(mut info) = entry.info else {
            return Ok(self.stop_strays(&entry.dir) > 0);
        };
        let ran = self.stop_vmm(&info)?;
        if info.meta.status == ForkStatus::Running {
            info.meta.status = ForkStatus::Stopped;
            info.save()?;
            super::evidence::note_gone(self.store, &entry.dir, name, super::Fate::Stopped);
        }
        Ok(ran)
    }

    /// Remove fork `name`: stop its VMM (the recorded one, and any process
    /// still running from its directory), then delete the directory.
    /// Returns whether a VMM was stopped.
    pub fn remove(&self, name: &str) -> Result<bool, LifecycleError> {
        let entry = self.get(name)?;
        let _lock = self.lock(&entry)?;
        self.remove_entry(&entry, name)
    }

    /// Remove a fork its maker still holds ([`super::HeldFork`]: `forkmail
    /// check` done observing it), under that lock: nobody can take the fork
    /// in between, and a lock that a process being spawned elsewhere in
    /// this program still shares for a moment (a child between fork and
    /// exec) cannot make it look busy. The lock goes after.
    pub fn remove_held(&self, held: &super::HeldFork) -> Result<bool, LifecycleError> {
        let name = held.name();
        let entry = self.get(name)?;
        let removed = self.remove_entry(&entry, name);
        held.release();
        removed
    }

    fn remove_entry(&self, entry: &ForkEntry, name: &str) -> Result<bool, LifecycleError> {
        let mut stopped = match &entry.info {
            Some(info) => self.stop_vmm(info)?,
            None => false,
        };
        // A session killed between starting its VMM and recording it, or a
        // fork.json lost: processes running from this directory, exactly.
        stopped |= self.stop_strays(&entry.dir) > 0;
        // Its VMM is gone: its logs are complete; their end outlives it.
        super::evidence::note_gone(self.store, &entry.dir, name, super::Fate::Removed);
        remove_fork_dir(&entry.dir).map_err(|source| LifecycleError::Remove {
            path: entry.dir.clone(),
            source,
        })?;
        Ok(stopped)
    }

    /// Clean up after crashes: remove every interrupted or broken fork
    /// (stopping its VMM), the hidden directories of sessions that died
    /// while making one, and the snapshot drafts of imports and template
    /// creations that died (`snapshots/.creating-…`, with their partial
    /// memory). What is being made right now is locked by its maker and left
    /// alone; what vanishes meanwhile (another `gc`, an `rm`) is not an
    /// error. Returns what was removed (drafts as `snapshots/<name>`).
    pub fn gc(&self) -> Result<Vec<String>, LifecycleError> {
        let mut removed = Vec::new();
        for entry in self.list()? {
            if matches!(entry.status, LiveStatus::Interrupted | LiveStatus::Broken) {
                match self.remove(&entry.name) {
                    Ok(_) => removed.push(entry.name),
                    Err(e) if gone(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let stop = |dir: &Path| {
            self.stop_strays(dir);
        };
        let forks_dir = self.store.forks_dir();
        removed.extend(sweep_hidden(&forks_dir, &stop).map_err(|source| {
            LifecycleError::Remove {
                path: forks_dir.clone(),
                source,
            }
        })?);
        let snapshots_dir = self.store.snapshots_dir();
        removed.extend(
            sweep_hidden(&snapshots_dir, &stop)
                .map_err(|source| LifecycleError::Remove {
                    path: snapshots_dir.clone(),
                    source,
                })?
                .into_iter()
                .map(|name| format!("snapshots/{name}")),
        );
        Ok(removed)
    }

    /// The markers in a fork's memory now (were its mailboxes consumed?). A
    /// copy fork is scanned from its own memory file; a zero-copy fork's
    /// memory lives only inside its running VMM, so its patched mailboxes are
    /// read through the driver.
    pub fn inspect(&self, info: &ForkInfo) -> Result<ScanReport, LifecycleError> {
        if !info.meta.zero_copy {
            return Ok(scan_file(&info.vm_memory(), &ScanOptions::default())?);
        }
        let started = Instant::now();
        let mem = self.memory(info)?;
        let pid = info.meta.process.as_ref().map_or(0, |p| p.pid);
        let size = std::fs::metadata(info.vm_memory())
            .map(|m| m.len())
            .unwrap_or(0);
        let mut markers = Vec::new();
        for m in &info.meta.mailboxes {
            let mut page = vec![0u8; MAILBOX_SIZE];
            mem.read_exact_at(&mut page, m.offset)
                .map_err(|source| VmmError::Io {
                    context: format!("read guest memory of pid {pid} at {:#x}", m.offset),
                    source,
                })?;
            markers.extend(decode_mailbox(&page, m.offset, size));
        }
        Ok(ScanReport {
            path: format!("/proc/{pid}/mem").into(),
            file_size: 0,
            data_bytes: 0,
            extents: 0,
            markers,
            truncated: false,
            elapsed: started.elapsed(),
        })
    }

    /// The guest memory of a fork as it is now, addressed by memory-file
    /// offsets: a copy fork's own memory file (its VMM maps it shared), or
    /// for a zero-copy fork the running VMM's private mapping (through the
    /// driver; an error once the VMM is gone). Read-only use: checks read
    /// frames (seq back to 0?) through it.
    pub fn memory(&self, info: &ForkInfo) -> Result<Box<dyn MemoryAt>, LifecycleError> {
        if !info.meta.zero_copy {
            let f = crate::files::open_regular(&info.vm_memory()).map_err(StoreError::from)?;
            return Ok(Box::new(f));
        }
        let process = info.meta.process.as_ref().ok_or_else(|| {
            VmmError::NotRunning(format!(
                "zero-copy fork {}: its memory lived only inside its VMM, which never ran",
                info.name
            ))
        })?;
        let memory = info.vm_memory();
        let vm = RunningVm {
            dir: &info.dir,
            process,
            memory: &memory,
        };
        let driver = (self.drivers)(info.meta.vmm)?;
        Ok(driver.open_memory(&vm).map_err(|e| match e {
            VmmError::NotRunning(_) => VmmError::NotRunning(format!(
                "zero-copy fork {}: its memory lived only inside its VMM, which is not running",
                info.name
            )),
            other => other,
        })?)
    }

    /// Refuse a fork whose session runs; otherwise hold its lock while the
    /// operation runs, so no session can claim it meanwhile.
    fn lock(&self, entry: &ForkEntry) -> Result<Option<std::fs::File>, LifecycleError> {
        match try_lock(&entry.dir) {
            Ok(Some(f)) => Ok(Some(f)),
            // A made fork its maker still holds: under observation.
            Ok(None)
                if entry
                    .info
                    .as_ref()
                    .is_some_and(|i| i.meta.status != ForkStatus::Creating) =>
            {
                Err(LifecycleError::InUse(entry.name.clone()))
            }
            Ok(None) => Err(LifecycleError::Busy(entry.name.clone())),
            // The lock is a safety net; a directory that cannot be opened
            // is still removable.
            Err(_) => Ok(None),
        }
    }

    fn stop_vmm(&self, info: &ForkInfo) -> Result<bool, LifecycleError> {
        let stopped = self.with_vm(info, |driver, vm| match driver {
            Some(d) => d.stop(vm, STOP_GRACE),
            None => Ok(vm.process.stop(STOP_GRACE)),
        });
        Ok(stopped.transpose()?.unwrap_or(false))
    }

    /// Stop processes whose arguments name a path inside `dir` exactly.
    fn stop_strays(&self, dir: &Path) -> usize {
        crate::vmm::process::processes_in_dir(dir)
            .iter()
            .filter(|p: &&ProcessRecord| p.stop(STOP_GRACE))
            .count()
    }
}
