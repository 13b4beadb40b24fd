//! Nothing lost, nobody in — round 2: what a careless user, a hostile local
//! user and a hostile guest or snapshot did to the surfaces added last
//! round (sources, compressed memory, import, check, fan-out), and what
//! forkmail does about it now. Each test failed before its fix.

use crate::support::cli as common;

use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{Env, events};
use serde_json::Value;

fn fork_json(env: &Env, name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(env.fork_dir(name).join("fork.json")).expect("fork.json"),
    )
    .expect("fork.json parses")
}

/// Plant a fork marker `name`/`token` at `offset` of `memory`.
fn plant_marker(memory: &Path, offset: u64, name: &str, token: &str) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(memory)
        .expect("open memory");
    let mut m = forkmail::mailbox::encode_fork_marker(name, token);
    m.resize(64, 0);
    f.write_all_at(&m, offset).expect("plant");
}

/// Defect 15: mailboxes `pfx` with tokens `abc` and `abcd`. `--token
/// pfx=abc` patches the marker whose token is exactly `abc` (the other one
/// only starts with those bytes); `--token pfx=abcd` the other one.
#[test]
fn a_token_that_is_a_prefix_of_another_still_finds_its_own_marker() {
    let env = Env::new();
    env.template("t", &["--mailbox", "pfx:abcd"]);
    let real = env.markers_json("t")[0]["offset"].as_u64().expect("offset");
    let planted = if real >= 8 << 20 {
        4 << 20
    } else {
        real + (8 << 20)
    };
    plant_marker(&env.snapshot_memory("t"), planted, "pfx", "abc");
    for (token, name, want) in [("abc", "f-abc", planted), ("abcd", "f-abcd", real)] {
        let out = env.run(&[
            "fork",
            "t",
            "--name",
            name,
            "--payload",
            "pfx={}",
            "--token",
            &format!("pfx={token}"),
            "--no-restore",
            "--json",
        ]);
        let evs = events(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(out.status.code(), Some(0), "--token pfx={token}: {evs:?}");
        assert_eq!(
            fork_json(&env, name)["mailboxes"][0]["offset"].as_u64(),
            Some(want),
            "--token pfx={token}"
        );
        env.ok(&["rm", name]);
    }
    // Without an exact one, a prefix match still works (a guest that left
    // bytes after its token), and two of them are ambiguous.
    let out = env.run(&[
        "fork",
        "t",
        "--payload",
        "pfx={}",
        "--token",
        "pfx=ab",
        "--no-restore",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "two markers start with pfx\\0ab"
    );
    let evs = events(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(evs.last().expect("events")["kind"], "marker_ambiguous");
}

/// Defect 16: a fan-out of `--no-restore` forks does not call them running.
#[test]
fn a_no_restore_fan_out_is_not_described_as_running() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let out = env.ok(&[
        "fork",
        "t",
        "--count",
        "2",
        "--name",
        "p",
        "--no-restore",
        "--payload",
        "m={}",
    ]);
    let line = out
        .lines()
        .find(|l| l.contains("divergence"))
        .unwrap_or_else(|| panic!("a divergence line: {out}"));
    assert!(!line.contains("running"), "{line}");
    assert!(line.contains("2 patched"), "{line}");
}

/// A plain Firecracker snapshot directory (`memory` + `state`) holding one
/// marker, outside the store.
fn plain_snapshot(env: &Env, dir_name: &str) -> std::path::PathBuf {
    let dir = env.dir.path().join(dir_name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let f = std::fs::File::create(dir.join("memory")).expect("memory");
    f.set_len(8 << 20).expect("size");
    drop(f);
    plant_marker(&dir.join("memory"), 1 << 20, "app", "tok");
    std::fs::write(dir.join("state"), b"firecracker vmstate").expect("state");
    dir
}

/// A child killed if the test ends without it (a failed assertion).
struct Reap(Option<std::process::Child>);

impl Reap {
    fn take(mut self) -> std::process::Child {
        self.0.take().expect("child")
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run `cmd` to its end, at most `secs` seconds (a hang fails the test).
fn bounded(mut child: std::process::Child, secs: u64) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "hung: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// Wait until `cond` holds (checked every 10 ms), at most `secs` seconds.
fn wait_for(what: &str, secs: u64, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Defect 16: Ctrl-C during the scan that follows an import reaches it
/// (the scan is held until cancelled: without the cancel it would hold
/// forever); the import itself is kept, and the exit status says cancelled.
#[test]
fn ctrl_c_during_the_scan_after_an_import_is_not_swallowed() {
    let env = Env::new();
    let snap = plain_snapshot(&env, "fc");
    let child = env
        .cmd()
        .args(["import", snap.to_str().expect("utf-8"), "--name", "imp"])
        .env("FORKMAIL_HOLD_AT", "scan")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let meta = env.store().join("snapshots/imp/snapshot.json");
    let child = Reap(Some(child));
    wait_for("the import committed", 60, || meta.is_file());
    let child = child.take();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = bounded(child, 60);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(meta.is_file(), "the imported snapshot stays");
}

/// Defect 16: an oversized `--payload @FILE` says how large it is.
#[test]
fn an_oversized_payload_file_reports_its_real_size() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let file = env.dir.path().join("big.json");
    std::fs::write(&file, format!("{{\"a\":\"{}\"}}", "x".repeat(4994))).expect("write");
    let out = env.run(&["fork", "t", "--payload", &format!("m=@{}", file.display())]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("5002"), "{err}");
    assert!(!err.contains("3833"), "{err}");
}

/// Every entry under `dir` with its mode, sorted.
fn tree(dir: &Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).expect("ls").flatten() {
            let md = std::fs::symlink_metadata(e.path()).expect("stat");
            out.push((
                e.path().display().to_string(),
                md.permissions().mode() & 0o7777,
            ));
            if md.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Defect 8: a store equal to or inside a source is refused before
/// anything is created — however it is spelled (`--store`, relative to a
/// working directory inside the source, `$FORKMAIL_STORE`).
#[test]
fn a_store_inside_a_source_is_refused_before_anything_is_made() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let src = env.dir.path().join("hypeman");
    for d in ["guests", "snapshots"] {
        std::fs::create_dir_all(src.join(d)).expect("mkdir");
        std::fs::set_permissions(src.join(d), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let before = tree(&src);
    let s = src.to_str().expect("utf-8");
    let inside = format!("{s}/forkmail");
    let cases: Vec<(Vec<&str>, Option<&str>, Option<&str>)> = vec![
        (vec!["--store", s, "--source", s, "snapshots"], None, None),
        (
            vec!["--store", &inside, "--source", s, "snapshots"],
            None,
            None,
        ),
        (
            vec!["--store", "./fm", "--source", s, "forks"],
            Some(s),
            None,
        ),
        (
            vec!["--store", "guests/../fm", "--source", "..", "forks"],
            Some(&inside),
            None,
        ),
        (
            vec!["--source", s, "snapshots"],
            None,
            Some(inside.as_str()),
        ),
    ];
    for (args, cwd, store_env) in cases {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_forkmail"));
        cmd.env("XDG_STATE_HOME", env.dir.path().join("state"))
            .env_remove("FORKMAIL_SOURCES")
            .env_remove("FORKMAIL_STORE")
            .args(&args);
        if let Some(dir) = cwd {
            std::fs::create_dir_all(dir).expect("cwd");
            cmd.current_dir(dir);
        }
        if let Some(st) = store_env {
            cmd.env("FORKMAIL_STORE", st);
        }
        let out = cmd.output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("source"), "{args:?}: {err}");
        // The only thing that may be new is the cwd this test made.
        let after: Vec<_> = tree(&src)
            .into_iter()
            .filter(|(p, _)| p != &inside)
            .collect();
        assert_eq!(
            after, before,
            "{args:?}: nothing made or changed in the source"
        );
    }
}

/// Hidden directories (`.creating-…`) under `dir`.
fn drafts(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".creating-"))
        .collect()
}

/// Defect 4: an import killed with `kill -9` leaves its draft (with the
/// partial memory); `snapshots` shows it and `gc` removes it — and `gc`
/// leaves alone the draft of an import that still runs.
#[test]
fn gc_removes_the_draft_of_a_killed_import_and_keeps_a_live_one() {
    let env = Env::new();
    let snap = plain_snapshot(&env, "fc");
    let held = |name: &str| {
        env.cmd()
            .args(["import", snap.to_str().expect("utf-8"), "--name", name])
            .env("FORKMAIL_HOLD_AT", "import")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn")
    };
    let snapshots = env.store().join("snapshots");
    let live = Reap(Some(held("live")));
    wait_for("the live import's draft", 60, || {
        std::fs::read_dir(&snapshots).is_ok_and(|_| drafts(&snapshots).len() == 1)
    });
    let live_draft = drafts(&snapshots)[0].clone();
    let mut killed = held("dead");
    wait_for("the killed import's draft", 60, || {
        drafts(&snapshots).len() == 2
    });
    let dead_draft = drafts(&snapshots)
        .into_iter()
        .find(|d| d != &live_draft)
        .expect("second draft");
    wait_for("its memory written", 60, || {
        snapshots.join(&dead_draft).join("state").is_file()
    });
    killed.kill().expect("kill -9");
    killed.wait().expect("reap");
    let listed = env.run(&["snapshots"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains(&dead_draft),
        "snapshots shows the draft: {text}"
    );
    assert!(
        !text.contains(&live_draft),
        "not the one being made: {text}"
    );
    let out = env.ok(&["gc", "--json"]);
    assert!(out.contains(&dead_draft), "{out}");
    assert_eq!(
        drafts(&snapshots),
        vec![live_draft.clone()],
        "gc kept the live one"
    );
    let mut live = live.take();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(live.id() as i32, libc::SIGINT) };
    assert_eq!(live.wait().expect("wait").code(), Some(130));
    assert!(
        drafts(&snapshots).is_empty(),
        "a cancelled import leaves nothing"
    );
    let text = env.ok(&["snapshots"]);
    assert!(!text.contains(".creating-"), "{text}");
}

/// Run forkmail with at most `fds` open descriptors (`ulimit -n`).
fn with_fd_limit(env: &Env, fds: u32, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {fds} && exec \"$@\""))
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_forkmail"))
        .arg("--store")
        .arg(env.store())
        .args(args)
        .env("XDG_STATE_HOME", env.dir.path().join("state"))
        .env_remove("FORKMAIL_STORE")
        .env_remove("FORKMAIL_SOURCES");
    cmd.output().expect("run forkmail under a descriptor limit")
}

/// Defect 12: a fan-out's open descriptors grow with `--parallel`, not
/// with `--count`: 60 patched forks and 36 running ones, two at a time,
/// under a limit of 32 descriptors; nothing hidden is left.
#[test]
fn a_fan_out_needs_descriptors_for_its_parallel_sessions_only() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let out = with_fd_limit(
        &env,
        32,
        &[
            "fork",
            "t",
            "--count",
            "60",
            "--parallel",
            "2",
            "--no-restore",
            "--name",
            "p",
            "--payload",
            "m={}",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = with_fd_limit(
        &env,
        32,
        &[
            "fork",
            "t",
            "--count",
            "36",
            "--parallel",
            "2",
            "--name",
            "r",
            "--payload",
            "m={}",
            "--ack",
            "m",
        ],
    );
    let made = env.forks_on_disk();
    for f in made.iter().filter(|f| f.starts_with("r-")) {
        env.ok(&["rm", f]);
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(made.len(), 96, "{made:?}");
    assert!(
        made.iter().all(|f| !f.starts_with('.')),
        "nothing hidden left: {made:?}"
    );
}

/// A skippable frame holding `payload` (zstd's and lz4's format alike).
fn skippable_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = 0x184D_2A50u32.to_le_bytes().to_vec();
    out.extend_from_slice(&u32::try_from(payload.len()).expect("len").to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Defect 6: a snapshot directory whose `memory.zst` starts with a
/// skippable frame (as `pzstd` writes it) is read as zstd: its real marker,
/// no phantom one from the compressed bytes; and it imports.
#[test]
fn a_zstd_memory_starting_with_a_skippable_frame_is_decoded() {
    let env = Env::new();
    let raw = plain_snapshot(&env, "raw");
    let dir = env.dir.path().join("pz");
    std::fs::create_dir(&dir).expect("mkdir");
    let mut phantom = forkmail::mailbox::encode_fork_marker("phantom", "p");
    phantom.resize(512, 0);
    let mut bytes = skippable_frame(&phantom);
    bytes.extend(
        zstd::stream::encode_all(std::fs::File::open(raw.join("memory")).expect("raw"), 3)
            .expect("zstd"),
    );
    std::fs::write(dir.join("memory.zst"), bytes).expect("write");
    std::fs::write(dir.join("state"), b"firecracker vmstate").expect("state");
    let markers = env.markers_json(dir.to_str().expect("utf-8"));
    let names: Vec<(&str, u64)> = markers
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or(""),
                m["offset"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(names, vec![("app", 1 << 20)], "{markers:?}");
    env.ok(&["import", dir.to_str().expect("utf-8"), "--name", "pz"]);
    assert_eq!(
        common::hash_file(&env.snapshot_memory("pz")),
        common::hash_file(&raw.join("memory"))
    );
}

/// `len` bytes of zeros (and one marker, 4 KiB in), zstd-compressed: a few
/// KiB that decompress to `len`.
fn zstd_bomb(path: &Path, len: u64) {
    use std::io::{Read, Write};
    let mut head = forkmail::mailbox::encode_fork_marker("app", "tok");
    head.resize(8192, 0);
    let mut enc =
        zstd::stream::Encoder::new(std::fs::File::create(path).expect("create"), 3).expect("enc");
    enc.write_all(&head).expect("head");
    std::io::copy(&mut std::io::repeat(0).take(len - 8192), &mut enc).expect("zeros");
    enc.finish().expect("finish");
}

/// Defect 5: a compressed memory that outgrows the size its snapshot
/// records is refused as soon as it does, and one without a record is
/// refused past the limit (`--max-memory`, default 64 GiB); nothing is
/// kept. One that matches its record imports.
#[test]
fn a_decompression_bomb_is_refused_at_its_recorded_size() {
    let env = Env::new();
    let root = env.dir.path().join("hypeman");
    std::fs::create_dir_all(root.join("guests")).expect("guests");
    let central = |id: &str, recorded: u64, len: u64| {
        let d = root.join("snapshots").join(id);
        let latest = d.join("guest/snapshots/snapshot-latest");
        std::fs::create_dir_all(&latest).expect("mkdir");
        std::fs::write(
            d.join("snapshot.json"),
            serde_json::to_vec(&serde_json::json!({"snapshot": {
                "id": id, "name": id, "kind": "Standby", "SourceHypervisor": "firecracker",
                "compression_state": "compressed",
                "compression": {"enabled": true, "algorithm": "zstd"},
                "uncompressed_size_bytes": recorded},
                "stored_metadata": {"HypervisorType": "firecracker"}}))
            .expect("json"),
        )
        .expect("write");
        zstd_bomb(&latest.join("memory.zst"), len);
        std::fs::write(latest.join("state"), b"firecracker vmstate").expect("state");
    };
    central("bomb", 8 << 20, 64 << 20);
    central("short", 16 << 20, 8 << 20);
    central("fine", 8 << 20, 8 << 20);
    let src = root.to_str().expect("utf-8");
    for (id, what) in [("bomb", "more than"), ("short", "records")] {
        let out = env.run(&["--source", src, "import", &format!("hypeman/{id}")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{id}: {err}");
        assert!(err.contains(what), "{id}: {err}");
        assert!(
            drafts(&env.store().join("snapshots")).is_empty(),
            "{id}: nothing kept"
        );
    }
    env.ok(&["--source", src, "import", "hypeman/fine"]);
    // No record: a plain directory's memory.zst, past --max-memory.
    let plain = env.dir.path().join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    zstd_bomb(&plain.join("memory.zst"), 64 << 20);
    std::fs::write(plain.join("state"), b"firecracker vmstate").expect("state");
    let p = plain.to_str().expect("utf-8");
    let out = env.run(&["import", p, "--name", "unrecorded", "--max-memory", "16M"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--max-memory"), "{err}");
    env.ok(&["import", p, "--name", "unrecorded"]);
}

/// A pipe whose buffer is already full: a blocking write to its write end
/// waits until the read end is read.
fn full_pipe() -> (std::io::PipeReader, std::io::PipeWriter) {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let (r, mut w) = std::io::pipe().expect("pipe");
    let fd = w.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    let chunk = [b'#'; 4096];
    loop {
        match w.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("fill the pipe: {e}"),
        }
    }
    // SAFETY: as above.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
    (r, w)
}

/// Defect 2: a `--json` reader that does not read (stdout a full pipe)
/// does not hold the session up: the fork is made, its guest's ack counts
/// and its record says running while nothing could be written; once the
/// reader reads, every event line comes, the last one `done`.
#[test]
fn a_reader_that_does_not_read_never_holds_the_session_up() {
    use std::io::Read;
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let (mut r, w) = full_pipe();
    let mut child = env
        .cmd()
        .args([
            "fork",
            "t",
            "--name",
            "f",
            "--payload",
            "m={}",
            "--ack",
            "m=20000",
            "--json",
        ])
        .stdout(std::process::Stdio::from(w))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let record = env.fork_dir("f").join("fork.json");
    wait_for("the session to finish, stdout still full", 60, || {
        std::fs::read_to_string(&record)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v["status"] == "running")
    });
    let mut out = Vec::new();
    r.read_to_end(&mut out).expect("read");
    let status = child.wait().expect("wait");
    let text = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('{')).collect();
    let evs = events(&lines.join("\n"));
    assert_eq!(status.code(), Some(0), "{evs:?}");
    assert_eq!(evs.last().expect("events")["stage"], "done");
    assert!(
        evs.iter()
            .any(|e| e["stage"] == "ack" && e["status"] == "ok" && e["mailbox"] == "m")
    );
    env.ok(&["rm", "f"]);
}

/// Another process flooding a UDP port on 127.0.0.1: a child made with
/// `fork` that, until told to stop, sends `payload` to `port` paced to
/// `per_second` (only async-signal-safe calls run in the child).
struct Flooder {
    pid: libc::pid_t,
    stop: Option<std::os::fd::OwnedFd>,
    result: std::fs::File,
    started: std::time::Instant,
}

impl Flooder {
    fn start(port: u16, payload: &'static [u8], per_second: u64) -> Flooder {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let mut stop = [0; 2];
        let mut result = [0; 2];
        // SAFETY: pipe2 fills two descriptors this test then owns.
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
        // SAFETY: the child calls only async-signal-safe functions (socket,
        // sendto, clock_gettime, read, write, _exit) on data prepared here.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: see above; nothing here allocates or locks.
            unsafe {
                // The child's copies of the parent's ends: closed, or the
                // stop pipe never reads as closed.
                libc::close(stop_w.as_raw_fd());
                libc::close(res_r.as_raw_fd());
                flood_child(
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
            started: std::time::Instant::now(),
        }
    }

    /// Stop it; (datagrams sent, per second).
    fn stop(mut self) -> (u64, f64) {
        use std::io::Read;
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

/// The flooding child's loop (never returns).
///
/// # Safety
/// Only in a child just made by `fork`: calls async-signal-safe functions.
unsafe fn flood_child(port: u16, payload: &[u8], per_second: u64, stop: i32, result: i32) -> ! {
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
                    libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_in>())
                        .unwrap_or(16),
                ) >= 0
                {
                    sent += 1;
                }
            }
            if libc::read(stop, (&raw mut byte).cast(), 1) == 0 {
                break;
            }
            // Paced: never ahead of `per_second`.
            while sent * 1_000_000_000 > per_second * (now_ns() - start) {
                libc::sched_yield();
            }
        }
        libc::write(result, (&raw const sent).cast(), 8);
        libc::_exit(0)
    }
}

/// Defect 1: while another local process floods the fork's ack port with
/// ~100k forged acks a second, the guest's own ack still counts; the flood
/// is reported in a bounded number of event lines, not one per datagram.
#[test]
fn a_flood_of_forged_acks_does_not_starve_the_guests_ack() {
    let env = Env::new();
    // The guest acks 1.5 s after the payload: the flood is on by then.
    env.template("t", &["--mailbox", "m", "--guest-fault", "m=slow:1500"]);
    let mut child = env
        .cmd()
        .args([
            "fork",
            "t",
            "--name",
            "f",
            "--payload",
            "m={}",
            "--ack",
            "m=10000",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        child.stdout.take().expect("stdout"),
    ));
    let mut seen = Vec::new();
    let port = loop {
        let e: Value =
            serde_json::from_str(&lines.next().expect("an event").expect("line")).expect("json");
        seen.push(e.clone());
        if let Some(port) = e["ack_port"].as_u64().filter(|_| e["status"] == "started") {
            break u16::try_from(port).expect("port");
        }
    };
    let flood = Flooder::start(port, b"stage=applied mailbox=m\n", 100_000);
    for line in lines {
        seen.push(serde_json::from_str(&line.expect("line")).expect("json"));
    }
    let status = child.wait().expect("wait");
    let (sent, rate) = flood.stop();
    let judged: u64 = seen
        .iter()
        .filter(|e| e["stage"] == "ack" && e["status"] == "progress")
        .map(|e| e["count"].as_u64().unwrap_or(1))
        .sum();
    eprintln!(
        "flood: {sent} forged acks at {rate:.0}/s from another process; {judged} judged and ignored before the guest's ack"
    );
    let reported = seen
        .iter()
        .filter(|e| e["stage"] == "ack" && e["status"] == "progress")
        .count();
    assert_eq!(
        status.code(),
        Some(0),
        "the guest's ack counted: {:?}",
        seen.last()
    );
    assert!(
        seen.iter()
            .any(|e| e["stage"] == "ack" && e["status"] == "ok" && e["mailbox"] == "m"),
        "{:?}",
        seen.last()
    );
    assert!(sent > 1000, "the flood ran: {sent}");
    assert!(
        reported < 200,
        "{reported} event lines for {sent} datagrams"
    );
    env.ok(&["rm", "f"]);
}

/// The UDP ports process `pid` has sockets bound to.
fn udp_ports_of(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|t| {
                    let t = t.to_string_lossy().into_owned();
                    Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let inode = f.get(9)?;
            let port = f.get(1)?.split_once(':')?.1;
            inodes
                .iter()
                .any(|i| i == inode)
                .then(|| u16::from_str_radix(port, 16).ok())?
        })
        .collect()
}

/// Defect 10: another local process sending datagrams (junk and forged
/// acks) to the ack ports of `check`'s forks is noise: a conforming guest
/// still passes every check, and the noise is reported as such.
#[test]
fn check_does_not_blame_the_guest_for_other_processes_datagrams() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let child = env
        .cmd()
        .args(["check", "t", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noise = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            let mut sent = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for port in udp_ports_of(pid) {
                    for text in [&b"stage=applied mailbox=m\n"[..], b"junk"] {
                        if s.send_to(text, ("127.0.0.1", port)).is_ok() {
                            sent += 1;
                        }
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            sent
        })
    };
    let out = child.wait_with_output().expect("check");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = noise.join().expect("noise");
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    assert!(sent > 0, "the noise reached the ports");
    assert_eq!(out.status.code(), Some(0), "{rows:#?}");
    assert!(rows.iter().all(|r| r["verdict"] == "pass"), "{rows:#?}");
    let all: String = rows
        .iter()
        .flat_map(|r| r["evidence"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("noise"), "the noise is reported: {all}");
}

/// Defect 11: `rm` while `check` observes its forks is refused as busy
/// (exit 7); the check is not disturbed, and the guest is not blamed.
#[test]
fn rm_during_check_is_busy_and_the_check_is_not_disturbed() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let child = env
        .cmd()
        .args(["check", "t", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = Reap(Some(child));
    let mut codes = std::collections::BTreeMap::<i32, usize>::new();
    let forks_dir = env.store().join("forks");
    loop {
        // Every fork the check made that is no longer being created.
        let made: Vec<String> = std::fs::read_dir(&forks_dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("chk-"))
                    .collect()
            })
            .unwrap_or_default();
        for name in made {
            let record = std::fs::read_to_string(forks_dir.join(&name).join("fork.json"));
            if !record.is_ok_and(|r| r.contains("\"running\"")) {
                continue;
            }
            let out = env.run(&["rm", &name]);
            *codes.entry(out.status.code().unwrap_or(-1)).or_default() += 1;
        }
        let exited = child.0.as_mut().expect("child").try_wait().expect("wait");
        if exited.is_some() {
            break;
        }
    }
    let out = child.take().wait_with_output().expect("check");
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    assert!(
        codes.get(&7).is_some_and(|n| *n > 0),
        "rm was refused as busy: {codes:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{codes:?} {rows:#?}");
    assert!(rows.iter().all(|r| r["verdict"] == "pass"), "{rows:#?}");
}
