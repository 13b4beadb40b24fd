//! `forkmail check` on the demo store: the reference guest passes every
//! check, each faulty guest fails exactly the checks its fault breaks, and
//! the JUnit file has JUnit's required structure.

use crate::support::cli as common;

use std::collections::BTreeMap;

use common::Env;
use quick_xml::events::Event;
use serde_json::Value;

/// check name → verdict, from `check --json`; and the exit status.
fn table(env: &Env, snapshot: &str, extra: &[&str]) -> (BTreeMap<String, String>, Vec<Value>, i32) {
    let mut args = vec!["check", snapshot, "--json"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per check"))
        .collect();
    let verdicts = rows
        .iter()
        .map(|r| {
            (
                r["check"].as_str().unwrap().to_string(),
                r["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (verdicts, rows, out.status.code().unwrap_or(-1))
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const ALL_PASS: [(&str, &str); 6] = [
    ("acks", "pass"),
    ("consumption", "pass"),
    ("independence", "pass"),
    ("limits", "pass"),
    ("no-payload", "pass"),
    ("robustness", "pass"),
];

fn evidence(rows: &[Value], check: &str) -> String {
    let r = rows.iter().find(|r| r["check"] == check).expect("row");
    r["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn demo_env() -> Env {
    let env = Env::new();
    env.ok(&["demo", "--no-tui"]);
    env
}

#[test]
fn the_reference_guest_passes_every_check_in_both_modes() {
    let env = demo_env();
    // A generous deadline: a loaded CI machine must not turn a fast guest
    // into a slow one (the faulty guests' test keeps the default).
    let t = ["--vmm-timeout", "10000"];
    let zt = ["--vmm-timeout", "10000", "--zero-copy"];
    for (snap, extra) in [("web", &t[..]), ("edge-net", &t[..]), ("web", &zt[..])] {
        let (t, rows, code) = table(&env, snap, extra);
        assert_eq!(t, expect(&ALL_PASS), "{snap} {extra:?}: {rows:#?}");
        assert_eq!(code, 0);
        let acks = rows.iter().find(|r| r["check"] == "acks").unwrap();
        assert!(acks["latency"]["samples"].as_u64().unwrap() >= 3, "{acks}");
        assert!(evidence(&rows, "limits").contains("3832-byte payload written"));
        assert!(evidence(&rows, "independence").contains("echo seen"));
        // Each ack port was listened to after the ack: no duplicate.
        assert!(
            evidence(&rows, "acks").contains("no second datagram"),
            "{rows:#?}"
        );
    }
    assert!(
        env.forks_on_disk().is_empty(),
        "the suite removes its forks: {:?}",
        env.forks_on_disk()
    );
}

#[test]
fn faulty_guests_fail_exactly_the_checks_their_fault_breaks() {
    let env = demo_env();
    env.ok(&[
        "template",
        "create",
        "badack",
        "--memory",
        "64M",
        "--mailbox",
        "app",
        "--mailbox",
        "cfg",
        "--guest-fault",
        "app=bad-ack",
    ]);
    let only_acks_fail: Vec<(&str, &str)> = ALL_PASS
        .iter()
        .map(|(c, v)| if *c == "acks" { (*c, "fail") } else { (*c, *v) })
        .collect();
    for snap in ["silent", "slow-ack", "badack"] {
        let (t, rows, code) = table(&env, snap, &[]);
        assert_eq!(t, expect(&only_acks_fail), "{snap}: {rows:#?}");
        assert_eq!(code, 8, "a failed required check is exit status 8");
        let ev = evidence(&rows, "acks");
        match snap {
            "silent" => assert!(ev.contains("no ack from the guest"), "{ev}"),
            "slow-ack" => assert!(ev.contains("past the 2000 ms deadline"), "{ev}"),
            _ => assert!(ev.contains("did not count"), "{ev}"),
        }
    }
    // With a deadline longer than its 2.5 s, the slow guest passes.
    let (t, rows, code) = table(&env, "slow-ack", &["--vmm-timeout", "6000"]);
    assert_eq!((t, code), (expect(&ALL_PASS), 0), "{rows:#?}");
    assert!(env.forks_on_disk().is_empty(), "{:?}", env.forks_on_disk());
}

#[test]
fn a_guest_that_crashes_on_a_payload_fails_consumption_and_warns() {
    let env = Env::new();
    env.template(
        "crashy",
        &["--mailbox", "app", "--guest-fault", "app=crash"],
    );
    let (t, rows, code) = table(&env, "crashy", &["--vmm-timeout", "500"]);
    assert_eq!(t["acks"], "fail", "{rows:#?}");
    assert_eq!(t["consumption"], "fail");
    assert_eq!(t["robustness"], "warn", "a warning, not a failure");
    assert_eq!(code, 8);
    assert!(
        evidence(&rows, "acks").contains("guest_exited"),
        "{rows:#?}"
    );
}

#[test]
fn junit_xml_has_the_required_structure() {
    let env = demo_env();
    let xml_path = env.dir.path().join("check.xml");
    let out = env.run(&["check", "silent", "--junit", xml_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(8));
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("CHECK") && human.contains("FAIL"), "{human}");
    let xml = std::fs::read_to_string(&xml_path).expect("junit file");
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut stack: Vec<String> = Vec::new();
    let mut cases = Vec::new();
    let mut failures = Vec::new();
    let mut suite_attrs = BTreeMap::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            ev @ (Event::Start(_) | Event::Empty(_)) => {
                let (e, empty) = match &ev {
                    Event::Start(e) => (e, false),
                    Event::Empty(e) => (e, true),
                    _ => unreachable!(),
                };
                let name = e.name().as_ref().to_string();
                let attrs: BTreeMap<String, String> = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("attribute");
                        (
                            a.key.as_ref().to_string(),
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .expect("value")
                                .into_owned(),
                        )
                    })
                    .collect();
                match name.as_str() {
                    "testsuites" => assert!(stack.is_empty()),
                    "testsuite" => {
                        assert_eq!(stack.last().map(String::as_str), Some("testsuites"));
                        for a in ["name", "tests", "failures", "errors", "skipped", "time"] {
                            assert!(attrs.contains_key(a), "testsuite needs {a}");
                        }
                        suite_attrs = attrs.clone();
                    }
                    "testcase" => {
                        assert_eq!(stack.last().map(String::as_str), Some("testsuite"));
                        for a in ["name", "classname", "time"] {
                            assert!(attrs.contains_key(a), "testcase needs {a}");
                        }
                        cases.push(attrs["name"].clone());
                    }
                    "failure" => {
                        assert_eq!(stack.last().map(String::as_str), Some("testcase"));
                        assert!(attrs.contains_key("message") && attrs.contains_key("type"));
                        failures.push(cases.last().cloned().unwrap_or_default());
                    }
                    _ => {}
                }
                if !empty {
                    stack.push(name);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            _ => {}
        }
    }
    assert_eq!(cases.len(), 6, "{xml}");
    assert_eq!(failures, ["acks"], "{xml}");
    assert_eq!(suite_attrs["tests"], "6");
    assert_eq!(suite_attrs["failures"], "1");
}

#[test]
fn check_refuses_an_unknown_mailbox_and_a_bad_deadline() {
    let env = demo_env();
    let out = env.run(&["check", "web", "--mailbox", "nope"]);
    assert_eq!(out.status.code(), Some(3), "marker_missing");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    let out = env.run(&["check", "web", "--vmm-timeout", "40000"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&["check", "dup-marker", "--mailbox", "app.config"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a duplicate marker cannot be checked"
    );
}
