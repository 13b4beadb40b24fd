//! End-to-end tests of the real `forkmail` binary with the built-in
//! simulator: real files, real child processes, real UDP acks. After every
//! case the source snapshot's memory file must hash the same as before.

use crate::support::cli as common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::*;
use serde_json::Value;

fn guest_payloads(log: &str) -> Vec<(String, Value)> {
    log.lines()
        .filter_map(|l| l.strip_prefix("forkmail-guest: mailbox="))
        .filter_map(|rest| {
            let (name, payload) = rest.split_once(" payload=")?;
            Some((name.to_string(), serde_json::from_str(payload).ok()?))
        })
        .collect()
}

/// The same integration tests run in copy mode and in zero-copy mode (the
/// simulated guest maps the template privately and is patched through
/// `/proc/PID/mem`; the template is never written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Copy,
    ZeroCopy,
}

impl Mode {
    fn args(self) -> &'static [&'static str] {
        match self {
            Mode::Copy => &[],
            Mode::ZeroCopy => &["--zero-copy"],
        }
    }
}

/// The markers in a fork's memory now: its own file in copy mode, the
/// running guest's memory (through the library's `inspect`) in zero-copy.
fn fork_markers(env: &Env, fork: &str, mode: Mode) -> Vec<Value> {
    match mode {
        Mode::Copy => env.markers_json(env.fork_dir(fork).join("memory").to_str().unwrap()),
        Mode::ZeroCopy => {
            let store = forkmail::store::Store::open(env.store()).unwrap();
            let forks = forkmail::fork::Forks::new(&store);
            let entry = forks.get(fork).unwrap();
            let info = entry.info.as_ref().expect("fork.json");
            assert!(info.meta.zero_copy, "a zero-copy fork");
            let report = forks.inspect(info).unwrap();
            report
                .markers
                .iter()
                .map(|m| serde_json::json!({"seq": m.seq, "payload_len": m.payload_len}))
                .collect()
        }
    }
}

#[test]
fn template_markers_fork_with_two_acks_guest_gets_exact_payloads_then_stop_and_rm() {
    two_acks_then_stop_and_rm(Mode::Copy);
}

#[test]
fn zero_copy_fork_with_two_acks_guest_gets_exact_payloads_then_stop_and_rm() {
    two_acks_then_stop_and_rm(Mode::ZeroCopy);
}

fn two_acks_then_stop_and_rm(mode: Mode) {
    let env = Env::new();
    env.template(
        "web",
        &["--mailbox", "app.config:tok-app", "--mailbox", "secrets.v1"],
    );
    let markers = env.markers_json("web");
    assert_eq!(markers.len(), 2);
    for m in &markers {
        for key in [
            "kind",
            "name",
            "token",
            "offset",
            "seq",
            "payload_len",
            "duplicate",
            "valid",
        ] {
            assert!(m.get(key).is_some(), "marker lacks {key}: {m}");
        }
        assert_eq!(m["kind"], "fork");
        assert_eq!(m["valid"], true);
        assert_eq!(m["duplicate"], false);
        assert_eq!(m["seq"], 0);
    }
    assert!(
        markers
            .iter()
            .any(|m| m["name"] == "app.config" && m["token"] == "tok-app")
    );
    let before = hash_file(&env.snapshot_memory("web"));

    let app = r#"{"db":"postgres://db/app","workers":4,"nested":{"ack_port":"kept"}}"#;
    let secrets = r#"{"api_key":"s3cr3t"}"#;
    let app_arg = format!("app.config={app}");
    let secrets_arg = format!("secrets.v1={secrets}");
    let mut args = vec![
        "fork",
        "web",
        "--name",
        "web-1",
        "--payload",
        &app_arg,
        "--payload",
        &secrets_arg,
        "--ack",
        "app.config",
        "--ack",
        "secrets.v1=3000",
        "--json",
    ];
    args.extend_from_slice(mode.args());
    let out = env.ok(&args);
    let evs = events(&out);
    assert_eq!(evs.last().unwrap()["stage"], "done");
    for e in &evs {
        for key in ["stage", "status", "elapsed_ms"] {
            assert!(e.get(key).is_some(), "event lacks {key}: {e}");
        }
    }
    let stages: Vec<&str> = evs
        .iter()
        .filter(|e| e["status"] == "ok" && e.get("mailbox").is_none())
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "validate",
            "copy",
            "preflight",
            "patch",
            "restore",
            "ack",
            "done"
        ]
    );
    let ports: std::collections::BTreeMap<String, u64> = evs
        .iter()
        .filter(|e| e["stage"] == "ack" && e["status"] == "ok" && e.get("mailbox").is_some())
        .map(|e| {
            (
                e["mailbox"].as_str().unwrap().to_string(),
                e["ack_port"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ports.len(), 2, "both mailboxes acked: {evs:?}");

    // The guest log holds exactly the payloads sent, with ack_port injected.
    let log = std::fs::read_to_string(env.fork_dir("web-1").join("guest.log")).unwrap();
    let mut got = guest_payloads(&log);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), 2, "guest log: {log}");
    for (name, sent) in [("app.config", app), ("secrets.v1", secrets)] {
        let (_, mut received) = got.iter().find(|(n, _)| n == name).cloned().unwrap();
        assert_eq!(received["ack_port"].as_u64(), Some(ports[name]));
        received.as_object_mut().unwrap().remove("ack_port");
        assert_eq!(received, serde_json::from_str::<Value>(sent).unwrap());
    }

    // The guest consumed its mailboxes: seq is back to 0 in the fork.
    let now = fork_markers(&env, "web-1", mode);
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(
        now.iter()
            .all(|m| m["seq"] == 0 && m["payload_len"].as_u64() > Some(0)),
        "{mode:?}: {now:?}"
    );
    if mode == Mode::ZeroCopy {
        assert!(
            !env.fork_dir("web-1").join("memory").exists(),
            "a zero-copy fork has no memory copy"
        );
    }

    let forks: Vec<Value> = serde_json::from_str(&env.ok(&["forks", "--json"])).unwrap();
    assert_eq!(forks.len(), 1);
    assert_eq!(forks[0]["name"], "web-1");
    assert_eq!(forks[0]["source"], "web");
    assert_eq!(forks[0]["status"], "running");
    let pid = forks[0]["pid"].as_u64().unwrap();

    env.ok(&["stop", "web-1"]);
    let forks: Vec<Value> = serde_json::from_str(&env.ok(&["forks", "--json"])).unwrap();
    assert_eq!(forks[0]["status"], "stopped");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || !std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .contains("web-1")
    );
    env.ok(&["rm", "web-1"]);
    assert!(env.forks_on_disk().is_empty());
    assert_eq!(hash_file(&env.snapshot_memory("web")), before);
}

/// Run a fork that must fail; return its events, and check nothing is left
/// behind and the source is untouched.
fn failing_fork(env: &Env, snapshot: &str, args: &[&str]) -> Vec<Value> {
    let before = hash_file(&env.snapshot_memory(snapshot));
    let mut full = vec!["fork", snapshot, "--json"];
    full.extend_from_slice(args);
    let out = env.run(&full);
    assert!(!out.status.success(), "fork should fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("failed"), "reason on stderr: {stderr}");
    let evs = events(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(evs.last().unwrap()["stage"], "failed");
    assert!(
        env.forks_on_disk().is_empty(),
        "a failed fork leaves nothing: {:?}",
        env.forks_on_disk()
    );
    assert_eq!(hash_file(&env.snapshot_memory(snapshot)), before);
    evs
}

fn failed_at(evs: &[Value]) -> String {
    evs.iter()
        .find(|e| e["status"] == "failed")
        .map(|e| e["stage"].as_str().unwrap().to_string())
        .unwrap()
}

fn wrote_nothing(evs: &[Value]) -> bool {
    !evs.iter().any(|e| e["stage"] == "patch")
}

#[test]
fn missing_marker_fails_before_anything_is_written() {
    let env = Env::new();
    env.template("t", &["--mailbox", "present"]);
    let evs = failing_fork(&env, "t", &["--payload", r#"absent={"x":1}"#]);
    assert!(final_error(&evs).contains("absent"));
    assert!(wrote_nothing(&evs));
    // With an explicit token the lookup happens at preflight, still before any write.
    let evs = failing_fork(
        &env,
        "t",
        &["--payload", r#"absent={"x":1}"#, "--token", "absent=zzz"],
    );
    assert_eq!(failed_at(&evs), "preflight");
    assert!(final_error(&evs).contains("not found"));
    assert!(wrote_nothing(&evs));
    // A right name with a wrong token is not the marker either.
    let evs = failing_fork(
        &env,
        "t",
        &["--payload", r#"present={}"#, "--token", "present=wrong"],
    );
    assert_eq!(failed_at(&evs), "preflight");
    assert!(wrote_nothing(&evs));
}

#[test]
fn oversize_payload_is_rejected() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let big = format!(r#"m={{"k":"{}"}}"#, "x".repeat(3900));
    let evs = failing_fork(&env, "t", &["--payload", &big]);
    assert_eq!(failed_at(&evs), "validate");
    assert!(final_error(&evs).contains("3832"));
}

#[test]
fn payload_that_only_overflows_after_ack_port_injection_is_rejected() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let exact = format!(r#"m={{"k":"{}"}}"#, "x".repeat(3832 - 8));
    assert_eq!(exact.len() - 2, 3832);
    // Without an ack it fits exactly (and patching works).
    env.ok(&[
        "fork",
        "t",
        "--name",
        "fits",
        "--payload",
        &exact,
        "--no-restore",
    ]);
    env.ok(&["rm", "fits"]);
    let evs = failing_fork(&env, "t", &["--payload", &exact, "--ack", "m"]);
    assert_eq!(failed_at(&evs), "validate");
    assert!(final_error(&evs).contains("after ack_port injection"));
}

#[test]
fn non_object_payload_is_rejected() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    for bad in ["m=[1,2]", "m=\"text\"", "m=42", "m={broken"] {
        let evs = failing_fork(&env, "t", &["--payload", bad]);
        assert!(final_error(&evs).contains("must be a JSON object"), "{bad}");
    }
}

#[test]
fn duplicate_names_in_a_request_are_rejected() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let evs = failing_fork(&env, "t", &["--payload", "m={}", "--payload", "m={}"]);
    assert!(final_error(&evs).contains("more than once"));
}

#[test]
fn duplicate_marker_in_memory_is_shown_and_never_patched() {
    let env = Env::new();
    env.template(
        "t",
        &["--mailbox", "m", "--mailbox", "other", "--stray-copy", "m"],
    );
    let markers = env.markers_json("t");
    let dups: Vec<_> = markers.iter().filter(|m| m["name"] == "m").collect();
    assert_eq!(dups.len(), 2);
    assert!(dups.iter().all(|m| m["duplicate"] == true));
    let evs = failing_fork(&env, "t", &["--payload", "m={}"]);
    assert!(final_error(&evs).contains("ambiguous"));
    let token = dups[0]["token"].as_str().unwrap();
    let evs = failing_fork(
        &env,
        "t",
        &["--payload", "m={}", "--token", &format!("m={token}")],
    );
    assert!(final_error(&evs).contains("ambiguous"));
    assert!(wrote_nothing(&evs));
}

#[test]
fn seventeen_mailboxes_are_rejected() {
    let env = Env::new();
    let names: Vec<String> = (0..17).map(|i| format!("mb{i}")).collect();
    let mut args = Vec::new();
    for n in &names {
        args.push("--mailbox".to_string());
        args.push(n.clone());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    env.template("t", &refs);
    assert_eq!(env.markers_json("t").len(), 17);
    let payloads: Vec<String> = names.iter().map(|n| format!("{n}={{}}")).collect();
    let mut fargs = Vec::new();
    for p in &payloads {
        fargs.push("--payload");
        fargs.push(p.as_str());
    }
    let evs = failing_fork(&env, "t", &fargs);
    assert!(final_error(&evs).contains("at most 16"));
    // Sixteen is fine.
    let mut fargs = vec!["--name", "sixteen", "--no-restore"];
    for p in &payloads[..16] {
        fargs.push("--payload");
        fargs.push(p.as_str());
    }
    let mut full = vec!["fork", "t"];
    full.extend_from_slice(&fargs);
    env.ok(&full);
}

#[test]
fn guest_that_never_acks_fails_the_fork_and_rolls_back() {
    never_acks_rolls_back(Mode::Copy);
}

#[test]
fn zero_copy_guest_that_never_acks_fails_the_fork_and_rolls_back() {
    never_acks_rolls_back(Mode::ZeroCopy);
}

fn never_acks_rolls_back(mode: Mode) {
    let env = Env::new();
    env.template("t", &["--mailbox", "m", "--guest-fault", "m=no-ack"]);
    let mut args = vec!["--payload", "m={}", "--ack", "m=400"];
    args.extend_from_slice(mode.args());
    let evs = failing_fork(&env, "t", &args);
    assert_eq!(failed_at(&evs), "ack");
    assert!(final_error(&evs).contains("no ack"));
    assert!(
        evs.iter()
            .any(|e| e["stage"] == "rollback" && e["status"] == "ok")
    );
}

#[test]
fn bad_ack_does_not_count() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m", "--guest-fault", "m=bad-ack"]);
    let evs = failing_fork(&env, "t", &["--payload", "m={}", "--ack", "m=600"]);
    assert_eq!(failed_at(&evs), "ack");
    assert!(
        final_error(&evs).contains("ignored"),
        "{}",
        final_error(&evs)
    );
}

#[test]
fn slow_guest_within_deadline_acks() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m", "--guest-fault", "m=slow:300"]);
    let out = env.ok(&[
        "fork",
        "t",
        "--name",
        "s",
        "--payload",
        "m={}",
        "--ack",
        "m=5000",
        "--json",
    ]);
    assert_eq!(events(&out).last().unwrap()["stage"], "done");
    env.ok(&["rm", "s"]);
}

#[test]
fn ctrl_c_mid_session_rolls_back() {
    ctrl_c_rolls_back(Mode::Copy);
}

#[test]
fn zero_copy_ctrl_c_mid_session_rolls_back() {
    ctrl_c_rolls_back(Mode::ZeroCopy);
}

fn ctrl_c_rolls_back(mode: Mode) {
    let env = Env::new();
    env.template("t", &["--mailbox", "m", "--guest-fault", "m=slow:30000"]);
    let before = hash_file(&env.snapshot_memory("t"));
    let mut child = env
        .cmd()
        .args([
            "fork",
            "t",
            "--name",
            "cc",
            "--payload",
            "m={}",
            "--ack",
            "m=30000",
            "--json",
        ])
        .args(mode.args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    // Wait for the ack wait to begin: the guest is running, the fork exists.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let e: Value = serde_json::from_str(&line).unwrap();
        let waiting = e["stage"] == "ack" && e["status"] == "started" && e.get("mailbox").is_some();
        seen.push(e);
        if waiting {
            break;
        }
    }
    assert!(env.fork_dir("cc").exists());
    let fork: Value = serde_json::from_str(
        &std::fs::read_to_string(env.fork_dir("cc").join("fork.json")).unwrap(),
    )
    .unwrap();
    let guest_pid = fork["pid"].as_u64().unwrap();
    let guest_start = std::fs::read_to_string(format!("/proc/{guest_pid}/stat")).unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .expect("signal the child");
    for line in lines {
        seen.push(serde_json::from_str(&line.unwrap()).unwrap());
    }
    let status = child.wait().unwrap();
    // The exit status comes from the error's kind, at every stage.
    assert_eq!(
        status.code(),
        Some(130),
        "Ctrl-C in the ack stage exits 130"
    );
    assert_eq!(seen.last().unwrap()["stage"], "failed");
    assert_eq!(seen.last().unwrap()["kind"], "cancelled");
    assert!(
        seen.iter()
            .any(|e| e["stage"] == "rollback" && e["status"] == "ok")
    );
    assert!(!env.fork_dir("cc").exists());
    // The guest is gone (its pid, if reused, is another process).
    let stat = std::fs::read_to_string(format!("/proc/{guest_pid}/stat")).unwrap_or_default();
    let alive = stat.split(' ').nth(21) == guest_start.split(' ').nth(21) && !stat.contains(") Z ");
    assert!(!alive, "{mode:?}: guest still running: {stat}");
    assert_eq!(hash_file(&env.snapshot_memory("t")), before);
}

#[test]
fn no_restore_keeps_the_patched_fork_for_inspection() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let before = hash_file(&env.snapshot_memory("t"));
    env.ok(&[
        "fork",
        "t",
        "--name",
        "p",
        "--payload",
        r#"m={"v":1}"#,
        "--no-restore",
    ]);
    let m = env.markers_json(env.fork_dir("p").to_str().unwrap());
    assert_eq!(m[0]["seq"], 1);
    assert_eq!(m[0]["payload"], r#"{"v":1}"#);
    let forks: Vec<Value> = serde_json::from_str(&env.ok(&["forks", "--json"])).unwrap();
    assert_eq!(forks[0]["status"], "patched");
    assert_eq!(hash_file(&env.snapshot_memory("t")), before);
}

#[test]
fn snapshots_json_lists_required_fields() {
    let env = Env::new();
    env.template("a", &["--mailbox", "m"]);
    let snaps: Vec<Value> = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    assert_eq!(snaps.len(), 1);
    for key in [
        "name",
        "vmm",
        "memory_size",
        "allocated",
        "created_at",
        "path",
    ] {
        assert!(snaps[0].get(key).is_some(), "{key}");
    }
    assert_eq!(snaps[0]["vmm"], "sim");
    assert_eq!(snaps[0]["memory_size"], 64 << 20);
    assert!(snaps[0]["allocated"].as_u64().unwrap() < 64 << 20);
}

#[test]
fn demo_no_tui_is_idempotent() {
    let env = Env::new();
    env.ok(&["demo", "--no-tui"]);
    let first: Vec<Value> = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    assert!(first.len() >= 4);
    env.ok(&["demo", "--no-tui"]);
    let second: Vec<Value> = serde_json::from_str(&env.ok(&["snapshots", "--json"])).unwrap();
    assert_eq!(first, second);
    let dup = env.markers_json("dup-marker");
    assert!(dup.iter().any(|m| m["duplicate"] == true));
    let net = env.markers_json("edge-net");
    assert!(
        net.iter()
            .any(|m| m["kind"] == "resume-network" && m["name"].is_null())
    );
}

#[test]
fn bad_names_cannot_escape_the_store() {
    let env = Env::new();
    let out = env.run(&[
        "template",
        "create",
        "../evil",
        "--mailbox",
        "m",
        "--memory",
        "64M",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid name"));
    env.template("t", &["--mailbox", "m"]);
    let out = env.run(&["fork", "t", "--name", "../x", "--payload", "m={}"]);
    assert!(!out.status.success());
}

#[test]
fn rules_1_and_2_are_checked_before_any_marker_lookup() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let payloads: Vec<String> = (0..17).map(|i| format!("nosuch{i}={{}}")).collect();
    let mut args = Vec::new();
    for p in &payloads {
        args.push("--payload");
        args.push(p.as_str());
    }
    let evs = failing_fork(&env, "t", &args);
    assert_eq!(failed_at(&evs), "validate");
    assert!(
        final_error(&evs).contains("at most 16"),
        "{}",
        final_error(&evs)
    );
    let evs = failing_fork(&env, "t", &["--payload", "bad name!={}"]);
    assert!(
        final_error(&evs).contains("breaks the rule"),
        "{}",
        final_error(&evs)
    );
}

#[test]
fn all_or_nothing_one_marker_found_one_missing_writes_nothing() {
    let env = Env::new();
    env.template("t", &["--mailbox", "here"]);
    let evs = failing_fork(&env, "t", &["--payload", "here={}", "--payload", "gone={}"]);
    assert_eq!(failed_at(&evs), "preflight");
    assert!(final_error(&evs).contains("gone"));
    assert!(
        wrote_nothing(&evs),
        "the marker that was found is not patched either"
    );
}

#[test]
fn mailboxes_only_for_standby_snapshots() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    let meta_path = env.store().join("snapshots/t/snapshot.json");
    let mut meta: Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["kind"] = Value::from("running");
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let evs = failing_fork(&env, "t", &["--payload", "m={}"]);
    assert_eq!(failed_at(&evs), "validate");
    assert!(final_error(&evs).contains("not a standby snapshot"));
}

#[test]
fn a_fork_with_a_broken_fork_json_is_listed_and_removable() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    env.ok(&["fork", "t", "--name", "b", "--payload", "m={}"]);
    std::fs::write(env.fork_dir("b").join("fork.json"), b"{ not json").unwrap();
    let forks: Vec<Value> = serde_json::from_str(&env.ok(&["forks", "--json"])).unwrap();
    assert_eq!(forks[0]["status"], "broken");
    env.ok(&["rm", "b"]);
    assert!(env.forks_on_disk().is_empty());
}

#[test]
fn guest_controlled_marker_text_is_escaped_in_tables() {
    let env = Env::new();
    let mem = env.dir.path().join("memory");
    let f = std::fs::File::create(&mem).unwrap();
    f.set_len(1 << 20).unwrap();
    let mut marker = b"HYPEMAN_FORK_MAILBOX_V1\0ok\0tok\x1b]0;pwned\x07".to_vec();
    marker.resize(4096, 0);
    std::os::unix::fs::FileExt::write_all_at(&f, &marker, 8192).unwrap();
    let out = env.ok(&["markers", mem.to_str().unwrap()]);
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("\\u{1b}]0;pwned"));
}
