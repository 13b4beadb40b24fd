//! Nothing lost, nobody in: what a careless user, a hostile local user and a
//! misbehaving guest can do, and what forkmail does about it.

use crate::support::cli as common;

use std::io::{BufRead, BufReader, Lines};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, events};
use serde_json::Value;

/// A fork running in the background with `--json`, read line by line.
struct Session {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<Value>,
}

impl Session {
    fn start(cmd: &mut Command) -> Session {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn forkmail fork");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Session {
            child,
            lines,
            seen: Vec::new(),
        }
    }
    /// Read events until one satisfies `want`; returns it.
    fn until(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        for line in self.lines.by_ref() {
            let e: Value = serde_json::from_str(&line.expect("line")).expect("json event");
            self.seen.push(e.clone());
            if want(&e) {
                return e;
            }
        }
        panic!("the session ended before the event: {:?}", self.seen);
    }
    /// Read to the end; the exit code.
    fn finish(mut self) -> (Option<i32>, Vec<Value>) {
        for line in self.lines.by_ref() {
            self.seen
                .push(serde_json::from_str(&line.expect("line")).expect("json"));
        }
        let code = self.child.wait().expect("wait").code();
        (code, self.seen)
    }
    fn signal(&self, sig: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), sig)
            .expect("signal the child");
    }
}

fn is(stage: &str, status: &str) -> impl Fn(&Value) -> bool {
    let (stage, status) = (stage.to_string(), status.to_string());
    move |e| e["stage"] == stage.as_str() && e["status"] == status.as_str()
}

fn ack_waiting(e: &Value) -> bool {
    e["stage"] == "ack" && e["status"] == "started" && e.get("ack_port").is_some()
}

fn fork_json(env: &Env, name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(env.fork_dir(name).join("fork.json")).expect("fork.json"),
    )
    .expect("fork.json parses")
}

fn pid_alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_string()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}

/// Live processes with an argument naming a path in `dir`.
fn processes_in(dir: &Path) -> Vec<u32> {
    let needle = format!("{}/", dir.display());
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| pid_alive(u64::from(*pid)))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

#[test]
fn rm_refuses_a_fork_whose_session_is_still_running() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m", "--guest-fault", "m=no-ack"]);
    let mut s = Session::start(env.cmd().args([
        "fork",
        "t",
        "--name",
        "x",
        "--payload",
        "m={}",
        "--ack",
        "m=30000",
        "--json",
    ]));
    s.until(ack_waiting);
    let out = env.run(&["rm", "x"]);
    assert_eq!(out.status.code(), Some(7), "busy");
    assert!(String::from_utf8_lossy(&out.stderr).contains("still being created"));
    assert!(
        env.fork_dir("x").join("fork.json").is_file(),
        "nothing removed"
    );
    let out = env.run(&["stop", "x"]);
    assert_eq!(out.status.code(), Some(7));
    s.signal(rustix::process::Signal::INT);
    let (code, _) = s.finish();
    assert_eq!(code, Some(130));
    assert!(env.forks_on_disk().is_empty());
}

#[test]
fn forged_and_crossed_acks_are_ignored_and_reported() {
    let env = Env::new();
    // A's guest never acks; B's guest acks whatever port its payload names.
    env.template("a", &["--mailbox", "m", "--guest-fault", "m=no-ack"]);
    env.template("b", &["--mailbox", "m"]);
    let mut a = Session::start(env.cmd().args([
        "fork",
        "a",
        "--name",
        "fa",
        "--payload",
        "m={}",
        "--ack",
        "m=2500",
        "--json",
    ]));
    let port = a.until(ack_waiting)["ack_port"].as_u64().expect("port");
    // A hostile local process sends a perfect ack from 127.0.0.1...
    let forger = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    forger
        .send_to(
            b"stage=applied mailbox=m\n",
            ("127.0.0.1", u16::try_from(port).expect("a port")),
        )
        .expect("send");
    // ...and another fork's guest is handed A's port in its payload.
    let payload = format!(r#"m={{"ack_port":{port}}}"#);
    env.ok(&["fork", "b", "--name", "fb", "--payload", &payload]);
    let (code, seen) = a.finish();
    assert_eq!(code, Some(6), "A's own guest never acked: {seen:?}");
    let ignored: Vec<&Value> = seen
        .iter()
        .filter(|e| e["stage"] == "ack" && e["status"] == "progress")
        .collect();
    assert!(ignored.len() >= 2, "both datagrams were reported: {seen:?}");
    assert!(
        ignored.iter().all(|e| e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("does not belong"))),
        "{ignored:?}"
    );
    assert_eq!(seen.last().unwrap()["kind"], "ack_timeout");
    env.ok(&["rm", "fb"]);
}

#[test]
fn rm_and_stop_signal_only_the_forks_own_process() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    for n in ["w-1", "w-10"] {
        env.ok(&["fork", "t", "--name", n, "--payload", "m={}"]);
    }
    let w10 = fork_json(&env, "w-10")["pid"].as_u64().expect("pid");
    // w-1's record is lost: rm finds its guest by an exact argument match,
    // and w-10's guest (whose paths share the prefix) is not touched.
    let w1 = fork_json(&env, "w-1")["pid"].as_u64().expect("pid");
    std::fs::write(env.fork_dir("w-1").join("fork.json"), b"{ broken").expect("break");
    env.ok(&["rm", "w-1"]);
    assert!(!pid_alive(w1), "w-1's guest was stopped");
    assert!(pid_alive(w10), "w-10's guest still runs");
    // A recycled pid: w-10's record now names an unrelated process.
    let mut bystander = Command::new("sleep").arg("30").spawn().expect("sleep");
    let mut meta = fork_json(&env, "w-10");
    meta["process"]["pid"] = Value::from(bystander.id());
    meta["pid"] = Value::from(bystander.id());
    std::fs::write(
        env.fork_dir("w-10").join("fork.json"),
        serde_json::to_vec(&meta).expect("json"),
    )
    .expect("write");
    let out = env.ok(&["stop", "w-10"]);
    assert!(out.contains("was not running"), "{out}");
    assert!(
        pid_alive(u64::from(bystander.id())),
        "an unrelated process is never signalled"
    );
    let _ = bystander.kill();
    let _ = bystander.wait();
    // rm still finds w-10's real guest by its arguments and stops it.
    env.ok(&["rm", "w-10"]);
    assert!(!pid_alive(w10));
}

#[test]
fn the_store_and_everything_in_it_is_owner_only() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    env.ok(&[
        "fork",
        "t",
        "--name",
        "f",
        "--payload",
        r#"m={"secret":"s3"}"#,
        "--ack",
        "m",
    ]);
    let mut checked = 0;
    let mut stack = vec![env.store()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).expect("stat");
        let mode = md.permissions().mode() & 0o777;
        if md.is_dir() {
            assert_eq!(mode, 0o700, "{}", p.display());
            stack.extend(
                std::fs::read_dir(&p)
                    .expect("ls")
                    .flatten()
                    .map(|e| e.path()),
            );
        } else if md.is_file() {
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        checked += 1;
    }
    assert!(checked > 10);
    env.ok(&["rm", "f"]);
}

#[test]
fn kill_9_at_each_stage_leaves_the_truth_and_rm_cleans_up() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    for stage in ["copy", "patch", "restore", "ack"] {
        let name = format!("k-{stage}");
        let mut s = Session::start(
            env.cmd()
                .args([
                    "fork",
                    "t",
                    "--name",
                    &name,
                    "--payload",
                    "m={}",
                    "--ack",
                    "m",
                    "--json",
                ])
                .env("FORKMAIL_HOLD_AT", stage),
        );
        if stage == "restore" {
            // Held once the VM exists (paused) and is recorded.
            s.until(is("restore", "started"));
            let deadline = Instant::now() + Duration::from_secs(10);
            while fork_json(&env, &name)
                .get("process")
                .is_none_or(Value::is_null)
            {
                assert!(Instant::now() < deadline, "the VMM was never recorded");
                std::thread::sleep(Duration::from_millis(5));
            }
        } else {
            s.until(is(stage, "started"));
        }
        s.signal(rustix::process::Signal::KILL);
        let _ = s.finish();
        let forks: Vec<Value> = serde_json::from_str(&env.ok(&["forks", "--json"])).expect("json");
        let f = forks
            .iter()
            .find(|f| f["name"] == name.as_str())
            .expect("listed");
        assert_eq!(f["status"], "interrupted", "{stage}: {f}");
        env.ok(&["rm", &name]);
        assert!(!env.fork_dir(&name).exists(), "{stage}");
        assert!(
            processes_in(&env.fork_dir(&name)).is_empty(),
            "{stage}: a VMM outlived rm"
        );
    }
    // gc cleans what a dead session left, too.
    let mut s = Session::start(
        env.cmd()
            .args(["fork", "t", "--name", "g", "--payload", "m={}", "--json"])
            .env("FORKMAIL_HOLD_AT", "ack"),
    );
    s.until(is("ack", "started"));
    s.signal(rustix::process::Signal::KILL);
    let _ = s.finish();
    let out = env.ok(&["gc", "--json"]);
    assert!(out.contains("\"g\""), "{out}");
    assert!(env.forks_on_disk().is_empty(), "{:?}", env.forks_on_disk());
}

/// Run with a bound: a command that blocks on a FIFO fails the test instead
/// of hanging it.
fn run_bounded(cmd: &mut Command, secs: u64) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

fn mkfifo(p: &Path) {
    let _ = std::fs::remove_file(p);
    rustix::fs::mkfifoat(rustix::fs::CWD, p, rustix::fs::Mode::from_raw_mode(0o600))
        .expect("mkfifo");
}

#[test]
fn fifos_and_huge_files_never_hang_or_flood_a_command() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    env.template("u", &["--mailbox", "m"]);
    env.ok(&[
        "fork",
        "t",
        "--name",
        "f",
        "--payload",
        "m={}",
        "--no-restore",
    ]);
    // A FIFO snapshot.json, a huge one, a FIFO fork.json.
    mkfifo(&env.store().join("snapshots/t/snapshot.json"));
    let huge =
        std::fs::File::create(env.store().join("snapshots/u/snapshot.json")).expect("create");
    huge.set_len(64 << 20).expect("grow");
    mkfifo(&env.fork_dir("f").join("fork.json"));
    let out = run_bounded(env.cmd().args(["snapshots"]), 20);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FIFO"), "{err}");
    assert!(err.contains("larger than"), "{err}");
    let out = run_bounded(env.cmd().args(["forks", "--json"]), 20);
    let forks: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(forks[0]["status"], "broken");
    // Payload files: a device and a 512 MiB file are refused at once.
    let big = env.dir.path().join("big.json");
    std::fs::File::create(&big)
        .expect("create")
        .set_len(512 << 20)
        .expect("grow");
    for (file, code) in [("/dev/zero", 2), (big.to_str().expect("utf-8"), 2)] {
        let out = run_bounded(
            env.cmd()
                .args(["fork", "t", "--payload", &format!("m=@{file}")]),
            20,
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env.ok(&["rm", "f"]);
}

#[test]
fn a_guest_that_dies_fails_the_fork_at_once_with_its_log() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m", "--guest-fault", "m=crash"]);
    let out = env.run(&[
        "fork",
        "t",
        "--payload",
        "m={}",
        "--ack",
        "m=30000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(5));
    let evs = events(&String::from_utf8_lossy(&out.stdout));
    let last = evs.last().unwrap();
    assert_eq!(last["kind"], "guest_exited");
    let err = last["error"].as_str().unwrap_or_default();
    assert!(err.contains("guest exited (exit status 1)"), "{err}");
    assert!(err.contains("fault=crash"), "the log's tail: {err}");
    assert!(
        last["elapsed_ms"].as_u64().unwrap() < 30_000,
        "not at the deadline"
    );
    assert!(env.forks_on_disk().is_empty());
}

#[test]
fn injection_keeps_numbers_and_deep_objects_are_valid() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let deep = format!(r#"{{"d":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
    let big = r#"{"n":123456789012345678901234567890,"f":1.50}"#;
    for (name, payload) in [("deep", deep.as_str()), ("big", big)] {
        env.ok(&[
            "fork",
            "t",
            "--name",
            name,
            "--payload",
            &format!("m={payload}"),
            "--ack",
            "m",
        ]);
        let log = std::fs::read_to_string(env.fork_dir(name).join("guest.log")).expect("log");
        if name == "big" {
            assert!(
                log.contains("123456789012345678901234567890,\"f\":1.50,\"ack_port\":"),
                "{log}"
            );
        } else {
            assert!(log.contains(&"[".repeat(200)), "{log}");
        }
        env.ok(&["rm", name]);
    }
}

#[test]
fn a_marker_flood_is_visible_and_never_patched_without_a_token() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m:tok-m"]);
    let real = env.markers_json("t")[0]["offset"].as_u64().expect("offset");
    let mem = env.snapshot_memory("t");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&mem)
        .expect("open");
    // 70,000 markers named `m` (with another token), 32 bytes apart, on
    // pages other than the real one.
    let mut flood = Vec::with_capacity(70_000 * 32);
    for _ in 0..70_000 {
        let mut one = b"HYPEMAN_FORK_MAILBOX_V1\0m\0x".to_vec();
        one.resize(32, 0);
        flood.extend_from_slice(&one);
    }
    let start = if real >= 4 << 20 { 0 } else { real + 4096 };
    std::os::unix::fs::FileExt::write_all_at(&f, &flood, start).expect("flood");
    drop(f);
    let out = env.run(&["markers", "t", "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("discovery stopped"));
    let markers: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(markers.len(), 65_536);
    assert!(markers.iter().all(|m| m["scan_truncated"] == true));
    let out = env.run(&["fork", "t", "--payload", "m={}", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let evs = events(&String::from_utf8_lossy(&out.stdout));
    let last = evs.last().unwrap();
    assert_eq!(last["kind"], "scan_truncated");
    assert!(
        last["error"].as_str().unwrap().len() < 600,
        "bounded message"
    );
    // With its token the real marker is found by its exact bytes.
    env.ok(&[
        "fork",
        "t",
        "--name",
        "ok",
        "--payload",
        "m={}",
        "--token",
        "m=tok-m",
        "--no-restore",
    ]);
    env.ok(&["rm", "ok"]);
}
