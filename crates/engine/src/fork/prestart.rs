//! A fork's VMM started before the fork exists.
//!
//! Most of a real restore is the VMM's own start (process, machine, monitor).
//! A [`Prestart`] does that while the person is still editing: QEMU waits,
//! paused, with `-incoming defer`, in a hidden, locked fork directory that
//! has no name yet. When the fork is made, the session claims that
//! directory under the fork's name, copies the memory into the file QEMU
//! already maps (or, zero-copy, uses the template's), and restore only loads
//! the device state, patches and resumes. A prestart that is never used is
//! torn down when dropped: its VMM stopped, its directory removed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::ForkError;
use super::ownership::{ClaimError, HiddenDir};
use crate::error::{ErrorKind, Kinded};
use crate::store::{GUEST_LOG, MEMORY_FILE, SnapshotInfo, Store};
use crate::vmm::{BootRequest, Prestarted, ProcessRecord, Vmm};

/// A VMM started ahead of a fork of one snapshot, in one mode.
pub struct Prestart {
    snapshot: String,
    zero_copy: bool,
    pub(super) dir: Option<HiddenDir>,
    pub(super) vm: Option<Box<dyn Prestarted>>,
    booted_in: Duration,
}

impl std::fmt::Debug for Prestart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prestart")
            .field("snapshot", &self.snapshot)
            .field("zero_copy", &self.zero_copy)
            .field("process", &self.process())
            .finish()
    }
}

impl Prestart {
    /// Start `snapshot`'s VMM ahead of a fork (`Ok(None)`: its driver has
    /// nothing to gain, e.g. the simulator, whose start is cheap).
    pub(super) fn start(
        store: &Store,
        snapshot: &SnapshotInfo,
        driver: &dyn Vmm,
        zero_copy: bool,
    ) -> Result<Option<Prestart>, ForkError> {
        if zero_copy && !driver.supports_zero_copy() {
            return Err(ForkError::new(
                ErrorKind::BadRequest,
                format!(
                    "zero-copy forks need a VMM that maps memory privately; {} cannot",
                    snapshot.meta.vmm.label()
                ),
            ));
        }
        let started = Instant::now();
        let dir = HiddenDir::create(&store.forks_dir(), "prestart").map_err(ForkError::layer)?;
        let memory: PathBuf = if zero_copy {
            snapshot.memory_path()
        } else {
            dir.path().join(MEMORY_FILE)
        };
        let req = BootRequest {
            snapshot_dir: &snapshot.dir,
            vmm_config: &snapshot.meta.vmm_config,
            fork_dir: dir.path(),
            memory: &memory,
            guest_log: &dir.path().join(GUEST_LOG),
            zero_copy,
        };
        let Some(vm) = driver.prestart(&req).map_err(ForkError::layer)? else {
            return Ok(None);
        };
        Ok(Some(Prestart {
            snapshot: snapshot.name.clone(),
            zero_copy,
            dir: Some(dir),
            vm: Some(vm),
            booted_in: started.elapsed(),
        }))
    }

    /// The snapshot it was started for.
    pub fn snapshot(&self) -> &str {
        &self.snapshot
    }

    /// Whether it maps the template privately.
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Its VMM process.
    pub fn process(&self) -> Option<ProcessRecord> {
        self.vm.as_ref().map(|v| v.process())
    }

    /// How long starting the VMM took (time a fork no longer spends).
    pub fn booted_in(&self) -> Duration {
        self.booted_in
    }

    /// Whether it can serve a fork of `snapshot` in this mode.
    pub fn fits(&self, snapshot: &str, zero_copy: bool) -> bool {
        self.snapshot == snapshot && self.zero_copy == zero_copy && self.vm.is_some()
    }
}

impl Drop for Prestart {
    fn drop(&mut self) {
        if let Some(vm) = self.vm.take() {
            vm.abort();
        }
        // The hidden directory removes itself.
        drop(self.dir.take());
    }
}

impl From<ClaimError> for ForkError {
    fn from(e: ClaimError) -> ForkError {
        ForkError::layer(e)
    }
}

impl Kinded for ClaimError {
    fn kind(&self) -> ErrorKind {
        match self {
            ClaimError::Exists(_) => ErrorKind::BadRequest,
            ClaimError::Io { .. } => ErrorKind::Io,
        }
    }
}
