pub(crate) mod fixture;
mod plain;
mod set;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::scan::{ScanOptions, ScanProgress, scan_file};
use fixture::*;

fn snapshots(list: &[Listed]) -> Vec<&SourceSnapshot> {
    list.iter().filter_map(Listed::snapshot).collect()
}

fn by_id<'a>(list: &'a [Listed], id: &str) -> &'a SourceSnapshot {
    snapshots(list)
        .into_iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no snapshot {id} in {list:#?}"))
}

fn file_name(p: &Option<std::path::PathBuf>) -> String {
    p.as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn a_hypeman_data_directory_lists_every_standby_and_central_snapshot() {
    let fx = hypeman();
    let source = open_source(&fx.root).unwrap();
    assert_eq!(source.kind(), SourceKind::HypemanDataDir);
    let list = source.list();
    let got: Vec<_> = snapshots(&list)
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                s.name.as_str(),
                s.origin,
                s.kind,
                s.hypervisor.clone(),
                s.format,
                file_name(&s.memory),
                s.memory_size,
            )
        })
        .collect();
    use Hypervisor::*;
    use MemoryFormat as F;
    use Origin::*;
    let apparent = MemorySize::Apparent { bytes: MEM_SIZE };
    let configured = MemorySize::Configured { bytes: MEM_SIZE };
    let standby = SnapshotKind::Standby;
    assert_eq!(
        got,
        vec![
            (
                "ch-api",
                "api",
                HypemanStandby,
                standby,
                CloudHypervisor,
                F::Raw,
                "memory-ranges".into(),
                apparent
            ),
            (
                "ch-packed",
                "packed",
                HypemanStandby,
                standby,
                CloudHypervisor,
                F::Zstd,
                "memory-ranges.zst".into(),
                configured
            ),
            (
                "fc-pending",
                "pending",
                HypemanStandby,
                standby,
                Firecracker,
                F::Raw,
                "memory".into(),
                apparent
            ),
            (
                "fc-web",
                "web",
                HypemanStandby,
                standby,
                Firecracker,
                F::Raw,
                "memory".into(),
                apparent
            ),
            (
                "qemu-packed",
                "qemu-packed",
                HypemanStandby,
                standby,
                Qemu,
                F::QemuMigrationStream,
                "memory.zst".into(),
                configured
            ),
            (
                "qemu-vm",
                "qemu-vm",
                HypemanStandby,
                standby,
                Qemu,
                F::QemuMigrationStream,
                "memory".into(),
                configured
            ),
            (
                "vz-mac",
                "mac",
                HypemanStandby,
                standby,
                Vz,
                F::VzMachineState,
                "machine-state.vzm".into(),
                configured
            ),
            (
                "snap-lz4",
                "nightly",
                HypemanSnapshot,
                standby,
                Firecracker,
                F::Lz4,
                "memory.lz4".into(),
                MemorySize::FromMetadata { bytes: MEM_SIZE }
            ),
            (
                "snap-stopped",
                "cold",
                HypemanSnapshot,
                SnapshotKind::Stopped,
                CloudHypervisor,
                F::None,
                String::new(),
                MemorySize::Unknown
            ),
            (
                "snap-zst",
                "api",
                HypemanSnapshot,
                standby,
                CloudHypervisor,
                F::Zstd,
                "memory-ranges.zst".into(),
                MemorySize::Unknown
            ),
        ]
    );
    let web = by_id(&list, "fc-web");
    assert_eq!(
        web.created_at.as_deref(),
        Some(STOPPED_AT),
        "a standby instance's time is when it went into standby"
    );
    let hm = web.instance.as_ref().unwrap();
    assert_eq!(hm.created_at.as_deref(), Some(CREATED_AT));
    assert_eq!(hm.state, "Standby");
    assert_eq!(web.memory_file_bytes, Some(MEM_SIZE));
    assert_eq!(
        web.dir,
        fx.root.join("guests/fc-web/snapshots/snapshot-latest")
    );
    assert_eq!(web.device_state, vec![web.dir.join("state")]);
    assert!(
        snapshots(&list)
            .iter()
            .all(|s| s.read_only && s.source == fx.root)
    );
    let packed = by_id(&list, "ch-packed");
    assert_eq!(packed.created_at, None, "a mistyped key counts as absent");
    assert_eq!(
        packed.memory_compression,
        Some(crate::scan::Compression::Zstd)
    );
    let names: Vec<_> = packed
        .device_state
        .iter()
        .map(|p| p.file_name().unwrap())
        .collect();
    assert_eq!(names, ["config.json", "state.json"]);
    let lz4 = by_id(&list, "snap-lz4");
    let c = lz4.compression.as_ref().unwrap();
    assert_eq!(c.state.as_deref(), Some("compressed"));
    assert_eq!(c.algorithm.as_deref(), Some("lz4"));
    assert_eq!(c.uncompressed_bytes, Some(MEM_SIZE));
    assert_eq!(
        lz4.payload_bytes,
        Some(777),
        "size_bytes is the whole payload"
    );
    assert_eq!(lz4.created_at.as_deref(), Some("2025-02-03T04:05:06Z"));
    let zst = by_id(&list, "snap-zst");
    assert_eq!(zst.compression.as_ref().unwrap().level, Some(1));
    let on_disk = std::fs::metadata(zst.memory.as_ref().unwrap())
        .unwrap()
        .len();
    assert_eq!(zst.memory_file_bytes, Some(on_disk));
    let stopped = by_id(&list, "snap-stopped");
    assert!(stopped.memory.is_none() && stopped.device_state.is_empty());
    assert!(!stopped.scannable());
    // Not in standby, or still being created: not snapshots, not problems.
    let all_ids: Vec<_> = list
        .iter()
        .map(|l| match l {
            Listed::Snapshot(s) => s.id.clone(),
            Listed::Problem(p) => p.id.clone().unwrap_or_default(),
        })
        .collect();
    assert!(!all_ids.contains(&"running".to_string()));
    assert!(!all_ids.contains(&"snap-creating".to_string()));
    assert!(
        !all_ids.contains(&"stopped".to_string()),
        "an empty snapshot-latest/ is Stopped"
    );
}

#[test]
fn unreadable_entries_are_listed_with_the_reason_never_hidden() {
    let fx = hypeman();
    let list = open_source(&fx.root).unwrap().list();
    let problems: Vec<_> = list
        .iter()
        .filter_map(Listed::problem)
        .map(|p| (p.id.clone().unwrap(), p.error.problem()))
        .collect();
    let expected = [
        ("aaa-impostor", "id-mismatch"),
        ("broken-meta", "bad-metadata"),
        ("dir-memory", "not-a-regular-file"),
        ("fifo-memory", "not-a-regular-file"),
        ("fifo-meta", "not-a-regular-file"),
        ("huge-meta", "too-large"),
        ("live-ch", "running"),
        ("no-memory", "no-memory"),
        ("no-meta", "missing"),
        ("snap-array", "bad-metadata"),
        ("snap-liar", "bad-memory-file"),
        ("snap-paused", "unknown-kind"),
    ];
    let expected: Vec<_> = expected.iter().map(|(i, k)| (i.to_string(), *k)).collect();
    assert_eq!(problems, expected);
    for p in list.iter().filter_map(Listed::problem) {
        let reason = p.error.to_string();
        assert!(
            reason.contains(&*fx.root.to_string_lossy()),
            "names where: {reason}"
        );
    }
    let reason = |id: &str| {
        list.iter()
            .filter_map(Listed::problem)
            .find(|p| p.id.as_deref() == Some(id))
            .unwrap()
            .error
            .to_string()
    };
    assert!(
        reason("fifo-memory").contains("a FIFO"),
        "{}",
        reason("fifo-memory")
    );
    assert!(reason("dir-memory").contains("a directory"));
    assert!(reason("huge-meta").contains("larger than"));
    assert!(
        reason("snap-liar").contains("zstd"),
        "{}",
        reason("snap-liar")
    );
    assert!(reason("snap-paused").contains("\"Paused\""));
    assert!(reason("no-memory").contains("memory-ranges"));
}

#[test]
fn markers_in_compressed_memory_are_the_raw_files_markers() {
    let fx = hypeman();
    let reference = scan_file(&fx.reference, &ScanOptions::default()).unwrap();
    let offsets: Vec<u64> = reference.markers.iter().map(|m| m.offset).collect();
    let mut planted: Vec<u64> = planted().iter().map(|(at, _)| *at).collect();
    planted.sort_unstable();
    assert_eq!(offsets, planted);
    let source = open_source(&fx.root).unwrap();
    for id in ["fc-web", "ch-api", "ch-packed", "snap-lz4", "snap-zst"] {
        let snap = source.find(id).unwrap();
        assert!(snap.scannable(), "{id}");
        let small = ScanOptions {
            buffer_size: 64 << 10,
            ..Default::default()
        };
        for opts in [ScanOptions::default(), small] {
            let r = snap.scan(&opts).unwrap();
            assert_eq!(r.markers, reference.markers, "{id}");
            assert_eq!(r.file_size, MEM_SIZE, "{id}");
        }
    }
}

#[test]
fn qemu_streams_and_stopped_snapshots_are_listed_but_never_scanned() {
    let fx = hypeman();
    let source = open_source(&fx.root).unwrap();
    for id in ["qemu-vm", "snap-stopped"] {
        let snap = source.find(id).unwrap();
        assert!(!snap.scannable());
        let err = snap.scan(&ScanOptions::default()).unwrap_err();
        assert_eq!(err.problem(), "not-scannable", "{err}");
    }
    let err = source
        .find("qemu-vm")
        .unwrap()
        .scan(&ScanOptions::default())
        .unwrap_err();
    assert!(matches!(err, SourceError::NotScannable { .. }), "{err}");
}

#[test]
fn find_takes_an_id_or_an_unambiguous_name() {
    let fx = hypeman();
    let source = open_source(&fx.root).unwrap();
    assert_eq!(source.find("web").unwrap().id, "fc-web");
    assert_eq!(source.find("snap-lz4").unwrap().name, "nightly");
    let err = source.find("api").unwrap_err();
    assert!(
        matches!(&err, SourceError::Ambiguous { ids, .. } if ids == &["ch-api", "snap-zst"]),
        "{err}"
    );
    let missing = source.find("nothing").unwrap_err();
    assert_eq!(missing.problem(), "not-found");
    use crate::error::{ErrorKind, Kinded};
    assert_eq!(missing.kind(), ErrorKind::NotFound, "exit code 4");
    let qemu = source
        .find("qemu-vm")
        .unwrap()
        .scan(&ScanOptions::default());
    assert_eq!(qemu.unwrap_err().kind(), ErrorKind::BadRequest);
    assert_eq!(
        source.find("broken-meta").unwrap_err().problem(),
        "bad-metadata"
    );
}

#[test]
fn listing_serializes_to_json_with_kinds_derived_from_types() {
    let fx = hypeman();
    let list = open_source(&fx.root).unwrap().list();
    let v = serde_json::to_value(&list).unwrap();
    let entry = |id: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .unwrap()
            .clone()
    };
    let lz4 = entry("snap-lz4");
    assert_eq!(lz4["entry"], "snapshot");
    assert_eq!(lz4["format"], "lz4");
    assert_eq!(lz4["hypervisor"], "firecracker");
    assert_eq!(lz4["origin"], "hypeman-snapshot");
    assert_eq!(
        lz4["memory_size"],
        serde_json::json!({"from": "metadata", "bytes": MEM_SIZE})
    );
    assert_eq!(lz4["read_only"], true);
    assert_eq!(entry("qemu-vm")["format"], "qemu-migration-stream");
    assert_eq!(entry("snap-stopped")["kind"], "stopped");
    assert_eq!(entry("snap-stopped")["memory"], serde_json::Value::Null);
    let fifo = entry("fifo-memory");
    assert_eq!(fifo["entry"], "problem");
    assert_eq!(fifo["kind"], "bad_request");
    assert_eq!(fifo["problem"], "not-a-regular-file");
    assert!(fifo["reason"].as_str().unwrap().contains("FIFO"));
}

/// List, find and scan everything the source offers.
fn use_everything(root: &Path, seen_open: &AtomicUsize) {
    let source = open_source(root).unwrap();
    let list = source.list();
    let check_fds = |_: ScanProgress| {
        for (path, mode) in open_under(root) {
            assert_eq!(
                mode,
                libc::O_RDONLY,
                "{} is open for writing",
                path.display()
            );
            seen_open.fetch_add(1, Ordering::Relaxed);
        }
    };
    let opts = ScanOptions {
        progress: Some(&check_fds),
        ..Default::default()
    };
    for s in snapshots(&list) {
        let found = source.find(&s.id).unwrap();
        if found.scannable() {
            assert_eq!(found.scan(&opts).unwrap().markers.len(), planted().len());
        }
    }
}

#[test]
fn listing_and_scanning_change_nothing_in_the_source() {
    let fx = hypeman();
    let before = tree_state(&fx.root);
    let seen = AtomicUsize::new(0);
    use_everything(&fx.root, &seen);
    assert_eq!(tree_state(&fx.root), before);
}

#[test]
fn a_read_only_source_is_usable_and_nothing_is_opened_for_writing() {
    let fx = hypeman();
    chmod_tree(&fx.root, &|m| m & !0o222);
    let before = tree_state(&fx.root);
    let seen = AtomicUsize::new(0);
    use_everything(&fx.root, &seen);
    assert!(
        seen.load(Ordering::Relaxed) > 0,
        "memory files were seen open"
    );
    assert_eq!(tree_state(&fx.root), before);
    chmod_tree(&fx.root, &|m| m | 0o200);
}

#[test]
fn central_snapshots_alone_are_a_hypeman_data_directory_but_a_forkmail_store_is_not() {
    let fx = hypeman();
    std::fs::remove_dir_all(fx.root.join("guests")).unwrap();
    let source = open_source(&fx.root).unwrap();
    assert_eq!(source.kind(), SourceKind::HypemanDataDir);
    assert!(source.list().iter().all(|l| match l {
        Listed::Snapshot(s) => s.origin == Origin::HypemanSnapshot,
        Listed::Problem(p) => p.origin == Origin::HypemanSnapshot,
    }));
    let store = tempfile::tempdir().unwrap();
    for d in ["snapshots/one", "forks"] {
        std::fs::create_dir_all(store.path().join(d)).unwrap();
    }
    let err = open_source(store.path()).unwrap_err();
    assert_eq!(err.problem(), "not-a-source", "{err}");
}

#[test]
fn an_area_that_cannot_be_listed_is_one_problem_and_the_rest_still_lists() {
    let fx = hypeman();
    std::fs::remove_dir_all(fx.root.join("snapshots")).unwrap();
    mkfifo(&fx.root.join("snapshots"));
    let list = open_source(&fx.root).unwrap().list();
    let p = list.last().unwrap().problem().unwrap();
    assert_eq!(
        (p.error.problem(), p.origin),
        ("list-dir", Origin::HypemanSnapshot)
    );
    assert_eq!(p.path, fx.root.join("snapshots"));
    assert_eq!(by_id(&list, "fc-web").name, "web");
}

fn problem<'a>(list: &'a [Listed], id: &str) -> &'a SourceProblem {
    list.iter()
        .filter_map(Listed::problem)
        .find(|p| p.id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no problem {id} in {list:#?}"))
}

/// Issue 19: Hypeman's own rule (`lib/instances/query.go` @c2e2295): a
/// standby snapshot is a non-empty `snapshot-latest/` without a VMM socket.
#[test]
fn hypemans_standby_rule_decides_what_is_a_snapshot() {
    let fx = hypeman();
    let source = open_source(&fx.root).unwrap();
    let list = source.list();
    // An empty snapshot-latest/ is Stopped: not a snapshot, not a problem.
    assert!(
        list.iter().all(|l| match l {
            Listed::Snapshot(s) => s.id != "stopped",
            Listed::Problem(p) => p.id.as_deref() != Some("stopped"),
        }),
        "{list:#?}"
    );
    // A VMM socket: Hypeman asks the VMM (running, paused, unknown).
    let live = problem(&list, "live-ch");
    assert!(matches!(live.error, SourceError::NotStandby { .. }));
    assert_eq!(live.error.problem(), "running");
    use crate::error::{ErrorKind, Kinded};
    assert_eq!(live.error.kind(), ErrorKind::Busy);
    assert!(live.error.to_string().contains("ch.sock"), "{}", live.error);
    assert_eq!(source.find("live-ch").unwrap_err().kind(), ErrorKind::Busy);
    // The socket gone, it is in standby; any entry makes a snapshot-latest
    // count (Hypeman's hasSnapshot), even one without memory.
    std::fs::remove_file(fx.guest("live-ch").join("ch.sock")).unwrap();
    std::fs::write(fx.latest("stopped").join("stray"), b"x").unwrap();
    let list = source.list();
    assert_eq!(by_id(&list, "live-ch").kind, SnapshotKind::Standby);
    assert_eq!(problem(&list, "stopped").error.problem(), "no-memory");
    // The socket is the one the metadata records, where the data dir is now.
    let meta = fx.guest("ch-api").join("metadata.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    m["SocketPath"] = serde_json::json!(fx.guest("ch-api").join("api.sock"));
    std::fs::write(&meta, serde_json::to_vec(&m).unwrap()).unwrap();
    socket_file(&fx.guest("ch-api").join("api.sock"));
    assert_eq!(source.find("ch-api").unwrap_err().problem(), "running");
}

/// Issue 19: vz standby instances are vz snapshots, named by their `Name`;
/// Apple's saved machine is never scanned.
#[test]
fn vz_standby_instances_are_listed_by_name_and_never_scanned() {
    let fx = hypeman();
    let source = open_source(&fx.root).unwrap();
    let vz = source.find("mac").unwrap();
    assert_eq!(vz.id, "vz-mac");
    assert_eq!(vz.hypervisor, Hypervisor::Vz);
    assert_eq!(vz.format, MemoryFormat::VzMachineState);
    assert_eq!(file_name(&vz.memory), "machine-state.vzm");
    assert_eq!(vz.memory_size, MemorySize::Configured { bytes: MEM_SIZE });
    assert!(!vz.scannable());
    let err = vz.scan(&ScanOptions::default()).unwrap_err();
    assert!(matches!(err, SourceError::NotScannable { .. }), "{err}");
    assert!(err.to_string().contains("machine-state.vzm"), "{err}");
    let json = serde_json::to_value(&vz).unwrap();
    assert_eq!(json["hypervisor"], "vz");
    assert_eq!(json["format"], "vz-machine-state");
}

/// Issue 19: Hypeman compresses QEMU's memory too; a compressed migration
/// stream is labelled as such and never scanned as RAM, in a data
/// directory or given by path.
#[test]
fn compressed_qemu_memory_is_labelled_and_never_scanned_as_ram() {
    let fx = hypeman();
    let source = open_source(&fx.root).unwrap();
    let q = source.find("qemu-packed").unwrap();
    assert_eq!(q.format, MemoryFormat::QemuMigrationStream);
    assert_eq!(q.memory_compression, Some(crate::scan::Compression::Zstd));
    assert!(!q.scannable());
    assert_eq!(
        q.scan(&ScanOptions::default()).unwrap_err().problem(),
        "not-scannable"
    );
    // The same file by path, its hypervisor unknown: the content decides.
    let file = fx.latest("qemu-packed").join("memory.zst");
    let by_path = open_source(&file).unwrap().list().remove(0);
    let s = by_path.snapshot().unwrap();
    assert_eq!(s.format, MemoryFormat::QemuMigrationStream);
    assert_eq!(s.memory_compression, Some(crate::scan::Compression::Zstd));
    assert_eq!(s.hypervisor, Hypervisor::Qemu);
    assert!(s.scan(&ScanOptions::default()).is_err());
    // Compressed RAM by path is still compressed RAM.
    let ram = fx.latest("ch-packed").join("memory-ranges.zst");
    let by_path = open_source(&ram).unwrap().list().remove(0);
    assert_eq!(by_path.snapshot().unwrap().format, MemoryFormat::Zstd);
}

/// Issue 19: when (`StoppedAt`), how big (`Size` + `HotplugSize` for
/// memory that is not a raw file) and what is pending
/// (`PendingStandbyCompression`), as Hypeman's metadata says.
#[test]
fn times_sizes_and_pending_compression_as_hypeman_reports_them() {
    let fx = hypeman();
    let list = open_source(&fx.root).unwrap().list();
    let pending = by_id(&list, "fc-pending");
    let p = pending
        .instance
        .as_ref()
        .unwrap()
        .pending_compression
        .as_ref()
        .unwrap();
    assert_eq!(
        (p.enabled, p.algorithm.as_deref(), p.level),
        (Some(true), Some("zstd"), Some(3))
    );
    assert_eq!(p.not_before.as_deref(), Some("2025-01-03T04:10:06.5Z"));
    assert!(
        by_id(&list, "fc-web")
            .instance
            .as_ref()
            .unwrap()
            .pending_compression
            .is_none()
    );
    let packed = by_id(&list, "ch-packed");
    let i = packed.instance.as_ref().unwrap();
    assert_eq!(
        (i.size, i.hotplug_size),
        (Some(BASE_SIZE), Some(MEM_SIZE - BASE_SIZE))
    );
    assert_eq!(packed.memory_size.bytes(), Some(MEM_SIZE));
    let json = serde_json::to_value(packed).unwrap();
    assert_eq!(
        json["memory_size"],
        serde_json::json!({"from": "configured", "bytes": MEM_SIZE})
    );
    assert_eq!(json["memory_compression"], "zstd");
    for id in ["ch-api", "fc-web", "vz-mac", "qemu-packed"] {
        assert_eq!(
            by_id(&list, id).created_at.as_deref(),
            Some(STOPPED_AT),
            "{id}"
        );
    }
    // Central snapshots keep their own record's time.
    assert_eq!(
        by_id(&list, "snap-lz4").created_at.as_deref(),
        Some("2025-02-03T04:05:06Z")
    );
}

/// Reliability issue 18, defect 9: a guest directory whose metadata claims
/// another's `Id` shadowed it (`hypeman/fc-web` resolved to the impostor,
/// which sorts first). The directory name is the id, as it is for Hypeman;
/// a claim that differs is refused; an id two entries share is refused.
#[test]
fn a_directory_claiming_another_id_never_shadows_it() {
    let fx = hypeman();
    let source = open_source(&fx.root).unwrap();
    let web = source.find("fc-web").unwrap();
    assert_eq!(web.dir, fx.latest("fc-web"), "the real fc-web");
    assert_eq!(web.name, "web");
    let err = source.find("aaa-impostor").unwrap_err();
    assert!(
        matches!(&err, SourceError::IdMismatch { claimed, dir, .. } if claimed == "fc-web" && dir == "aaa-impostor"),
        "{err}"
    );
    assert_eq!(source.find("impostor").unwrap_err().problem(), "not-found");
    let ids: Vec<String> = source
        .list()
        .iter()
        .filter_map(Listed::snapshot)
        .map(|s| s.id.clone())
        .collect();
    assert_eq!(ids.iter().filter(|i| *i == "fc-web").count(), 1);
    // A central snapshot whose directory has a guest's name: one id, two
    // entries: refused, never a guess.
    let d = fx.root.join("snapshots/fc-web");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("snapshot.json"),
        br#"{"snapshot": {"kind": "Stopped", "name": "copy"}}"#,
    )
    .unwrap();
    let err = source.find("fc-web").unwrap_err();
    assert!(
        matches!(&err, SourceError::SharedId { paths, .. } if paths.len() == 2),
        "{err}"
    );
    use crate::error::{ErrorKind, Kinded};
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    assert!(!err.to_string().contains("use an id"), "{err}");
}

mod properties {
    //! Property tests (bounded cases): Hypeman metadata of any shape — the
    //! fields listing reads, with values of any JSON type — lists as one
    //! snapshot or one problem under its directory's name, never panics,
    //! never under another id; the config reader never panics and reads
    //! back the `data_dir` it is given.

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::source::datadir::yaml_data_dir;

    fn json_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            "[ -~]{0,24}".prop_map(Value::from),
            "/[a-z/]{0,24}".prop_map(Value::from),
            Just(json!({"Policy": {"enabled": true, "algorithm": "lz4", "level": -1}})),
            Just(json!([1, "x", null])),
        ]
    }

    const KEYS: [&str; 11] = [
        "Id",
        "Name",
        "HypervisorType",
        "DataDir",
        "SocketPath",
        "Size",
        "HotplugSize",
        "CreatedAt",
        "StoppedAt",
        "PendingStandbyCompression",
        "VsockSocket",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn metadata_of_any_shape_lists_under_its_directory(
            values in proptest::collection::vec(proptest::option::of(json_value()), KEYS.len()),
        ) {
            let d = tempfile::tempdir().unwrap();
            let root = d.path().join("hm");
            let latest = root.join("guests/inst/snapshots/snapshot-latest");
            std::fs::create_dir_all(&latest).unwrap();
            std::fs::write(latest.join("memory"), [0u8; 4096]).unwrap();
            std::fs::write(latest.join("state"), b"x").unwrap();
            let mut meta = serde_json::Map::new();
            for (k, v) in KEYS.iter().zip(values) {
                if let Some(v) = v {
                    meta.insert(k.to_string(), v);
                }
            }
            std::fs::write(
                root.join("guests/inst/metadata.json"),
                serde_json::to_vec(&Value::Object(meta)).unwrap(),
            )
            .unwrap();
            let list = open_source(&root).unwrap().list();
            prop_assert_eq!(list.len(), 1);
            match &list[0] {
                Listed::Snapshot(s) => {
                    prop_assert_eq!(s.id.as_str(), "inst");
                    prop_assert_eq!(s.kind, SnapshotKind::Standby);
                }
                Listed::Problem(p) => prop_assert_eq!(p.id.as_deref(), Some("inst")),
            }
        }

        #[test]
        fn the_config_reader_never_panics_and_reads_back_data_dir(
            text in "[ -~\n\t]{0,200}",
            dir in "/[a-z0-9_/-]{1,40}",
        ) {
            let _ = yaml_data_dir(&text);
            prop_assert_eq!(yaml_data_dir(&format!("port: 1\ndata_dir: {dir}\n")), Some(dir.clone()));
            prop_assert_eq!(yaml_data_dir(&format!("data_dir: \"{dir}\" # c\n")), Some(dir));
        }
    }
}
