//! What the CLI gives back: exit statuses from error kinds (Ctrl-C is 130 at
//! every stage), quiet ends on a closed pipe, and no guest-controlled escape
//! sequence ever reaching a terminal through human output.

use crate::support::cli as common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{Env, events};
use serde_json::Value;

fn status_of(env: &Env, args: &[&str]) -> (Option<i32>, String, String) {
    let out = env.run(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_statuses_come_from_the_error_kind() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m", "--guest-fault", "m=no-ack"]);
    let cases: [(&[&str], i32, &str); 5] = [
        (&["fork", "t", "--payload", "m=[1]"], 2, "bad_request"),
        (&["fork", "t", "--payload", "nope={}"], 3, "marker_missing"),
        (&["fork", "absent", "--payload", "m={}"], 4, "not_found"),
        (
            &["fork", "t", "--payload", "m={}", "--ack", "m=150"],
            6,
            "ack_timeout",
        ),
        (&["fork", "t", "--ack", "m"], 2, "usage"),
    ];
    for (args, code, kind) in cases {
        let mut with_json: Vec<&str> = args.to_vec();
        with_json.push("--json");
        let (got, stdout, stderr) = status_of(&env, &with_json);
        assert_eq!(got, Some(code), "{args:?}: {stderr}");
        if kind != "usage" {
            let evs = events(&stdout);
            assert_eq!(evs.last().unwrap()["kind"], kind, "{args:?}");
        }
    }
    assert!(env.forks_on_disk().is_empty());
    let (got, _, _) = status_of(&env, &["rm", "absent"]);
    assert_eq!(got, Some(4));
}

#[test]
fn sigterm_during_the_copy_exits_130_and_leaves_nothing() {
    let env = Env::new();
    // Enough data that the copy takes a moment.
    env.ok(&[
        "template",
        "create",
        "big",
        "--mailbox",
        "m",
        "--memory",
        "2G",
        "--data-percent",
        "15",
    ]);
    let mut child = env
        .cmd()
        .args(["fork", "big", "--name", "c", "--payload", "m={}", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen: Vec<Value> = Vec::new();
    for line in lines.by_ref() {
        let e: Value = serde_json::from_str(&line.expect("line")).expect("json");
        let copying = e["stage"] == "copy" && e["status"] == "started";
        seen.push(e);
        if copying {
            break;
        }
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .expect("signal the child");
    for line in lines {
        seen.push(serde_json::from_str(&line.expect("line")).expect("json"));
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let last = seen.last().unwrap();
    assert_eq!(
        (&last["stage"], &last["kind"]),
        (&Value::from("failed"), &Value::from("cancelled"))
    );
    assert!(env.forks_on_disk().is_empty(), "{:?}", env.forks_on_disk());
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m"]);
    for n in 0..3 {
        env.ok(&["fork", "t", "--name", &format!("f{n}"), "--payload", "m={}"]);
    }
    for args in [
        &["forks"][..],
        &["snapshots"],
        &["markers", "t"],
        &["forks", "--json"],
    ] {
        let mut child = env
            .cmd()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // `| head -0`: the reader goes away before anything is read.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
    for n in 0..3 {
        env.ok(&["rm", &format!("f{n}")]);
    }
}

#[test]
fn marker_names_from_guest_memory_never_reach_the_terminal_raw() {
    let env = Env::new();
    env.template("t", &["--mailbox", "present"]);
    // The guest armed a mailbox whose name carries an OSC title sequence
    // and a CSI clear-screen.
    let evil = b"HYPEMAN_FORK_MAILBOX_V1\0x\x1b]0;pwned\x07\x1b[2J\0tok";
    let mut page = evil.to_vec();
    page.resize(4096, 0);
    let mem = env.snapshot_memory("t");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&mem)
        .expect("open");
    std::os::unix::fs::FileExt::write_all_at(&f, &page, 4096 * 7).expect("write");
    drop(f);
    let out = env.run(&["fork", "t", "--payload", r#"absent={"x":1}"#]);
    assert_eq!(out.status.code(), Some(3));
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains('\x1b') && !text.contains('\x07'),
            "{what}: {text:?}"
        );
        if what == "stderr" {
            assert!(text.contains("\\u{1b}]0;pwned"), "escaped, visible: {text}");
        }
    }
    // --json names the marker too (quoted, its control characters escaped).
    let out = env.run(&["fork", "t", "--json", "--payload", r#"absent={"x":1}"#]);
    let evs = events(&String::from_utf8_lossy(&out.stdout));
    let err = evs.last().unwrap()["error"].as_str().unwrap().to_string();
    assert!(err.contains("pwned") && !err.contains('\x1b'), "{err:?}");
}
