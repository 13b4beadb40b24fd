//! Discovery: every fork and resume-network marker in a raw memory file, in
//! one pass over the file's data extents only.
//!
//! Cost is proportional to the data in the file, not its size: holes are
//! skipped with `SEEK_DATA`/`SEEK_HOLE`. The data is cut into chunks scanned
//! by up to one worker per core (see `work.rs`); each reads with `pread`
//! into its own small buffer, so memory is bounded by those buffers and a
//! file that shrinks mid-scan yields an error instead of a `SIGBUS`.

mod cache;
mod exact;
mod extents;
mod read;
pub mod stream;
mod work;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

pub use cache::{CACHE_FORMAT, FileIdentity, cached_report, scan_cached};
pub use exact::find_exact;
pub use extents::{Extent, data_extents};
pub use stream::{
    Compression, decompressor, detect_compression, scan_any, scan_compressed, scan_reader,
};

use crate::mailbox::{MAILBOX_SIZE, MailboxKind, decode_marker, frame_fits};

/// Default read buffer (one per worker): large enough to amortise syscalls,
/// small enough that the bytes just copied out of the page cache are still
/// in the core's L2 cache when they are searched — a 2 MiB buffer made every
/// byte travel through memory twice.
pub const DEFAULT_BUFFER_SIZE: usize = 256 << 10;

/// Most markers one scan reports: a guest controls its memory, and a
/// page full of markers must not make the host's memory grow without bound.
pub const MAX_MARKERS: usize = 65_536;

/// One marker found in a memory file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Marker {
    /// Fork or resume-network.
    pub kind: MailboxKind,
    /// Mailbox name (fork markers); `None` for resume-network.
    pub name: Option<String>,
    /// Token as found.
    pub token: String,
    /// Byte offset of the first magic byte in the file.
    pub offset: u64,
    /// Current seq (non-zero: a payload was published before the snapshot).
    pub seq: u32,
    /// Current payload length field.
    pub payload_len: u32,
    /// The published payload text when seq is non-zero and it decodes.
    pub payload: Option<String>,
    /// The same name (fork) or token (resume-network) occurs more than once.
    pub duplicate: bool,
    /// Name and token follow the rules and a frame fits before end of file.
    pub valid: bool,
    /// Why the marker is not valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Whether the offset is 4 KiB aligned (guests align their buffers).
    pub page_aligned: bool,
}

impl Marker {
    /// The identity used for duplicate detection.
    fn identity(&self) -> (MailboxKind, &str) {
        match self.kind {
            MailboxKind::Fork => (self.kind, self.name.as_deref().unwrap_or("")),
            MailboxKind::ResumeNetwork => (self.kind, self.token.as_str()),
        }
    }
}

/// Result of scanning one file.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ScanReport {
    /// The file scanned.
    pub path: PathBuf,
    /// Apparent size in bytes.
    pub file_size: u64,
    /// Bytes of data actually read (sum of data extents).
    pub data_bytes: u64,
    /// Number of data extents.
    pub extents: usize,
    /// Markers in file order.
    pub markers: Vec<Marker>,
    /// More than [`MAX_MARKERS`] markers were found; the rest are not listed.
    #[serde(default)]
    pub truncated: bool,
    /// Wall time of the scan.
    #[serde(skip, default)]
    pub elapsed: Duration,
}

impl ScanReport {
    /// Fork markers named `name`.
    pub fn fork_markers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Marker> + 'a {
        self.markers
            .iter()
            .filter(move |m| m.kind == MailboxKind::Fork && m.name.as_deref() == Some(name))
    }
}

/// Progress of a running scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanProgress {
    /// Data bytes read so far.
    pub done: u64,
    /// Data bytes in the file.
    pub total: u64,
}

/// Knobs of a scan.
pub struct ScanOptions<'a> {
    /// Read buffer size in bytes, per worker thread.
    pub buffer_size: usize,
    /// Set to abort the scan; checked before every read.
    pub cancel: Option<&'a AtomicBool>,
    /// Called as data is scanned (every 2 MiB or so), possibly from a
    /// worker thread; `done` never decreases and reaches `total` when the
    /// scan completes.
    pub progress: Option<&'a (dyn Fn(ScanProgress) + Sync)>,
}

impl Default for ScanOptions<'_> {
    fn default() -> Self {
        ScanOptions {
            buffer_size: DEFAULT_BUFFER_SIZE,
            cancel: None,
            progress: None,
        }
    }
}

impl crate::error::Kinded for ScanError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            ScanError::Cancelled => ErrorKind::Cancelled,
            ScanError::Unreadable(e) => e.kind(),
            ScanError::Open { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            _ => ErrorKind::Io,
        }
    }
}

/// Why a scan failed.
#[derive(Debug, Error)]
pub enum ScanError {
    /// The file could not be opened or inspected.
    #[error("memory file {path}: cannot open: {source}")]
    Open {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not one forkmail reads (a FIFO, a device, too large…),
    /// or it could not be opened.
    #[error("memory file {0}")]
    Unreadable(#[from] crate::files::ReadError),
    /// A read failed.
    #[error("memory file {path}: read failed at offset {offset:#x}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// Cause.
        source: std::io::Error,
    },
    /// The file got shorter while it was being scanned.
    #[error(
        "memory file {path}: shrank during the scan (expected data up to offset {expected:#x}, file ended at {got:#x})"
    )]
    Shrank {
        /// File.
        path: PathBuf,
        /// Offset that should have been readable.
        expected: u64,
        /// Where the data ended.
        got: u64,
    },
    /// A compressed memory file could not be decompressed (corrupt or
    /// truncated, or its file could not be read).
    #[error(
        "memory file {path}: {compression} decompression failed at uncompressed offset {offset:#x}: {source}"
    )]
    Decompress {
        /// File.
        path: PathBuf,
        /// Its compression.
        compression: Compression,
        /// Uncompressed bytes decoded before the failure.
        offset: u64,
        /// Cause.
        source: std::io::Error,
    },
    /// The cancel flag was set.
    #[error("scan cancelled")]
    Cancelled,
}

/// Scan the memory file at `path` for every marker, in one pass over its data.
///
/// Costs one read of each data byte (holes are free), on up to one thread
/// per core when there are at least two 8 MiB chunks of data, and
/// [`DEFAULT_BUFFER_SIZE`] of memory per thread plus the markers found.
pub fn scan_file(path: &Path, opts: &ScanOptions) -> Result<ScanReport, ScanError> {
    let started = Instant::now();
    let open_err = |source| ScanError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::files::open_regular(path)?;
    let meta = file.metadata().map_err(open_err)?;
    let size = meta.len();
    let extents = data_extents(&file, size).map_err(open_err)?;
    let total: u64 = extents.iter().map(Extent::len).sum();

    let plan = work::Plan::new(opts, total);
    let (mut markers, truncated) =
        work::find_markers(&file, path, size, &extents, total, opts, plan)?;
    flag_duplicates(&mut markers);
    Ok(ScanReport {
        path: path.to_path_buf(),
        file_size: size,
        data_bytes: total,
        extents: extents.len(),
        markers,
        truncated,
        elapsed: started.elapsed(),
    })
}

/// Open `path` for reading only if it is a regular file, without blocking
/// on a FIFO (see [`crate::files::open_regular`]).
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    crate::files::open_regular(path).map_err(|e| match e {
        crate::files::ReadError::Io { source, .. } => source,
        // Keeps the typed error inside (`get_ref`), for whoever asks.
        other => std::io::Error::other(other),
    })
}

/// Decode the mailbox whose bytes (up to 4 KiB, less near end of file) are
/// `page`, found at `offset` of a memory file of `size` bytes. `None` when
/// the bytes do not start with a magic.
pub fn decode_mailbox(page: &[u8], offset: u64, size: u64) -> Option<Marker> {
    let decoded = decode_marker(page)?;
    let kind = decoded.kind;
    let word = |at: u64| -> u32 {
        let at = crate::units::len_at_most(at, page.len());
        page.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    };
    let seq = word(kind.seq_offset());
    let payload_len = word(kind.len_offset());
    let mut problem = decoded.problem.clone();
    if problem.is_none() && !frame_fits(kind, offset, 0, size) {
        problem = Some(format!(
            "marker is {} bytes before end of file: no room for a frame",
            size - offset
        ));
    }
    let payload = if seq != 0 && (payload_len as usize) <= kind.max_payload() {
        let start = crate::units::len_at_most(kind.payload_offset(), page.len());
        page.get(start..start + payload_len as usize)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_owned)
    } else {
        None
    };
    Some(Marker {
        kind,
        name: decoded.name,
        token: decoded.token,
        offset,
        seq,
        payload_len,
        payload,
        duplicate: false,
        valid: problem.is_none(),
        problem,
        page_aligned: offset.is_multiple_of(MAILBOX_SIZE as u64),
    })
}

/// Flag every marker whose identity (fork name, resume-network token) occurs
/// more than once. Hypeman patched the first match; forkmail refuses to guess.
pub(crate) fn flag_duplicates(markers: &mut [Marker]) {
    let mut counts: HashMap<(MailboxKind, String), usize> = HashMap::new();
    for m in markers.iter() {
        let (k, id) = m.identity();
        *counts.entry((k, id.to_string())).or_default() += 1;
    }
    for m in markers.iter_mut() {
        let (k, id) = m.identity();
        m.duplicate = counts.get(&(k, id.to_string())).copied().unwrap_or(0) > 1;
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod work_tests;
