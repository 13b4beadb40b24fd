//! The built-in simulator VMM. Restoring a fork starts the simulated guest —
//! the `forkmail` binary itself, re-executed with a hidden subcommand — as a
//! child process that plays the restored guest over the fork's memory file:
//! the same consumer code a real guest runs, the same memory file layout,
//! the same UDP ack. Nothing beyond the `forkmail` binary is needed.
//!
//! Two fork modes, as with QEMU: a copy fork's guest maps the fork's own
//! memory file shared (the engine patches the file before the guest runs);
//! a zero-copy fork's guest maps the template's file privately, starts
//! paused, and the engine writes the frames into it through
//! `/proc/PID/mem` — the template is never written.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use forkmail_guest::sim::{
    GUEST_SUBCOMMAND, GuestArgs, READY_LINE, RUN_LINE, SimMailbox, SimResumeNetwork, SimState,
    StateError, guest_argv, read_state, run_guest,
};

use super::procmem::ProcMem;
use super::{PausedVm, ProcessRecord, RestoreRequest, Vmm, VmmError, VmmKind};
use crate::mailbox::MemoryAt;

/// Set by a binary that answers [`GUEST_SUBCOMMAND`] itself (`forkmail`,
/// `forkmail-guest`): the driver then re-executes the running program.
static SELF_HOSTS_GUEST: AtomicBool = AtomicBool::new(false);

/// Declare that the running program runs the simulated guest when started
/// with [`GUEST_SUBCOMMAND`]. Called first thing by both binaries' `main`.
pub fn this_program_hosts_the_guest() {
    SELF_HOSTS_GUEST.store(true, Ordering::Relaxed);
}

/// The program that runs the simulated guest:
/// 1. the configured one ([`crate::vmm::programs`]: the app's
///    `$FORKMAIL_SIM_GUEST`, a `forkmail` or `forkmail-guest` binary);
/// 2. the running program, when it hosts the guest (`/proc/self/exe`, which
///    still works when the binary was rebuilt under a running TUI);
/// 3. a `forkmail` binary beside the running program or one directory up
///    (test harnesses in `target/*/deps` using the library);
/// 4. `forkmail` on `PATH`.
pub fn guest_program() -> PathBuf {
    if let Some(p) = &crate::vmm::programs::programs().sim_guest {
        return p.clone();
    }
    if SELF_HOSTS_GUEST.load(Ordering::Relaxed) {
        return PathBuf::from("/proc/self/exe");
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for cand in [dir.join("forkmail"), dir.join("../forkmail")] {
            if cand.is_file() {
                return cand;
            }
        }
    }
    PathBuf::from("forkmail")
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

impl Vmm for SimVmm {
    fn kind(&self) -> VmmKind {
        VmmKind::Sim
    }

    fn supports_zero_copy(&self) -> bool {
        true
    }

    fn start_paused(&self, req: &RestoreRequest) -> Result<Box<dyn PausedVm>, VmmError> {
        let args = GuestArgs {
            memory: req.memory.to_path_buf(),
            state: req.state.to_path_buf(),
            log: req.guest_log.to_path_buf(),
            private: req.zero_copy,
        };
        let program = guest_program();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(req.guest_log)
            .map_err(|source| VmmError::Io {
                context: format!("open guest log {}", req.guest_log.display()),
                source,
            })?;
        let argv: Vec<OsString> = guest_argv(&args);
        let mut cmd = Command::new(&program);
        cmd.args(&argv)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        // Own process group: a Ctrl-C meant for forkmail must not kill the
        // guest behind the engine's back; rollback stops it explicitly.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(|e| VmmError::Start {
            what: format!("simulated guest ({})", program.display()),
            reason: format!("{e} (set FORKMAIL_SIM_GUEST to a forkmail binary)"),
        })?;
        let fail = |child: &mut Child, reason: String| {
            let _ = child.kill();
            let _ = child.wait();
            let tail = crate::files::tail_text(req.guest_log, 1024);
            let tail: Vec<&str> = tail.lines().rev().take(3).collect();
            VmmError::NotReady {
                what: "simulated guest".into(),
                reason: format!("{reason}; guest log: {}", tail.join(" | ")),
            }
        };
        if let Err(reason) = wait_ready(&mut child) {
            return Err(fail(&mut child, reason));
        }
        let record = match ProcessRecord::capture(child.id()) {
            Ok(r) => r,
            Err(e) => return Err(fail(&mut child, e.to_string())),
        };
        let mem = if req.zero_copy {
            match ProcMem::open(child.id(), req.memory) {
                Ok(m) => Some(m),
                Err(e) => return Err(fail(&mut child, format!("zero-copy patching: {e}"))),
            }
        } else {
            None
        };
        let stdin = child.stdin.take();
        Ok(Box::new(SimPaused {
            child,
            stdin,
            record,
            mem,
        }))
    }
}

struct SimPaused {
    child: Child,
    stdin: Option<ChildStdin>,
    record: ProcessRecord,
    mem: Option<ProcMem>,
}

impl PausedVm for SimPaused {
    fn process(&self) -> Option<ProcessRecord> {
        Some(self.record.clone())
    }

    fn memory(&mut self) -> Option<&mut dyn MemoryAt> {
        self.mem.as_mut().map(|m| m as &mut dyn MemoryAt)
    }

    fn resume(mut self: Box<Self>) -> Result<ProcessRecord, VmmError> {
        let sent = self
            .stdin
            .take()
            .map(|mut s| writeln!(s, "{RUN_LINE}").and_then(|_| s.flush()));
        match sent {
            Some(Ok(())) => {
                // It runs on past the session: whoever stops it reaps it.
                let SimPaused { child, record, .. } = *self;
                super::process::adopt(&record, child);
                Ok(record)
            }
            Some(Err(e)) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Err(VmmError::NotReady {
                    what: "simulated guest".into(),
                    reason: format!("it went away before it was resumed: {e}"),
                })
            }
            None => Err(VmmError::NotReady {
                what: "simulated guest".into(),
                reason: "no control pipe to resume it".into(),
            }),
        }
    }

    fn abort(mut self: Box<Self>) {
        // Closing stdin alone would end it too; kill so rollback never waits.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
        Ok(Ok(line)) if line.trim() == READY_LINE => Ok(()),
        Ok(Ok(line)) if line.is_empty() => Err("guest exited before it was ready".into()),
        Ok(Ok(line)) => Err(format!("unexpected guest output {:?}", line.trim())),
        Ok(Err(e)) => Err(format!("reading guest output: {e}")),
        Err(_) => Err("guest not ready within 10 s".into()),
    }
}
