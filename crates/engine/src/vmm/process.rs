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
//!
//! Reaping touches only children this process owns: a driver that lets its
//! VMM run on past the session hands the [`Child`] over with [`adopt`], and
//! only adopted children are ever waited for — through their own `Child`,
//! never by a bare pid, so a child that a `Child` elsewhere still owns is
//! never reaped behind its back.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A signal to send (`Signal::TERM`, `Signal::KILL`, …).
pub use rustix::process::Signal;
use rustix::process::{Pid, PidfdFlags};

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
    pub fn signal(&self, sig: Signal) -> bool {
        match pidfd_of(self.pid) {
            Some(fd) => {
                // The pidfd pins this process: if it is ours now, the signal
                // reaches it and no other, even if it exits in between.
                if !self.matches_live() {
                    return false;
                }
                rustix::process::pidfd_send_signal(&fd, sig).is_ok()
            }
            None => {
                // Kernels before 5.3: check, then signal (a tiny window).
                if !self.matches_live() {
                    return false;
                }
                pid_of(self.pid).is_some_and(|pid| rustix::process::kill_process(pid, sig).is_ok())
            }
        }
    }

    /// Stop the process: SIGTERM, wait up to `grace`, then SIGKILL. Returns
    /// whether a live process of this identity was there to stop.
    pub fn stop(&self, grace: Duration) -> bool {
        if !self.is_alive() {
            let _ = reap(self);
            return false;
        }
        self.signal(Signal::TERM);
        if self.wait_gone(grace) {
            return true;
        }
        self.signal(Signal::KILL);
        self.wait_gone(Duration::from_secs(2));
        true
    }

    /// How the process ended, when it is a child of this process handed over
    /// with [`adopt`] and has exited (reaps it). `None` while it runs, when it
    /// is not an adopted child, or when its status was already collected.
    ///
    /// A process that is exiting stops matching (its command line goes with
    /// its memory) a moment before it can be reaped: when it no longer
    /// matches, the exit is waited for briefly.
    pub fn exit_status(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            match reap(self) {
                Reaped::Exited(status) => return Some(describe_exit(status)),
                Reaped::NotAdopted => return None,
                Reaped::Running => {}
            }
            if self.matches_live() || Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Wait up to `timeout` for the process to be gone. Returns whether it is.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // Pinned while it still matches, the process is waited for until it
        // has exited: a pidfd becomes readable then, not when its command
        // line goes (a moment earlier, while it still runs its exit).
        if let Some(fd) = pidfd_of(self.pid).filter(|_| self.matches_live()) {
            loop {
                // Slices, so an adopted child is reaped as soon as it exits.
                let slice = deadline
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(50));
                let ts = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: i64::from(slice.subsec_nanos()),
                };
                let mut fds = [rustix::event::PollFd::new(
                    &fd,
                    rustix::event::PollFlags::IN,
                )];
                let exited = matches!(rustix::event::poll(&mut fds, Some(&ts)), Ok(n) if n > 0);
                let _ = reap(self);
                if exited {
                    return true;
                }
                if Instant::now() >= deadline {
                    return false;
                }
            }
        }
        loop {
            let _ = reap(self);
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

/// `pid` as the kernel's type; `None` for 0 or a value past `i32::MAX`,
/// which name no single process.
fn pid_of(pid: u32) -> Option<Pid> {
    Pid::from_raw(i32::try_from(pid).ok()?)
}

/// A pidfd for `pid`; `None` when it is gone or the kernel predates
/// `pidfd_open` (5.3).
fn pidfd_of(pid: u32) -> Option<std::os::fd::OwnedFd> {
    rustix::process::pidfd_open(pid_of(pid)?, PidfdFlags::empty()).ok()
}

/// Children of this process whose driver let them run on (a resumed VM
/// outlives its session), each with its record: the only children reaping
/// ever touches.
static ADOPTED: Mutex<Vec<(ProcessRecord, Child)>> = Mutex::new(Vec::new());

/// Keep `child`, recorded as `record`, so that its exit can be collected
/// (reaped, its status reported) by whoever later stops it or asks how it
/// ended through a [`ProcessRecord`] equal to `record`.
///
/// A driver calls this instead of dropping the `Child` of a VMM that runs
/// on; a dropped `Child` would leave a zombie nobody may reap.
pub fn adopt(record: &ProcessRecord, child: Child) {
    debug_assert_eq!(child.id(), record.pid, "the record is of this child");
    ADOPTED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((record.clone(), child));
}

/// What [`reap`] found.
enum Reaped {
    /// An adopted child that exited: reaped now, its entry gone.
    Exited(ExitStatus),
    /// An adopted child that is still running.
    Running,
    /// Not a child this process adopted (or its status was already taken):
    /// nothing was waited for.
    NotAdopted,
}

/// Reap the process of `record` if it is an adopted child that has exited.
/// Waits (without blocking) on that child's own `Child` only.
fn reap(record: &ProcessRecord) -> Reaped {
    let mut adopted = ADOPTED.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(at) = adopted.iter().position(|(r, _)| r == record) else {
        return Reaped::NotAdopted;
    };
    match adopted[at].1.try_wait() {
        Ok(None) => Reaped::Running,
        Ok(Some(status)) => {
            adopted.swap_remove(at);
            Reaped::Exited(status)
        }
        // Reaped by someone else after all: nothing left to collect.
        Err(_) => {
            adopted.swap_remove(at);
            Reaped::NotAdopted
        }
    }
}

/// How a child ended, in words: "exit status N", "killed by signal N".
fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exit status {code}")
    } else if let Some(sig) = status.signal() {
        format!("killed by signal {sig}")
    } else {
        format!("wait status {:#x}", status.into_raw())
    }
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

impl crate::error::Kinded for ProcessError {
    fn kind(&self) -> crate::error::ErrorKind {
        // A process that cannot be identified is one the VMM cannot vouch for.
        crate::error::ErrorKind::VmmFailed
    }
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
        assert!(!recycled.signal(Signal::KILL));
        // Same pid and start, other arguments.
        let mut other = rec.clone();
        other.argv_digest = "0".into();
        assert!(!other.is_alive());
        assert!(rec.is_alive(), "the wrong records signalled nothing");
        assert!(rec.stop(Duration::from_secs(5)));
        assert!(!rec.is_alive());
        assert!(!rec.stop(Duration::from_secs(1)), "nothing left to stop");
        assert_eq!(rec.exit_status(), None, "not adopted: not ours to reap");
        // Stopping never reaped the child behind its owner's back: the
        // `Child` still collects its own exit.
        let status = child.wait().expect("the child is still ours to wait for");
        assert_eq!(status.signal(), Some(Signal::TERM.as_raw()));
    }

    /// Wait until the process of `rec` is gone (a zombie counts as gone).
    fn until_gone(rec: &ProcessRecord) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while rec.is_alive() {
            assert!(Instant::now() < deadline, "{rec:?} did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn an_adopted_child_reports_how_it_ended_once() {
        let mut child = Command::new("sh")
            .args(["-c", "read _; exit 3"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let rec = ProcessRecord::capture(child.id()).unwrap();
        adopt(&rec, child);
        assert_eq!(rec.exit_status(), None, "still running");
        drop(stdin);
        until_gone(&rec);
        assert_eq!(rec.exit_status().as_deref(), Some("exit status 3"));
        assert_eq!(rec.exit_status(), None, "collected once");

        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let rec = ProcessRecord::capture(child.id()).unwrap();
        adopt(&rec, child);
        assert!(rec.signal(Signal::KILL));
        until_gone(&rec);
        assert_eq!(rec.exit_status().as_deref(), Some("killed by signal 9"));
    }

    #[test]
    fn stopping_an_adopted_child_reaps_it() {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        let rec = ProcessRecord::capture(pid).unwrap();
        adopt(&rec, child);
        assert!(rec.stop(Duration::from_secs(5)));
        // Reaped: no zombie is left under its pid (or the pid is another
        // process's already).
        assert!(stat_of(pid).is_none_or(|(state, start)| state != 'Z' || start != rec.start_ticks));
        assert_eq!(rec.exit_status(), None, "its status went with the stop");
    }
}
