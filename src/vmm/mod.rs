//! VMM drivers: one trait, one file per driver. `sim` is built in; `qemu`
//! runs real guests.

pub mod process;
pub mod qemu;
pub mod qmp;
pub mod sim;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use thiserror::Error;

use crate::mailbox::MemoryAt;
use crate::store::{SnapshotInfo, VmmKind};

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
    /// Other I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// What a driver needs to restore a fork.
pub struct RestoreRequest<'a> {
    /// The source snapshot.
    pub snapshot: &'a SnapshotInfo,
    /// The fork's directory (logs, sockets, pid live here).
    pub fork_dir: &'a Path,
    /// The memory file the VM runs on: the fork's copy, or in zero-copy mode
    /// the template's file (mapped privately, never written).
    pub memory: &'a Path,
    /// Zero-copy mode.
    pub zero_copy: bool,
}

/// A VMM driver.
pub trait Vmm: Send + Sync {
    /// Which VMM this is.
    fn kind(&self) -> VmmKind;
    /// Whether forks can map the template privately and be patched in place.
    fn supports_zero_copy(&self) -> bool {
        false
    }
    /// The address guest acks come from.
    fn ack_sender(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
    /// Start the VM from the fork and load its state, leaving it paused.
    fn start_paused(&self, req: &RestoreRequest) -> Result<Box<dyn PausedVm>, VmmError>;
}

/// A restored VM that has not run yet.
pub trait PausedVm: Send {
    /// Process id of the VMM process, once there is one.
    fn pid(&self) -> Option<u32>;
    /// Guest memory of the paused VM, for zero-copy patching.
    fn memory(&mut self) -> Option<&mut dyn MemoryAt> {
        None
    }
    /// Let the guest run. Returns the pid to record for stop.
    fn resume(self: Box<Self>) -> Result<u32, VmmError>;
    /// Kill whatever was started.
    fn abort(self: Box<Self>);
}

/// The driver for `kind`.
pub fn driver(kind: VmmKind) -> Result<Box<dyn Vmm>, VmmError> {
    match kind {
        VmmKind::Sim => Ok(Box::new(sim::SimVmm::new())),
        VmmKind::Qemu => Ok(Box::new(qemu::QemuVmm::new())),
    }
}
