//! A scan result remembered per memory file, keyed by its size and mtime.
//! Snapshots never change after creation, so a fork reuses the discovery of
//! its source; the fork engine re-verifies every offset before writing.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ScanError, ScanOptions, ScanReport, scan_file};

#[derive(Serialize, Deserialize)]
struct Entry {
    size: u64,
    mtime_ns: i128,
    inode: u64,
    report: ScanReport,
}

fn key(path: &Path) -> std::io::Result<(u64, i128, u64)> {
    let md = std::fs::metadata(path)?;
    Ok((
        md.len(),
        md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
        md.ino(),
    ))
}

/// Scan `path`, or reuse the result cached in `cache_file` when the memory
/// file's size, mtime and inode still match. A cache that cannot be read or
/// written is ignored: the scan result is what counts.
pub fn scan_cached(
    path: &Path,
    cache_file: &Path,
    opts: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    let open_err = |source| ScanError::Open {
        path: path.to_path_buf(),
        source,
    };
    let (size, mtime_ns, inode) = key(path).map_err(open_err)?;
    if let Ok(text) = std::fs::read(cache_file)
        && let Ok(e) = serde_json::from_slice::<Entry>(&text)
        && e.size == size
        && e.mtime_ns == mtime_ns
        && e.inode == inode
        && e.report.path == path
    {
        return Ok(e.report);
    }
    let report = scan_file(path, opts)?;
    // Only cache if the file did not change while it was scanned.
    if key(path).ok() == Some((size, mtime_ns, inode)) {
        let entry = Entry {
            size,
            mtime_ns,
            inode,
            report: report.clone(),
        };
        if let Some(dir) = cache_file.parent()
            && std::fs::create_dir_all(dir).is_ok()
            && let Ok(bytes) = serde_json::to_vec(&entry)
        {
            let tmp: PathBuf = cache_file.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, bytes).is_ok() {
                let _ = std::fs::rename(&tmp, cache_file);
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::encode_fork_marker;
    use std::os::unix::fs::FileExt;

    #[test]
    fn cache_is_reused_until_the_file_changes() {
        let d = tempfile::tempdir().unwrap();
        let mem = d.path().join("memory");
        let f = std::fs::File::create(&mem).unwrap();
        f.set_len(1 << 20).unwrap();
        f.write_all_at(&encode_fork_marker("a", "t"), 4096).unwrap();
        let cache = d.path().join("cache/memory.json");
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
}
