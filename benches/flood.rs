//! A fork's ack under a flood: another local process floods the fork's ack
//! port while its guest acks, and the bench says whether the guest's ack
//! counted, how long after the payload, and how many datagrams forkmail
//! judged per second while it waited.
//!
//! ```text
//! cargo bench --bench flood                 # 5 forks per case
//! cargo bench --bench flood -- 10           # 10 forks per case
//! ```
//!
//! Cases: no flood; forged perfect acks (`stage=applied mailbox=m`, the
//! costliest: each could be the ack, so its sender is checked) and junk,
//! each paced at 100k datagrams a second and unpaced (as fast as one
//! process sends). The flooder is a child made with `fork` that sends from
//! one socket until told to stop. The guest (the simulator's reference
//! agent) acks 1 s after it reads its payload (`--guest-fault m=slow:1000`),
//! so the flood is well under way when the ack comes.
//!
//! Columns: the flooder's achieved rate; acks counted / forks; the ack's
//! time after the wait began (median, min–max; 1000 ms is the guest's own
//! delay); datagrams judged per second of the wait (from the session's own
//! counts: what forkmail read, judged and reported, not what the kernel
//! dropped when its queue was full).

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde_json::Value;

const FORKMAIL: &str = env!("CARGO_BIN_EXE_forkmail");

fn main() -> ExitCode {
    let forks: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let run = |args: &[&str]| {
        Command::new(FORKMAIL)
            .arg("--store")
            .arg(&store)
            .args(args)
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .output()
            .expect("run forkmail")
    };
    let made = run(&[
        "template",
        "create",
        "t",
        "--memory",
        "64M",
        "--mailbox",
        "m",
        "--guest-fault",
        "m=slow:1000",
    ]);
    assert!(made.status.success(), "template create");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "ack under a flood: {forks} fork(s) per case, release build, load {}",
        load.split_whitespace().next().unwrap_or("?")
    );
    println!(
        "{:<26} {:>12} {:>7} {:>24} {:>16}",
        "case", "flood /s", "acked", "ack after (ms)", "judged /s"
    );
    let cases: [(&str, Option<&'static [u8]>, u64); 5] = [
        ("no flood", None, 0),
        (
            "forged acks, 100k/s",
            Some(b"stage=applied mailbox=m\n"),
            100_000,
        ),
        (
            "forged acks, unpaced",
            Some(b"stage=applied mailbox=m\n"),
            u64::MAX,
        ),
        ("junk, 100k/s", Some(b"junk junk junk junk"), 100_000),
        ("junk, unpaced", Some(b"junk junk junk junk"), u64::MAX),
    ];
    let mut all_acked = true;
    for (label, payload, rate) in cases {
        let mut acked = 0;
        let mut after = Vec::new();
        let mut rates = Vec::new();
        let mut judged_rates = Vec::new();
        for i in 0..forks {
            let name = format!("f{i}");
            let mut child = Command::new(FORKMAIL)
                .arg("--store")
                .arg(&store)
                .args([
                    "fork",
                    "t",
                    "--name",
                    &name,
                    "--payload",
                    "m={}",
                    "--ack",
                    "m=10000",
                    "--json",
                ])
                .env("XDG_STATE_HOME", dir.path().join("state"))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("fork");
            let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
            let mut seen: Vec<Value> = Vec::new();
            let port = loop {
                let Some(Ok(line)) = lines.next() else {
                    panic!("the session ended before its ack wait: {seen:?}")
                };
                let e: Value = serde_json::from_str(&line).expect("json");
                seen.push(e.clone());
                if let Some(p) = e["ack_port"].as_u64().filter(|_| e["status"] == "started") {
                    break u16::try_from(p).expect("port");
                }
            };
            let flood = payload.map(|p| Flooder::start(port, p, rate));
            for line in lines {
                seen.push(serde_json::from_str(&line.expect("line")).expect("json"));
            }
            let ok = child.wait().expect("wait").success();
            if let Some(f) = flood {
                let (_, per_second) = f.stop();
                rates.push(per_second);
            }
            let ack_ms = seen.iter().find_map(|e| {
                (e["stage"] == "ack" && e["status"] == "ok" && e["mailbox"] == "m")
                    .then(|| {
                        e["detail"]
                            .as_str()?
                            .split_whitespace()
                            .nth(2)?
                            .parse::<u64>()
                            .ok()
                    })
                    .flatten()
            });
            let judged: u64 = seen
                .iter()
                .filter(|e| e["stage"] == "ack" && e["status"] == "progress")
                .map(|e| e["count"].as_u64().unwrap_or(1))
                .sum();
            if ok && let Some(ms) = ack_ms {
                acked += 1;
                after.push(ms);
                judged_rates.push(judged as f64 * 1000.0 / ms.max(1) as f64);
            }
            let rm = run(&["rm", &name]);
            assert!(rm.status.success() || !ok, "rm {name}");
        }
        all_acked &= acked == forks;
        after.sort_unstable();
        let spread = match (after.first(), after.get(after.len() / 2), after.last()) {
            (Some(lo), Some(mid), Some(hi)) => format!("{mid} ({lo}–{hi})"),
            _ => "-".into(),
        };
        let mean = |v: &[f64]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                format!("{:.0}", v.iter().sum::<f64>() / v.len() as f64)
            }
        };
        println!(
            "{label:<26} {:>12} {:>7} {spread:>24} {:>16}",
            mean(&rates),
            format!("{acked}/{forks}"),
            mean(&judged_rates)
        );
    }
    if all_acked {
        ExitCode::SUCCESS
    } else {
        println!("some acks did not count");
        ExitCode::FAILURE
    }
}

/// A child made with `fork` that floods `port` on 127.0.0.1 until told to
/// stop (only async-signal-safe calls run in it).
struct Flooder {
    pid: libc::pid_t,
    stop: Option<OwnedFd>,
    result: std::fs::File,
    started: Instant,
}

impl Flooder {
    fn start(port: u16, payload: &'static [u8], per_second: u64) -> Flooder {
        let mut stop = [0; 2];
        let mut result = [0; 2];
        // SAFETY: pipe2 fills two descriptors this bench then owns.
        let made = unsafe { libc::pipe2(stop.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        assert_eq!(made, 0);
        // SAFETY: as above.
        let made = unsafe { libc::pipe2(result.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(made, 0);
        // SAFETY: the descriptors were just made and are owned once each.
        let (stop_r, stop_w, res_r, res_w) = unsafe {
            (
                OwnedFd::from_raw_fd(stop[0]),
                OwnedFd::from_raw_fd(stop[1]),
                OwnedFd::from_raw_fd(result[0]),
                OwnedFd::from_raw_fd(result[1]),
            )
        };
        // SAFETY: the child calls only async-signal-safe functions.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: in the child: close the parent's ends, then flood.
            unsafe {
                libc::close(stop_w.as_raw_fd());
                libc::close(res_r.as_raw_fd());
                flood(
                    port,
                    payload,
                    per_second,
                    stop_r.as_raw_fd(),
                    res_w.as_raw_fd(),
                )
            }
        }
        drop((stop_r, res_w));
        Flooder {
            pid,
            stop: Some(stop_w),
            result: std::fs::File::from(res_r),
            started: Instant::now(),
        }
    }

    /// Stop it: (datagrams sent, per second).
    fn stop(mut self) -> (u64, f64) {
        drop(self.stop.take());
        let mut n = [0u8; 8];
        self.result.read_exact(&mut n).expect("count");
        let secs = self.started.elapsed().as_secs_f64();
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
        let n = u64::from_ne_bytes(n);
        (n, n as f64 / secs)
    }
}

/// The flooding loop.
///
/// # Safety
/// Only in a child just made by `fork`: it calls async-signal-safe
/// functions and never returns.
unsafe fn flood(port: u16, payload: &[u8], per_second: u64, stop: i32, result: i32) -> ! {
    let now_ns = || {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into `t`.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    };
    // SAFETY: async-signal-safe calls on local data.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        let mut to: libc::sockaddr_in = std::mem::zeroed();
        to.sin_family = libc::sa_family_t::try_from(libc::AF_INET).unwrap_or(2);
        to.sin_port = port.to_be();
        to.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_in>()).unwrap_or(16);
        let start = now_ns();
        let mut sent: u64 = 0;
        let mut byte = 0u8;
        loop {
            for _ in 0..100 {
                if libc::sendto(
                    s,
                    payload.as_ptr().cast(),
                    payload.len(),
                    0,
                    (&raw const to).cast(),
                    len,
                ) >= 0
                {
                    sent += 1;
                }
            }
            if libc::read(stop, (&raw mut byte).cast(), 1) == 0 {
                break;
            }
            while per_second != u64::MAX
                && u128::from(sent) * 1_000_000_000
                    > u128::from(per_second) * u128::from(now_ns() - start)
            {
                libc::sched_yield();
            }
        }
        libc::write(result, (&raw const sent).cast(), 8);
        libc::_exit(0)
    }
}
