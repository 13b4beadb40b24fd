//! Where the VMM drivers find their programs. The app sets them once at
//! start (from its environment: the engine reads none); until then, the
//! defaults apply.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The programs the drivers run.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The QEMU system emulator (a name on `PATH`, or a path).
    pub qemu: String,
    /// The program that runs the simulated guest (a `forkmail` or
    /// `forkmail-guest` binary); `None`: the running program when it hosts
    /// the guest, else a `forkmail` beside it or on `PATH`.
    pub sim_guest: Option<PathBuf>,
}

impl Default for Programs {
    fn default() -> Programs {
        Programs {
            qemu: "qemu-system-x86_64".into(),
            sim_guest: None,
        }
    }
}

static PROGRAMS: OnceLock<Programs> = OnceLock::new();

/// Set the programs (once, at start; later calls are ignored).
pub fn configure(programs: Programs) {
    let _ = PROGRAMS.set(programs);
}

/// The programs in force.
pub fn programs() -> &'static Programs {
    PROGRAMS.get_or_init(Programs::default)
}
