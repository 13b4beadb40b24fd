//! The one discovery cache: a scan result remembered per memory file, keyed
//! by the cache format version and the file's identity (size, mtime, inode,
//! device). Snapshots never change after creation, so the engine, `forkmail
//! markers` and the TUI all reuse the same result; the fork engine
//! re-verifies every offset before writing.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ScanError, ScanOptions, ScanReport, scan_any};

/// Version of the cache entries' format; bumped whenever `ScanReport` or
/// the scan's rules change, so an older entry is never trusted.
pub const CACHE_FORMAT: u32 = 2;

/// Largest cache entry read (a report of the 65,536-marker cap fits).
const MAX_ENTRY_BYTES: u64 = 128 << 20;

/// Identity of a memory file's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// Apparent size.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Inode.
    pub inode: u64,
    /// Device.
    pub dev: u64,
}

impl FileIdentity {
    /// Stat `path`.
    pub fn of(path: &Path) -> std::io::Result<FileIdentity> {
        let md = std::fs::metadata(path)?;
        Ok(FileIdentity {
            size: md.len(),
            mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
            inode: md.ino(),
            dev: md.dev(),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    format: u32,
    identity: FileIdentity,
    report: ScanReport,
}

/// Whether a usable cached report of `path` is in `cache_file`, without
/// scanning (the TUI shows cached results at once).
pub fn cached_report(path: &Path, cache_file: &Path) -> Option<ScanReport> {
    let id = FileIdentity::of(path).ok()?;
    let bytes =
        crate::files::read_bounded(cache_file, MAX_ENTRY_BYTES, "a scan cache entry").ok()?;
    let e: Entry = serde_json::from_slice(&bytes).ok()?;
    (e.format == CACHE_FORMAT && e.identity == id && e.report.path == path).then_some(e.report)
}

/// Scan `path` (raw, or compressed: streamed through its decompressor), or
/// reuse the result cached in `cache_file` when the format and the memory
/// file's identity still match. A cache that cannot be read
/// or written is ignored: the scan result is what counts.
pub fn scan_cached(
    path: &Path,
    cache_file: &Path,
    opts: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    let open_err = |source| ScanError::Open {
        path: path.to_path_buf(),
        source,
    };
    let id = FileIdentity::of(path).map_err(open_err)?;
    if let Some(report) = cached_report(path, cache_file) {
        return Ok(report);
    }
    #[cfg(feature = "test-hooks")]
    crate::test_hooks::hold_point_if_asked("scan", opts.cancel);
    // Raw or zstd/lz4 (told by the magic bytes): one cache for both, keyed
    // by the identity of the file as it is on disk.
    let report = scan_any(path, opts)?;
    // Only cache if the file did not change while it was scanned.
    if FileIdentity::of(path).ok() == Some(id) {
        store_entry(cache_file, id, &report);
    }
    Ok(report)
}

fn store_entry(cache_file: &Path, identity: FileIdentity, report: &ScanReport) {
    let Some(dir) = cache_file.parent() else {
        return;
    };
    if crate::store::private_dir(dir).is_err() {
        return;
    }
    let entry = Entry {
        format: CACHE_FORMAT,
        identity,
        report: report.clone(),
    };
    let _ = crate::store::write_json_atomic(cache_file, &entry);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::encode_fork_marker;
    use std::os::unix::fs::FileExt;

    /// A 1 MiB memory file with one marker, and where its cache entry goes.
    fn fixture(d: &tempfile::TempDir) -> (std::fs::File, std::path::PathBuf, std::path::PathBuf) {
        let mem = d.path().join("memory");
        let f = std::fs::File::create(&mem).unwrap();
        f.set_len(1 << 20).unwrap();
        f.write_all_at(&encode_fork_marker("a", "t"), 4096).unwrap();
        (f, mem, d.path().join("cache/memory.json"))
    }

    #[test]
    fn cache_is_reused_until_the_file_changes() {
        let d = tempfile::tempdir().unwrap();
        let (f, mem, cache) = fixture(&d);
        let r1 = scan_cached(&mem, &cache, &ScanOptions::default()).unwrap();
        assert!(cache.exists());
        assert_eq!(r1.markers.len(), 1);
        // Tamper with the cache: a matching key means it is used as is.
        let mut e: Entry = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        e.report.markers.clear();
        std::fs::write(&cache, serde_json::to_vec(&e).unwrap()).unwrap();
        assert!(
            scan_cached(&mem, &cache, &ScanOptions::default())
                .unwrap()
                .markers
                .is_empty()
        );
        // Changing the file invalidates it.
        f.set_len(2 << 20).unwrap();
        assert_eq!(
            scan_cached(&mem, &cache, &ScanOptions::default())
                .unwrap()
                .markers
                .len(),
            1
        );
    }

    #[test]
    fn compressed_memory_is_scanned_through_its_decompressor_and_cached() {
        let d = tempfile::tempdir().unwrap();
        let (_f, mem, _) = fixture(&d);
        let zst = d.path().join("memory.zst");
        zstd::stream::copy_encode(
            std::fs::File::open(&mem).unwrap(),
            std::fs::File::create(&zst).unwrap(),
            1,
        )
        .unwrap();
        let cache = d.path().join("cache/zst.json");
        let raw = scan_cached(
            &mem,
            &d.path().join("cache/raw.json"),
            &ScanOptions::default(),
        )
        .unwrap();
        let packed = scan_cached(&zst, &cache, &ScanOptions::default()).unwrap();
        assert_eq!(packed.markers, raw.markers, "same markers, same offsets");
        assert_eq!(packed.file_size, 1 << 20, "sizes in uncompressed terms");
        assert_eq!(cached_report(&zst, &cache).unwrap().markers, raw.markers);
    }

    #[test]
    fn an_entry_of_another_format_version_is_not_trusted() {
        let d = tempfile::tempdir().unwrap();
        let (_f, mem, cache) = fixture(&d);
        scan_cached(&mem, &cache, &ScanOptions::default()).unwrap();
        let mut e: Entry = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        e.report.markers.clear();
        e.format = CACHE_FORMAT - 1;
        std::fs::write(&cache, serde_json::to_vec(&e).unwrap()).unwrap();
        assert!(cached_report(&mem, &cache).is_none());
        assert_eq!(
            scan_cached(&mem, &cache, &ScanOptions::default())
                .unwrap()
                .markers
                .len(),
            1
        );
    }
}
