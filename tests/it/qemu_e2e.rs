//! End to end with a real QEMU guest, driving the real `forkmail` binary:
//! image build from an installed forkmail, a template with two mailboxes,
//! three forks (two copy, one zero-copy) with different payloads, an
//! unknown-mailbox fork that must start nothing, and `rm`.
//!
//! Needs `qemu-system-x86_64`, and `apt-get`/`dpkg` (Debian) for the image's
//! kernel and busybox. Without QEMU it prints why and passes, unless
//! `FORKMAIL_REQUIRE_VM` is set: then it fails loudly.
//!
//! The image is built as a person would after `cargo install --path .`:
//! the test installs forkmail into a temporary root (`cargo install --path
//! . --root <tmp>`; the build itself goes to `target/fresh-clone`, shared
//! with the fresh-clone test, so dependencies are built once) and runs that
//! installed `forkmail image build` with no `--guest`: it packs the
//! installed, dynamically linked `forkmail-guest` with its loader and
//! shared libraries. The guest arming in the template and acking every
//! fork proves the image works.
//!
//! Timings of each run are printed (`cargo test --test qemu_e2e -- --nocapture`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::qemu::{FORKMAIL, forkmail, ok, sha256, vm_prerequisites};

/// The README's install: `cargo install --path .` and `cargo install
/// --path crates/guest`, into `<root>`. Returns the installed `forkmail`.
fn install_forkmail(root: &Path) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let t = Instant::now();
    for package in [manifest.to_path_buf(), manifest.join("crates/guest")] {
        let out = Command::new(&cargo)
            .current_dir(manifest)
            .env("CARGO_TARGET_DIR", manifest.join("target/fresh-clone"))
            .args(["install", "--locked", "--path"])
            .arg(&package)
            .arg("--root")
            .arg(root)
            .output()
            .expect("run cargo install");
        assert!(
            out.status.success(),
            "cargo install --path {} failed:\n{}",
            package.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!("cargo install took {:.1} s", t.elapsed().as_secs_f64());
    let bin = root.join("bin");
    assert!(
        bin.join("forkmail-guest").is_file(),
        "both binaries installed"
    );
    bin.join("forkmail")
}

/// Live (non-zombie) processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .is_some_and(|s| s == "Z" || s == "X");
        if !zombie && String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Parse `forkmail fork --json` output: (restore started ms, last ack ok ms).
fn restore_to_ack_ms(events: &str) -> f64 {
    let mut restore = None;
    let mut ack = None;
    for line in events.lines() {
        let v: Value = serde_json::from_str(line).expect("event line is JSON");
        match (v["stage"].as_str(), v["status"].as_str()) {
            (Some("restore"), Some("started")) => restore = v["elapsed_ms"].as_f64(),
            (Some("ack"), Some("ok")) if v.get("mailbox").is_none() => {
                ack = v["elapsed_ms"].as_f64()
            }
            _ => {}
        }
    }
    ack.expect("ack ok event") - restore.expect("restore started event")
}

/// Wait until the serial log holds `n` payload lines; return them as
/// mailbox → payload (ack_port removed).
fn guest_payloads(log: &Path, n: usize) -> BTreeMap<String, Vec<Value>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
        let mut got: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut count = 0;
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("forkmail-guest: mailbox=") else {
                continue;
            };
            let Some((name, payload)) = rest.split_once(" payload=") else {
                continue;
            };
            let mut v: Value = serde_json::from_str(payload).expect("payload line holds JSON");
            assert!(v["ack_port"].is_u64(), "ack_port injected: {v}");
            if let Some(o) = v.as_object_mut() {
                o.remove("ack_port");
            }
            got.entry(name.to_string()).or_default().push(v);
            count += 1;
        }
        if count >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<Value>> {
    pairs
        .iter()
        .map(|(n, p)| (n.to_string(), vec![serde_json::from_str(p).unwrap()]))
        .collect()
}

/// Fork name, extra arguments, payloads (mailbox, JSON).
type ForkCase = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

#[test]
#[ignore = "heavy: boots real QEMU guests (cargo test -- --include-ignored)"]
fn qemu_template_and_three_forks() {
    vm_prerequisites("qemu_e2e", &[]);
    let tmp = tempfile::Builder::new()
        .prefix("fm-e2e-")
        .tempdir()
        .expect("tempdir");
    let installed = install_forkmail(&tmp.path().join("root"));
    let store = tmp.path().join("store");
    let store_s = store.to_string_lossy().into_owned();

    // The installed forkmail builds the image: no static build, no --guest.
    let out = Command::new(&installed)
        .arg("--store")
        .arg(&store)
        .args(["image", "build", "--json"])
        .env_remove("FORKMAIL_STORE")
        .env("XDG_STATE_HOME", store.with_file_name("state"))
        .output()
        .expect("run the installed forkmail");
    eprintln!(
        "$ <installed> forkmail image build --json\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "installed image build failed");
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(store.join("images/default/image.json")).expect("image.json"),
    )
    .expect("image.json parses");
    assert!(
        meta["guest_source"]
            .as_str()
            .is_some_and(|g| g.starts_with(&tmp.path().join("root/bin").display().to_string())),
        "the installed forkmail-guest: {meta}"
    );
    let libs: Vec<&str> = meta["guest_libraries"]
        .as_array()
        .expect("guest_libraries")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        libs.contains(&"/lib/libc.so.6") && libs.iter().any(|l| l.contains("ld-linux")),
        "packed with its loader and libraries: {libs:?}"
    );
    let doctor = ok(&store, &["doctor"]);
    assert!(doctor.contains("ok   image"), "doctor sees the image");

    let tpl: Value = serde_json::from_str(&ok(
        &store,
        &[
            "template",
            "create",
            "tpl",
            "--vmm",
            "qemu",
            "--memory",
            "256M",
            "--mailbox",
            "app:tok-app",
            "--mailbox",
            "cfg:tok-cfg",
            "--json",
        ],
    ))
    .expect("template JSON");
    let fork_markers: Vec<&Value> = tpl["markers"]
        .as_array()
        .expect("markers")
        .iter()
        .filter(|m| m["kind"] == "fork")
        .collect();
    assert_eq!(
        fork_markers.len(),
        2,
        "exactly the two armed markers: {tpl}"
    );
    assert!(fork_markers.iter().all(|m| m["page_aligned"] == true));
    assert_eq!(
        tpl["markers"].as_array().map(Vec::len),
        Some(2),
        "no stray or invalid markers anywhere in guest memory: {tpl}"
    );
    let tpl_memory = store.join("snapshots/tpl/memory");
    let before = sha256(&tpl_memory);
    let snap: Value = serde_json::from_str(
        &std::fs::read_to_string(store.join("snapshots/tpl/snapshot.json")).expect("snapshot.json"),
    )
    .expect("snapshot.json parses");
    assert_eq!(snap["vmm"], "qemu");
    assert_eq!(snap["kind"], "standby");

    // name, extra args, payloads (mailbox, JSON)
    let forks: [ForkCase; 3] = [
        (
            "c1",
            &[],
            &[
                ("app", r#"{"who":"c1","n":1}"#),
                ("cfg", r#"{"who":"c1-cfg"}"#),
            ],
        ),
        ("c2", &[], &[("app", r#"{"who":"c2","n":2}"#)]),
        (
            "z1",
            &["--zero-copy"],
            &[
                ("app", r#"{"who":"z1","n":3}"#),
                ("cfg", r#"{"who":"z1-cfg"}"#),
            ],
        ),
    ];
    let mut timings = Vec::new();
    for (name, extra, payloads) in forks {
        let mut args: Vec<String> = vec![
            "fork".into(),
            "tpl".into(),
            "--name".into(),
            name.into(),
            "--json".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        for (mb, p) in payloads {
            args.push("--payload".into());
            args.push(format!("{mb}={p}"));
            args.push("--ack".into());
            args.push(mb.to_string());
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let events = ok(&store, &argv);
        timings.push((name, restore_to_ack_ms(&events)));
        let meta: Value = serde_json::from_str(
            &std::fs::read_to_string(store.join(format!("forks/{name}/fork.json")))
                .expect("fork.json"),
        )
        .expect("fork.json parses");
        assert_eq!(meta["status"], "running", "{meta}");
        assert_eq!(meta["zero_copy"], extra.contains(&"--zero-copy"));
        let mbs = meta["mailboxes"].as_array().expect("mailboxes");
        assert_eq!(mbs.len(), payloads.len());
        assert!(
            mbs.iter().all(|m| m["acked"] == true),
            "every ack arrived: {meta}"
        );
        let serial = store.join(format!("forks/{name}/serial.log"));
        let got = guest_payloads(&serial, payloads.len());
        assert_eq!(
            got,
            expect(payloads),
            "guest {name} got exactly its payloads"
        );
        // The fork's guest log is the serial console.
        assert_eq!(
            std::fs::read(store.join(format!("forks/{name}/guest.log"))).ok(),
            std::fs::read(&serial).ok()
        );
        let zero_copy_has_no_copy = !store.join(format!("forks/{name}/memory")).exists();
        assert_eq!(zero_copy_has_no_copy, extra.contains(&"--zero-copy"));
    }
    for (name, ms) in &timings {
        eprintln!("TIMING restore_to_ack {name} {ms:.0} ms");
    }
    eprintln!(
        "TIMING boot_to_armed {:.0} ms standby_snapshot {:.1} ms",
        tpl["boot_to_armed_ms"].as_f64().unwrap_or(0.0),
        tpl["standby_snapshot_ms"].as_f64().unwrap_or(0.0)
    );
    assert_eq!(
        sha256(&tpl_memory),
        before,
        "the template's memory file is never written"
    );

    // A payload for a mailbox the guest never armed: fails before anything starts.
    let qemus_before = processes_mentioning(&store_s).len();
    let out = forkmail(
        &store,
        &[
            "fork",
            "tpl",
            "--name",
            "ghost",
            "--payload",
            r#"ghost={"a":1}"#,
        ],
    );
    assert!(
        !out.status.success(),
        "fork with an unknown mailbox must fail"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ghost"), "error names the mailbox: {err}");
    assert!(!store.join("forks/ghost").exists(), "nothing on disk");
    assert_eq!(
        processes_mentioning(&store_s).len(),
        qemus_before,
        "nothing started"
    );

    // The same with the token given, so no discovery lookup can reject it
    // early: preflight searches the fork's memory, finds no such marker, and
    // the copy is rolled back before any byte is written or QEMU starts.
    let out = forkmail(
        &store,
        &[
            "fork",
            "tpl",
            "--name",
            "ghost2",
            "--json",
            "--payload",
            r#"ghost={"a":1}"#,
            "--token",
            "ghost=never-armed",
        ],
    );
    assert!(
        !out.status.success(),
        "fork with an unarmed mailbox must fail"
    );
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event line is JSON"))
        .collect();
    let failed = events
        .iter()
        .find(|e| e["status"] == "failed")
        .expect("a failed event");
    assert_eq!(failed["stage"], "preflight", "fails at preflight: {failed}");
    assert!(
        !events
            .iter()
            .any(|e| e["stage"] == "patch" || e["stage"] == "restore"),
        "nothing written, nothing started: {events:?}"
    );
    assert!(!store.join("forks/ghost2").exists(), "nothing on disk");
    assert_eq!(processes_mentioning(&store_s).len(), qemus_before);

    for (name, _, _) in forks {
        let pid = processes_mentioning(&format!("{store_s}/forks/{name}/"));
        assert_eq!(pid.len(), 1, "fork {name} runs one QEMU");
        ok(&store, &["rm", name]);
        assert!(!store.join(format!("forks/{name}")).exists());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(&store_s).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        processes_mentioning(&store_s).is_empty(),
        "rm leaves nothing running"
    );
    let left: Vec<_> = std::fs::read_dir(store.join("forks"))
        .expect("forks dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "rm leaves nothing on disk: {left:?}");
    assert_eq!(sha256(&tpl_memory), before);

    check_suite_and_fan_out_on_the_same_template(&store);
    prestarted_vmm_is_used_cancelled_and_abandoned_cleanly(&store);
    kill_9_at_each_stage_leaves_the_truth_and_rm_stops_qemu(&store);
    template_creation_rolls_back_on_ctrl_c(&store);
}

/// `forkmail check` passes on the reference guest in a real VM (copy and
/// zero-copy), and a fan-out of 4 forks gives each guest its own index.
/// The template is reused: a QEMU boot costs 10–15 s here.
fn check_suite_and_fan_out_on_the_same_template(store: &Path) {
    for extra in [&[][..], &["--zero-copy"][..]] {
        let mut args = vec!["check", "tpl", "--vmm-timeout", "10000", "--json"];
        args.extend_from_slice(extra);
        let out = forkmail(store, &args);
        let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per check"))
            .collect();
        assert_eq!(rows.len(), 6, "{rows:#?}");
        for r in &rows {
            assert_eq!(r["verdict"], "pass", "check {extra:?}: {r:#}");
            eprintln!(
                "CHECK {extra:?} {} {} ms {}",
                r["check"], r["elapsed_ms"], r["evidence"][0]
            );
        }
        assert!(out.status.success(), "{:?}", out.status);
    }
    let events = ok(
        store,
        &[
            "fork",
            "tpl",
            "--name",
            "q",
            "--count",
            "4",
            "--parallel",
            "2",
            "--json",
            "--payload",
            r#"app={"replica":{{i}},"fork":"{{fork}}"}"#,
            "--ack",
            "app=20000",
        ],
    );
    let summary: Value =
        serde_json::from_str(events.lines().last().expect("summary line")).expect("summary JSON");
    let s = &summary["summary"];
    assert_eq!(s["done"], 4, "{s}");
    eprintln!("TIMING qemu fan-out 4: {s}");
    for i in 0..4 {
        let name = format!("q-{i}");
        let got = guest_payloads(&store.join(format!("forks/{name}/serial.log")), 1);
        assert_eq!(
            got["app"][0]["replica"], i,
            "{name} got its own index: {got:?}"
        );
        ok(store, &["rm", &name]);
    }
}

/// `fork --prestart`: QEMU starts before the fork exists and the fork only
/// loads, patches and resumes; a cancelled session and an abandoned
/// prestart leave no QEMU and no directory behind.
fn prestarted_vmm_is_used_cancelled_and_abandoned_cleanly(store: &Path) {
    let store_s = store.display().to_string();
    // Used.
    let mut times = Vec::new();
    for n in 0..3 {
        let name = format!("p{n}");
        let out = ok(
            store,
            &[
                "fork",
                "tpl",
                "--name",
                &name,
                "--prestart",
                "--json",
                "--payload",
                r#"app={"who":"prestarted"}"#,
                "--ack",
                "app",
            ],
        );
        let loaded: Vec<Value> = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["stage"] == "restore" && e["status"] == "progress")
            .collect();
        assert!(
            loaded.iter().any(|e| e["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("prestarted VM loaded"))),
            "the prestarted VM was used: {out}"
        );
        times.push(restore_to_ack_ms(&out));
        let serial = std::fs::read_to_string(store.join(format!("forks/{name}/guest.log")))
            .unwrap_or_default();
        assert!(
            serial.contains("\"who\":\"prestarted\""),
            "payload reached the guest"
        );
        ok(store, &["rm", &name]);
    }
    times.sort_by(f64::total_cmp);
    eprintln!(
        "TIMING restore_to_ack prestarted median {:.0} ms ({times:?})",
        times[1]
    );
    // Cancelled while the copy was held: QEMU (started first) goes too.
    let mut child = Command::new(FORKMAIL)
        .arg("--store")
        .arg(store)
        .args([
            "fork",
            "tpl",
            "--name",
            "pc",
            "--prestart",
            "--json",
            "--payload",
            "app={}",
        ])
        .env_remove("FORKMAIL_STORE")
        .env("XDG_STATE_HOME", store.with_file_name("state"))
        .env("FORKMAIL_HOLD_AT", "copy")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::{BufRead, BufReader};
        let stdout = child.stdout.take().expect("stdout");
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("line");
            if line.contains(r#""stage":"copy","status":"started""#) {
                break;
            }
        }
    }
    let running = processes_mentioning(&format!("{store_s}/forks/"));
    assert_eq!(
        running.len(),
        1,
        "QEMU prestarted, and nothing else of this store runs: {:?}",
        running
            .iter()
            .map(|p| String::from_utf8_lossy(
                &std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default()
            )
            .replace('\0', " "))
            .collect::<Vec<_>>()
    );
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .expect("signal the child");
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    assert!(
        processes_mentioning(&format!("{store_s}/forks/")).is_empty(),
        "no QEMU left"
    );
    // Abandoned: started through the library, dropped unused.
    let st = forkmail::store::Store::open(store).expect("store");
    let pre = forkmail::fork::Forks::new(&st)
        .prestart("tpl", false)
        .expect("prestart")
        .expect("qemu prestarts");
    let pid = pre.process().expect("process").pid;
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(pre);
    assert!(
        processes_mentioning(&format!("{store_s}/forks/")).is_empty(),
        "no QEMU left"
    );
    let left: Vec<_> = std::fs::read_dir(store.join("forks"))
        .expect("forks")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "nothing left: {left:?}");
}

/// `kill -9` of `forkmail fork` at each stage (held there by
/// `FORKMAIL_HOLD_AT`): `forks` shows the fork as `interrupted`, and `rm`
/// leaves no QEMU and no file behind — for the stages after restore, a QEMU
/// the dead session had started and recorded.
fn kill_9_at_each_stage_leaves_the_truth_and_rm_stops_qemu(store: &Path) {
    use std::io::{BufRead, BufReader};
    let store_s = store.display().to_string();
    for stage in ["copy", "patch", "restore", "ack"] {
        let name = format!("k-{stage}");
        let mut child = Command::new(FORKMAIL)
            .arg("--store")
            .arg(store)
            .args([
                "fork",
                "tpl",
                "--name",
                &name,
                "--json",
                "--payload",
                "app={}",
                "--ack",
                "app",
            ])
            .env_remove("FORKMAIL_STORE")
            .env("XDG_STATE_HOME", store.with_file_name("state"))
            .env("FORKMAIL_HOLD_AT", stage)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let started = format!(r#""stage":"{stage}","status":"started""#);
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("{stage}: the session ended before it was held"))
                .expect("line");
            if line.contains(&started) {
                break;
            }
        }
        let fork_json = store.join(format!("forks/{name}/fork.json"));
        if stage == "restore" {
            // Held once QEMU exists (paused) and is recorded in fork.json.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let meta: Value = std::fs::read(&fork_json)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or(Value::Null);
                if !meta["process"].is_null() {
                    break;
                }
                assert!(Instant::now() < deadline, "QEMU was never recorded");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&child),
            rustix::process::Signal::KILL,
        )
        .expect("signal the child");
        let _ = child.wait();
        let forks: Vec<Value> =
            serde_json::from_str(&ok(store, &["forks", "--json"])).expect("forks json");
        let f = forks
            .iter()
            .find(|f| f["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{stage}: {name} listed"));
        assert_eq!(f["status"], "interrupted", "{stage}: {f}");
        let qemus = processes_mentioning(&format!("{store_s}/forks/{name}/")).len();
        if matches!(stage, "restore" | "ack") {
            assert_eq!(
                qemus, 1,
                "{stage}: the dead session's QEMU is still running"
            );
        }
        ok(store, &["rm", &name]);
        assert!(!store.join(format!("forks/{name}")).exists(), "{stage}");
        assert!(
            processes_mentioning(&format!("{store_s}/forks/{name}/")).is_empty(),
            "{stage}: a QEMU outlived rm"
        );
    }
}

/// Ctrl-C while a QEMU template boots: QEMU is stopped, nothing is kept,
/// the name is free again, and the exit status is 130.
fn template_creation_rolls_back_on_ctrl_c(store: &Path) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(FORKMAIL)
        .arg("--store")
        .arg(store)
        .args([
            "template",
            "create",
            "half",
            "--vmm",
            "qemu",
            "--memory",
            "256M",
            "--mailbox",
            "app",
        ])
        .env_remove("FORKMAIL_STORE")
        .env("XDG_STATE_HOME", store.with_file_name("state"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn template create");
    let stdout = child.stdout.take().expect("stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        eprintln!("{line}");
        if line.starts_with("booting") {
            break;
        }
    }
    let snapshots = format!("{}/snapshots/", store.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_mentioning(&snapshots).is_empty() {
        assert!(Instant::now() < deadline, "QEMU never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .expect("signal the child");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(
        processes_mentioning(&snapshots).is_empty(),
        "QEMU is not orphaned"
    );
    let left: Vec<_> = std::fs::read_dir(store.join("snapshots"))
        .expect("snapshots dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("half"))
        .collect();
    assert!(left.is_empty(), "nothing half-made is kept: {left:?}");
}
