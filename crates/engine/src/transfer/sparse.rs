//! Writing a compressed memory file out as a sparse raw file: the
//! decompressor streams into a buffer, and only the 4 KiB blocks that hold
//! a non-zero byte are written, so a guest's untouched RAM stays holes on
//! disk, as it was before it was compressed.
//!
//! A few KiB of zstd can hold a TiB of zeros, so the output is bounded
//! ([`SparseLimits`]): by the size the snapshot records (a stream that
//! outgrows it is refused the moment it does, one that ends short of it is
//! refused at its end), else by a limit on memory without a record; and
//! the data written never exceeds the room the store's filesystem had.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::TransferError;
use crate::scan::{Compression, decompressor};

/// The unit of holes: a page.
const BLOCK: usize = 4096;
/// Bytes decompressed per round.
const BUFFER: usize = 4 << 20;

/// How far a decompression may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseLimits {
    /// The uncompressed size the snapshot records: the output must be
    /// exactly this long.
    pub recorded: Option<u64>,
    /// Without a record, the longest output accepted.
    pub max_size: u64,
    /// Data bytes that may be written (the rest of the file is holes): the
    /// free space of the store's filesystem, less a reserve.
    pub room: u64,
}

/// What a sparse decompression wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseStats {
    /// Uncompressed length: the raw file's apparent size.
    pub size: u64,
    /// Bytes written (blocks holding data); the rest are holes.
    pub data_bytes: u64,
}

/// Decompress `src` (`compression`) into the new owner-only file `dst`,
/// leaving all-zero blocks as holes, within `limits`.
/// `progress(done, expected)` gets the uncompressed bytes so far and the
/// recorded total when known. Honors `cancel` between rounds; on any error
/// `dst` is removed.
pub fn decompress_sparse(
    src: &Path,
    compression: Compression,
    dst: &Path,
    limits: &SparseLimits,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<SparseStats, TransferError> {
    let input = crate::files::open_regular(src).map_err(crate::source::SourceError::from)?;
    let output = crate::store::private_file(dst).map_err(|source| TransferError::Io {
        context: format!("create {}", dst.display()),
        source,
    })?;
    let result = write_sparse(
        input,
        src,
        compression,
        &output,
        dst,
        limits,
        cancel,
        progress,
    );
    if result.is_err() {
        let _ = std::fs::remove_file(dst);
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn write_sparse(
    input: File,
    src: &Path,
    compression: Compression,
    output: &File,
    dst: &Path,
    limits: &SparseLimits,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<SparseStats, TransferError> {
    let expected = limits.recorded;
    let max = limits.recorded.unwrap_or(limits.max_size);
    let too_large = || TransferError::TooLarge {
        path: src.to_path_buf(),
        limit: max,
        recorded: limits.recorded.is_some(),
    };
    let no_room = |needed: u64| TransferError::NoRoom {
        dir: dst.parent().unwrap_or(dst).to_path_buf(),
        needed,
        free: limits.room,
    };
    let decode_err = |offset: u64, source: std::io::Error| TransferError::Decompress {
        path: src.to_path_buf(),
        compression,
        offset,
        source,
    };
    let write_err = |source| TransferError::Io {
        context: format!("write {}", dst.display()),
        source,
    };
    let mut reader = decompressor(input, compression).map_err(|e| decode_err(0, e))?;
    let mut buf = vec![0u8; BUFFER];
    let mut base = 0u64;
    let mut data_bytes = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(TransferError::Cancelled);
        }
        let len = fill(&mut reader, &mut buf).map_err(|e| decode_err(base, e))?;
        // Past the limit: refused now, not after the whole stream.
        if base + len as u64 > max {
            return Err(too_large());
        }
        // Runs of non-zero blocks are written in one call each.
        let mut run: Option<usize> = None;
        for (i, block) in buf[..len].chunks(BLOCK).enumerate() {
            let at = i * BLOCK;
            match (is_zero(block), run) {
                (false, None) => run = Some(at),
                (true, Some(start)) => {
                    data_bytes += (at - start) as u64;
                    if data_bytes > limits.room {
                        return Err(no_room(data_bytes));
                    }
                    output
                        .write_all_at(&buf[start..at], base + start as u64)
                        .map_err(write_err)?;
                    run = None;
                }
                _ => {}
            }
        }
        if let Some(start) = run {
            data_bytes += (len - start) as u64;
            if data_bytes > limits.room {
                return Err(no_room(data_bytes));
            }
            output
                .write_all_at(&buf[start..len], base + start as u64)
                .map_err(write_err)?;
        }
        base += len as u64;
        progress(base, expected);
        if len < buf.len() {
            break;
        }
    }
    if let Some(recorded) = limits.recorded
        && base != recorded
    {
        return Err(TransferError::SizeMismatch {
            path: src.to_path_buf(),
            recorded,
            got: base,
        });
    }
    // Trailing holes count too: the file is as long as the guest's RAM.
    output.set_len(base).map_err(write_err)?;
    Ok(SparseStats {
        size: base,
        data_bytes,
    })
}

/// Read until `buf` is full or the stream ends; the bytes read.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        match reader.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

/// Whether every byte of `block` is zero (a fold, so it vectorizes).
fn is_zero(block: &[u8]) -> bool {
    block.iter().fold(0u8, |acc, b| acc | b) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    const LIMITLESS: SparseLimits = SparseLimits {
        recorded: None,
        max_size: u64::MAX,
        room: u64::MAX,
    };

    fn raw(d: &Path) -> std::path::PathBuf {
        let p = d.join("raw");
        let f = File::create(&p).unwrap();
        f.set_len((8 << 20) + 100).unwrap();
        f.write_all_at(&[9u8; 3 * BLOCK], 1 << 20).unwrap();
        f.write_all_at(b"x", (5 << 20) + 17).unwrap();
        f.write_all_at(b"end", (8 << 20) + 97).unwrap();
        p
    }

    #[test]
    fn compressed_memory_comes_out_byte_identical_with_its_holes() {
        let d = tempfile::tempdir().unwrap();
        let raw = raw(d.path());
        let zst = d.path().join("m.zst");
        zstd::stream::copy_encode(File::open(&raw).unwrap(), File::create(&zst).unwrap(), 1)
            .unwrap();
        let lz4 = d.path().join("m.lz4");
        let mut enc = lz4_flex::frame::FrameEncoder::new(File::create(&lz4).unwrap());
        std::io::copy(&mut File::open(&raw).unwrap(), &mut enc).unwrap();
        enc.finish().unwrap().flush().unwrap();
        for (src, c) in [(zst, Compression::Zstd), (lz4, Compression::Lz4)] {
            let out = d.path().join(format!("out-{c}"));
            let mut last = (0, None);
            let stats = decompress_sparse(
                &src,
                c,
                &out,
                &SparseLimits {
                    recorded: Some((8 << 20) + 100),
                    ..LIMITLESS
                },
                &AtomicBool::new(false),
                &mut |done, total| last = (done, total),
            )
            .unwrap();
            assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&raw).unwrap());
            assert_eq!(stats.size, (8 << 20) + 100);
            assert_eq!(last, (stats.size, Some(stats.size)));
            assert_eq!(stats.data_bytes, 3 * BLOCK as u64 + BLOCK as u64 + 100);
            let md = std::fs::metadata(&out).unwrap();
            assert!(md.blocks() * 512 < 1 << 20, "holes stay holes");
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(md.permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_corrupt_stream_or_a_cancel_leaves_no_file() {
        let d = tempfile::tempdir().unwrap();
        let bad = d.path().join("bad.zst");
        let mut bytes = crate::scan::stream::ZSTD_MAGIC.to_vec();
        bytes.extend_from_slice(&[0xff; 64]);
        std::fs::write(&bad, bytes).unwrap();
        let out = d.path().join("out");
        let never = AtomicBool::new(false);
        let err = decompress_sparse(
            &bad,
            Compression::Zstd,
            &out,
            &LIMITLESS,
            &never,
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(matches!(err, TransferError::Decompress { .. }), "{err}");
        assert!(!out.exists());
        let raw = raw(d.path());
        let zst = d.path().join("m.zst");
        zstd::stream::copy_encode(File::open(&raw).unwrap(), File::create(&zst).unwrap(), 1)
            .unwrap();
        let err = decompress_sparse(
            &zst,
            Compression::Zstd,
            &out,
            &LIMITLESS,
            &AtomicBool::new(true),
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(matches!(err, TransferError::Cancelled));
        assert!(!out.exists());
    }

    /// Round 2, defect 5: the output stops at the recorded size, at the
    /// limit without one, and at the room there is; a stream that ends
    /// short of its record is refused too. Nothing is left either way.
    #[test]
    fn a_bomb_stops_at_its_limit_and_a_short_stream_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let raw = raw(d.path());
        let zst = d.path().join("m.zst");
        zstd::stream::copy_encode(File::open(&raw).unwrap(), File::create(&zst).unwrap(), 1)
            .unwrap();
        let out = d.path().join("out");
        let never = AtomicBool::new(false);
        let size = (8 << 20) + 100;
        let run = |limits: SparseLimits| {
            let mut furthest = 0;
            let r = decompress_sparse(
                &zst,
                Compression::Zstd,
                &out,
                &limits,
                &never,
                &mut |done, _| furthest = done,
            );
            assert!(r.is_ok() || !out.exists(), "nothing left");
            (r, furthest)
        };
        let (r, furthest) = run(SparseLimits {
            recorded: Some(1 << 20),
            ..LIMITLESS
        });
        assert!(
            matches!(r, Err(TransferError::TooLarge { limit, recorded: true, .. }) if limit == 1 << 20),
            "{r:?}"
        );
        assert!(furthest <= 1 << 20, "stopped at the record: {furthest}");
        let (r, _) = run(SparseLimits {
            max_size: 2 << 20,
            ..LIMITLESS
        });
        assert!(
            matches!(
                r,
                Err(TransferError::TooLarge {
                    recorded: false,
                    ..
                })
            ),
            "{r:?}"
        );
        assert!(r.unwrap_err().to_string().contains("--max-memory"));
        let (r, _) = run(SparseLimits {
            recorded: Some(size + 4096),
            ..LIMITLESS
        });
        assert!(
            matches!(r, Err(TransferError::SizeMismatch { recorded, got, .. }) if got == size && recorded == size + 4096),
            "{r:?}"
        );
        let (r, _) = run(SparseLimits {
            room: 4096,
            ..LIMITLESS
        });
        assert!(matches!(r, Err(TransferError::NoRoom { .. })), "{r:?}");
        let (r, _) = run(SparseLimits {
            recorded: Some(size),
            ..LIMITLESS
        });
        assert_eq!(r.unwrap().size, size);
    }
}
