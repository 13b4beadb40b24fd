//! Finding one marker by its exact bytes (`magic + name + NUL + token`), as
//! Hypeman's host did: used when the caller names the token, so a guest
//! that left bytes after its token is still found — and a second copy is
//! still reported, never guessed past.

use std::path::Path;
use std::sync::atomic::Ordering;

use super::read::read_full;
use super::{Extent, ScanError, ScanOptions, data_extents};

/// Every offset of `needle` in the data extents of `path`, in file order,
/// up to `limit` of them. One pass, bounded memory, cancellable.
pub fn find_exact(
    path: &Path,
    needle: &[u8],
    limit: usize,
    opts: &ScanOptions,
) -> Result<Vec<u64>, ScanError> {
    let open_err = |source| ScanError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::files::open_regular(path)?;
    let size = file.metadata().map_err(open_err)?.len();
    let extents = data_extents(&file, size).map_err(open_err)?;
    if needle.is_empty() {
        return Ok(Vec::new());
    }
    let finder = memchr::memmem::Finder::new(needle);
    let overlap = needle.len() as u64 - 1;
    let buf_size = opts.buffer_size.max(needle.len() * 2).max(64 << 10);
    let mut buf = vec![0u8; buf_size];
    let mut hits = Vec::new();
    for ext in extents
        .iter()
        .filter(|e: &&Extent| e.len() >= needle.len() as u64)
    {
        let mut pos = ext.start;
        while pos < ext.end {
            if opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(ScanError::Cancelled);
            }
            let n = crate::units::len_at_most(ext.end - pos, buf_size);
            read_full(&file, path, &mut buf[..n], pos)?;
            for hit in finder.find_iter(&buf[..n]) {
                hits.push(pos + hit as u64);
                if hits.len() >= limit {
                    return Ok(hits);
                }
            }
            let end = pos + n as u64;
            if end >= ext.end {
                break;
            }
            pos = end - overlap;
        }
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::encode_fork_marker;
    use std::os::unix::fs::FileExt;

    #[test]
    fn exact_bytes_are_found_across_buffers_and_counted() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(8 << 20).unwrap();
        let m = encode_fork_marker("a", "tok");
        // Garbage after the token: found anyway by its exact bytes.
        let mut dirty = m.clone();
        dirty.extend_from_slice(b"\x01junk");
        f.write_all_at(&dirty, 4096).unwrap();
        // Straddles a 64 KiB buffer boundary.
        f.write_all_at(&m, (1 << 20) + (64 << 10) - 10).unwrap();
        let opts = ScanOptions {
            buffer_size: 64 << 10,
            ..Default::default()
        };
        let hits = find_exact(&p, &m, 10, &opts).unwrap();
        assert_eq!(hits, vec![4096, (1 << 20) + (64 << 10) - 10]);
        assert_eq!(find_exact(&p, &m, 1, &opts).unwrap().len(), 1);
        assert!(
            find_exact(&p, &encode_fork_marker("a", "other"), 10, &opts)
                .unwrap()
                .is_empty()
        );
    }
}
