//! VMM drivers: one trait that covers everything a driver does, one module
//! per driver, one registry ([`registry`]). `sim` is built in; `qemu` runs
//! real guests.
//!
//! Drivers know nothing of the store or the mailbox contract: the engine
//! hands them paths and the snapshot's `vmm_config`, and gets back a paused
//! VM it can patch, then resume.

pub mod process;
pub mod procmem;
pub mod programs;
pub mod qemu;
pub mod qmp;
pub mod registry;
pub mod sim;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use thiserror::Error;

pub use process::ProcessRecord;
pub use registry::{VmmKind, driver};

use crate::error::{ErrorKind, Kinded};
use crate::mailbox::MemoryAt;

/// Errors of a VMM driver.
#[derive(Debug, Error)]
pub enum VmmError {
    /// The VMM program could not be found or started.
    #[error("cannot start {what}: {reason}")]
    Start {
        /// What was started.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The VM started but did not come up.
    #[error("{what} did not come up: {reason}")]
    NotReady {
        /// What.
        what: String,
        /// Why.
        reason: String,
    },
    /// This driver cannot do what was asked.
    #[error("{0}")]
    Unsupported(String),
    /// forkmail has no driver that restores this kind of snapshot.
    #[error(
        "forkmail has no {kind} driver, so it cannot restore this snapshot: fork it with --no-restore (add --export DIR to restore the patched copy with your own {kind})",
        kind = .kind.label()
    )]
    NoDriver {
        /// The snapshot's VMM.
        kind: VmmKind,
    },
    /// The VM is not running (inspection of a stopped zero-copy fork).
    #[error("{0}")]
    NotRunning(String),
    /// The guest memory of a running VMM process cannot be reached.
    #[error(transparent)]
    GuestMemory(#[from] procmem::ProcMemError),
    /// Other I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
}

impl Kinded for VmmError {
    fn kind(&self) -> ErrorKind {
        match self {
            VmmError::Unsupported(_) | VmmError::NoDriver { .. } => ErrorKind::BadRequest,
            VmmError::NotRunning(_) => ErrorKind::NotFound,
            _ => ErrorKind::VmmFailed,
        }
    }
}

/// What a driver needs to restore a fork.
pub struct RestoreRequest<'a> {
    /// The source snapshot's directory (kernel and initrd of a qemu
    /// snapshot are relative to it).
    pub snapshot_dir: &'a Path,
    /// The snapshot's `vmm_config` from `snapshot.json`.
    pub vmm_config: &'a serde_json::Value,
    /// Device state to load (the fork's copy of the snapshot's `state`).
    pub state: &'a Path,
    /// The fork's directory (logs, sockets live here).
    pub fork_dir: &'a Path,
    /// The memory file the VM runs on: the fork's copy, or in zero-copy mode
    /// the template's file (mapped privately, never written).
    pub memory: &'a Path,
    /// Where the guest's console or log goes.
    pub guest_log: &'a Path,
    /// Zero-copy mode: map `memory` privately.
    pub zero_copy: bool,
}

impl RestoreRequest<'_> {
    /// The part of the request a VMM needs to start before its state loads.
    pub fn boot(&self) -> BootRequest<'_> {
        BootRequest {
            snapshot_dir: self.snapshot_dir,
            vmm_config: self.vmm_config,
            fork_dir: self.fork_dir,
            memory: self.memory,
            guest_log: self.guest_log,
            zero_copy: self.zero_copy,
        }
    }
}

/// What a driver needs to start a fork's VMM ahead of time, before its
/// device state is loaded (see [`Vmm::prestart`]).
pub struct BootRequest<'a> {
    /// The source snapshot's directory.
    pub snapshot_dir: &'a Path,
    /// The snapshot's `vmm_config`.
    pub vmm_config: &'a serde_json::Value,
    /// The directory the VMM's files go to (the fork's, once claimed).
    pub fork_dir: &'a Path,
    /// The memory file the VM will run on.
    pub memory: &'a Path,
    /// Where the guest's console goes.
    pub guest_log: &'a Path,
    /// Map `memory` privately.
    pub zero_copy: bool,
}

/// A VMM started ahead of time, waiting for its device state.
pub trait Prestarted: Send {
    /// The VMM process (recorded before anything else happens).
    fn process(&self) -> ProcessRecord;
    /// Load the device state; the VM stays paused.
    fn load(self: Box<Self>, state: &Path) -> Result<Box<dyn PausedVm>, VmmError>;
    /// Tear it down (unused).
    fn abort(self: Box<Self>);
}

/// Who may ack a fork's mailboxes (checked for every datagram by the
/// engine's ack waiter).
#[derive(Debug, Clone)]
pub enum AckSender {
    /// A socket owned by this process (a local VMM: the simulator's guest,
    /// QEMU's user-mode network).
    Process(ProcessRecord),
    /// This address (a guest on a TAP or bridge network).
    Address(IpAddr),
    /// Anyone (tests of the parser only).
    Anyone,
}

/// A fork's VMM as recorded in its metadata: enough to find it again,
/// check it, read its memory and stop it.
#[derive(Debug, Clone, Copy)]
pub struct RunningVm<'a> {
    /// The fork's directory.
    pub dir: &'a Path,
    /// The VMM process.
    pub process: &'a ProcessRecord,
    /// The memory file the VM maps (the template's, for zero-copy forks).
    pub memory: &'a Path,
}

/// A VMM driver.
pub trait Vmm: Send + Sync {
    /// Which VMM this is.
    fn kind(&self) -> VmmKind;

    /// Whether forks can map the template privately and be patched in place.
    fn supports_zero_copy(&self) -> bool {
        false
    }

    /// Who may send the fork's acks: by default a socket of the VMM
    /// process itself (the simulator's guest; QEMU's user-mode network).
    fn ack_sender(&self, process: &ProcessRecord) -> AckSender {
        AckSender::Process(process.clone())
    }

    /// Whether this driver can restore a snapshot with this `vmm_config`;
    /// asked at `validate`, before anything is copied.
    fn check_restorable(&self, _vmm_config: &serde_json::Value) -> Result<(), VmmError> {
        Ok(())
    }

    /// Start the VM from the fork and load its state, leaving it paused:
    /// the guest has not run a single instruction when this returns.
    fn start_paused(&self, req: &RestoreRequest) -> Result<Box<dyn PausedVm>, VmmError>;

    /// Start the fork's VMM ahead of time (while the person still edits),
    /// waiting for its device state: the slow part of a restore. `None`
    /// when this driver has nothing to gain (its start is cheap).
    fn prestart(&self, _req: &BootRequest) -> Result<Option<Box<dyn Prestarted>>, VmmError> {
        Ok(None)
    }

    /// Whether the fork's VMM is running (exactly that process).
    fn is_alive(&self, vm: &RunningVm) -> bool {
        vm.process.is_alive()
    }

    /// Stop the fork's VMM; `Ok(true)` when one was running. Only the
    /// recorded process is ever signalled.
    fn stop(&self, vm: &RunningVm, grace: Duration) -> Result<bool, VmmError> {
        Ok(vm.process.stop(grace))
    }

    /// The guest memory of the running fork, addressed by memory-file
    /// offsets (inspection of a zero-copy fork, whose memory lives only in
    /// its VMM's private mapping).
    fn open_memory(&self, vm: &RunningVm) -> Result<Box<dyn MemoryAt>, VmmError> {
        if !self.is_alive(vm) {
            return Err(VmmError::NotRunning(format!(
                "the VMM of {} (pid {}) is not running",
                vm.dir.display(),
                vm.process.pid
            )));
        }
        Ok(Box::new(procmem::ProcMem::open(vm.process.pid, vm.memory)?))
    }
}

/// A restored VM that has not run yet.
pub trait PausedVm: Send {
    /// The VMM process, once there is one: recorded before the guest runs,
    /// so a crash from here on leaves a fork whose VMM can still be found.
    fn process(&self) -> Option<ProcessRecord>;
    /// Guest memory of the paused VM, for zero-copy patching.
    fn memory(&mut self) -> Option<&mut dyn MemoryAt> {
        None
    }
    /// Let the guest run. Returns the process to record for stop.
    fn resume(self: Box<Self>) -> Result<ProcessRecord, VmmError>;
    /// Tear down whatever was started.
    fn abort(self: Box<Self>);
}
