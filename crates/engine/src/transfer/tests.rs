//! Import and export against the Hypeman-shaped fixture of `source`: the
//! same bytes and markers whatever the compression, the VMM's own layout on
//! the way out, refusals for what cannot be forked, and a source that is
//! never written (every file hashed, every mtime kept, every descriptor on
//! it read-only, a read-only copy of the tree usable).

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::fork::{ForkRequest, Happening, MailboxSpec, SessionEvent, run_session};
use crate::scan::{ScanOptions, scan_file};
use crate::source::tests::fixture::*;
use crate::source::{SourceSnapshot, open_source};
use crate::store::{SnapshotInfo, Store};
use crate::vmm::VmmKind;

struct Rig {
    fx: Fixture,
    _dir: tempfile::TempDir,
    store: Store,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    Rig {
        fx: hypeman(),
        _dir: dir,
        store,
    }
}

fn find(rig: &Rig, id: &str) -> SourceSnapshot {
    open_source(&rig.fx.root).unwrap().find(id).unwrap()
}

fn import(rig: &Rig, id: &str) -> Imported {
    let never = AtomicBool::new(false);
    import_snapshot(&rig.store, &find(rig, id), id, &never, &mut |_, _| {}).unwrap()
}

const STANDBY: [&str; 5] = ["fc-web", "ch-api", "ch-packed", "snap-lz4", "snap-zst"];

#[test]
fn every_standby_snapshot_imports_to_the_same_bytes_and_markers() {
    let rig = rig();
    let reference = std::fs::read(&rig.fx.reference).unwrap();
    let markers = scan_file(&rig.fx.reference, &ScanOptions::default())
        .unwrap()
        .markers;
    for id in STANDBY {
        let got = import(&rig, id);
        let s = &got.snapshot;
        assert_eq!(std::fs::read(s.memory_path()).unwrap(), reference, "{id}");
        assert_eq!(s.memory_size, MEM_SIZE, "{id}");
        assert!(
            s.allocated < MEM_SIZE / 2,
            "{id}: sparse ({} bytes)",
            s.allocated
        );
        let scanned = scan_file(&s.memory_path(), &ScanOptions::default()).unwrap();
        assert_eq!(scanned.markers, markers, "{id}: same markers, same offsets");
        let (vmm, state): (VmmKind, &[&str]) = if id.starts_with("fc") || id == "snap-lz4" {
            (VmmKind::Firecracker, &["state"])
        } else {
            (VmmKind::CloudHypervisor, &["config.json", "state.json"])
        };
        assert_eq!(s.meta.vmm, vmm, "{id}");
        assert_eq!(got.device_state, state, "{id}");
        for f in state {
            assert!(s.dir.join(f).is_file(), "{id}: {f}");
        }
        let config: ImportedConfig = serde_json::from_value(s.meta.vmm_config.clone()).unwrap();
        assert_eq!(config.imported_from.id, id);
        assert_eq!(config.imported_from.source, rig.fx.root);
        let method = if id.ends_with("packed") || id.ends_with("zst") {
            "decompressed zstd"
        } else if id.ends_with("lz4") {
            "decompressed lz4"
        } else {
            got.method.as_str() // reflink or sparse copy, by filesystem
        };
        assert_eq!(got.method, method, "{id}");
    }
}

#[test]
fn what_cannot_be_forked_is_not_imported_and_leaves_nothing() {
    let rig = rig();
    let never = AtomicBool::new(false);
    for id in ["qemu-vm", "snap-stopped"] {
        let err =
            import_snapshot(&rig.store, &find(&rig, id), id, &never, &mut |_, _| {}).unwrap_err();
        assert!(
            matches!(err, TransferError::NotImportable { .. }),
            "{id}: {err}"
        );
        use crate::error::{ErrorKind, Kinded};
        assert_eq!(err.kind(), ErrorKind::BadRequest);
    }
    let file = open_source(&rig.fx.reference).unwrap().list().remove(0);
    let err = import_snapshot(
        &rig.store,
        file.snapshot().unwrap(),
        "raw",
        &never,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, TransferError::NotImportable { .. }), "{err}");
    let err = import_snapshot(
        &rig.store,
        &find(&rig, "snap-zst"),
        "z",
        &AtomicBool::new(true),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, TransferError::Cancelled), "{err}");
    assert_eq!(
        std::fs::read_dir(rig.store.snapshots_dir())
            .unwrap()
            .count(),
        0,
        "nothing half-made in the store"
    );
    import(&rig, "fc-web");
    let again = import_snapshot(
        &rig.store,
        &find(&rig, "fc-web"),
        "fc-web",
        &never,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            again,
            TransferError::Store(TemplateError::Store(
                crate::store::StoreError::Exists { .. }
            ))
        ),
        "{again:?}"
    );
}

#[test]
fn import_names_come_from_the_source_when_they_follow_the_rule() {
    let rig = rig();
    let mut s = find(&rig, "fc-web");
    assert_eq!(default_import_name(&s).as_deref(), Some("web"));
    s.name = "My App_v2.".into();
    assert_eq!(default_import_name(&s).as_deref(), Some("my-app-v2"));
    s.name = "***".into();
    assert_eq!(default_import_name(&s), None);
}

fn export_of(s: &SnapshotInfo, dir: &std::path::Path) -> Result<Exported, TransferError> {
    export_fork(s, &s.memory_path(), dir, false, &AtomicBool::new(false))
}

#[test]
fn export_writes_the_vmms_own_layout_and_never_overwrites() {
    let rig = rig();
    let out = rig._dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for (id, memory, state) in [
        ("fc-web", "memory", vec!["state", "firecracker-config.json"]),
        (
            "ch-packed",
            "memory-ranges",
            vec!["config.json", "state.json"],
        ),
    ] {
        let s = import(&rig, id).snapshot;
        let dir = out.join(id);
        let e = export_of(&s, &dir).unwrap();
        let mut want: Vec<String> = [memory, "restore.json", "RESTORE.md"]
            .iter()
            .chain(&state)
            .map(|f| f.to_string())
            .chain(
                [
                    "vmlinux",
                    "initrd",
                    "rootfs.erofs",
                    "overlay.raw",
                    "config.ext4",
                ]
                .iter()
                .map(|f| format!("files/{f}")),
            )
            .collect();
        want.sort();
        let mut files = e.files.clone();
        files.sort();
        assert_eq!(files, want, "{id}");
        let mut on_disk = Vec::new();
        for entry in walk(&dir) {
            on_disk.push(
                entry
                    .strip_prefix(&dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        on_disk.sort();
        assert_eq!(on_disk, want, "{id}");
        assert_eq!(
            std::fs::read(dir.join(memory)).unwrap(),
            std::fs::read(s.memory_path()).unwrap()
        );
        let err = export_of(&s, &dir).unwrap_err();
        assert!(matches!(err, TransferError::ExportTarget { .. }), "{err}");
    }
    let s = import(&rig, "ch-api").snapshot;
    let file = out.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert!(export_of(&s, &file).is_err());
    assert!(export_of(&s, &out.join("no/such/parent")).is_err());
    let empty = out.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = export_of(&s, &empty).unwrap();
    e.undo();
    assert!(empty.is_dir(), "undo keeps a directory it did not make");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

/// Every regular file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn events_of(
    store: &Store,
    req: &ForkRequest,
) -> (Result<String, crate::fork::ForkError>, Vec<SessionEvent>) {
    let events = Mutex::new(Vec::new());
    let sink = |e: SessionEvent| events.lock().unwrap().push(e);
    let r = run_session(store, req, &sink, &AtomicBool::new(false)).map(|o| o.name);
    (r, events.into_inner().unwrap())
}

fn request(snapshot: &str, fork: &str) -> ForkRequest {
    let mut req = ForkRequest::new(snapshot);
    req.fork_name = Some(fork.into());
    req.mailboxes = vec![MailboxSpec {
        name: "app.config".into(),
        token: None,
        payload: Some(r#"{"db":"x"}"#.into()),
        wait_for_ack: false,
        ack_timeout_ms: None,
    }];
    req
}

#[test]
fn an_imported_firecracker_snapshot_forks_without_restore_and_refuses_a_restore_at_validate() {
    let rig = rig();
    import(&rig, "fc-web");
    // Restoring needs a Firecracker driver: refused before anything is copied.
    let (r, events) = events_of(&rig.store, &request("fc-web", "runs"));
    let err = r.unwrap_err();
    assert_eq!(err.stage(), crate::fork::Stage::Validate, "{err:?}");
    assert_eq!(err.kind(), crate::error::ErrorKind::BadRequest);
    assert!(
        matches!(
            err.cause_as::<crate::vmm::VmmError>(),
            Some(crate::vmm::VmmError::NoDriver { .. })
        ),
        "{err:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.what, Happening::CopyStarted { .. }))
    );
    assert!(!rig.store.forks_dir().join("runs").exists());

    // Without restore: patched, and exported in Firecracker's layout.
    let out = rig._dir.path().join("export");
    let mut req = request("fc-web", "patched");
    req.restore = false;
    req.export = Some(out.clone());
    let (r, events) = events_of(&rig.store, &req);
    r.unwrap();
    let exported = events
        .iter()
        .find_map(|e| match &e.what {
            Happening::Exported { dir, files } => Some((dir.clone(), files.clone())),
            _ => None,
        })
        .expect("an exported event");
    assert_eq!(exported.0, out);
    for f in [
        "memory",
        "state",
        "files/overlay.raw",
        "restore.json",
        "RESTORE.md",
    ] {
        assert!(
            exported.1.contains(&f.to_string()),
            "{f} in {:?}",
            exported.1
        );
    }
    assert!(matches!(events.last().unwrap().what, Happening::Done));
    let fork_mem = rig.store.forks_dir().join("patched/memory");
    assert_eq!(
        std::fs::read(out.join("memory")).unwrap(),
        std::fs::read(&fork_mem).unwrap()
    );
    let report = scan_file(&out.join("memory"), &ScanOptions::default()).unwrap();
    let m = report.fork_markers("app.config").next().unwrap();
    assert_eq!(m.seq, 1, "the exported memory holds the published frame");
    assert_eq!(m.payload.as_deref(), Some(r#"{"db":"x"}"#));

    // An export into a directory that is not empty is refused at validate.
    let mut req = request("fc-web", "again");
    req.restore = false;
    req.export = Some(out);
    let (r, _) = events_of(&rig.store, &req);
    let err = r.unwrap_err();
    assert_eq!(err.stage(), crate::fork::Stage::Validate, "{err:?}");
    assert!(!rig.store.forks_dir().join("again").exists());
    let mut req = request("fc-web", "both");
    req.export = Some(rig._dir.path().join("x"));
    let (r, _) = events_of(&rig.store, &req);
    let err = r.unwrap_err();
    assert_eq!(err.kind(), crate::error::ErrorKind::BadRequest, "{err:?}");
    assert_eq!(err.stage(), crate::fork::Stage::Validate, "{err:?}");
}

/// Import and export everything, checking at every progress report that
/// nothing under the source is open for writing.
fn use_everything(rig: &Rig, tag: &str) -> usize {
    let root = rig.fx.root.clone();
    let mut seen = 0;
    let never = AtomicBool::new(false);
    for id in STANDBY {
        let snap = find(rig, id);
        let name = format!("{id}-{tag}");
        let got = import_snapshot(&rig.store, &snap, &name, &never, &mut |_, _| {
            for (path, mode) in open_under(&root) {
                assert_eq!(
                    mode,
                    libc::O_RDONLY,
                    "{} is open for writing",
                    path.display()
                );
                seen += 1;
            }
        })
        .unwrap();
        let out = rig._dir.path().join(format!("export-{name}"));
        export_of(&got.snapshot, &out).unwrap();
    }
    seen
}

#[test]
fn import_and_export_change_nothing_in_the_source() {
    let rig = rig();
    let before = tree_state(&rig.fx.root);
    use_everything(&rig, "a");
    assert_eq!(tree_state(&rig.fx.root), before);
}

#[test]
fn a_read_only_source_imports_and_nothing_is_opened_for_writing() {
    let rig = rig();
    chmod_tree(&rig.fx.root, &|m| m & !0o222);
    let before = tree_state(&rig.fx.root);
    let seen = use_everything(&rig, "ro");
    assert!(seen > 0, "source files were seen open during imports");
    assert_eq!(tree_state(&rig.fx.root), before);
    chmod_tree(&rig.fx.root, &|m| m | 0o200);
}
