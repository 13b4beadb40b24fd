//! Discovery through a decompressor: `memory.zst`, `memory.lz4`, or any
//! [`Read`], scanned as it streams by, without writing a decompressed copy.
//!
//! Offsets are in **uncompressed** terms, so a marker found here has the
//! offset [`scan_file`](super::scan_file) reports on the decompressed file,
//! and the markers are the same list: same decoder
//! ([`decode_mailbox`]), same duplicate flagging, same [`MAX_MARKERS`] cap.
//!
//! Memory is bounded: one buffer of [`ScanOptions::buffer_size`] bytes (at
//! least two mailboxes) plus the decompressor's state (zstd windows are
//! capped at 2^[`ZSTD_WINDOW_LOG_MAX`] bytes; lz4 frame blocks are at most
//! 4 MiB). Consecutive buffers overlap by one mailbox minus a byte: a hit is
//! decoded only once its whole 4 KiB mailbox is in the buffer, or once the end
//! of the stream is known, so a prefix straddling a buffer boundary and a
//! mailbox running past the buffer are both decoded from contiguous bytes.
//!
//! # Sizes in a stream
//!
//! A stream's length is known only at its end. The [`ScanReport`] of a stream
//! therefore says:
//! - `path`: the file as given (the compressed file), so a cache keyed by
//!   that file's identity stays valid;
//! - `file_size`: the uncompressed length, counted to the end of the stream
//!   (a scan stopped by [`MAX_MARKERS`] still reads to the end to count it);
//! - `data_bytes`: the same number: holes cannot be skipped in a stream, every
//!   decompressed byte is searched;
//! - `extents`: 1 (0 for an empty stream).
//!
//! "A frame fits before end of file" needs the file size. A hit is judged
//! when 4 KiB after it are in the buffer, which proves the file is at least
//! that long: a frame header (at most 264 bytes) fits, and the verdict is the
//! one the true size would give. Hits within 4 KiB of the end are judged only
//! after the end was reached, with the exact size.
//!
//! # Progress
//!
//! [`ScanProgress::done`] counts uncompressed bytes. [`ScanProgress::total`] is
//! the expected uncompressed length when the caller knows it (Hypeman records
//! `uncompressed_size_bytes`), otherwise an estimate from the share of the
//! compressed file consumed so far; it never drops below `done`, and the last
//! report has `done == total`.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{
    MAX_MARKERS, ScanError, ScanOptions, ScanProgress, ScanReport, decode_mailbox, flag_duplicates,
    scan_file,
};
use crate::mailbox::{COMMON_PREFIX, MAILBOX_SIZE};

/// Magic of a zstd frame (RFC 8878), as it appears in the file.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Magic of an lz4 frame (the lz4 frame format, not the legacy format).
pub const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];
/// Largest zstd window accepted, as a power of two (128 MiB, libzstd's own
/// default limit): a crafted frame cannot make the decoder allocate more.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Read buffer between an lz4 decoder and the file: the decoder reads block
/// headers a few bytes at a time.
const LZ4_INPUT_BUFFER: usize = 256 << 10;

/// How a memory file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// zstd frames (`memory.zst`, `memory-ranges.zst`).
    Zstd,
    /// lz4 frames (`memory.lz4`, `memory-ranges.lz4`).
    Lz4,
}

impl Compression {
    /// Lowercase label (`zstd`, `lz4`).
    pub fn label(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
        }
    }

    /// The magic a file compressed this way starts with.
    pub fn magic(self) -> [u8; 4] {
        match self {
            Compression::Zstd => ZSTD_MAGIC,
            Compression::Lz4 => LZ4_FRAME_MAGIC,
        }
    }

    /// The compression whose magic `head` (the first bytes of a file) starts
    /// with; `None` for anything else, raw guest memory included.
    pub fn from_magic(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&ZSTD_MAGIC) {
            Some(Compression::Zstd)
        } else if head.starts_with(&LZ4_FRAME_MAGIC) {
            Some(Compression::Lz4)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The compression of the file at `path`, from its first four bytes (`None`:
/// raw). Opens the file read-only and non-blocking; reads four bytes.
pub fn detect_compression(path: &Path) -> Result<Option<Compression>, ScanError> {
    let file = crate::files::open_regular(path)?;
    sniff(&file, path)
}

fn sniff(file: &File, path: &Path) -> Result<Option<Compression>, ScanError> {
    let (head, got) = crate::files::read_head::<4>(file).map_err(|source| ScanError::Read {
        path: path.to_path_buf(),
        offset: 0,
        source,
    })?;
    Ok(Compression::from_magic(&head[..got]))
}

/// Scan the memory file at `path` whatever its form: a zstd or lz4 file
/// (detected by its magic bytes, not its name) is streamed through its
/// decompressor, anything else is scanned as raw memory by
/// [`scan_file`](super::scan_file).
pub fn scan_any(path: &Path, opts: &ScanOptions) -> Result<ScanReport, ScanError> {
    let file = crate::files::open_regular(path)?;
    match sniff(&file, path)? {
        Some(compression) => scan_open_compressed(file, path, compression, None, opts),
        None => {
            drop(file);
            scan_file(path, opts)
        }
    }
}

/// Scan the `compression`-compressed memory file at `path` through its
/// decompressor. `expected_len` is the uncompressed length when known in
/// advance (for progress only; the report counts the real one).
pub fn scan_compressed(
    path: &Path,
    compression: Compression,
    expected_len: Option<u64>,
    opts: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    let file = crate::files::open_regular(path)?;
    scan_open_compressed(file, path, compression, expected_len, opts)
}

fn scan_open_compressed(
    file: File,
    path: &Path,
    compression: Compression,
    expected_len: Option<u64>,
    opts: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    let compressed_len = file
        .metadata()
        .map_err(|source| ScanError::Open {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let consumed = Rc::new(Cell::new(0u64));
    let counting = Counting {
        inner: file,
        count: Rc::clone(&consumed),
    };
    let estimate = |done: u64| match expected_len {
        Some(len) => len,
        None => match consumed.get() {
            0 => done,
            read => {
                // A float-to-integer `as` saturates: at worst the estimate
                // is u64::MAX, and the fraction is dropped on purpose.
                #[allow(clippy::cast_possible_truncation)]
                let estimate = (done as f64 * compressed_len as f64 / read as f64) as u64;
                estimate
            }
        },
    };
    let failed = |source| ScanError::Decompress {
        path: path.to_path_buf(),
        compression,
        offset: 0,
        source,
    };
    let target = Target {
        path,
        compression: Some(compression),
    };
    match compression {
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(counting).map_err(failed)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(failed)?;
            scan_stream(decoder, target, &estimate, opts)
        }
        Compression::Lz4 => {
            let buffered = BufReader::with_capacity(LZ4_INPUT_BUFFER, counting);
            let decoder = Lz4Frames(lz4_flex::frame::FrameDecoder::new(buffered));
            scan_stream(decoder, target, &estimate, opts)
        }
    }
}

/// The uncompressed bytes of `input`, a `compression`-compressed stream,
/// with the same limits as a scan: zstd windows capped at
/// 2^[`ZSTD_WINDOW_LOG_MAX`], lz4 frames read one after the other. For
/// whoever needs the bytes themselves (an import writes them to a file).
pub fn decompressor<'a, R: Read + 'a>(
    input: R,
    compression: Compression,
) -> std::io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(input)?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(decoder)
        }
        Compression::Lz4 => {
            let buffered = BufReader::with_capacity(LZ4_INPUT_BUFFER, input);
            Box::new(Lz4Frames(lz4_flex::frame::FrameDecoder::new(buffered)))
        }
    })
}

/// Scan the uncompressed bytes `reader` yields, as if they were the memory
/// file `path` (used for the report and errors). `expected_len` is the
/// length when known in advance, for progress only.
pub fn scan_reader<R: Read>(
    reader: R,
    path: &Path,
    expected_len: Option<u64>,
    opts: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    let estimate = |done: u64| expected_len.unwrap_or(done);
    let target = Target {
        path,
        compression: None,
    };
    scan_stream(reader, target, &estimate, opts)
}

/// A reader that counts the bytes it hands out (compressed bytes consumed).
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Every lz4 frame of a file, one after the other. The frame format allows
/// concatenated frames; `FrameDecoder` reports the end of each frame as the
/// end of the stream, so the end counts only when no input is left.
struct Lz4Frames<R: BufRead>(lz4_flex::frame::FrameDecoder<R>);

impl<R: BufRead> Read for Lz4Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.0.read(buf)?;
            // Each round consumes a frame header or fails, so this ends.
            if n > 0 || buf.is_empty() || self.0.get_mut().fill_buf()?.is_empty() {
                return Ok(n);
            }
        }
    }
}

/// What the stream is, for the report and for errors.
#[derive(Clone, Copy)]
struct Target<'a> {
    path: &'a Path,
    compression: Option<Compression>,
}

impl Target<'_> {
    fn error(&self, offset: u64, source: std::io::Error) -> ScanError {
        let path: PathBuf = self.path.to_path_buf();
        match self.compression {
            Some(compression) => ScanError::Decompress {
                path,
                compression,
                offset,
                source,
            },
            None => ScanError::Read {
                path,
                offset,
                source,
            },
        }
    }
}

/// The streaming finder. See the module doc for the overlap and size rules.
fn scan_stream<R: Read>(
    mut reader: R,
    target: Target,
    estimate_total: &dyn Fn(u64) -> u64,
    opts: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    let started = Instant::now();
    let finder = memchr::memmem::Finder::new(COMMON_PREFIX);
    // A hit is decoded once MAILBOX_SIZE bytes from it are buffered, so this
    // many bytes after the last decodable hit are carried to the next buffer.
    let keep = MAILBOX_SIZE - 1;
    let buf_size = opts.buffer_size.max(2 * MAILBOX_SIZE);
    let mut buf = vec![0u8; buf_size];
    let mut base: u64 = 0; // stream offset of buf[0]
    let mut len = 0usize; // valid bytes in buf
    let mut markers = Vec::new();
    let mut truncated = false;
    loop {
        if opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(ScanError::Cancelled);
        }
        let eof = fill(&mut reader, &mut buf, &mut len, base, &target)?;
        let known = base + len as u64;
        if !truncated {
            // Hits before `limit` have their whole mailbox buffered, or the
            // end of the stream is known.
            let limit = if eof { len } else { len - keep };
            for hit in finder.find_iter(&buf[..len]) {
                if hit >= limit {
                    break;
                }
                let offset = base + hit as u64;
                let whole = crate::units::len_at_most(known - offset, MAILBOX_SIZE);
                // `known` is the exact size at the end, and otherwise at
                // least offset + 4 KiB, which gives the same verdict.
                if let Some(marker) = decode_mailbox(&buf[hit..hit + whole], offset, known) {
                    if markers.len() >= MAX_MARKERS {
                        truncated = true;
                        break;
                    }
                    markers.push(marker);
                }
            }
        }
        if let Some(progress) = opts.progress {
            let total = if eof {
                known
            } else {
                estimate_total(known).max(known)
            };
            progress(ScanProgress { done: known, total });
        }
        if eof {
            break;
        }
        buf.copy_within(len - keep..len, 0);
        base += (len - keep) as u64;
        len = keep;
    }
    flag_duplicates(&mut markers);
    let size = base + len as u64;
    Ok(ScanReport {
        path: target.path.to_path_buf(),
        file_size: size,
        data_bytes: size,
        extents: usize::from(size > 0),
        markers,
        truncated,
        elapsed: started.elapsed(),
    })
}

/// Read until `buf` is full or the stream ends; `true` at the end.
fn fill<R: Read>(
    reader: &mut R,
    buf: &mut [u8],
    len: &mut usize,
    base: u64,
    target: &Target,
) -> Result<bool, ScanError> {
    while *len < buf.len() {
        match reader.read(&mut buf[*len..]) {
            Ok(0) => return Ok(true),
            Ok(n) => *len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(target.error(base + *len as u64, e)),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests;
