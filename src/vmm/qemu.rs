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

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::qmp::{Qmp, QmpError};
use super::{PausedVm, RestoreRequest, Vmm, VmmError};
use crate::mailbox::MemoryAt;
use crate::store::{GUEST_LOG, STATE_FILE, VmmKind};

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

/// The QEMU program: `$FORKMAIL_QEMU`, else `qemu-system-x86_64` on PATH.
pub fn qemu_binary() -> String {
    std::env::var("FORKMAIL_QEMU")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "qemu-system-x86_64".into())
}

/// `qemu-system-x86_64 --version`'s first line, or why it cannot run.
pub fn qemu_version(binary: &str) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {binary}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{binary} --version failed: {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_owned())
}

/// Hardware acceleration actually used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM (needs vmx/svm and /dev/kvm).
    Kvm,
    /// TCG, QEMU's emulator: works everywhere, slower.
    Tcg,
}

impl Accel {
    /// Lowercase label, as QEMU spells it.
    pub fn label(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// What the user asked for with `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM only when /dev/kvm opens and the CPU has vmx or svm.
    Auto,
    /// Force KVM.
    Kvm,
    /// Force TCG.
    Tcg,
}

impl std::str::FromStr for AccelChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            _ => Err(format!("--accel {s:?}: expected auto, kvm or tcg")),
        }
    }
}

/// The acceleration chosen and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelDecision {
    /// Chosen.
    pub accel: Accel,
    /// Human-readable reason.
    pub reason: String,
}

/// Decide the acceleration: `auto` picks KVM only when `/dev/kvm` opens
/// read-write **and** `/proc/cpuinfo` lists `vmx` or `svm` (a KVM without
/// them, such as PVM, cannot run a stock kernel).
pub fn decide_accel(choice: AccelChoice) -> AccelDecision {
    let kvm_open = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm");
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let virt_flag = cpu_virt_flag(&cpuinfo);
    match choice {
        AccelChoice::Tcg => AccelDecision {
            accel: Accel::Tcg,
            reason: "--accel tcg".into(),
        },
        AccelChoice::Kvm => AccelDecision {
            accel: Accel::Kvm,
            reason: "--accel kvm".into(),
        },
        AccelChoice::Auto => match (kvm_open, virt_flag) {
            (Ok(_), Some(flag)) => AccelDecision {
                accel: Accel::Kvm,
                reason: format!("/dev/kvm opens and the CPU has {flag}"),
            },
            (Ok(_), None) => AccelDecision {
                accel: Accel::Tcg,
                reason: "/dev/kvm opens but the CPU has neither vmx nor svm (e.g. PVM): a stock kernel would not run under it".into(),
            },
            (Err(e), _) => AccelDecision {
                accel: Accel::Tcg,
                reason: format!("/dev/kvm cannot be opened: {e}"),
            },
        },
    }
}

/// `vmx` or `svm` when a `flags` line of `/proc/cpuinfo` has it.
pub fn cpu_virt_flag(cpuinfo: &str) -> Option<&'static str> {
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim() != "flags" {
            continue;
        }
        for flag in value.split_whitespace() {
            match flag {
                "vmx" => return Some("vmx"),
                "svm" => return Some("svm"),
                _ => {}
            }
        }
    }
    None
}

/// The host TSC frequency in kHz, measured against the monotonic clock.
///
/// Under TCG the guest's TSC is the host's; telling the guest kernel its
/// frequency (`tsc_early_khz=`) skips the PIT calibration, which fails now and
/// then on a busy host and leaves the boot hanging.
pub fn host_tsc_khz() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        let t0 = Instant::now();
        // SAFETY: rdtsc has no preconditions on x86_64.
        let c0 = unsafe { core::arch::x86_64::_rdtsc() };
        std::thread::sleep(Duration::from_millis(20));
        // SAFETY: as above.
        let c1 = unsafe { core::arch::x86_64::_rdtsc() };
        let ns = t0.elapsed().as_nanos() as u64;
        let ticks = c1.checked_sub(c0)?;
        if ns == 0 {
            return None;
        }
        let khz = (ticks as u128 * 1_000_000 / ns as u128) as u64;
        // Round to 1 MHz: the measurement is not better than that.
        Some((khz + 500) / 1000 * 1000)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// How a qemu snapshot was started: everything a restore must repeat.
/// Stored as `vmm_config` in `snapshot.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QemuConfig {
    /// The QEMU program.
    pub binary: String,
    /// QEMU's version line when the template was made.
    #[serde(default)]
    pub qemu_version: String,
    /// Acceleration (a restore must use the same).
    pub accel: Accel,
    /// `-cpu` model.
    pub cpu: String,
    /// `-machine` type.
    pub machine: String,
    /// vCPUs.
    pub smp: u32,
    /// Guest RAM in bytes (= memory file size).
    pub memory_size: u64,
    /// Kernel, relative to the snapshot directory (or absolute).
    pub kernel: String,
    /// Initramfs, relative to the snapshot directory (or absolute).
    pub initrd: String,
    /// Kernel command line.
    pub append: String,
    /// Image the template was booted from.
    #[serde(default)]
    pub image: String,
}

/// Where QEMU keeps its files for one run.
pub struct RunPaths<'a> {
    /// Directory holding the serial log and QMP socket.
    pub run_dir: &'a Path,
    /// Directory the kernel/initrd paths are relative to.
    pub base_dir: &'a Path,
    /// The memory file.
    pub memory: &'a Path,
    /// `share=on` (the file is the RAM) or `share=off` (private mapping).
    pub share: bool,
    /// Start with `-incoming defer`.
    pub incoming: bool,
}

/// Double commas: QEMU's option syntax for a literal comma in a value.
fn opt_path(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

impl QemuConfig {
    fn resolve(&self, base: &Path, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    }

    /// The full QEMU argument list for one run.
    pub fn args(&self, paths: &RunPaths) -> Vec<OsString> {
        let mib = self.memory_size >> 20;
        let serial = paths.run_dir.join(SERIAL_LOG);
        let qmp = paths.run_dir.join(QMP_SOCKET);
        let mut a: Vec<String> = vec![
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-display".into(),
            "none".into(),
            "-accel".into(),
            self.accel.label().into(),
            "-cpu".into(),
            self.cpu.clone(),
            "-smp".into(),
            self.smp.to_string(),
            "-m".into(),
            format!("{mib}M"),
            "-object".into(),
            format!(
                "memory-backend-file,id=mem,size={mib}M,mem-path={},share={}",
                opt_path(paths.memory),
                if paths.share { "on" } else { "off" }
            ),
            "-machine".into(),
            format!("{},memory-backend=mem", self.machine),
            "-kernel".into(),
            self.resolve(paths.base_dir, &self.kernel)
                .to_string_lossy()
                .into_owned(),
            "-initrd".into(),
            self.resolve(paths.base_dir, &self.initrd)
                .to_string_lossy()
                .into_owned(),
            "-append".into(),
            self.append.clone(),
            "-netdev".into(),
            "user,id=n0".into(),
            "-device".into(),
            if self.machine == "microvm" {
                "virtio-net-device,netdev=n0".into()
            } else {
                "virtio-net-pci,netdev=n0".into()
            },
            "-chardev".into(),
            format!("file,id=ser0,path={}", opt_path(&serial)),
            "-serial".into(),
            "chardev:ser0".into(),
            "-chardev".into(),
            format!("socket,id=qmp0,path={},server=on,wait=off", opt_path(&qmp)),
            "-mon".into(),
            "chardev=qmp0,mode=control".into(),
        ];
        if paths.incoming {
            a.push("-incoming".into());
            a.push("defer".into());
        }
        a.into_iter().map(OsString::from).collect()
    }
}

/// Quote `p` for `/bin/sh` (QEMU runs `exec:` migration URIs through it).
pub fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"))
}

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
    pub fn spawn(cfg: &QemuConfig, paths: &RunPaths) -> Result<QemuProcess, VmmError> {
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
        let link = run_dir.join(GUEST_LOG);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(SERIAL_LOG, &link).map_err(|source| VmmError::Io {
                context: format!("link {} to {SERIAL_LOG}", link.display()),
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
        let text = std::fs::read_to_string(self.run_dir.join(QEMU_LOG)).unwrap_or_default();
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

    /// Give up ownership: QEMU keeps running (the fork outlives forkmail).
    pub fn detach(self) -> u32 {
        self.child.id()
    }
}

/// Ask the QEMU of the fork at `fork_dir` to quit over its QMP socket and
/// wait up to `grace` for `pid` to go. Returns whether it is gone. Callers
/// fall back to signals ([`super::process::stop`]).
pub fn quit_over_qmp(pid: u32, fork_dir: &Path, grace: Duration) -> bool {
    let sock = fork_dir.join(QMP_SOCKET);
    let Ok(mut q) = Qmp::connect(&sock, Duration::from_millis(500), || true) else {
        return false;
    };
    q.set_timeout(grace);
    let _ = q.execute("quit", None);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        super::process::reap(pid);
        if !super::process::is_alive(pid, fork_dir) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

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

    fn start_paused(&self, req: &RestoreRequest) -> Result<Box<dyn PausedVm>, VmmError> {
        let cfg = config_of(&req.snapshot.meta.vmm_config)?;
        let state = {
            let own = req.fork_dir.join(STATE_FILE);
            if own.is_file() {
                own
            } else {
                req.snapshot.state_path()
            }
        };
        if !state.is_file() {
            return Err(VmmError::Start {
                what: "QEMU".into(),
                reason: format!("device state {} is missing", state.display()),
            });
        }
        let paths = RunPaths {
            run_dir: req.fork_dir,
            base_dir: &req.snapshot.dir,
            memory: req.memory,
            share: !req.zero_copy,
            incoming: true,
        };
        let mut proc = QemuProcess::spawn(&cfg, &paths)?;
        match load_state(&mut proc, &state) {
            Ok(qmp) => {
                let mem = if req.zero_copy {
                    match ProcMem::open(proc.pid(), req.memory) {
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
                Ok(Box::new(QemuPaused { proc, qmp, mem }))
            }
            Err(e) => {
                proc.shutdown(None);
                Err(e)
            }
        }
    }
}

/// QMP: `x-ignore-shared` on, `migrate-incoming exec:cat STATE`, wait until
/// the load completed. The VM stays paused.
fn load_state(proc: &mut QemuProcess, state: &Path) -> Result<Qmp, VmmError> {
    let mut qmp = proc.qmp(Duration::from_secs(30))?;
    let step = |qmp: &mut Qmp| -> Result<(), QmpError> {
        qmp.set_ignore_shared()?;
        qmp.execute(
            "migrate-incoming",
            Some(serde_json::json!({"uri": format!("exec:cat {}", shell_quote(state))})),
        )?;
        qmp.wait_migration(Duration::from_secs(60))
    };
    match step(&mut qmp) {
        Ok(()) => Ok(qmp),
        Err(e) => Err(proc.failure("QEMU restore (loading device state)", e)),
    }
}

struct QemuPaused {
    proc: QemuProcess,
    qmp: Qmp,
    mem: Option<ProcMem>,
}

impl PausedVm for QemuPaused {
    fn pid(&self) -> Option<u32> {
        Some(self.proc.pid())
    }

    fn memory(&mut self) -> Option<&mut dyn MemoryAt> {
        self.mem.as_mut().map(|m| m as &mut dyn MemoryAt)
    }

    fn resume(self: Box<Self>) -> Result<u32, VmmError> {
        let QemuPaused {
            mut proc, mut qmp, ..
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
            Ok(()) => Ok(proc.detach()),
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

/// Errors of `/proc/PID/mem` access.
#[derive(Debug, thiserror::Error)]
pub enum ProcMemError {
    /// The maps file could not be read.
    #[error("reading /proc/{pid}/maps: {source}")]
    Maps {
        /// QEMU's pid.
        pid: u32,
        /// Cause.
        source: io::Error,
    },
    /// QEMU does not map the file.
    #[error("QEMU (pid {pid}) has no mapping of {file}; is it running on this memory file?")]
    NoMapping {
        /// QEMU's pid.
        pid: u32,
        /// The memory file.
        file: PathBuf,
    },
    /// `/proc/PID/mem` could not be opened.
    #[error("opening /proc/{pid}/mem read-write: {source} (needs ptrace permission over QEMU)")]
    Open {
        /// QEMU's pid.
        pid: u32,
        /// Cause.
        source: io::Error,
    },
}

/// One mapping of a file in a process: `[start, end)` at `file_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// File offset of `start`.
    pub file_offset: u64,
}

/// The mappings of `file` (exact path) in `/proc/PID/maps` text.
pub fn mappings_of(maps: &str, file: &Path) -> Vec<Mapping> {
    let want = file.to_string_lossy();
    maps.lines()
        .filter_map(|line| {
            let mut it = line.split_ascii_whitespace();
            let range = it.next()?;
            let _perms = it.next()?;
            let off = it.next()?;
            let _dev = it.next()?;
            let _inode = it.next()?;
            // The path is the rest of the line (it may contain spaces).
            let rest = line.splitn(6, |c: char| c.is_ascii_whitespace()).nth(5)?;
            if rest.trim_start() != want {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                file_offset: u64::from_str_radix(off, 16).ok()?,
            })
        })
        .collect()
}

/// Guest memory of a running QEMU addressed by memory-file offsets: host
/// address = mapping start + offset − mapping file offset.
pub struct ProcMem {
    mem: File,
    maps: Vec<Mapping>,
}

impl ProcMem {
    /// Find QEMU's mapping of `file` and open its memory.
    pub fn open(pid: u32, file: &Path) -> Result<ProcMem, ProcMemError> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .map_err(|source| ProcMemError::Maps { pid, source })?;
        let real = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
        let maps = mappings_of(&text, &real);
        if maps.is_empty() {
            return Err(ProcMemError::NoMapping { pid, file: real });
        }
        let mem = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))
            .map_err(|source| ProcMemError::Open { pid, source })?;
        Ok(ProcMem { mem, maps })
    }

    fn addr(&self, offset: u64, len: usize) -> io::Result<u64> {
        let end = offset
            .checked_add(len as u64)
            .ok_or_else(|| io::Error::other("offset overflows"))?;
        self.maps
            .iter()
            .find(|m| m.file_offset <= offset && end <= m.file_offset + (m.end - m.start))
            .map(|m| m.start + (offset - m.file_offset))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("memory file range {offset:#x}+{len} is not mapped by QEMU"),
                )
            })
    }
}

impl MemoryAt for ProcMem {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.mem, buf, self.addr(offset, buf.len())?)
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.mem, buf, self.addr(offset, buf.len())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_are_matched_by_exact_path() {
        let t = "7f0000000000-7f0010000000 rw-p 00000000 fe:01 1234                       /s/memory\n\
                 7f0020000000-7f0020001000 rw-p 00001000 fe:01 1234   /s/memory2\n\
                 7f0010000000-7f0010001000 rw-p 00000000 00:00 0 \n";
        let m = mappings_of(t, Path::new("/s/memory"));
        assert_eq!(
            m,
            vec![Mapping {
                start: 0x7f00_0000_0000,
                end: 0x7f00_1000_0000,
                file_offset: 0
            }]
        );
    }

    #[test]
    fn proc_mem_patches_our_own_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory");
        std::fs::write(&path, vec![0u8; 3 * 4096]).unwrap();
        let f = File::open(&path).unwrap();
        // A private mapping, like QEMU's share=off: writes must not reach the file.
        let map = unsafe { memmap2::MmapOptions::new().map_copy(&f).unwrap() };
        let mut pm = ProcMem::open(std::process::id(), &path).unwrap();
        pm.write_all_at(b"hello", 4096 + 10).unwrap();
        assert_eq!(&map[4096 + 10..4096 + 15], b"hello");
        let mut back = [0u8; 5];
        pm.read_exact_at(&mut back, 4096 + 10).unwrap();
        assert_eq!(&back, b"hello");
        assert!(std::fs::read(&path).unwrap().iter().all(|b| *b == 0));
        assert!(pm.write_all_at(b"x", 3 * 4096).is_err());
    }

    #[test]
    fn cpuinfo_flags_decide_kvm() {
        assert_eq!(cpu_virt_flag("flags\t\t: fpu vme svm sse\n"), Some("svm"));
        assert_eq!(cpu_virt_flag("flags\t\t: fpu vmx\n"), Some("vmx"));
        assert_eq!(cpu_virt_flag("flags\t\t: fpu sse hypervisor\n"), None);
        assert_eq!(
            decide_accel(AccelChoice::Tcg).accel,
            Accel::Tcg,
            "forced choice wins"
        );
    }

    #[test]
    fn args_escape_commas_and_select_share() {
        let cfg = QemuConfig {
            binary: "qemu-system-x86_64".into(),
            qemu_version: String::new(),
            accel: Accel::Tcg,
            cpu: "max".into(),
            machine: "microvm".into(),
            smp: 1,
            memory_size: 256 << 20,
            kernel: "vmlinuz".into(),
            initrd: "initrd.img".into(),
            append: "console=ttyS0".into(),
            image: "default".into(),
        };
        let args = cfg.args(&RunPaths {
            run_dir: Path::new("/f"),
            base_dir: Path::new("/s"),
            memory: Path::new("/s/a,b/memory"),
            share: false,
            incoming: true,
        });
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(
            &"memory-backend-file,id=mem,size=256M,mem-path=/s/a,,b/memory,share=off".to_string()
        ));
        assert!(args.contains(&"/s/vmlinuz".to_string()));
        assert_eq!(&args[args.len() - 2..], ["-incoming", "defer"]);
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
