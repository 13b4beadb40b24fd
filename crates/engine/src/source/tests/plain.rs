//! Plain snapshot directories and single memory files.

use super::fixture::*;
use super::*;

#[test]
fn a_firecracker_snapshot_directory_is_one_snapshot_named_after_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("vm-7");
    std::fs::create_dir(&dir).unwrap();
    write_memory(&dir.join("mem"));
    std::fs::write(dir.join("vmstate"), b"state").unwrap();
    std::fs::write(dir.join("notes.txt"), b"unrelated").unwrap();
    let source = open_source(&dir).unwrap();
    assert_eq!(source.kind(), SourceKind::SnapshotDir);
    let list = source.list();
    assert_eq!(list.len(), 1);
    let s = list[0].snapshot().unwrap();
    assert_eq!((s.name.as_str(), s.id.as_str()), ("vm-7", "mem"));
    assert_eq!(s.hypervisor, Hypervisor::Firecracker);
    assert_eq!(s.format, MemoryFormat::Raw);
    assert_eq!(s.memory_size, MemorySize::Apparent { bytes: MEM_SIZE });
    assert_eq!(s.device_state, vec![dir.join("vmstate")]);
    assert_eq!(s.origin, Origin::SnapshotDir);
    assert_eq!(
        s.scan(&ScanOptions::default()).unwrap().markers.len(),
        planted().len()
    );
}

#[test]
fn memory_files_pair_with_device_state_of_the_same_stem() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write_memory(&dir.join("a.mem"));
    std::fs::write(dir.join("a.snap"), b"a").unwrap();
    let raw = d.path().join("raw");
    write_memory(&raw);
    write_zstd(&raw, &dir.join("b.mem.zst"));
    std::fs::remove_file(&raw).unwrap();
    std::fs::write(dir.join("b.vmstate"), b"b").unwrap();
    let list = open_source(dir).unwrap().list();
    let got: Vec<_> = list
        .iter()
        .map(|l| {
            let s = l.snapshot().unwrap();
            let states: Vec<_> = s
                .device_state
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect();
            (s.name.clone(), s.format, states)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), MemoryFormat::Raw, vec!["a.snap".to_string()]),
            (
                "b".into(),
                MemoryFormat::Zstd,
                vec!["b.vmstate".to_string()]
            ),
        ]
    );
    let r = list[1]
        .snapshot()
        .unwrap()
        .scan(&ScanOptions::default())
        .unwrap();
    assert_eq!(r.markers.len(), planted().len());
    assert_eq!(r.file_size, MEM_SIZE);
}

#[test]
fn a_cloud_hypervisor_snapshot_directory_is_detected_too() {
    let d = tempfile::tempdir().unwrap();
    let raw = d.path().join("raw");
    write_memory(&raw);
    let dir = d.path().join("snapshot-latest");
    std::fs::create_dir(&dir).unwrap();
    write_lz4(&raw, &dir.join("memory-ranges.lz4"));
    std::fs::write(dir.join("state.json"), b"{}").unwrap();
    std::fs::write(dir.join("config.json"), b"{}").unwrap();
    let list = open_source(&dir).unwrap().list();
    let s = list[0].snapshot().unwrap();
    assert_eq!(s.hypervisor, Hypervisor::CloudHypervisor);
    assert_eq!(s.format, MemoryFormat::Lz4);
    assert_eq!(s.memory_size, MemorySize::Unknown);
    assert_eq!(s.device_state.len(), 2);
}

#[test]
fn a_fifo_in_a_snapshot_directory_is_a_problem_not_a_hang() {
    let d = tempfile::tempdir().unwrap();
    mkfifo(&d.path().join("memory"));
    std::fs::write(d.path().join("state"), b"s").unwrap();
    let list = open_source(d.path()).unwrap().list();
    let p = list[0].problem().unwrap();
    assert_eq!(p.error.problem(), "not-a-regular-file");
}

#[test]
fn a_single_memory_file_is_a_source_whatever_its_name() {
    let d = tempfile::tempdir().unwrap();
    let raw = d.path().join("guest.img");
    write_memory(&raw);
    let zst = d.path().join("guest.zst");
    write_zstd(&raw, &zst);
    let lz4_unnamed = d.path().join("snapshot-memory");
    write_lz4(&raw, &lz4_unnamed);
    let qemu = d.path().join("migration");
    std::fs::write(&qemu, b"QEVM\0\0\0\x03...").unwrap();
    let cases = [
        (&raw, MemoryFormat::Raw, "guest.img"),
        (&zst, MemoryFormat::Zstd, "guest"),
        (&lz4_unnamed, MemoryFormat::Lz4, "snapshot-memory"),
        (&qemu, MemoryFormat::QemuMigrationStream, "migration"),
    ];
    for (path, format, name) in cases {
        let source = open_source(path).unwrap();
        assert_eq!(source.kind(), SourceKind::MemoryFile);
        let list = source.list();
        let s = list[0].snapshot().unwrap();
        assert_eq!((s.format, s.name.as_str()), (format, name));
        assert_eq!(s.origin, Origin::MemoryFile);
        if s.scannable() {
            let r = s.scan(&ScanOptions::default()).unwrap();
            assert_eq!(r.markers.len(), planted().len(), "{}", path.display());
        } else {
            assert_eq!(s.hypervisor, Hypervisor::Qemu);
        }
    }
}

#[test]
fn things_that_are_not_sources_say_why() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("fifo");
    mkfifo(&fifo);
    let err = open_source(&fifo).unwrap_err();
    assert_eq!(err.problem(), "not-a-source");
    assert!(matches!(err, SourceError::NotASource { .. }), "{err}");
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = open_source(&empty).unwrap_err();
    assert!(matches!(err, SourceError::NotASource { .. }), "{err}");
    let err = open_source(&d.path().join("missing")).unwrap_err();
    assert_eq!(err.problem(), "open");
    assert!(matches!(err, SourceError::Open { .. }), "{err}");
}
