//! Process handling shared by the drivers: liveness and stopping a VMM
//! process that was started detached (it outlives `forkmail fork`).

use std::path::Path;
use std::time::{Duration, Instant};

/// Whether `pid` is a live (non-zombie) process whose command line mentions
/// `fork_dir` — so a recycled pid is never mistaken for our VM.
pub fn is_alive(pid: u32, fork_dir: &Path) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Field 3 (after the parenthesised comm) is the state.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z") | Some("X") | None) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = fork_dir.as_os_str().as_encoded_bytes();
    memchr::memmem::find(&cmdline, needle).is_some()
}

/// Reap `pid` if it is our child and has exited; harmless otherwise.
pub fn reap(pid: u32) {
    let mut status = 0;
    // SAFETY: waitpid with WNOHANG only inspects; ECHILD when not our child.
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
}

/// Stop the VMM process `pid` of the fork at `fork_dir`: SIGTERM, wait up to
/// `grace`, then SIGKILL. Returns whether a live process was stopped.
pub fn stop(pid: u32, fork_dir: &Path, grace: Duration) -> bool {
    if !is_alive(pid, fork_dir) {
        reap(pid);
        return false;
    }
    signal(pid, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        reap(pid);
        if !is_alive(pid, fork_dir) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(pid, libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        reap(pid);
        if !is_alive(pid, fork_dir) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// Live processes whose command line mentions `dir` (a fork's VMM, found
/// without its metadata).
pub fn pids_mentioning(dir: &Path) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| *pid != std::process::id() && is_alive(*pid, dir))
        .collect()
}
