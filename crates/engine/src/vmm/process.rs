//! Knowing a VMM process exactly: a fork's VMM outlives `forkmail fork`, so
//! `stop`, `rm` and liveness checks find it again from what was recorded at
//! spawn — never by a substring of a command line, never by a bare pid.
//!
//! A [`ProcessRecord`] holds the pid, the process's start time (field 22 of
//! `/proc/PID/stat`, clock ticks since boot), the boot id and a digest of its
//! exact argument vector. A process matches only when all four do; a pid that
//! was recycled, or a reboot, never matches. Signals go through a pidfd
//! (`pidfd_open` + `pidfd_send_signal`) opened *before* the identity check,
//! so the process checked is the process signalled.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What identifies one process for its whole life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
    /// `/proc/sys/kernel/random/boot_id` when it was recorded.
    pub boot_id: String,
    /// FNV-1a 64 of `/proc/PID/cmdline` (NUL-separated arguments), hex.
    pub argv_digest: String,
}

/// Why a process could not be recorded.
#[derive(Debug, thiserror::Error)]
#[error("process {pid}: {reason}")]
pub struct ProcessError {
    /// The pid.
    pub pid: u32,
    /// What went wrong.
    pub reason: String,
}

/// The state letter and start time of `pid` from `/proc/PID/stat`.
fn stat_of(pid: u32) -> Option<(char, u64)> {
    let stat = crate::files::read_text_bounded(
        Path::new(&format!("/proc/{pid}/stat")),
        4096,
        "a /proc stat file",
    )
    .ok()?;
    // The command name is in parentheses and may hold spaces or ')': the
    // fields after the *last* ')' are positional. State is field 3, start
    // time field 22, so index 0 and 19 after the name.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

fn boot_id() -> String {
    crate::files::read_text_bounded(
        Path::new("/proc/sys/kernel/random/boot_id"),
        64,
        "the boot id",
    )
    .map(|s| s.trim().to_string())
    .unwrap_or_default()
}

fn cmdline_of(pid: u32) -> Option<Vec<u8>> {
    // Read through procfs directly: its files report size 0, so a
    // metadata-based bound would not work; 1 MiB is far above any argv we spawn.
    use std::io::Read;
    let f = std::fs::File::open(format!("/proc/{pid}/cmdline")).ok()?;
    let mut buf = Vec::new();
    f.take(1 << 20).read_to_end(&mut buf).ok()?;
    Some(buf)
}

fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl ProcessRecord {
    /// Record the live process `pid` (call right after spawning it).
    ///
    /// A child that was just spawned can still be inside `execve`: its
    /// parent is released before the kernel has set up the new argument
    /// area, and `/proc/PID/cmdline` reads empty for that moment. The
    /// arguments are read again until they are there (1 s at most).
    pub fn capture(pid: u32) -> Result<ProcessRecord, ProcessError> {
        let err = |reason: &str| ProcessError {
            pid,
            reason: reason.into(),
        };
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let (state, start_ticks) = stat_of(pid).ok_or_else(|| err("no such process"))?;
            if matches!(state, 'Z' | 'X') {
                return Err(err("exited before it could be recorded"));
            }
            let argv = cmdline_of(pid).ok_or_else(|| err("cannot read its command line"))?;
            if !argv.is_empty() {
                return Ok(ProcessRecord {
                    pid,
                    start_ticks,
                    boot_id: boot_id(),
                    argv_digest: digest(&argv),
                });
            }
            if Instant::now() >= deadline {
                return Err(err("its command line stayed empty"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Whether the recorded process is alive (not a zombie) and is still the
    /// same process: same start time, same boot, same arguments.
    pub fn is_alive(&self) -> bool {
        self.matches_live()
    }

    fn matches_live(&self) -> bool {
        let Some((state, start)) = stat_of(self.pid) else {
            return false;
        };

        if matches!(state, 'Z' | 'X') || start != self.start_ticks {
            return false;
        }
        if !self.boot_id.is_empty() && boot_id() != self.boot_id {
            return false;
        }
        cmdline_of(self.pid).is_some_and(|c| digest(&c) == self.argv_digest)
    }

    /// Send `sig` to the recorded process, only if it provably is that
    /// process. Returns whether the signal was sent.
    pub fn signal(&self, sig: libc::c_int) -> bool {
        match pidfd_open(self.pid) {
            Some(fd) => {
                // The pidfd pins this process: if it is ours now, the signal
                // reaches it and no other, even if it exits in between.
                if !self.matches_live() {
                    return false;
                }
                pidfd_send_signal(&fd, sig)
            }
            None => {
                // Kernels before 5.3: check, then signal (a tiny window).
                if !self.matches_live() {
                    return false;
                }
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(self.pid as libc::pid_t, sig) == 0 }
            }
        }
    }

    /// Stop the process: SIGTERM, wait up to `grace`, then SIGKILL. Returns
    /// whether a live process of this identity was there to stop.
    pub fn stop(&self, grace: Duration) -> bool {
        if !self.is_alive() {
            reap(self.pid);
            return false;
        }
        self.signal(libc::SIGTERM);
        if self.wait_gone(grace) {
            return true;
        }
        self.signal(libc::SIGKILL);
        self.wait_gone(Duration::from_secs(2));
        true
    }

    /// How the process ended, when it was our child and has exited (reaps
    /// it). `None` while it runs or when another process reaped it.
    ///
    /// A process that is exiting stops matching (its command line goes with
    /// its memory) a moment before it can be reaped: when it no longer
    /// matches, the exit is waited for briefly.
    pub fn exit_status(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut status = 0;
        loop {
            // SAFETY: waitpid with WNOHANG only inspects; ECHILD when not our child.
            let r = unsafe { libc::waitpid(self.pid as libc::pid_t, &mut status, libc::WNOHANG) };
            if r == self.pid as libc::pid_t {
                break;
            }
            if r != 0 || self.matches_live() || Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Some(if libc::WIFEXITED(status) {
            format!("exit status {}", libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            format!("killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("wait status {status:#x}")
        })
    }

    /// Wait up to `timeout` for the process to be gone. Returns whether it is.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            reap(self.pid);
            if !self.is_alive() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us; we own it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pidfd_send_signal(fd: &OwnedFd, sig: libc::c_int) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    r == 0
}

/// Reap `pid` if it is our child and has exited; harmless otherwise.
pub fn reap(pid: u32) {
    let mut status = 0;
    // SAFETY: waitpid with WNOHANG only inspects; ECHILD when not our child.
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
}

/// Whether argument `arg` names a path inside `dir` exactly: `dir/…` at the
/// start of the argument or right after `=`, `:` or `,` (QEMU's option
/// syntax). `forks/web-1` never matches `forks/web-10/memory`.
pub fn arg_names_dir(arg: &[u8], dir: &Path) -> bool {
    let mut needle = dir.as_os_str().as_encoded_bytes().to_vec();
    needle.push(b'/');
    memchr::memmem::find_iter(arg, &needle)
        .any(|at| at == 0 || matches!(arg[at - 1], b'=' | b':' | b','))
}

/// Live processes (not this one) with an argument naming a path inside
/// `dir`: the VMM of a fork whose metadata is missing or was never written.
pub fn processes_in_dir(dir: &Path) -> Vec<ProcessRecord> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| *pid != std::process::id())
        .filter(|pid| {
            cmdline_of(*pid).is_some_and(|c| c.split(|b| *b == 0).any(|a| arg_names_dir(a, dir)))
        })
        .filter_map(|pid| ProcessRecord::capture(pid).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn a_directory_argument_matches_exactly() {
        let d = Path::new("/s/forks/web-1");
        assert!(arg_names_dir(b"/s/forks/web-1/memory", d));
        assert!(arg_names_dir(b"mem-path=/s/forks/web-1/memory,share=on", d));
        assert!(arg_names_dir(b"file:/s/forks/web-1/serial.log", d));
        assert!(!arg_names_dir(b"/s/forks/web-10/memory", d));
        assert!(!arg_names_dir(b"mem-path=/s/forks/web-10/memory", d));
        assert!(!arg_names_dir(b"/x/s/forks/web-1/memory", d));
        assert!(!arg_names_dir(b"/s/forks/web-1", d));
    }

    #[test]
    fn a_record_matches_its_process_and_nothing_else() {
        let mut child = Command::new("sleep")
            .arg("30")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let rec = ProcessRecord::capture(child.id()).unwrap();
        assert!(rec.is_alive());
        // Same pid, other start time: a recycled pid is never ours.
        let mut recycled = rec.clone();
        recycled.start_ticks += 1;
        assert!(!recycled.is_alive());
        assert!(!recycled.signal(libc::SIGKILL));
        // Same pid and start, other arguments.
        let mut other = rec.clone();
        other.argv_digest = "0".into();
        assert!(!other.is_alive());
        assert!(rec.is_alive(), "the wrong records signalled nothing");
        assert!(rec.stop(Duration::from_secs(5)));
        let _ = child.wait();
        assert!(!rec.is_alive());
        assert!(!rec.stop(Duration::from_secs(1)), "nothing left to stop");
    }
}
