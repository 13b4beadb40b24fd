//! Your own guest under QEMU, end to end through the real `forkmail` binary:
//! a C program on the C guest library, which shares no code with forkmail
//! (`guest-libs/c/example.c`), built statically here with gcc, packed into an initramfs by `forkmail image
//! build --program`, booted from that kernel and initramfs with
//! `template create --kernel --initrd --append --wait-for-marker` — forkmail
//! finds the guest's markers in its memory while it boots, with no agent and
//! no console line to wait for — then forked: the payloads show up on the
//! fork's console and the guest acks each one.
//!
//! Needs `qemu-system-x86_64`, `gcc` with a static libc (Debian: gcc,
//! libc6-dev), and `apt-get`/`dpkg` for the image's Debian kernel and
//! busybox; a heavy test: without them it fails saying what to install.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::qemu::{ok, sha256, vm_prerequisites};

/// Build the C library's example (`guest-libs/c/build-example.sh`) into
/// `dir`: one static binary that holds no marker prefix.
fn build_c_guest(dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest-libs/c/build-example.sh");
    let out = dir.join("own-guest");
    let built = Command::new(&script)
        .arg(&out)
        .output()
        .expect("run build-example.sh");
    assert!(
        built.status.success(),
        "guest-libs/c/build-example.sh failed (a static libc is libc6-dev on Debian):\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let bytes = std::fs::read(&out).expect("read the C guest");
    assert!(
        memchr_count(&bytes, b"HYPEMAN_") == 0,
        "the program file holds no marker prefix: the guest assembles its magic in the page"
    );
    out
}

fn memchr_count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Wait until the console log holds `n` lines `forkmail-guest: mailbox=NAME
/// payload=JSON` (the line `forkmail check` compares) and `n` ack lines;
/// return the payloads (ack_port removed).
fn console_payloads(log: &Path, n: usize) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
        let mut got = Vec::new();
        let acks = text
            .lines()
            .filter(|l| l.contains("example-c: mailbox=") && l.contains(" ack sent"))
            .count();
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
            got.push((name.to_string(), v));
        }
        if (got.len() >= n && acks >= n) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[ignore = "heavy: boots a real QEMU guest (cargo test -- --include-ignored)"]
fn a_guest_of_your_own_is_templated_forked_and_acks() {
    vm_prerequisites(
        "qemu_own_guest",
        &[(
            "gcc",
            "the C guest is compiled here (apt-get install gcc libc6-dev)",
        )],
    );
    let tmp = tempfile::Builder::new()
        .prefix("fm-own-")
        .tempdir()
        .expect("tempdir");
    let guest = build_c_guest(tmp.path());
    let store = tmp.path().join("store");
    ok(
        &store,
        &[
            "image",
            "build",
            "--name",
            "own",
            "--program",
            guest.to_str().expect("utf-8"),
        ],
    );
    let kernel = store.join("images/own/vmlinuz");
    let initrd = store.join("images/own/initrd.img");

    // The guest reads its mailboxes from its own command line; forkmail is
    // told only what to wait for (one token given, one left to the guest).
    let t0 = Instant::now();
    let tpl: Value = serde_json::from_str(&ok(
        &store,
        &[
            "template",
            "create",
            "own",
            "--vmm",
            "qemu",
            "--memory",
            "256M",
            // TCG on a busy shared host can take minutes to boot.
            "--boot-timeout",
            "900",
            "--kernel",
            kernel.to_str().expect("utf-8"),
            "--initrd",
            initrd.to_str().expect("utf-8"),
            "--append",
            "quiet forkmail.mailbox=app.config:tok-own forkmail.mailbox=cfg:chosen-by-guest",
            "--wait-for-marker",
            "app.config:tok-own",
            "--wait-for-marker",
            "cfg",
            "--json",
        ],
    ))
    .expect("template JSON");
    eprintln!(
        "TIMING own guest boot_to_armed {:.0} ms (template create {:.1} s)",
        tpl["boot_to_armed_ms"].as_f64().unwrap_or(0.0),
        t0.elapsed().as_secs_f64()
    );
    let markers = tpl["markers"].as_array().expect("markers");
    let mut found: Vec<(String, String)> = markers
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or("").to_string(),
                m["token"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("app.config".to_string(), "tok-own".to_string()),
            ("cfg".to_string(), "chosen-by-guest".to_string()),
        ],
        "exactly the guest's two markers in its memory: {tpl}"
    );
    let snap: Value = serde_json::from_str(
        &std::fs::read_to_string(store.join("snapshots/own/snapshot.json")).expect("snapshot.json"),
    )
    .expect("parses");
    assert_eq!(snap["vmm"], "qemu");
    assert_eq!(snap["vmm_config"]["image"], "");
    let serial =
        std::fs::read_to_string(store.join("snapshots/own/serial.log")).unwrap_or_default();
    assert!(
        serial.contains("example-c: armed") && !serial.contains("forkmail-guest: armed"),
        "the C example armed, no forkmail agent ran in this guest"
    );
    let tpl_memory = store.join("snapshots/own/memory");
    let before = sha256(&tpl_memory);

    let events = ok(
        &store,
        &[
            "fork",
            "own",
            "--name",
            "o1",
            "--json",
            "--payload",
            r#"app.config={"db":"postgres://own/1","n":1}"#,
            "--ack",
            "app.config=20000",
            "--payload",
            r#"cfg={"mode":"fork"}"#,
            "--ack",
            "cfg=20000",
        ],
    );
    assert!(
        events
            .lines()
            .last()
            .unwrap_or("")
            .contains(r#""stage":"done""#)
    );
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(store.join("forks/o1/fork.json")).expect("fork.json"),
    )
    .expect("parses");
    assert_eq!(meta["status"], "running", "{meta}");
    assert!(
        meta["mailboxes"]
            .as_array()
            .expect("mailboxes")
            .iter()
            .all(|m| m["acked"] == true),
        "both acks arrived: {meta}"
    );
    let mut got = console_payloads(&store.join("forks/o1/serial.log"), 2);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            (
                "app.config".to_string(),
                serde_json::json!({"db": "postgres://own/1", "n": 1})
            ),
            ("cfg".to_string(), serde_json::json!({"mode": "fork"})),
        ],
        "the fork's console shows exactly its payloads"
    );
    ok(&store, &["rm", "o1"]);
    assert!(!store.join("forks/o1").exists());
    assert_eq!(sha256(&tpl_memory), before, "the template is never written");
}
