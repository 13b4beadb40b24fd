//! A Hypeman-shaped data directory built from real files, with everything a
//! listing must report: Firecracker, Cloud Hypervisor and QEMU standby
//! instances, central Standby (zstd, lz4) and Stopped snapshots, and entries
//! that cannot be read for reasons that hold for root too (FIFOs and
//! directories where files should be, broken JSON, missing files).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::mailbox::{encode_fork_marker, encode_resume_network_marker};

/// Size of every test memory file: a few MiB, sparse, not a round number.
pub const MEM_SIZE: u64 = (4 << 20) + 3 * 4096 + 123;

/// Where markers are planted: page aligned, unaligned, across the 2 MiB
/// buffer boundary, near the end, duplicated.
pub fn planted() -> Vec<(u64, Vec<u8>)> {
    vec![
        (8192, encode_fork_marker("app.config", "tok-1")),
        (100_003, encode_fork_marker("unaligned", "tok-2")),
        ((2 << 20) - 5, encode_fork_marker("straddle", "tok-3")),
        ((2 << 20) + 4096, encode_fork_marker("dup", "a")),
        ((3 << 20) + 8192, encode_fork_marker("dup", "b")),
        ((3 << 20) + 65_536, encode_resume_network_marker("net-1")),
        (MEM_SIZE - 1000, encode_fork_marker("near.end", "t")),
        (MEM_SIZE - 50, encode_fork_marker("tail", "t")),
    ]
}

/// Write the test memory file (same bytes every time) to `path`.
pub fn write_memory(path: &Path) {
    let f = File::create(path).unwrap();
    f.set_len(MEM_SIZE).unwrap();
    let text = b"guest page cache: HYPEMAN_ appears in text too. ".repeat(4000);
    f.write_all_at(&text, 1 << 20).unwrap();
    for (at, bytes) in planted() {
        f.write_all_at(&bytes, at).unwrap();
    }
}

/// Compress `raw` into `out` with zstd (as Hypeman's compressor does).
pub fn write_zstd(raw: &Path, out: &Path) {
    zstd::stream::copy_encode(File::open(raw).unwrap(), File::create(out).unwrap(), 1).unwrap();
}

/// Compress `raw` into `out` as lz4 frames.
pub fn write_lz4(raw: &Path, out: &Path) {
    let mut enc = lz4_flex::frame::FrameEncoder::new(File::create(out).unwrap());
    std::io::copy(&mut File::open(raw).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap().flush().unwrap();
}

/// A FIFO at `path`.
pub fn mkfifo(path: &Path) {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
}

fn write_json(path: &Path, value: serde_json::Value) {
    std::fs::write(path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
}

fn mkdirs(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).unwrap();
    path.to_path_buf()
}

/// The built data directory and a raw reference copy of its memory.
pub struct Fixture {
    /// Keeps the files alive.
    pub _dir: tempfile::TempDir,
    /// The Hypeman data directory.
    pub root: PathBuf,
    /// The raw memory, outside the source: the reference for scans.
    pub reference: PathBuf,
}

/// Build the Hypeman data directory.
pub fn hypeman() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = mkdirs(&dir.path().join("hypeman"));
    let reference = dir.path().join("reference-memory");
    write_memory(&reference);
    mkdirs(&root.join("system/kernel"));
    let latest = |id: &str| {
        mkdirs(
            &root
                .join("guests")
                .join(id)
                .join("snapshots/snapshot-latest"),
        )
    };
    let meta = |id: &str, value: serde_json::Value| {
        write_json(&root.join("guests").join(id).join("metadata.json"), value);
    };

    // Firecracker standby: memory + state; keys Hypeman does not have yet.
    let l = latest("fc-web");
    write_memory(&l.join("memory"));
    std::fs::write(l.join("state"), b"firecracker vmstate").unwrap();
    meta(
        "fc-web",
        json!({"Id": "fc-web", "Name": "web", "Image": "docker.io/library/nginx:latest",
               "HypervisorType": "firecracker", "CreatedAt": "2025-01-02T03:04:05.123456789Z",
               "Size": MEM_SIZE, "ExpiresAt": null, "FutureField": {"nested": [1, 2]}}),
    );
    // Cloud Hypervisor standby: memory-ranges + config.json + state.json.
    let l = latest("ch-api");
    write_memory(&l.join("memory-ranges"));
    std::fs::write(l.join("config.json"), b"{}").unwrap();
    std::fs::write(l.join("state.json"), b"{}").unwrap();
    meta(
        "ch-api",
        json!({"Id": "ch-api", "Name": "api", "HypervisorType": "cloud-hypervisor"}),
    );
    // Cloud Hypervisor standby compressed by Hypeman (zstd).
    let l = latest("ch-packed");
    write_zstd(&reference, &l.join("memory-ranges.zst"));
    std::fs::write(l.join("config.json"), b"{}").unwrap();
    std::fs::write(l.join("state.json"), b"{}").unwrap();
    meta(
        "ch-packed",
        json!({"Id": "ch-packed", "Name": "packed", "HypervisorType": "cloud-hypervisor",
               "CreatedAt": 12345}),
    );
    // QEMU standby: a migration stream, no Id key.
    let l = latest("qemu-vm");
    std::fs::write(l.join("memory"), b"QEVM\x00\x00\x00\x03 migration stream").unwrap();
    meta(
        "qemu-vm",
        json!({"Name": "qemu-vm", "HypervisorType": "qemu"}),
    );
    // Running: no snapshot-latest, not a snapshot.
    mkdirs(&root.join("guests/running"));
    meta(
        "running",
        json!({"Id": "running", "HypervisorType": "firecracker"}),
    );

    // Unreadable entries, for reasons that hold for root.
    let l = latest("broken-meta");
    write_memory(&l.join("memory"));
    std::fs::write(
        root.join("guests/broken-meta/metadata.json"),
        b"{\"Id\": \"broken",
    )
    .unwrap();
    let l = latest("fifo-memory");
    mkfifo(&l.join("memory"));
    std::fs::write(l.join("state"), b"x").unwrap();
    meta("fifo-memory", json!({"HypervisorType": "firecracker"}));
    let l = latest("dir-memory");
    mkdirs(&l.join("memory-ranges"));
    meta("dir-memory", json!({"HypervisorType": "cloud-hypervisor"}));
    let l = latest("fifo-meta");
    write_memory(&l.join("memory"));
    mkfifo(&root.join("guests/fifo-meta/metadata.json"));
    let l = latest("no-meta");
    write_memory(&l.join("memory"));
    latest("no-memory");
    meta("no-memory", json!({"HypervisorType": "firecracker"}));
    let l = latest("huge-meta");
    write_memory(&l.join("memory"));
    let huge = File::create(root.join("guests/huge-meta/metadata.json")).unwrap();
    huge.set_len(crate::files::MAX_METADATA_BYTES + 1).unwrap();

    // Central snapshots.
    let central = |id: &str, value: serde_json::Value| -> PathBuf {
        let d = mkdirs(&root.join("snapshots").join(id));
        write_json(&d.join("snapshot.json"), value);
        d
    };
    let d = central(
        "snap-lz4",
        json!({"snapshot": {"id": "snap-lz4", "name": "nightly", "kind": "Standby",
                "source_instance_id": "fc-web", "source_instance_name": "web",
                "SourceHypervisor": "firecracker", "created_at": "2025-02-03T04:05:06Z",
                "size_bytes": 777, "compression_state": "compressed",
                "compression": {"enabled": true, "algorithm": "lz4"},
                "compressed_size_bytes": 555, "uncompressed_size_bytes": MEM_SIZE},
               "stored_metadata": {"Id": "fc-web", "HypervisorType": "firecracker"}}),
    );
    let l = mkdirs(&d.join("guest/snapshots/snapshot-latest"));
    write_lz4(&reference, &l.join("memory.lz4"));
    std::fs::write(l.join("state"), b"firecracker vmstate").unwrap();
    // zstd, hypervisor only in stored_metadata, no uncompressed size, and a
    // name shared with a standby instance.
    let d = central(
        "snap-zst",
        json!({"snapshot": {"id": "snap-zst", "name": "api", "kind": "Standby",
                "created_at": "2025-02-03T04:05:07Z", "compression_state": "compressed",
                "compression": {"enabled": true, "algorithm": "zstd", "level": 1}},
               "stored_metadata": {"HypervisorType": "cloud-hypervisor"}}),
    );
    let l = mkdirs(&d.join("guest/snapshots/snapshot-latest"));
    write_zstd(&reference, &l.join("memory-ranges.zst"));
    std::fs::write(l.join("config.json"), b"{}").unwrap();
    std::fs::write(l.join("state.json"), b"{}").unwrap();
    let d = central(
        "snap-stopped",
        json!({"snapshot": {"id": "snap-stopped", "name": "cold", "kind": "Stopped",
                "SourceHypervisor": "cloud-hypervisor", "size_bytes": 4096,
                "compression_state": "none"}, "stored_metadata": {}}),
    );
    std::fs::write(mkdirs(&d.join("guest")).join("overlay.raw"), [0u8; 4096]).unwrap();
    mkdirs(&root.join("snapshots/snap-creating/guest"));
    central("snap-array", json!([1, 2, 3]));
    central(
        "snap-paused",
        json!({"snapshot": {"id": "snap-paused", "kind": "Paused"}}),
    );
    let d = central(
        "snap-liar",
        json!({"snapshot": {"id": "snap-liar", "kind": "Standby",
                "SourceHypervisor": "firecracker"}}),
    );
    let l = mkdirs(&d.join("guest/snapshots/snapshot-latest"));
    write_memory(&l.join("memory.zst"));
    Fixture {
        _dir: dir,
        root,
        reference,
    }
}

/// One file's identity in [`tree_state`].
#[derive(Debug, PartialEq, Eq)]
pub struct FileState {
    kind: &'static str,
    len: u64,
    mode: u32,
    mtime_ns: i128,
    ctime_ns: i128,
    sha256: Option<Vec<u8>>,
}

/// Every path under `root` with its type, size, mode, mtime, ctime and the
/// hash of its content (regular files; FIFOs are never opened).
pub fn tree_state(root: &Path) -> BTreeMap<PathBuf, FileState> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_file() {
            "file"
        } else if ft.is_symlink() {
            "symlink"
        } else {
            "special"
        };
        let sha256 = ft
            .is_file()
            .then(|| Sha256::digest(std::fs::read(&p).unwrap()).to_vec());
        if ft.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
        out.insert(
            p,
            FileState {
                kind,
                len: md.len(),
                mode: md.mode(),
                mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
                ctime_ns: md.ctime() as i128 * 1_000_000_000 + md.ctime_nsec() as i128,
                sha256,
            },
        );
    }
    out
}

/// Walk `root` setting every mode to `f(mode)`.
pub fn chmod_tree(root: &Path, f: &dyn Fn(u32) -> u32) {
    let md = std::fs::symlink_metadata(root).unwrap();
    if md.is_dir() {
        for e in std::fs::read_dir(root).unwrap() {
            chmod_tree(&e.unwrap().path(), f);
        }
    }
    let mode = f(md.permissions().mode());
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every descriptor of this process open on a path under `root`, with its
/// access mode from `/proc/self/fdinfo` (0 = read-only).
pub fn open_under(root: &Path) -> Vec<(std::path::PathBuf, i32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        if !target.starts_with(root) {
            continue;
        }
        let info = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(e.file_name()));
        let Ok(info) = info else { continue };
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| i32::from_str_radix(f.trim(), 8).unwrap())
            .unwrap();
        out.push((target, flags & libc::O_ACCMODE));
    }
    out
}
