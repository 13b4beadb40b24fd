//! `forkmail fork --count N` and `--matrix FILE`: many forks, each with its
//! own payload, all or nothing unless `--keep-going`.

use crate::support::cli as common;

use std::collections::BTreeSet;

use common::{Env, events, hash_file};
use serde_json::Value;

fn summary(evs: &[Value]) -> &Value {
    let last = evs.last().expect("lines");
    assert!(
        last.get("summary").is_some(),
        "the last line is the summary: {last}"
    );
    &last["summary"]
}

fn fork_events(stdout: &str) -> Vec<Value> {
    events(stdout)
}

fn guest_log(env: &Env, fork: &str) -> String {
    std::fs::read_to_string(env.fork_dir(fork).join("guest.log")).unwrap_or_default()
}

fn running_forks(env: &Env) -> Vec<Value> {
    serde_json::from_str(&env.ok(&["forks", "--json"])).expect("forks json")
}

#[test]
fn sixteen_forks_each_with_its_own_index() {
    let env = Env::new();
    env.template(
        "web",
        &["--mailbox", "app.config", "--mailbox", "secrets.v1"],
    );
    let before = hash_file(&env.snapshot_memory("web"));
    let out = env.ok(&[
        "fork",
        "web",
        "--name",
        "fan",
        "--count",
        "16",
        "--parallel",
        "4",
        "--json",
        "--payload",
        r#"app.config={"replica":{{i}},"fork":"{{fork}}","id":"{{uuid}}"}"#,
        "--ack",
        "app.config=30000",
        "--payload",
        r#"secrets.v1={"n":"{{i}}"}"#,
    ]);
    let evs = fork_events(&out);
    let s = summary(&evs);
    assert_eq!(
        (s["done"].as_u64(), s["failed"].as_u64()),
        (Some(16), Some(0)),
        "{s}"
    );
    for st in ["validate", "copy", "restore", "ack", "done"] {
        let sp = &s["stages"][st];
        assert!(
            sp["median_ms"].as_u64().unwrap() <= sp["p95_ms"].as_u64().unwrap(),
            "{s}"
        );
        assert!(sp["p95_ms"].as_u64().unwrap() <= sp["max_ms"].as_u64().unwrap());
    }
    // Every event line names its fork; every fork ends in done.
    let done: BTreeSet<&str> = evs
        .iter()
        .filter(|e| e["stage"] == "done")
        .map(|e| e["fork"].as_str().unwrap())
        .collect();
    assert_eq!(done.len(), 16);
    // Ports are distinct across all forks.
    let ports: Vec<u64> = evs
        .iter()
        .filter_map(|e| e["ack_port"].as_u64().filter(|_| e["status"] == "started"))
        .collect();
    assert_eq!(ports.len(), 16);
    assert_eq!(
        ports.iter().collect::<BTreeSet<_>>().len(),
        16,
        "ports distinct"
    );
    // Each guest received its own i (its own log), and its own name.
    let mut uuids = BTreeSet::new();
    for i in 0..16 {
        let name = format!("fan-{i}");
        let log = guest_log(&env, &name);
        let line = log
            .lines()
            .find(|l| l.contains("mailbox=app.config payload="))
            .unwrap_or_else(|| panic!("{name}: no payload line in {log}"));
        let v: Value = serde_json::from_str(line.split_once("payload=").unwrap().1).unwrap();
        assert_eq!(v["replica"], i, "{name}: {v}");
        assert_eq!(v["fork"], name.as_str());
        uuids.insert(v["id"].as_str().unwrap().to_string());
        assert!(
            log.contains(&format!(r#"mailbox=secrets.v1 payload={{"n":"{i}"}}"#)),
            "{log}"
        );
    }
    assert_eq!(uuids.len(), 16, "one uuid per fork");
    assert_eq!(
        hash_file(&env.snapshot_memory("web")),
        before,
        "template byte-identical"
    );
    // `forks` lists them in natural order, each with its divergence.
    let forks = running_forks(&env);
    let names: Vec<&str> = forks.iter().map(|f| f["name"].as_str().unwrap()).collect();
    let want: Vec<String> = (0..16).map(|i| format!("fan-{i}")).collect();
    assert_eq!(names, want);
    assert!(
        forks
            .iter()
            .all(|f| f["divergence"]["bytes"].as_u64().unwrap() > 0
                && f["divergence"]["source"] == "allocated_blocks")
    );
    assert!(s["divergence"]["bytes"].as_u64().unwrap() > 0);
    for n in &want {
        env.ok(&["rm", n]);
    }
}

#[test]
fn sixty_four_zero_copy_forks_share_the_template() {
    let env = Env::new();
    env.template("web", &["--mailbox", "app.config"]);
    let out = env.ok(&[
        "fork",
        "web",
        "--name",
        "z",
        "--count",
        "64",
        "--parallel",
        "8",
        "--zero-copy",
        "--json",
        "--payload",
        r#"app.config={"replica":{{i}}}"#,
        "--ack",
        "app.config=30000",
    ]);
    let evs = fork_events(&out);
    let s = summary(&evs);
    assert_eq!(s["done"], 64, "{s}");
    let forks = running_forks(&env);
    assert_eq!(forks.len(), 64);
    for f in &forks {
        assert_eq!(f["status"], "running");
        assert_eq!(f["zero_copy"], true);
        assert_eq!(f["divergence"]["source"], "private_dirty");
        // The patched frame's page, and little else.
        let b = f["divergence"]["bytes"].as_u64().unwrap();
        assert!((4096..=64 * 1024).contains(&b), "{f}");
    }
    assert!(!env.fork_dir("z-0").join("memory").exists(), "no copy");
    for f in &forks {
        env.ok(&["rm", f["name"].as_str().unwrap()]);
    }
}

fn faulty_store() -> (Env, std::path::PathBuf) {
    let env = Env::new();
    env.template(
        "mix",
        &[
            "--mailbox",
            "app",
            "--mailbox",
            "mute",
            "--guest-fault",
            "mute=no-ack",
        ],
    );
    let matrix = env.dir.path().join("matrix.jsonl");
    std::fs::write(
        &matrix,
        r#"{"name":"eu-1","payloads":{"app":{"region":"eu","n":123456789012345678901234567890}},"ack":["app"]}
{"name":"us-1","payloads":{"app":"{\"region\":\"us\"}"},"ack":true}

{"name":"bad-1","payloads":{"app":{"region":"ap"},"mute":{}},"ack":{"app":2000,"mute":300}}
{"name":"sa-1","payloads":{"app":{"region":"sa"}},"ack":["app"]}
"#,
    )
    .expect("write matrix");
    (env, matrix)
}

#[test]
fn a_matrix_fan_out_with_a_faulty_fork_rolls_back_all_of_it() {
    let (env, matrix) = faulty_store();
    let out = env.run(&[
        "fork",
        "mix",
        "--matrix",
        matrix.to_str().unwrap(),
        "--parallel",
        "2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(6), "ack_timeout decides the status");
    let evs = fork_events(&String::from_utf8_lossy(&out.stdout));
    let s = summary(&evs);
    let failures = s["failures"].as_array().unwrap();
    let bad = failures
        .iter()
        .find(|f| f["fork"] == "bad-1")
        .expect("bad-1 reported");
    assert_eq!(bad["kind"], "ack_timeout");
    assert!(bad["error"].as_str().unwrap().contains("mute"), "{bad}");
    assert_eq!(s["done"], 0, "{s}");
    assert!(
        env.forks_on_disk().is_empty(),
        "all or nothing: {:?}",
        env.forks_on_disk()
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad-1") || bad["fork"] == "bad-1");
}

#[test]
fn keep_going_keeps_the_good_forks_and_reports_the_bad_one() {
    let (env, matrix) = faulty_store();
    let out = env.run(&[
        "fork",
        "mix",
        "--matrix",
        matrix.to_str().unwrap(),
        "--keep-going",
    ]);
    assert_eq!(out.status.code(), Some(6));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("4 forks of mix") && text.contains("3 done, 1 failed"),
        "{text}"
    );
    assert!(text.contains("median") && text.contains("p95"), "{text}");
    assert!(
        text.contains("bad-1") && text.contains("ack_timeout"),
        "{text}"
    );
    assert_eq!(env.forks_on_disk(), ["eu-1", "sa-1", "us-1"]);
    let eu = guest_log(&env, "eu-1");
    assert!(
        eu.contains(r#""n":123456789012345678901234567890"#),
        "numbers keep their digits: {eu}"
    );
    assert!(guest_log(&env, "us-1").contains(r#"{"region":"us","ack_port":"#));
    for f in ["eu-1", "sa-1", "us-1"] {
        env.ok(&["rm", f]);
    }
}

#[test]
fn a_count_fan_out_of_a_silent_guest_fails_every_fork() {
    let env = Env::new();
    env.template(
        "quiet",
        &["--mailbox", "app", "--guest-fault", "app=no-ack"],
    );
    let out = env.run(&[
        "fork",
        "quiet",
        "--count",
        "3",
        "--keep-going",
        "--payload",
        r#"app={"i":{{i}}}"#,
        "--ack",
        "app=200",
    ]);
    assert_eq!(out.status.code(), Some(6));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 done, 3 failed"), "{text}");
    assert!(env.forks_on_disk().is_empty());
    // All or nothing: the first failure stops the fan-out; the rest never start.
    let out = env.run(&[
        "fork",
        "quiet",
        "--count",
        "3",
        "--parallel",
        "1",
        "--payload",
        r#"app={"i":{{i}}}"#,
        "--ack",
        "app=200",
    ]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "the first real failure decides the status"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("not started: another fork of the fan-out failed"),
        "{text}"
    );
    assert!(text.contains("ack_timeout"), "{text}");
    assert!(env.forks_on_disk().is_empty());
}

#[test]
fn bad_plans_are_refused_before_anything_is_made() {
    let env = Env::new();
    env.template("web", &["--mailbox", "app"]);
    // An unknown placeholder.
    let out = env.run(&[
        "fork",
        "web",
        "--count",
        "2",
        "--payload",
        r#"app={"i":{{idx}}}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("{{idx}}"));
    // A payload that is not JSON once expanded, for one fork only.
    let out = env.run(&[
        "fork",
        "web",
        "--count",
        "2",
        "--payload",
        r#"app={"i":{{fork}}}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fork 0"));
    assert!(env.forks_on_disk().is_empty());
    // Too big for the disk: refused with the numbers.
    env.template("fat", &["--mailbox", "app", "--data-percent", "50"]);
    let out = env.run(&["fork", "fat", "--count", "4096", "--payload", r#"app={}"#]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("do not fit") && err.contains("4096 forks × "),
        "{err}"
    );
    assert!(err.contains("free"), "{err}");
    assert!(env.forks_on_disk().is_empty());
}

#[test]
fn each_fork_of_a_fan_out_is_a_session_in_the_history() {
    use forkmail::history;
    use forkmail::store::Store;
    let (env, matrix) = faulty_store();
    // One at a time: eu-1 and us-1 are done, bad-1 fails, sa-1 never starts.
    let out = env.run(&[
        "fork",
        "mix",
        "--matrix",
        matrix.to_str().unwrap(),
        "--parallel",
        "1",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(6));
    let store = Store::open(env.store()).expect("store");
    let past: Vec<_> = history::ids(&store)
        .iter()
        .map(|id| history::load(&store, id).expect("load"))
        .collect();
    let names: Vec<&str> = past
        .iter()
        .map(|p| p.header.fork_name.as_deref().unwrap_or("?"))
        .collect();
    assert_eq!(
        names,
        ["eu-1", "us-1", "bad-1"],
        "in index order; the fork that never started is no session"
    );
    for (i, p) in past.iter().enumerate() {
        assert_eq!(
            (p.header.origin.as_str(), p.header.snapshot.as_str()),
            ("cli", "mix")
        );
        // Tagged with its fan-out, so a listing can group it again.
        let tag = p.header.fanout.as_ref().expect("a fan-out's fork");
        assert_eq!((tag.index, tag.count, tag.parallel), (i, 4, 1));
        assert_eq!(tag.id, past[0].header.fanout.as_ref().unwrap().id);
        assert!(p.finished(), "{:?}", p.events.last());
        let fork = p.header.fork_name.as_deref().unwrap();
        assert!(
            p.events.iter().all(|e| e.fork == fork),
            "its own events only"
        );
    }
    assert_eq!(
        past[0].events.last().unwrap().stage(),
        forkmail::fork::Stage::Done
    );
    assert_eq!(
        past[2].events.last().unwrap().stage(),
        forkmail::fork::Stage::Failed
    );
    // Replayable: the request is the fork's own, payload and acks included.
    let again = past[2].header.request();
    let mute = again
        .mailboxes
        .iter()
        .find(|m| m.name == "mute")
        .expect("mute");
    assert_eq!((mute.wait_for_ack, mute.ack_timeout_ms), (true, Some(300)));
    assert!(
        again.mailboxes[0]
            .payload
            .as_deref()
            .is_some_and(|p| p.contains(r#""region":"ap""#)),
        "{again:?}"
    );
}
