//! The QEMU driver: real guests whose RAM is a raw file
//! (`memory-backend-file`), standby snapshots by migrating only device state
//! (`x-ignore-shared`), and forks restored with `-incoming defer`.
//!
//! Two fork modes:
//! - copy: the fork runs on its own sparse copy of the memory file
//!   (`share=on`), patched by the engine before QEMU starts;
//! - zero-copy: the fork maps the template's memory file privately
//!   (`share=off`, copy-on-write); the engine patches the paused guest through
//!   `/proc/PID/mem` and the template file is never written.
//!
//! QEMU talks QMP over `qmp.sock` in the fork directory; the serial console
//! goes to `serial.log` (linked as the fork's `guest.log`).

mod accel;
mod config;
mod process;

pub use accel::*;
pub use config::*;
pub use process::*;

use std::path::Path;
use std::time::Duration;

use crate::mailbox::MemoryAt;
use crate::vmm::procmem::ProcMem;
use crate::vmm::qmp::{Qmp, QmpError};
use crate::vmm::{
    BootRequest, PausedVm, Prestarted, ProcessRecord, RestoreRequest, RunningVm, Vmm, VmmError,
    VmmKind,
};

/// The serial console log in a fork or template directory.
pub const SERIAL_LOG: &str = "serial.log";
/// The QMP socket in a fork or template directory.
pub const QMP_SOCKET: &str = "qmp.sock";
/// QEMU's own stdout/stderr.
pub const QEMU_LOG: &str = "qemu.log";
/// Kernel file name inside a qemu snapshot directory.
pub const KERNEL_FILE: &str = "vmlinuz";
/// Initramfs file name inside a qemu snapshot directory.
pub const INITRD_FILE: &str = "initrd.img";
/// Longest unix socket path (sun_path is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The QEMU driver.
#[derive(Debug, Default)]
pub struct QemuVmm;

impl QemuVmm {
    /// A QEMU driver.
    pub fn new() -> QemuVmm {
        QemuVmm
    }
}

/// Read a qemu snapshot's `vmm_config`.
pub fn config_of(value: &serde_json::Value) -> Result<QemuConfig, VmmError> {
    serde_json::from_value(value.clone()).map_err(|e| VmmError::Start {
        what: "QEMU".into(),
        reason: format!("snapshot.json has no usable qemu vmm_config: {e}"),
    })
}

impl Vmm for QemuVmm {
    fn kind(&self) -> VmmKind {
        VmmKind::Qemu
    }

    fn supports_zero_copy(&self) -> bool {
        true
    }

    fn check_restorable(&self, vmm_config: &serde_json::Value) -> Result<(), VmmError> {
        config_of(vmm_config).map(|_| ())
    }

    fn start_paused(&self, req: &RestoreRequest) -> Result<Box<dyn PausedVm>, VmmError> {
        if !req.state.is_file() {
            return Err(VmmError::Start {
                what: "QEMU".into(),
                reason: format!("device state {} is missing", req.state.display()),
            });
        }
        let booted = boot(&req.boot())?;
        Box::new(booted).load(req.state)
    }

    /// QEMU started with `-incoming defer`, its monitor connected and
    /// `x-ignore-shared` set: what is left for the fork is loading the
    /// device state, patching and `cont`.
    fn prestart(&self, req: &BootRequest) -> Result<Option<Box<dyn Prestarted>>, VmmError> {
        Ok(Some(Box::new(boot(req)?)))
    }

    /// A clean QMP `quit` first; signals to the recorded process only as the
    /// fallback.
    fn stop(&self, vm: &RunningVm, grace: Duration) -> Result<bool, VmmError> {
        if !vm.process.is_alive() {
            return Ok(false);
        }
        if quit_over_qmp(vm.process, vm.dir, grace.min(Duration::from_secs(3))) {
            return Ok(true);
        }
        Ok(vm.process.stop(grace))
    }
}

/// Spawn QEMU waiting for its device state (`-incoming defer`), record its
/// process, connect its monitor and set `x-ignore-shared` (it must be on
/// before the stream is read).
fn boot(req: &BootRequest) -> Result<QemuBooted, VmmError> {
    let cfg = config_of(req.vmm_config)?;
    let paths = RunPaths {
        run_dir: req.fork_dir,
        base_dir: req.snapshot_dir,
        memory: req.memory,
        share: !req.zero_copy,
        incoming: true,
    };
    let mut proc = QemuProcess::spawn(&cfg, &paths, req.guest_log)?;
    let record = match ProcessRecord::capture(proc.pid()) {
        Ok(r) => r,
        Err(e) => {
            let err = proc.failure("QEMU", e);
            proc.shutdown(None);
            return Err(err);
        }
    };
    let mut qmp = match proc.qmp(Duration::from_secs(30)) {
        Ok(q) => q,
        Err(e) => {
            proc.shutdown(None);
            return Err(e);
        }
    };
    if let Err(e) = qmp.set_ignore_shared() {
        let err = proc.failure("QEMU's monitor", e);
        proc.shutdown(Some(qmp));
        return Err(err);
    }
    Ok(QemuBooted {
        proc,
        qmp,
        record,
        memory: req.memory.to_path_buf(),
        zero_copy: req.zero_copy,
    })
}

/// Hand QEMU the open state file (`getfd`) and `migrate-incoming fd:state`,
/// then wait for the migration's `completed` event: no shell and no `cat`
/// to start, no polling.
fn load_state(qmp: &mut Qmp, state: &Path) -> Result<(), String> {
    use std::os::fd::AsFd;
    let file = crate::files::open_regular(state).map_err(|e| format!("open device state: {e}"))?;
    qmp.send_fd("state", file.as_fd())
        .map_err(|e| e.to_string())?;
    drop(file);
    qmp.execute(
        "migrate-incoming",
        Some(serde_json::json!({"uri": "fd:state"})),
    )
    .and_then(|_| qmp.wait_migration(Duration::from_secs(60)))
    .map_err(|e| e.to_string())
}

/// A QEMU waiting for its device state.
struct QemuBooted {
    proc: QemuProcess,
    qmp: Qmp,
    record: ProcessRecord,
    memory: std::path::PathBuf,
    zero_copy: bool,
}

impl Prestarted for QemuBooted {
    fn process(&self) -> ProcessRecord {
        self.record.clone()
    }

    /// Load the device state (see [`load_state`]). The VM stays paused; a
    /// zero-copy fork's memory is opened for patching.
    fn load(self: Box<Self>, state: &Path) -> Result<Box<dyn PausedVm>, VmmError> {
        let QemuBooted {
            mut proc,
            mut qmp,
            record,
            memory,
            zero_copy,
        } = *self;
        let loaded = load_state(&mut qmp, state);
        if let Err(e) = loaded {
            let err = proc.failure("QEMU restore (loading device state)", e);
            proc.shutdown(Some(qmp));
            return Err(err);
        }
        let mem = if zero_copy {
            match ProcMem::open(proc.pid(), &memory) {
                Ok(m) => Some(m),
                Err(e) => {
                    let err = proc.failure("zero-copy patching", e);
                    proc.shutdown(Some(qmp));
                    return Err(err);
                }
            }
        } else {
            None
        };
        Ok(Box::new(QemuPaused {
            proc,
            qmp,
            mem,
            record,
        }))
    }

    fn abort(self: Box<Self>) {
        let QemuBooted { proc, qmp, .. } = *self;
        proc.shutdown(Some(qmp));
    }
}

struct QemuPaused {
    proc: QemuProcess,
    qmp: Qmp,
    mem: Option<ProcMem>,
    record: ProcessRecord,
}

impl PausedVm for QemuPaused {
    fn process(&self) -> Option<ProcessRecord> {
        Some(self.record.clone())
    }

    fn memory(&mut self) -> Option<&mut dyn MemoryAt> {
        self.mem.as_mut().map(|m| m as &mut dyn MemoryAt)
    }

    fn resume(self: Box<Self>) -> Result<ProcessRecord, VmmError> {
        let QemuPaused {
            mut proc,
            mut qmp,
            record,
            ..
        } = *self;
        let res = qmp.execute("cont", None).and_then(|_| {
            let st = qmp.execute("query-status", None)?;
            match st.get("status").and_then(|s| s.as_str()) {
                Some("running") => Ok(()),
                other => Err(QmpError::Command {
                    command: "cont".into(),
                    class: "State".into(),
                    desc: format!("VM status after cont is {other:?}, not running"),
                }),
            }
        });
        match res {
            Ok(()) => {
                proc.detach(&record);
                Ok(record)
            }
            Err(e) => {
                let err = proc.failure("QEMU resume", e);
                proc.shutdown(Some(qmp));
                Err(err)
            }
        }
    }

    fn abort(self: Box<Self>) {
        let QemuPaused { proc, qmp, .. } = *self;
        proc.shutdown(Some(qmp));
    }
}
