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
    let mut hits = Vec::new();
    find_exact_with(path, needle, opts, &mut |at, _| {
        hits.push(at);
        hits.len() < limit
    })?;
    Ok(hits)
}

/// Every offset of `needle` in the data extents of `path`, in file order,
/// handed to `visit` with the byte that follows the needle there (`None`
/// at the end of the file; a hole reads as 0): whether a marker's token
/// *ends* where the given one does, or only starts with it. `visit`
/// returns `false` to stop. One pass, bounded memory, cancellable.
pub fn find_exact_with(
    path: &Path,
    needle: &[u8],
    opts: &ScanOptions,
    visit: &mut dyn FnMut(u64, Option<u8>) -> bool,
) -> Result<(), ScanError> {
    let open_err = |source| ScanError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::files::open_regular(path)?;
    let size = file.metadata().map_err(open_err)?.len();
    let extents = data_extents(&file, size).map_err(open_err)?;
    if needle.is_empty() {
        return Ok(());
    }
    let finder = memchr::memmem::Finder::new(needle);
    let overlap = needle.len() as u64 - 1;
    let buf_size = opts.buffer_size.max(needle.len() * 2).max(64 << 10);
    let mut buf = vec![0u8; buf_size];
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
                let after = hit + needle.len();
                let next = match buf[..n].get(after) {
                    Some(b) => Some(*b),
                    None => byte_at(&file, pos + after as u64, size),
                };
                if !visit(pos + hit as u64, next) {
                    return Ok(());
                }
            }
            let end = pos + n as u64;
            if end >= ext.end {
                break;
            }
            pos = end - overlap;
        }
    }
    Ok(())
}

/// The byte at `offset` of `file` (`size` bytes long): `None` past the
/// end; 0 when it cannot be read (a hole reads as 0 anyway).
fn byte_at(file: &std::fs::File, offset: u64, size: u64) -> Option<u8> {
    use std::os::unix::fs::FileExt;
    if offset >= size {
        return None;
    }
    let mut b = [0u8; 1];
    Some(match file.read_at(&mut b, offset) {
        Ok(1) => b[0],
        _ => 0,
    })
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
        // What follows each hit: the junk's first byte, then a hole's 0.
        let mut next = Vec::new();
        find_exact_with(&p, &m, &opts, &mut |at, b| {
            next.push((at, b));
            true
        })
        .unwrap();
        assert_eq!(
            next,
            vec![(4096, Some(1)), ((1 << 20) + (64 << 10) - 10, Some(0))]
        );
    }
}
