//! Copying a memory file for a fork: reflink (`FICLONE`) where the
//! filesystem can, else a sparse copy of data extents with `copy_file_range`.

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::FallocateFlags;
use rustix::io::Errno;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::scan::{Extent, data_extents};

/// How the copy was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyMethod {
    /// Shared extents, copy-on-write (XFS, btrfs).
    Reflink,
    /// Data extents copied, holes kept.
    Sparse,
}

impl CopyMethod {
    /// Label for events.
    pub fn label(self) -> &'static str {
        match self {
            CopyMethod::Reflink => "reflink",
            CopyMethod::Sparse => "sparse copy",
        }
    }
}

/// Result of a copy.
#[derive(Debug, Clone, Copy)]
pub struct CopyStats {
    /// Method used.
    pub method: CopyMethod,
    /// Data bytes copied (or shared).
    pub data_bytes: u64,
    /// Apparent size.
    pub size: u64,
}

/// Bytes copied per `copy_file_range` call: small enough for smooth progress.
const CHUNK: u64 = 16 << 20;

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The cancel flag was set.
    #[error("cancelled")]
    Cancelled,
    /// The source file cannot be read safely.
    #[error(transparent)]
    Source(#[from] crate::files::ReadError),
    /// Reading, writing or creating failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: io::Error,
    },
}

/// Copy `src` to a new owner-only file `dst` (must not exist).
/// `progress(done, total)` is called as data bytes are copied. Honors
/// `cancel` between chunks.
pub fn copy_memory(
    src: &Path,
    dst: &Path,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CopyStats, CopyError> {
    let input = crate::files::open_regular(src)?;
    let size = input.metadata().map_err(io_err("stat", src))?.len();
    let output = crate::store::private_file(dst).map_err(io_err("create", dst))?;
    if try_reflink(&input, &output) {
        progress(size, size);
        return Ok(CopyStats {
            method: CopyMethod::Reflink,
            data_bytes: size,
            size,
        });
    }
    output.set_len(size).map_err(io_err("size", dst))?;
    sparse_copy(&input, src, &output, size, cancel, progress)
}

/// Copy `src` into the existing file `dst` — one a VMM started ahead of
/// time already maps — so that afterwards it holds exactly `src`'s bytes:
/// `dst` is sized, emptied (its blocks punched out, so it reads as zeros
/// wherever `src` has holes) and given `src`'s data extents.
pub fn copy_memory_into(
    src: &Path,
    dst: &Path,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CopyStats, CopyError> {
    let input = crate::files::open_regular(src)?;
    let size = input.metadata().map_err(io_err("stat", src))?.len();
    let output = File::options()
        .read(true)
        .write(true)
        .open(dst)
        .map_err(io_err("open", dst))?;
    if !output.metadata().map_err(io_err("stat", dst))?.is_file() {
        return Err(CopyError::Io {
            context: format!("open {}", dst.display()),
            source: io::Error::other("not a regular file"),
        });
    }
    output.set_len(size).map_err(io_err("size", dst))?;
    rustix::fs::fallocate(
        &output,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
        0,
        size,
    )
    .map_err(|e| CopyError::Io {
        context: format!("empty {}", dst.display()),
        source: e.into(),
    })?;
    sparse_copy(&input, src, &output, size, cancel, progress)
}

fn io_err(what: &str, path: &Path) -> impl FnOnce(io::Error) -> CopyError {
    let context = format!("{what} {}", path.display());
    move |source| CopyError::Io { context, source }
}

fn sparse_copy(
    input: &File,
    src: &Path,
    output: &File,
    size: u64,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CopyStats, CopyError> {
    let extents = data_extents(input, size).map_err(io_err("find data extents of", src))?;
    let total: u64 = extents.iter().map(Extent::len).sum();
    let mut done = 0u64;
    progress(0, total);
    for ext in &extents {
        let mut pos = ext.start;
        while pos < ext.end {
            if cancel.load(Ordering::Relaxed) {
                return Err(CopyError::Cancelled);
            }
            let want = (ext.end - pos).min(CHUNK);
            let n = copy_range(input, output, pos, want).map_err(io_err("copy", src))?;
            if n == 0 {
                return Err(CopyError::Io {
                    context: format!("copy {}", src.display()),
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("source shrank during the copy (at offset {pos:#x})"),
                    ),
                });
            }
            pos += n;
            done += n;
            progress(done, total);
        }
    }
    // No fsync: a fork's memory only lives as long as its VM, which reads it
    // through the page cache; durability would cost ~2x the copy time.
    Ok(CopyStats {
        method: CopyMethod::Sparse,
        data_bytes: total,
        size,
    })
}

fn try_reflink(input: &File, output: &File) -> bool {
    rustix::fs::ioctl_ficlone(output, input).is_ok()
}

/// Whether files in `dir` can be reflinked (probes with two temp files,
/// removed again whatever happens).
pub fn reflink_supported(dir: &Path) -> io::Result<bool> {
    let probe = || {
        tempfile::Builder::new()
            .prefix(".reflink-probe-")
            .tempfile_in(dir)
    };
    let (a, b) = (probe()?, probe()?);
    std::os::unix::fs::FileExt::write_all_at(a.as_file(), &[1u8; 4096], 0)?;
    Ok(try_reflink(a.as_file(), b.as_file()))
}

/// Copy `len` bytes at `offset` with `copy_file_range`, falling back to
/// pread/pwrite where the kernel refuses (e.g. across filesystems on old kernels).
fn copy_range(input: &File, output: &File, offset: u64, len: u64) -> io::Result<u64> {
    let (mut off_in, mut off_out) = (offset, offset);
    // At most CHUNK (16 MiB) is asked for at a time; larger asks are capped
    // (a short copy is fine: the caller loops).
    let want = usize::try_from(len.min(CHUNK)).unwrap_or(usize::MAX);
    match rustix::fs::copy_file_range(input, Some(&mut off_in), output, Some(&mut off_out), want) {
        Ok(n) => Ok(n as u64),
        Err(Errno::XDEV | Errno::NOSYS | Errno::OPNOTSUPP | Errno::INVAL) => {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; want];
            let n = input.read_at(&mut buf, offset)?;
            output.write_all_at(&buf[..n], offset)?;
            Ok(n as u64)
        }
        Err(e) => Err(e.into()),
    }
}

impl crate::error::Kinded for CopyError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            CopyError::Cancelled => crate::error::ErrorKind::Cancelled,
            CopyError::Source(e) => e.kind(),
            CopyError::Io { .. } => crate::error::ErrorKind::Io,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};

    #[test]
    fn sparse_copy_keeps_holes_and_bytes() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        let f = File::create(&src).unwrap();
        f.set_len(256 << 20).unwrap();
        f.write_all_at(&[7u8; 8192], 100 << 20).unwrap();
        f.write_all_at(b"tail", (256 << 20) - 4).unwrap();
        let dst = d.path().join("dst");
        let mut calls = 0;
        let stats =
            copy_memory(&src, &dst, &AtomicBool::new(false), &mut |_, _| calls += 1).unwrap();
        assert_eq!(std::fs::metadata(&dst).unwrap().len(), 256 << 20);
        assert!(std::fs::metadata(&dst).unwrap().blocks() * 512 < 4 << 20);
        match stats.method {
            // XFS/btrfs: the whole file is shared in one step.
            CopyMethod::Reflink => assert_eq!((stats.data_bytes, calls), (256 << 20, 1)),
            CopyMethod::Sparse => {
                assert!(calls >= 2, "progress reported");
                assert!(stats.data_bytes < 4 << 20, "only data extents copied");
            }
        }
        assert_eq!(
            std::fs::metadata(&dst).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let out = File::open(&dst).unwrap();
        let mut b = [0u8; 4];
        out.read_exact_at(&mut b, (256 << 20) - 4).unwrap();
        assert_eq!(&b, b"tail");
        out.read_exact_at(&mut b, 100 << 20).unwrap();
        assert_eq!(b, [7; 4]);
    }

    #[test]
    fn a_copy_into_a_file_a_vmm_made_holds_exactly_the_source() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        let f = File::create(&src).unwrap();
        f.set_len(8 << 20).unwrap();
        f.write_all_at(&[7u8; 4096], 1 << 20).unwrap();
        // The VMM's file: the right size, with bytes where the source has holes.
        let dst = d.path().join("dst");
        let g = File::create(&dst).unwrap();
        g.set_len(8 << 20).unwrap();
        g.write_all_at(&[9u8; 4096], 5 << 20).unwrap();
        copy_memory_into(&src, &dst, &AtomicBool::new(false), &mut |_, _| {}).unwrap();
        assert_eq!(std::fs::read(&src).unwrap(), std::fs::read(&dst).unwrap());
    }

    #[test]
    fn copy_refuses_to_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::write(&src, b"x").unwrap();
        let dst = d.path().join("dst");
        std::fs::write(&dst, b"keep").unwrap();
        assert!(copy_memory(&src, &dst, &AtomicBool::new(false), &mut |_, _| {}).is_err());
        assert_eq!(std::fs::read(&dst).unwrap(), b"keep");
    }
}
