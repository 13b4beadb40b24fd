//! A QEMU child process: spawn, QMP connect, logs, shutdown.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::vmm::qmp::Qmp;
use crate::vmm::{ProcessRecord, VmmError};

/// A QEMU process started by forkmail.
pub struct QemuProcess {
    child: Child,
    /// The run directory (serial log, QMP socket, qemu.log).
    pub run_dir: PathBuf,
    binary: String,
}

impl QemuProcess {
    /// Start QEMU detached from the terminal (own process group; it outlives
    /// `forkmail`), output to `qemu.log`, and link `guest.log` to the serial log.
    pub fn spawn(
        cfg: &QemuConfig,
        paths: &RunPaths,
        guest_log: &Path,
    ) -> Result<QemuProcess, VmmError> {
        let run_dir = paths.run_dir.to_path_buf();
        let qmp = run_dir.join(QMP_SOCKET);
        if qmp.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(VmmError::Start {
                what: "QEMU".into(),
                reason: format!(
                    "the QMP socket path {} is longer than {MAX_SOCKET_PATH} bytes; use a store with a shorter path (--store)",
                    qmp.display()
                ),
            });
        }
        for stale in [QMP_SOCKET, SERIAL_LOG] {
            let _ = std::fs::remove_file(run_dir.join(stale));
        }
        if guest_log != run_dir.join(SERIAL_LOG) && std::fs::symlink_metadata(guest_log).is_err() {
            std::os::unix::fs::symlink(SERIAL_LOG, guest_log).map_err(|source| VmmError::Io {
                context: format!("link {} to {SERIAL_LOG}", guest_log.display()),
                source,
            })?;
        }
        let log_path = run_dir.join(QEMU_LOG);
        let log = File::create(&log_path).map_err(|source| VmmError::Io {
            context: format!("create {}", log_path.display()),
            source,
        })?;
        let log2 = log.try_clone().map_err(|source| VmmError::Io {
            context: format!("dup {}", log_path.display()),
            source,
        })?;
        let mut cmd = Command::new(&cfg.binary);
        cmd.args(cfg.args(paths))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        tracing::info!(binary = %cfg.binary, args = ?cfg.args(paths), "starting qemu");
        let child = cmd.spawn().map_err(|e| VmmError::Start {
            what: format!("QEMU ({})", cfg.binary),
            reason: if e.kind() == io::ErrorKind::NotFound {
                format!(
                    "{e}: install it (Debian: apt-get install qemu-system-x86) or set FORKMAIL_QEMU"
                )
            } else {
                e.to_string()
            },
        })?;
        Ok(QemuProcess {
            child,
            run_dir,
            binary: cfg.binary.clone(),
        })
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status text)` once QEMU has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(st.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// Connect to QMP, failing at once if QEMU dies first.
    pub fn qmp(&mut self, timeout: Duration) -> Result<Qmp, VmmError> {
        let path = self.run_dir.join(QMP_SOCKET);
        let child = &mut self.child;
        let res = Qmp::connect(&path, timeout, || matches!(child.try_wait(), Ok(None)));
        res.map_err(|e| self.failure("QEMU's monitor", e))
    }

    /// A `NotReady` error with the cause and the tail of QEMU's own output.
    pub fn failure(&mut self, what: &str, e: impl std::fmt::Display) -> VmmError {
        let exit = self
            .exited()
            .map(|s| format!("; QEMU exited ({s})"))
            .unwrap_or_default();
        VmmError::NotReady {
            what: what.into(),
            reason: format!("{e}{exit}{}", self.log_tail()),
        }
    }

    /// The last lines of `qemu.log`, formatted for an error message.
    pub fn log_tail(&self) -> String {
        let text = crate::files::tail_text(&self.run_dir.join(QEMU_LOG), 4096);
        let lines: Vec<&str> = text.lines().rev().take(4).collect();
        if lines.is_empty() {
            String::new()
        } else {
            let mut l = lines;
            l.reverse();
            format!("; {} said: {}", self.binary, l.join(" | "))
        }
    }

    /// Ask QEMU to quit over QMP (when given), then make sure it is gone.
    pub fn shutdown(mut self, qmp: Option<Qmp>) {
        if let Some(mut q) = qmp {
            q.set_timeout(Duration::from_secs(2));
            let _ = q.execute("quit", None);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Wait for QEMU to exit by itself (after `quit`), up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// Let QEMU run on (the fork outlives the session): its `Child` goes to
    /// [`crate::vmm::process::adopt`] under `record`, so whoever stops it
    /// later in this process reaps it and can tell how it ended.
    pub fn detach(self, record: &ProcessRecord) {
        crate::vmm::process::adopt(record, self.child);
    }
}

/// Ask the QEMU of the fork at `fork_dir` to quit over its QMP socket and
/// wait up to `grace` for the recorded process to go. Returns whether it is
/// gone. Callers fall back to signals ([`ProcessRecord::stop`]).
pub fn quit_over_qmp(process: &ProcessRecord, fork_dir: &Path, grace: Duration) -> bool {
    let sock = fork_dir.join(QMP_SOCKET);
    let Ok(mut q) = Qmp::connect(&sock, Duration::from_millis(500), || true) else {
        return false;
    };
    q.set_timeout(grace);
    let _ = q.execute("quit", None);
    process.wait_gone(grace)
}
