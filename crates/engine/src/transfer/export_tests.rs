//! Issue 19: an export restores as a fork. Hypeman-shaped snapshots
//! (Firecracker and Cloud Hypervisor, raw and compressed, standby instances
//! and central snapshots) are imported, forked with a payload and exported;
//! then every exported file is parsed — Firecracker's `state` by the
//! fixture's own decoder, every JSON file (nested JSON strings included) by
//! a walker of this file — and no path may point outside DIR, the memory
//! zone must be the exported, patched memory, and a compressed source must
//! give restorable uncompressed memory. What cannot be rewritten safely is
//! refused, with the reason, before anything is written.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use serde_json::{Value, json};

use super::*;
use crate::error::{ErrorKind, Kinded};
use crate::fork::{
    ForkError, ForkRequest, Happening, MailboxSpec, SessionEvent, Stage, run_session,
};
use crate::scan::{ScanOptions, scan_file};
use crate::source::open_source;
use crate::source::tests::fixture::*;
use crate::store::Store;

struct Rig {
    fx: Fixture,
    dir: tempfile::TempDir,
    store: Store,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    Rig {
        fx: hypeman(),
        dir,
        store,
    }
}

impl Rig {
    fn import(&self, id: &str) -> Imported {
        let snap = open_source(&self.fx.root).unwrap().find(id).unwrap();
        import_snapshot(
            &self.store,
            &snap,
            id,
            &AtomicBool::new(false),
            &mut |_, _| {},
        )
        .unwrap()
    }

    /// Fork `snapshot` with a payload for `app.config`, exported to
    /// `<tmp>/<out>`; the session's events too.
    fn fork_export(
        &self,
        snapshot: &str,
        out: &str,
        keep_source_paths: bool,
    ) -> (PathBuf, Result<String, ForkError>, Vec<SessionEvent>) {
        let dir = std::fs::canonicalize(self.dir.path()).unwrap().join(out);
        let mut req = ForkRequest::new(snapshot);
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        req.fork_name = Some(format!("{snapshot}-{n}"));
        req.restore = false;
        req.export = Some(dir.clone());
        req.export_keep_source_paths = keep_source_paths;
        req.mailboxes = vec![MailboxSpec {
            name: "app.config".into(),
            token: None,
            payload: Some(PAYLOAD.into()),
            wait_for_ack: false,
            ack_timeout_ms: None,
        }];
        let events = Mutex::new(Vec::new());
        let sink = |e: SessionEvent| events.lock().unwrap().push(e);
        let r = run_session(&self.store, &req, &sink, &AtomicBool::new(false)).map(|o| o.name);
        (dir, r, events.into_inner().unwrap())
    }
}

const PAYLOAD: &str = r#"{"region":"eu-1"}"#;

/// Every string of a JSON value that is an absolute path, with its
/// pointer, following JSON held in strings.
fn json_paths(v: &Value, at: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => {
            let t = s.trim_start();
            if (t.starts_with('{') || t.starts_with('['))
                && let Ok(inner) = serde_json::from_str::<Value>(s)
            {
                json_paths(&inner, format!("{at}/(json)"), out);
            } else if s.starts_with('/') {
                out.push((at, s.clone()));
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                json_paths(x, format!("{at}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                json_paths(x, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn nested(v: &Value) -> Value {
    serde_json::from_str(v.as_str().unwrap()).unwrap()
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// The checks every export must pass: each exported file parsed, no path
/// outside DIR, the source named nowhere, the memory raw and patched, the
/// disks private sparse copies, `restore.json` consistent.
fn assert_restores_as_a_fork(rig: &Rig, dir: &Path, memory: &str) {
    let files = files_under(dir);
    let root = rig.fx.root.to_string_lossy().into_owned();
    let mut paths: Vec<(String, String)> = Vec::new();
    for f in &files {
        let path = dir.join(f);
        if f == memory || f.starts_with("files/") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            memchr::memmem::find(&bytes, root.as_bytes()).is_none(),
            "{f} names the source {root}"
        );
        if f == "state" {
            let s = FcState::decode(&bytes);
            let mut named = vec![s.kernel_image_path.clone()];
            named.extend(s.initrd_path.clone());
            named.extend(s.blocks.iter().map(|b| b.disk_path.clone()));
            named.extend(s.vsock.iter().map(|v| v.uds_path.clone()));
            paths.extend(named.into_iter().map(|p| (format!("{f}:"), p)));
        } else if f.ends_with(".json") {
            json_paths(&read_json(&path), format!("{f}:"), &mut paths);
        } else {
            assert_eq!(f, "RESTORE.md", "an exported file nobody parses: {f}");
        }
    }
    assert!(!paths.is_empty());
    for (at, p) in &paths {
        assert!(
            p == "/dev/urandom" || Path::new(p).starts_with(dir),
            "{at} = {p} is outside {}",
            dir.display()
        );
        assert!(!p.contains("/../") && !p.contains("/./"), "{at} = {p}");
    }
    // The engine's own check agrees.
    let parsed: Vec<PathBuf> = files
        .iter()
        .filter(|f| *f == "state" || f.ends_with(".json"))
        .map(|f| dir.join(f))
        .collect();
    assert_eq!(
        rewrite::paths_outside(dir, &parsed).unwrap(),
        Vec::new(),
        "engine's check"
    );
    // Carried files exist; sockets do not yet (the VMM binds them).
    for (at, p) in &paths {
        if p.ends_with(".sock") {
            assert!(!Path::new(p).exists(), "{at} = {p}");
        } else if p != "/dev/urandom" {
            assert!(Path::new(p).exists(), "{at} = {p} is not there");
        }
    }
    // The memory: raw, as long as the guest's, with the payload written.
    let mem = dir.join(memory);
    let head = std::fs::read(&mem).unwrap();
    assert_eq!(head.len() as u64, MEM_SIZE);
    assert!(
        crate::scan::Compression::from_magic(&head[..4]).is_none(),
        "raw memory"
    );
    let report = scan_file(&mem, &ScanOptions::default()).unwrap();
    let m = report.fork_markers("app.config").next().unwrap();
    assert_eq!((m.seq, m.payload.as_deref()), (1, Some(PAYLOAD)));
    // Disks: private sparse copies of the source's.
    let overlay = dir.join("files/overlay.raw");
    let md = std::fs::metadata(&overlay).unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(md.len(), 8 << 20);
    assert!(md.blocks() * 512 < 1 << 20, "sparse");
    assert_eq!(md.permissions().mode() & 0o777, 0o600);
    // restore.json says how, with DIR's paths.
    let doc = read_json(&dir.join("restore.json"));
    assert_eq!(doc["format"], "forkmail-export/1");
    assert_eq!(doc["memory"], dir.join(memory).to_string_lossy().as_ref());
    assert_eq!(doc["source_paths_kept"], false);
    let md = std::fs::read_to_string(dir.join("RESTORE.md")).unwrap();
    assert!(md.contains(&*dir.to_string_lossy()), "{md}");
}

fn exported_files(events: &[SessionEvent]) -> Vec<String> {
    events
        .iter()
        .find_map(|e| match &e.what {
            Happening::Exported { files, .. } => Some(files.clone()),
            _ => None,
        })
        .expect("an exported event")
}

#[test]
fn firecracker_exports_restore_as_forks_from_raw_and_compressed_sources() {
    let rig = rig();
    for (id, tap) in [("fc-web", "hype-9d1e22"), ("snap-lz4", "hype-0ld7ap")] {
        let imported = rig.import(id);
        let (dir, r, events) = rig.fork_export(id, "out", false);
        r.unwrap();
        assert!(exported_files(&events).contains(&"state".to_string()));
        assert_restores_as_a_fork(&rig, &dir, "memory");
        let source_state = std::fs::read(imported.snapshot.dir.join("state")).unwrap();
        let before = FcState::decode(&source_state);
        let after = FcState::decode(&std::fs::read(dir.join("state")).unwrap());
        let d = |n: &str| dir.join(n).to_string_lossy().into_owned();
        assert_eq!(after.kernel_image_path, d("files/vmlinux"), "{id}");
        assert_eq!(after.initrd_path, Some(d("files/initrd")));
        assert_eq!(after.blocks[0].disk_path, d("files/rootfs.erofs"));
        assert_eq!(after.blocks[1].disk_path, d("files/overlay.raw"));
        assert_eq!(after.blocks[2].disk_path, d("files/config.ext4"));
        assert_eq!(after.vsock.as_ref().unwrap().uds_path, d("vsock.sock"));
        // Everything that is not a path is byte for byte the source's.
        assert_eq!(
            (
                &after.version,
                after.mem_size_mib,
                &after.kvm,
                &after.boot_args,
                &after.nets
            ),
            (
                &before.version,
                before.mem_size_mib,
                &before.kvm,
                &before.boot_args,
                &before.nets
            )
        );
        for (a, b) in after.blocks.iter().zip(&before.blocks) {
            assert_eq!(
                (&a.id, &a.tail, a.root_device),
                (&b.id, &b.tail, b.root_device)
            );
        }
        assert_eq!(after.vsock.unwrap().cid, before.vsock.unwrap().cid);
        // firecracker-config.json: carried, no source alias, TAP kept.
        let cfg = read_json(&dir.join("firecracker-config.json"));
        assert_eq!(
            cfg,
            json!({"network_overrides": [{"iface_id": "eth0", "host_dev_name": tap}]}),
            "{id}"
        );
        let doc = read_json(&dir.join("restore.json"));
        let load = &doc["firecracker"]["snapshot_load"];
        assert_eq!(load["snapshot_path"], d("state"));
        assert_eq!(
            load["mem_backend"],
            json!({"backend_type": "File", "backend_path": d("memory")})
        );
        assert_eq!(load["network_overrides"][0]["host_dev_name"], tap);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn cloud_hypervisor_exports_restore_as_forks_from_raw_and_compressed_sources() {
    let rig = rig();
    for id in ["ch-api", "ch-packed", "snap-zst"] {
        rig.import(id);
        let (dir, r, _) = rig.fork_export(id, "out", false);
        r.unwrap();
        assert_restores_as_a_fork(&rig, &dir, "memory-ranges");
        let d = |n: &str| dir.join(n).to_string_lossy().into_owned();
        let config = read_json(&dir.join("config.json"));
        assert_eq!(config["disks"][0]["path"], d("files/rootfs.erofs"), "{id}");
        assert_eq!(config["disks"][1]["path"], d("files/overlay.raw"));
        assert_eq!(config["disks"][2]["path"], d("files/config.ext4"));
        assert_eq!(config["payload"]["kernel"], d("files/vmlinux"));
        assert_eq!(config["payload"]["initramfs"], d("files/initrd"));
        assert_eq!(config["vsock"]["socket"], d("vsock.sock"));
        assert_eq!(config["serial"]["socket"], d("serial.sock"));
        assert_eq!(config["rng"]["src"], "/dev/urandom");
        assert_eq!(config["net"][0]["tap"], "hype-3f2a9c", "TAP names are kept");
        let state = read_json(&dir.join("state.json"));
        let devs = &state["snapshots"]["device-manager"]["snapshots"];
        assert_eq!(
            nested(&devs["_disk1"]["snapshot_data"]["state"])["disk_path"],
            d("files/overlay.raw")
        );
        let mm = nested(&state["snapshots"]["memory-manager"]["snapshot_data"]["state"]);
        assert_eq!(
            mm["arch_mem_regions"][0]["size"],
            json!(u64::MAX),
            "numbers kept"
        );
        if id == "ch-packed" {
            // Kernel paging: the zone maps the exported, patched memory
            // (the source's memory-ranges does not even exist: it is zstd).
            assert_eq!(config["memory"]["zones"][0]["file"], d("memory-ranges"));
            assert_eq!(mm["memory_ranges"]["data"], json!([]));
            assert!(!rig.fx.latest(id).join("memory-ranges").exists());
        }
        let doc = read_json(&dir.join("restore.json"));
        assert_eq!(
            doc["cloud-hypervisor"]["restore"]["source_url"],
            format!("file://{}", dir.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn exports_change_nothing_in_the_source() {
    let rig = rig();
    let before = tree_state(&rig.fx.root);
    for id in ["fc-web", "ch-packed", "snap-lz4"] {
        rig.import(id);
        let (_, r, _) = rig.fork_export(id, &format!("out-{id}"), false);
        r.unwrap();
    }
    assert_eq!(tree_state(&rig.fx.root), before);
}

/// Edit a JSON file of the fixture in place.
fn edit_json(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v = read_json(path);
    f(&mut v);
    std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// Import `id` after `edit`, then fork and export: refused at validate,
/// with a reason containing `needle`, nothing written; kept source paths
/// export the device state unchanged.
fn assert_refused(id: &str, needle: &str, edit: impl FnOnce(&Fixture)) {
    let rig = rig();
    edit(&rig.fx);
    let imported = rig.import(id);
    let (dir, r, events) = rig.fork_export(id, "refused", false);
    let err = r.unwrap_err();
    assert_eq!(err.stage(), Stage::Validate, "{id}: {err}");
    assert_eq!(err.kind(), ErrorKind::BadRequest, "{err}");
    assert!(
        err.to_string().contains(needle),
        "{id}: {needle:?} not in {err}"
    );
    assert!(!dir.exists(), "nothing written");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.what, Happening::CopyStarted { .. })),
        "refused before any copy"
    );
    // An expert may keep the source's paths: the device state unchanged.
    let (dir, r, _) = rig.fork_export(id, "kept", true);
    r.unwrap();
    for f in &imported.device_state {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(imported.snapshot.dir.join(f)).unwrap(),
            "{f}"
        );
    }
    let doc = read_json(&dir.join("restore.json"));
    assert_eq!(doc["source_paths_kept"], true);
    let md = std::fs::read_to_string(dir.join("RESTORE.md")).unwrap();
    assert!(md.contains("--keep-source-paths"), "{md}");
}

#[test]
fn cloud_hypervisor_device_state_that_cannot_live_in_dir_is_refused() {
    let config = |fx: &Fixture| fx.latest("ch-api").join("config.json");
    assert_refused("ch-api", "VFIO", |fx| {
        edit_json(
            &config(fx),
            |c| {
                c["devices"] =
                    json!([{"path": "/sys/bus/pci/devices/0000:00:04.0", "id": "_vfio0"}])
            },
        )
    });
    assert_refused("ch-api", "vhost-user", |fx| {
        edit_json(&config(fx), |c| {
            c["disks"][1]["vhost_user"] = json!(true);
            c["disks"][1]["vhost_socket"] = json!("/run/vhost/disk.sock");
        })
    });
    assert_refused("ch-packed", "MAP_SHARED", |fx| {
        edit_json(&fx.latest("ch-packed").join("config.json"), |c| {
            c["memory"]["zones"][0]["shared"] = json!(true)
        })
    });
    assert_refused("ch-packed", "not the snapshot's memory-ranges", |fx| {
        edit_json(&fx.latest("ch-packed").join("config.json"), |c| {
            c["memory"]["zones"][0]["file"] = json!("/dev/shm/guest-ram")
        })
    });
    assert_refused("ch-api", "virtiofsd", |fx| {
        edit_json(&config(fx), |c| {
            c["fs"] = json!([{"tag": "share", "socket": "/run/virtiofsd.sock"}])
        })
    });
    assert_refused("ch-api", "landlock", |fx| {
        edit_json(&config(fx), |c| c["landlock_enable"] = json!(true))
    });
    assert_refused("ch-api", "backing", |fx| {
        edit_json(&config(fx), |c| {
            c["disks"][1]["backing_files"] = json!(true)
        })
    });
    assert_refused("ch-api", "inside a longer string", |fx| {
        let g = fx.guest("ch-api");
        edit_json(&config(fx), |c| {
            c["payload"]["cmdline"] = json!(format!("console=ttyS0 hm.dir={}", g.display()))
        })
    });
    assert_refused("ch-api", "does not know", |fx| {
        edit_json(&config(fx), |c| {
            c["platform"] = json!({"mystery": "/opt/unknown"})
        })
    });
    assert_refused("ch-api", "entropy", |fx| {
        edit_json(&config(fx), |c| c["rng"]["src"] = json!("/tmp/entropy"))
    });
    assert_refused("ch-api", "cannot be carried", |fx| {
        edit_json(&config(fx), |c| {
            c["disks"][0]["path"] = json!("/nonexistent/rootfs.img")
        })
    });
    assert_refused("ch-api", "config.json does not name", |fx| {
        edit_json(&fx.latest("ch-api").join("state.json"), |s| {
            s["snapshots"]["device-manager"]["snapshots"]["_pmem9"] = json!({
                "snapshots": {}, "snapshot_data": {"state": json!({"file": "/srv/pmem.img"}).to_string()}})
        })
    });
}

#[test]
fn firecracker_device_state_that_cannot_live_in_dir_is_refused() {
    assert_refused("fc-web", "UFFD overlay", |fx| {
        std::fs::write(
            fx.guest("fc-web").join("firecracker-config.json"),
            serde_json::to_vec(
                &json!({"snapshot_memory_backend": "uffd", "uffd_cache_key": "k",
                "uffd_overlays": [{"offset": 4096, "data": "AAAA"}]}),
            )
            .unwrap(),
        )
        .unwrap()
    });
    assert_refused("fc-web", "inside a longer string", |fx| {
        let g = fx.guest("fc-web");
        let mut s = fc_state(fx, &g);
        s.boot_args = Some(format!("console=ttyS0 hm.dir={}/logs", g.display()));
        std::fs::write(fx.latest("fc-web").join("state"), s.encode()).unwrap();
    });
    assert_refused("fc-web", "11.0.0", |fx| {
        let mut s = fc_state(fx, &fx.guest("fc-web"));
        s.version = "11.0.0".into();
        std::fs::write(fx.latest("fc-web").join("state"), s.encode()).unwrap();
    });
    assert_refused("fc-web", "cannot be carried", |fx| {
        std::fs::remove_file(&fx.rootfs).unwrap();
    });
}

#[test]
fn a_socket_path_too_long_to_bind_is_refused_before_anything_is_written() {
    let rig = rig();
    rig.import("ch-api");
    let long = "x".repeat(100);
    let (dir, r, _) = rig.fork_export("ch-api", &long, false);
    let err = r.unwrap_err();
    assert_eq!(err.stage(), Stage::Validate, "{err}");
    assert!(err.to_string().contains("Unix socket"), "{err}");
    assert!(!dir.exists());
}

#[test]
fn a_snapshot_imported_before_exports_were_rewritten_is_refused_unless_paths_are_kept() {
    let rig = rig();
    let s = rig.import("fc-web").snapshot;
    let meta = s.dir.join(crate::store::SNAPSHOT_META);
    edit_json(&meta, |m| {
        m["vmm_config"].as_object_mut().unwrap().remove("export");
    });
    let (_, r, _) = rig.fork_export("fc-web", "old", false);
    let err = r.unwrap_err();
    assert!(err.to_string().contains("import it again"), "{err}");
    let (dir, r, _) = rig.fork_export("fc-web", "kept", true);
    r.unwrap();
    assert_eq!(
        std::fs::read(dir.join("state")).unwrap(),
        std::fs::read(s.dir.join("state")).unwrap()
    );
}

#[test]
fn an_instance_that_leaves_standby_while_imported_fails_the_import() {
    let rig = rig();
    let snap = open_source(&rig.fx.root).unwrap().find("ch-api").unwrap();
    // Restored meanwhile: Hypeman's VMM socket is there again.
    socket_file(&rig.fx.guest("ch-api").join("ch.sock"));
    let err = import_snapshot(
        &rig.store,
        &snap,
        "ch-api",
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, TransferError::SourceChanged { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Busy);
    assert_eq!(
        std::fs::read_dir(rig.store.snapshots_dir())
            .unwrap()
            .count(),
        0,
        "nothing kept"
    );
}

#[test]
fn a_plain_firecracker_directory_exports_as_a_fork_too() {
    let rig = rig();
    let plain = rig.dir.path().join("fc-snap");
    std::fs::create_dir(&plain).unwrap();
    plain_firecracker(&rig.fx, &plain);
    let snap = open_source(&plain).unwrap().list().remove(0);
    let snap = snap.snapshot().unwrap();
    import_snapshot(
        &rig.store,
        snap,
        "plain",
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap();
    let (dir, r, _) = rig.fork_export("plain", "out", false);
    r.unwrap();
    let s = FcState::decode(&std::fs::read(dir.join("state")).unwrap());
    assert_eq!(
        s.kernel_image_path,
        dir.join("files/vmlinux").to_string_lossy()
    );
    assert_eq!(
        s.blocks[0].disk_path,
        dir.join("files/rootfs.ext4").to_string_lossy()
    );
    assert!(!dir.join("firecracker-config.json").exists());
}

#[test]
fn a_data_directory_copied_or_mounted_elsewhere_exports_from_where_it_is() {
    let rig = rig();
    // The metadata and device state still name the old place.
    let moved = rig.fx.root.with_file_name("moved-hypeman");
    std::fs::rename(&rig.fx.root, &moved).unwrap();
    let source = open_source(&moved).unwrap();
    for (id, memory) in [("fc-web", "memory"), ("ch-packed", "memory-ranges")] {
        let snap = source.find(id).unwrap();
        import_snapshot(
            &rig.store,
            &snap,
            id,
            &AtomicBool::new(false),
            &mut |_, _| {},
        )
        .unwrap();
        let (dir, r, _) = rig.fork_export(id, &format!("moved-{id}"), false);
        r.unwrap();
        assert_restores_as_a_fork(&rig, &dir, memory);
        let moved_str = moved.to_string_lossy().into_owned();
        for f in [
            "restore.json",
            if memory == "memory" {
                "state"
            } else {
                "config.json"
            },
        ] {
            let bytes = std::fs::read(dir.join(f)).unwrap();
            assert!(
                memchr::memmem::find(&bytes, moved_str.as_bytes()).is_none(),
                "{f}"
            );
        }
        // The disks and the image came from where the data directory is now.
        assert_eq!(
            std::fs::read(dir.join("files/rootfs.erofs")).unwrap(),
            std::fs::read(moved.join(rig.fx.rootfs.strip_prefix(&rig.fx.root).unwrap())).unwrap()
        );
    }
}
