//! The built-in simulator VMM. Restoring a fork starts `forkmail-guest` as a
//! child process that plays the restored guest over the fork's memory file:
//! the same consumer code a real guest runs, the same memory file layout,
//! the same UDP ack.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{PausedVm, RestoreRequest, Vmm, VmmError};
use crate::guest::GuestFault;
use crate::store::{GUEST_LOG, STATE_FILE, VmmKind};

/// What the simulated guest armed: the sim's `state` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimState {
    /// Always "sim".
    pub vmm: String,
    /// Fork mailboxes the guest armed.
    pub mailboxes: Vec<SimMailbox>,
    /// The resume-network mailbox, if armed.
    #[serde(default)]
    pub resume_network: Option<SimResumeNetwork>,
}

/// One fork mailbox the simulated guest armed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimMailbox {
    /// Name.
    pub name: String,
    /// Token.
    pub token: String,
    /// Offset of the marker in the memory file.
    pub offset: u64,
    /// Injected misbehaviour.
    #[serde(default)]
    pub fault: Option<GuestFault>,
}

/// The resume-network mailbox the simulated guest armed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimResumeNetwork {
    /// Token.
    pub token: String,
    /// Offset.
    pub offset: u64,
}

/// The simulator driver.
#[derive(Debug, Default)]
pub struct SimVmm;

impl SimVmm {
    /// A simulator driver.
    pub fn new() -> SimVmm {
        SimVmm
    }
}

/// Where the `forkmail-guest` binary is: `$FORKMAIL_GUEST`, else beside the
/// running executable, else on `PATH`.
pub fn guest_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FORKMAIL_GUEST").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for cand in [dir.join("forkmail-guest"), dir.join("../forkmail-guest")] {
            if cand.is_file() {
                return cand;
            }
        }
    }
    PathBuf::from("forkmail-guest")
}

impl Vmm for SimVmm {
    fn kind(&self) -> VmmKind {
        VmmKind::Sim
    }

    fn start_paused(&self, req: &RestoreRequest) -> Result<Box<dyn PausedVm>, VmmError> {
        if req.zero_copy {
            return Err(VmmError::Unsupported(
                "the sim VMM has no zero-copy mode (its guest runs on a file, not a private mapping)"
                    .into(),
            ));
        }
        Ok(Box::new(SimPaused {
            fork_dir: req.fork_dir.to_path_buf(),
            memory: req.memory.to_path_buf(),
        }))
    }
}

struct SimPaused {
    fork_dir: PathBuf,
    memory: PathBuf,
}

impl PausedVm for SimPaused {
    fn pid(&self) -> Option<u32> {
        None
    }

    fn resume(self: Box<Self>) -> Result<u32, VmmError> {
        let bin = guest_binary();
        let log_path = self.fork_dir.join(GUEST_LOG);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| VmmError::Io {
                context: format!("open guest log {}", log_path.display()),
                source,
            })?;
        let mut cmd = Command::new(&bin);
        cmd.arg("sim")
            .arg("--memory")
            .arg(&self.memory)
            .arg("--state")
            .arg(self.fork_dir.join(STATE_FILE))
            .arg("--log")
            .arg(&log_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        // Own process group: a Ctrl-C meant for forkmail must not kill the
        // guest behind the engine's back; rollback stops it explicitly.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(|e| VmmError::Start {
            what: format!("simulated guest {}", bin.display()),
            reason: format!("{e} (build it with `cargo build --bins`, or set FORKMAIL_GUEST)"),
        })?;
        let pid = child.id();
        match wait_ready(&mut child) {
            Ok(()) => Ok(pid),
            Err(reason) => {
                let _ = child.kill();
                let _ = child.wait();
                let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(3).collect();
                Err(VmmError::NotReady {
                    what: "simulated guest".into(),
                    reason: format!("{reason}; guest log: {}", tail.join(" | ")),
                })
            }
        }
    }

    fn abort(self: Box<Self>) {}
}

/// The guest prints one `ready` line on stdout once its mailboxes are mapped.
fn wait_ready(child: &mut Child) -> Result<(), String> {
    let Some(stdout) = child.stdout.take() else {
        return Err("no stdout pipe".into());
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let res = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(res.map(|_| line));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(line)) if line.trim() == "ready" => Ok(()),
        Ok(Ok(line)) if line.is_empty() => Err("guest exited before it was ready".into()),
        Ok(Ok(line)) => Err(format!("unexpected guest output {:?}", line.trim())),
        Ok(Err(e)) => Err(format!("reading guest output: {e}")),
        Err(_) => Err("guest not ready within 10 s".into()),
    }
}

/// Read the sim state file.
pub fn read_state(path: &Path) -> Result<SimState, crate::store::StoreError> {
    crate::store::read_json(path)
}
