//! Sources through the real `forkmail` binary: a Hypeman-shaped data
//! directory (the library's own fixture, built from real files) and a plain
//! Firecracker directory, listed grouped by source with the reasons for
//! what cannot be read; markers of `SOURCE/NAME`, of snapshot directories
//! and of `.zst`/`.lz4` files at the same offsets as the raw memory; import,
//! fork without restore and export in the VMM's own layout — and nothing
//! under a source ever changes (every file hashed, every mtime kept, also
//! with the source made read-only).

use crate::support::cli as common;

// The fixture is the library's (src/source/tests/fixture.rs); these make its
// `crate::` paths resolve here.
#[allow(dead_code)]
use crate::support::fixture;

use std::path::{Path, PathBuf};

use common::{Env, events, final_error};
use serde_json::Value;

/// The env with a Hypeman source (`--source`), a plain Firecracker
/// directory (`FORKMAIL_SOURCES`) and a source that does not exist.
struct Rig {
    env: Env,
    fx: fixture::Fixture,
    plain: PathBuf,
    /// Run forkmail without any capability: as root (CI), permission bits
    /// alone do not make a directory read-only, CAP_DAC_OVERRIDE ignores them.
    no_caps: std::cell::Cell<bool>,
}

/// `setpriv` arguments that leave a root process no capability at all, so
/// the permission bits bind it like any user.
const NO_CAPS: [&str; 3] = ["--bounding-set=-all", "--inh-caps=-all", "--"];

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn rig() -> Rig {
    let env = Env::new();
    env.template("own", &["--mailbox", "m"]);
    let fx = fixture::hypeman();
    let plain = env.dir.path().join("fc-snap");
    std::fs::create_dir(&plain).unwrap();
    fixture::plain_firecracker(&fx, &plain);
    Rig {
        env,
        fx,
        plain,
        no_caps: std::cell::Cell::new(false),
    }
}

impl Rig {
    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.env.cmd();
        // Hypeman's own data directory is not this test's business.
        c.env_remove("DATA_DIR").env_remove("CONFIG_PATH");
        if self.no_caps.get() && is_root() {
            let inner = c;
            c = std::process::Command::new("setpriv");
            c.args(NO_CAPS)
                .arg(inner.get_program())
                .args(inner.get_args());
            for (k, v) in inner.get_envs() {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
            }
        }
        c.arg("--source").arg(&self.fx.root);
        let missing = self.env.dir.path().join("gone");
        c.env(
            "FORKMAIL_SOURCES",
            format!("{}:{}", self.plain.display(), missing.display()),
        );
        c.args(args);
        c
    }
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().expect("run forkmail")
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "forkmail {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("JSON")
    }
}

fn offsets(markers: &Value) -> Vec<u64> {
    markers
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["offset"].as_u64().expect("offset"))
        .collect()
}

#[test]
fn snapshots_json_groups_every_source_with_reasons_for_what_cannot_be_read() {
    let rig = rig();
    let all = rig.json(&["snapshots", "--json"]);
    let rows = all.as_array().expect("array");
    // The store's rows come first and keep their shape.
    let own = &rows[0];
    for key in [
        "name",
        "vmm",
        "kind",
        "memory_size",
        "allocated",
        "created_at",
        "path",
    ] {
        assert!(own.get(key).is_some(), "{key}");
    }
    assert_eq!(
        (&own["name"], &own["source"], &own["read_only"]),
        (
            &Value::from("own"),
            &Value::from("store"),
            &Value::from(false)
        )
    );
    let by = |source: &str, id: &str| -> Value {
        rows.iter()
            .find(|r| r["source"] == source && r["id"] == id)
            .unwrap_or_else(|| panic!("no {source}/{id} in {all:#}"))
            .clone()
    };
    let web = by("hypeman", "fc-web");
    assert_eq!(web["entry"], "snapshot");
    assert_eq!(web["name"], "web");
    assert_eq!(web["hypervisor"], "firecracker");
    assert_eq!(web["vmm"], "firecracker");
    assert_eq!(web["kind"], "standby");
    assert_eq!(web["compression"], "none");
    assert_eq!(web["read_only"], true);
    assert_eq!(web["source_kind"], "hypeman-data-dir");
    assert_eq!(by("hypeman", "snap-lz4")["compression"], "lz4");
    assert_eq!(by("hypeman", "ch-packed")["hypervisor"], "cloud-hypervisor");
    assert_eq!(by("hypeman", "snap-stopped")["kind"], "stopped");
    assert_eq!(by("hypeman", "qemu-vm")["format"], "qemu-migration-stream");
    let broken = by("hypeman", "broken-meta");
    assert_eq!(broken["entry"], "problem");
    assert_eq!(broken["problem"], "bad-metadata");
    assert!(broken["reason"].as_str().unwrap().contains("metadata.json"));
    assert_eq!(
        by("hypeman", "fifo-memory")["problem"],
        "not-a-regular-file"
    );
    let plain = by("fc-snap", "mem");
    assert_eq!(plain["hypervisor"], "firecracker");
    assert_eq!(plain["memory_size"], fixture::MEM_SIZE);
    let gone = rows
        .iter()
        .find(|r| r["source"] == "gone")
        .expect("a source that cannot be opened is listed");
    assert_eq!(gone["entry"], "problem");
    assert_eq!(gone["kind"], "not_found");

    let table = rig.ok(&["snapshots"]);
    for want in [
        "== store:",
        "== hypeman:",
        "hypeman-data-dir, read-only",
        "== fc-snap:",
        "web [fc-web]",
        "UNREADABLE (bad-metadata)",
        "== gone:",
        "cannot be opened",
    ] {
        assert!(table.contains(want), "{want:?} in\n{table}");
    }
}

#[test]
fn markers_of_source_snapshots_are_the_raw_files_markers_whatever_the_compression() {
    let rig = rig();
    let reference = rig.json(&["markers", rig.fx.reference.to_str().unwrap(), "--json"]);
    let want = offsets(&reference);
    assert_eq!(want.len(), fixture::planted().len());
    let zst_file = rig
        .fx
        .root
        .join("snapshots/snap-zst/guest/snapshots/snapshot-latest/memory-ranges.zst");
    let lz4_file = rig
        .fx
        .root
        .join("snapshots/snap-lz4/guest/snapshots/snapshot-latest/memory.lz4");
    for target in [
        "hypeman/fc-web",
        "hypeman/web",
        "hypeman/ch-packed",
        "hypeman/nightly",
        "hypeman/snap-zst",
        "fc-snap/mem",
        zst_file.to_str().unwrap(),
        lz4_file.to_str().unwrap(),
        rig.plain.to_str().unwrap(),
    ] {
        let got = rig.json(&["markers", target, "--json"]);
        assert_eq!(offsets(&got), want, "{target}");
        assert_eq!(got, {
            // Same fields as the raw file's, but for source and hypervisor.
            let mut r = reference.clone();
            for (m, g) in r
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .zip(got.as_array().unwrap())
            {
                m["source"] = g["source"].clone();
                m["hypervisor"] = g["hypervisor"].clone();
            }
            r
        });
    }
    let web = rig.json(&["markers", "hypeman/web", "--json"]);
    assert_eq!(web[0]["source"], "hypeman");
    assert_eq!(web[0]["hypervisor"], "firecracker");
    let own = rig.json(&["markers", "own", "--json"]);
    assert_eq!(
        (&own[0]["source"], &own[0]["hypervisor"]),
        (&"store".into(), &"sim".into())
    );

    let ambiguous = rig.run(&["markers", "hypeman/api"]);
    assert_eq!(ambiguous.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("ch-api, snap-zst"));
    let qemu = rig.run(&["markers", "hypeman/qemu-vm"]);
    assert_eq!(qemu.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&qemu.stderr).contains("migration stream"));
    let nothing = rig.run(&["markers", "nowhere/x"]);
    assert_eq!(nothing.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("sources: hypeman, fc-snap, gone"));
}

/// Everything that reads a source: listing, markers, import, fork with
/// export (into a directory outside it).
fn use_everything(rig: &Rig, tag: &str) {
    rig.ok(&["snapshots", "--json"]);
    rig.ok(&["snapshots"]);
    for t in [
        "hypeman/web",
        "hypeman/snap-zst",
        "hypeman/nightly",
        "fc-snap/mem",
    ] {
        rig.ok(&["markers", t, "--json"]);
    }
    for (from, name) in [
        ("hypeman/snap-zst", "zst"),
        ("hypeman/nightly", "lz4"),
        ("fc-snap/mem", "plain"),
    ] {
        let name = format!("{name}-{tag}");
        rig.ok(&["import", from, "--name", &name, "--json"]);
        let out = rig.env.dir.path().join(format!("export-{name}"));
        rig.ok(&[
            "fork",
            &name,
            "--no-restore",
            "--export",
            out.to_str().unwrap(),
            "--payload",
            r#"app.config={"n":1}"#,
        ]);
    }
}

#[test]
fn import_fork_without_restore_and_export_in_the_vmms_own_layout() {
    let rig = rig();
    let imported = rig.json(&["import", "hypeman/snap-zst", "--name", "packed", "--json"]);
    assert_eq!(imported["vmm"], "cloud-hypervisor");
    assert_eq!(imported["method"], "decompressed zstd");
    assert_eq!(
        imported["export"]["carried"].as_array().map(Vec::len),
        Some(5),
        "disks, kernel and initrd carried for exports: {imported:#}"
    );
    assert_eq!(imported["export"]["refused"], Value::Null);
    assert_eq!(imported["source"], "hypeman");
    assert_eq!(imported["memory_size"], fixture::MEM_SIZE);
    assert_eq!(
        imported["markers"].as_array().unwrap().len(),
        fixture::planted().len()
    );
    let default_name = rig.json(&["import", "hypeman/fc-web", "--json"]);
    assert_eq!(default_name["name"], "web");
    assert_eq!(default_name["device_state"], serde_json::json!(["state"]));

    // Restoring needs a driver forkmail does not have: refused at validate.
    let out = rig.run(&[
        "fork",
        "packed",
        "--json",
        "--payload",
        r#"app.config={"n":1}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let evs = events(&String::from_utf8_lossy(&out.stdout));
    assert!(final_error(&evs).contains("--no-restore"), "{evs:?}");
    assert!(!evs.iter().any(|e| e["stage"] == "copy"), "nothing copied");

    let dir = rig.env.dir.path().join("restore-me");
    let out = rig.ok(&[
        "fork",
        "packed",
        "--name",
        "p1",
        "--no-restore",
        "--export",
        dir.to_str().unwrap(),
        "--json",
        "--payload",
        r#"app.config={"region":"eu"}"#,
    ]);
    let evs = events(&out);
    let exported = evs
        .iter()
        .find(|e| e["path"] == dir.to_str().unwrap())
        .expect("export event");
    assert_eq!(exported["stage"], "patch");
    assert_eq!(evs.last().unwrap()["stage"], "done");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "RESTORE.md",
            "config.json",
            "files",
            "memory-ranges",
            "restore.json",
            "state.json"
        ]
    );
    let markers = rig.json(&[
        "markers",
        dir.join("memory-ranges").to_str().unwrap(),
        "--json",
    ]);
    let app = markers
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "app.config")
        .unwrap();
    assert_eq!(app["seq"], 1);
    assert_eq!(app["payload"], r#"{"region":"eu"}"#);

    // Never into a source, and never without --no-restore.
    let inside = rig.fx.root.join("exported");
    let out = rig.run(&[
        "fork",
        "packed",
        "--no-restore",
        "--export",
        inside.to_str().unwrap(),
        "--payload",
        r#"app.config={}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only source"));
    assert!(!inside.exists());
    let out = rig.run(&[
        "fork",
        "packed",
        "--export",
        "/tmp/x",
        "--payload",
        r#"app.config={}"#,
    ]);
    assert_eq!(out.status.code(), Some(2), "--export requires --no-restore");

    let out = rig.run(&["import", "hypeman/snap-stopped"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped snapshot"));
}

fn chmod_tree(root: &Path, f: &dyn Fn(u32) -> u32) {
    fixture::chmod_tree(root, f)
}

#[test]
fn nothing_under_a_source_changes_listing_scanning_importing_or_exporting() {
    let rig = rig();
    let before = fixture::tree_state(&rig.fx.root);
    let plain_before = fixture::tree_state(&rig.plain);
    use_everything(&rig, "a");
    assert_eq!(fixture::tree_state(&rig.fx.root), before);
    assert_eq!(fixture::tree_state(&rig.plain), plain_before);
}

#[test]
fn a_read_only_source_works_and_stays_as_it_was() {
    let rig = rig();
    chmod_tree(&rig.fx.root, &|m| m & !0o222);
    chmod_tree(&rig.plain, &|m| m & !0o222);
    rig.no_caps.set(true);
    // The directories really are read-only for such a process: it cannot
    // create, write or remove anything under them.
    for (what, script) in [
        ("create a file", r#": > "$1/probe""#),
        ("create a directory", r#"mkdir "$1/probe""#),
        // The first regular file (none: "succeeds", so the test says so).
        (
            "open a file for writing",
            r#"f=$(find "$1" -type f | head -n 1); test -n "$f" || exit 0; : >> "$f""#,
        ),
    ] {
        for root in [&rig.fx.root, &rig.plain] {
            let mut c = if is_root() {
                let mut c = std::process::Command::new("setpriv");
                c.args(NO_CAPS).arg("sh");
                c
            } else {
                std::process::Command::new("sh")
            };
            let st = c
                .args(["-c", script, "sh"])
                .arg(root)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("run sh");
            assert!(!st.success(), "{what} under {} must fail", root.display());
        }
    }
    let before = fixture::tree_state(&rig.fx.root);
    let plain_before = fixture::tree_state(&rig.plain);
    use_everything(&rig, "ro");
    assert_eq!(fixture::tree_state(&rig.fx.root), before);
    assert_eq!(fixture::tree_state(&rig.plain), plain_before);
    rig.no_caps.set(false);
    chmod_tree(&rig.fx.root, &|m| m | 0o200);
    chmod_tree(&rig.plain, &|m| m | 0o200);
}

#[test]
fn ack_bind_comes_from_the_fork_else_the_template() {
    let env = Env::new();
    env.template("t", &["--mailbox", "m", "--ack-bind", "0.0.0.0"]);
    let meta: Value = serde_json::from_slice(
        &std::fs::read(env.store().join("snapshots/t/snapshot.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["ack_bind"], "0.0.0.0");
    // The simulated guest acks 127.0.0.1: a socket on 0.0.0.0 hears it.
    env.ok(&[
        "fork",
        "t",
        "--name",
        "f1",
        "--payload",
        r#"m={}"#,
        "--ack",
        "m",
    ]);
    // An address of no interface here: binding fails, at validate.
    let out = env.run(&[
        "fork",
        "t",
        "--name",
        "f2",
        "--json",
        "--ack-bind",
        "192.0.2.1",
        "--payload",
        r#"m={}"#,
        "--ack",
        "m",
    ]);
    assert!(!out.status.success());
    let evs = events(&String::from_utf8_lossy(&out.stdout));
    assert!(final_error(&evs).contains("192.0.2.1"), "{evs:?}");
    assert!(!env.fork_dir("f2").exists());
    env.ok(&[
        "fork",
        "t",
        "--name",
        "f3",
        "--ack-bind",
        "127.0.0.1",
        "--payload",
        r#"m={}"#,
        "--ack",
        "m",
    ]);
    env.ok(&["rm", "f1"]);
    env.ok(&["rm", "f3"]);
}

fn rows_by(all: &Value) -> impl Fn(&str, &str) -> Option<Value> + '_ {
    move |source: &str, id: &str| {
        all.as_array()
            .expect("array")
            .iter()
            .find(|r| r["source"] == source && r["id"] == id)
            .cloned()
    }
}

/// Issue 19: `snapshots --json` on a Hypeman directory shows what Hypeman
/// would: vz standby instances, its standby rule, compressed QEMU memory,
/// when each snapshot was taken and how big its memory is.
#[test]
fn snapshots_json_shows_a_hypeman_directory_as_hypeman_reports_it() {
    let rig = rig();
    let all = rig.json(&["snapshots", "--json"]);
    let by = rows_by(&all);
    let row = |id: &str| by("hypeman", id).unwrap_or_else(|| panic!("no {id} in {all:#}"));
    // vz: a vz standby snapshot, named by its Name, not scannable.
    let vz = row("vz-mac");
    assert_eq!(
        (&vz["entry"], &vz["name"], &vz["hypervisor"], &vz["kind"]),
        (
            &"snapshot".into(),
            &"mac".into(),
            &"vz".into(),
            &"standby".into()
        )
    );
    assert_eq!(vz["format"], "vz-machine-state");
    assert_eq!(vz["scannable"], false);
    // The standby rule: an empty snapshot-latest/ is Stopped (not listed),
    // a VMM socket means running (a problem that says so, exit 7 if asked).
    assert!(by("hypeman", "stopped").is_none(), "{all:#}");
    let live = row("live-ch");
    assert_eq!(
        (&live["entry"], &live["problem"], &live["kind"]),
        (&"problem".into(), &"running".into(), &"busy".into())
    );
    assert_eq!(
        rig.run(&["markers", "hypeman/live-ch"]).status.code(),
        Some(7)
    );
    // QEMU memory compressed by Hypeman: labelled, never scanned as RAM.
    let q = row("qemu-packed");
    assert_eq!(
        (&q["format"], &q["compression"], &q["scannable"]),
        (
            &"qemu-migration-stream".into(),
            &"zstd".into(),
            &false.into()
        )
    );
    assert_eq!(row("qemu-vm")["compression"], "none");
    let file = rig.fx.latest("qemu-packed").join("memory.zst");
    let out = rig.run(&["markers", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a compressed QEMU stream by path"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("migration stream"));
    // When: StoppedAt, the instance's CreatedAt kept beside it.
    let web = row("fc-web");
    assert_eq!(web["created_at"], fixture::STOPPED_AT);
    assert_eq!(web["hypeman_instance"]["created_at"], fixture::CREATED_AT);
    assert_eq!(web["hypeman_instance"]["state"], "Standby");
    // How big: Size + HotplugSize where the memory file cannot say.
    let packed = row("ch-packed");
    assert_eq!(packed["memory_size"], fixture::MEM_SIZE);
    assert_eq!(packed["memory_size_from"], "configured");
    assert_eq!(packed["hypeman_instance"]["size"], fixture::BASE_SIZE);
    assert_eq!(
        packed["hypeman_instance"]["hotplug_size"],
        fixture::MEM_SIZE - fixture::BASE_SIZE
    );
    assert_eq!(web["memory_size_from"], "apparent");
    // Pending compression.
    assert_eq!(
        row("fc-pending")["hypeman_instance"]["pending_compression"],
        serde_json::json!({"enabled": true, "algorithm": "zstd", "level": 3,
                           "not_before": "2025-01-03T04:10:06.5Z"})
    );
    assert_eq!(web["hypeman_instance"]["pending_compression"], Value::Null);
    let table = rig.ok(&["snapshots"]);
    for want in [
        "qemu-stream, zstd",
        "vz-state",
        "none (zstd pending)",
        "UNREADABLE (running)",
        fixture::STOPPED_AT,
    ] {
        assert!(table.contains(want), "{want:?} in\n{table}");
    }
    assert!(!table.contains("[stopped]"), "{table}");
}

/// Reliability issue 18, defect 9: a guest directory claiming another's
/// `Id` listed a second `fc-web` (and `hypeman/fc-web` resolved to it). The
/// directory name is the id; the claim is an `id-mismatch` problem.
#[test]
fn a_directory_claiming_another_id_is_refused_and_never_shadows_it() {
    let rig = rig();
    let all = rig.json(&["snapshots", "--json"]);
    let web: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "hypeman" && r["id"] == "fc-web")
        .collect();
    assert_eq!(web.len(), 1, "{web:#?}");
    assert_eq!(web[0]["name"], "web");
    assert_eq!(
        web[0]["path"],
        rig.fx.latest("fc-web").to_string_lossy().as_ref()
    );
    let impostor = rows_by(&all)("hypeman", "aaa-impostor").expect("listed as a problem");
    assert_eq!(impostor["problem"], "id-mismatch");
    let out = rig.run(&["markers", "hypeman/aaa-impostor"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("claims id"));
    assert_eq!(
        rig.run(&["markers", "hypeman/impostor"]).status.code(),
        Some(4)
    );
}

/// Every absolute path in a JSON value, JSON held in strings included.
fn json_paths(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(inner @ (Value::Object(_) | Value::Array(_))) => json_paths(&inner, out),
            _ if s.starts_with('/') => out.push(s.clone()),
            _ => {}
        },
        Value::Array(a) => a.iter().for_each(|x| json_paths(x, out)),
        Value::Object(m) => m.values().for_each(|x| json_paths(x, out)),
        _ => {}
    }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).expect("read")).expect("JSON")
}

/// Issue 19: through the CLI, an export restores as a fork: every path of
/// every exported file is in DIR, the kernel-paging zone is the exported
/// patched memory (from a zstd source), the Firecracker state parses back;
/// `--keep-source-paths` is there for experts.
#[test]
fn an_export_restores_as_a_fork_every_path_in_dir() {
    let rig = rig();
    let out_dir = std::fs::canonicalize(rig.env.dir.path()).unwrap();
    for (from, name, memory) in [
        ("hypeman/packed", "kp", "memory-ranges"),
        ("hypeman/nightly", "lz", "memory"),
        ("fc-snap/mem", "plain", "memory"),
    ] {
        rig.ok(&["import", from, "--name", name]);
        let dir = out_dir.join(format!("export-{name}"));
        let human = rig.ok(&[
            "fork",
            name,
            "--no-restore",
            "--export",
            dir.to_str().unwrap(),
            "--payload",
            r#"app.config={"region":"eu"}"#,
        ]);
        assert!(human.contains("RESTORE.md"), "{human}");
        let mut paths = Vec::new();
        for f in [
            "config.json",
            "state.json",
            "firecracker-config.json",
            "restore.json",
        ] {
            if dir.join(f).exists() {
                json_paths(&read_json(&dir.join(f)), &mut paths);
            }
        }
        if dir.join("state").exists() {
            let s = fixture::FcState::decode(&std::fs::read(dir.join("state")).unwrap());
            paths.push(s.kernel_image_path.clone());
            paths.extend(s.initrd_path.clone());
            paths.extend(s.blocks.iter().map(|b| b.disk_path.clone()));
            paths.extend(s.vsock.iter().map(|v| v.uds_path.clone()));
        }
        assert!(paths.len() > 4, "{name}: {paths:?}");
        for p in &paths {
            assert!(
                p == "/dev/urandom" || Path::new(p).starts_with(&dir),
                "{name}: {p} outside {}",
                dir.display()
            );
        }
        let markers = rig.json(&["markers", dir.join(memory).to_str().unwrap(), "--json"]);
        let app = markers
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "app.config")
            .unwrap();
        assert_eq!(
            (&app["seq"], &app["payload"]),
            (&1.into(), &r#"{"region":"eu"}"#.into())
        );
        if name == "kp" {
            let config = read_json(&dir.join("config.json"));
            assert_eq!(
                config["memory"]["zones"][0]["file"],
                dir.join("memory-ranges").to_string_lossy().as_ref()
            );
        }
    }
    // For experts: the device state as the source wrote it.
    let dir = out_dir.join("export-kept");
    rig.ok(&[
        "fork",
        "kp",
        "--no-restore",
        "--export",
        dir.to_str().unwrap(),
        "--keep-source-paths",
        "--payload",
        r#"app.config={}"#,
    ]);
    let store_copy = rig.env.store().join("snapshots/kp/config.json");
    assert_eq!(
        std::fs::read(dir.join("config.json")).unwrap(),
        std::fs::read(store_copy).unwrap()
    );
    assert_eq!(
        read_json(&dir.join("restore.json"))["source_paths_kept"],
        true
    );
    let out = rig.run(&["fork", "kp", "--no-restore", "--keep-source-paths"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--keep-source-paths needs --export"
    );
}

/// Reliability issue 18, defect 7: with the working directory inside a
/// source, `--export newdir` wrote into it. Every spelling is resolved
/// against the working directory (links followed) and refused.
#[test]
fn an_export_into_a_source_is_refused_however_spelled() {
    let rig = rig();
    rig.ok(&["import", "hypeman/fc-web", "--name", "web"]);
    let root = rig.fx.root.clone();
    let guests = root.join("guests");
    let outside = std::fs::canonicalize(rig.env.dir.path()).unwrap();
    std::os::unix::fs::symlink(&root, outside.join("into-source")).unwrap();
    let before = fixture::tree_state(&root);
    for (cwd, spelling) in [
        (&guests, "newdir"),
        (&guests, "./newdir"),
        (&guests, "x/../newdir"),
        (&guests, "."),
        (&guests, "fc-web/snapshots/newdir"),
        (&root.join("guests/fc-web"), "../newdir"),
        (&outside, "into-source/newdir"),
        (&outside, "into-source/../hypeman/guests/newdir"),
    ] {
        let out = rig
            .cmd(&[
                "fork",
                "web",
                "--no-restore",
                "--export",
                spelling,
                "--payload",
                r#"app.config={}"#,
            ])
            .current_dir(cwd)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{spelling} from {}",
            cwd.display()
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("read-only source"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        fixture::tree_state(&root),
        before,
        "nothing written in the source"
    );
    // The same bare name from outside: the export lands in the working
    // directory, and its device state names it absolutely.
    let out = rig
        .cmd(&[
            "fork",
            "web",
            "--no-restore",
            "--export",
            "newdir",
            "--payload",
            r#"app.config={}"#,
        ])
        .current_dir(&outside)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = read_json(&outside.join("newdir/restore.json"));
    assert_eq!(
        doc["dir"],
        outside.join("newdir").to_string_lossy().as_ref()
    );
}

/// Issue 19: Hypeman's data directory is found where Hypeman looks:
/// `DATA_DIR`, then the config file's `data_dir` (`CONFIG_PATH`, else
/// `/etc/hypeman/config.yaml`, else `~/.config/hypeman/config.yaml`, `~/`
/// expanded), then `/var/lib/hypeman`.
#[test]
fn hypemans_data_directory_is_found_where_hypeman_looks_for_it() {
    let env = common::Env::new();
    let fx = fixture::hypeman();
    let listed = |cmd: &mut std::process::Command| -> Value {
        let out = cmd.args(["snapshots", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let has_web = |all: &Value| {
        all.as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "fc-web" && r["entry"] == "snapshot")
    };
    let home = env.dir.path().join("home");
    std::fs::create_dir_all(home.join(".config/hypeman")).unwrap();
    let base = || {
        let mut c = env.cmd();
        c.env_remove("DATA_DIR")
            .env_remove("CONFIG_PATH")
            .env("HOME", &home);
        c
    };
    assert!(has_web(&listed(base().env("DATA_DIR", &fx.root))));
    let cfg = env.dir.path().join("hypeman.yaml");
    std::fs::write(
        &cfg,
        format!("port: 4973\ndata_dir: \"{}\"  # ours\n", fx.root.display()),
    )
    .unwrap();
    assert!(has_web(&listed(base().env("CONFIG_PATH", &cfg))));
    let paths: Value = {
        let out = base()
            .env("CONFIG_PATH", &cfg)
            .args(["paths", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(
        paths["hypeman_data_dir"]["path"],
        fx.root.to_string_lossy().as_ref()
    );
    assert_eq!(
        paths["hypeman_data_dir"]["from"],
        cfg.to_string_lossy().as_ref()
    );
    if std::fs::metadata("/etc/hypeman/config.yaml").is_err() {
        std::os::unix::fs::symlink(&fx.root, home.join("hm")).unwrap();
        std::fs::write(home.join(".config/hypeman/config.yaml"), "data_dir: ~/hm\n").unwrap();
        assert!(has_web(&listed(&mut base())));
    }
}
