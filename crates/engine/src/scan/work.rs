//! The scan's inner loop, on one or more threads.
//!
//! The data extents are cut into chunks (8 MiB of data at most) handed out
//! in file order to the workers, one at a time, so a core that is busy with
//! something else simply takes fewer chunks. Each worker reads its chunk
//! through its own small buffer (256 KiB: the copy out of the page cache
//! stays in the core's L2, where `memmem` then runs at several times the
//! speed of memory) and decodes the rare hits on the spot.
//!
//! A window of a chunk *accepts* hits that start in `[pos, end)` and reads
//! [`LOOKAHEAD`] bytes further (up to the end of the extent), so a prefix that
//! straddles a window or chunk boundary is found exactly once, by the window
//! it starts in.
//!
//! The first read of each window asks only for what is in the page cache
//! (`RWF_NOWAIT`). On the first miss the file is known to be cold, and from
//! then on the chunk queue asks the kernel to read ahead of the workers
//! (`POSIX_FADV_WILLNEED`, [`Plan::prefetch`] bytes of data ahead), keeping
//! the disk busy; a warm file pays nothing for that.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use memchr::memmem::Finder;

use super::read::{NoWait, prefetch, read_cached, read_full};
use super::{Extent, MAX_MARKERS, Marker, ScanError, ScanOptions, ScanProgress, decode_mailbox};
use crate::mailbox::{COMMON_PREFIX, FORK_MAGIC, MAILBOX_SIZE, RESUME_NETWORK_MAGIC};

/// Bytes a window reads past what it accepts.
const LOOKAHEAD: u64 = COMMON_PREFIX.len() as u64 - 1;
/// Data bytes handed to a worker at a time: large enough that taking a chunk
/// costs nothing, small enough that the last chunks balance the workers.
pub(super) const CHUNK: u64 = 8 << 20;
/// Data bytes the kernel is asked to read ahead of the workers once the
/// file is known to be cold (measured: 8–64 MiB all keep this disk busy).
pub(super) const PREFETCH: u64 = 32 << 20;
/// Most worker threads. Two cores scan ~1.6× faster than one here; past a
/// few threads the memory bus, not the cores, is the limit.
pub(super) const MAX_THREADS: usize = 4;
/// Markers a worker holds before handing them over.
const BATCH: usize = 4096;
/// A worker reports progress every this many bytes of data, and when it
/// runs out of chunks.
const PROGRESS_STEP: u64 = 2 << 20;
/// Markers kept: one more than reported, to know the list is truncated.
const KEEP: usize = MAX_MARKERS + 1;

/// How a scan is carried out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    /// Bytes per read.
    pub buffer: usize,
    /// Data bytes per chunk.
    pub chunk: u64,
    /// Worker threads, the caller's included.
    pub threads: usize,
    /// Data bytes read ahead of the workers in a cold file.
    pub prefetch: u64,
}

impl Plan {
    /// The plan for `total` bytes of data: a second worker only when there is
    /// a second chunk for it.
    pub fn new(opts: &ScanOptions, total: u64) -> Plan {
        let buffer = opts.buffer_size.max(2 * MAILBOX_SIZE);
        let chunk = CHUNK.max(buffer as u64);
        let chunks = usize::try_from(total.div_ceil(chunk)).unwrap_or(usize::MAX);
        Plan {
            buffer,
            chunk,
            threads: cpus().min(MAX_THREADS).min(chunks).max(1),
            prefetch: PREFETCH,
        }
    }
}

/// CPUs this process may use, asked once.
fn cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A piece of one extent.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    start: u64,
    end: u64,
    /// End of the extent the chunk is in: how far a window may look ahead.
    extent_end: u64,
}

/// A position in the data extents.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    extent: usize,
    pos: u64,
}

impl Cursor {
    /// The next piece of at most `max` data bytes, in file order.
    fn take(&mut self, extents: &[Extent], max: u64) -> Option<Chunk> {
        while let Some(e) = extents.get(self.extent) {
            let start = self.pos.max(e.start);
            if start < e.end {
                let end = start.saturating_add(max).min(e.end);
                self.pos = end;
                return Some(Chunk {
                    start,
                    end,
                    extent_end: e.end,
                });
            }
            self.extent += 1;
        }
        None
    }
}

/// Chunks for the workers, and the read-ahead cursor in front of them.
#[derive(Default)]
struct Queue {
    next: Cursor,
    handed: u64,
    ahead: Cursor,
    advised: u64,
}

/// What the workers share.
struct Shared<'a> {
    file: &'a File,
    path: &'a Path,
    size: u64,
    extents: &'a [Extent],
    plan: Plan,
    opts: &'a ScanOptions<'a>,
    finder: Finder<'static>,
    queue: Mutex<Queue>,
    /// Still trying `RWF_NOWAIT` reads (no miss yet, and supported).
    probing: AtomicBool,
    /// A read missed the page cache: read ahead of the workers.
    cold: AtomicBool,
    /// Markers at higher offsets cannot be among the first [`KEEP`].
    horizon: AtomicU64,
    found: Mutex<Vec<Marker>>,
    done: AtomicU64,
    reported: Mutex<u64>,
    total: u64,
    stop: AtomicBool,
    error: Mutex<Option<ScanError>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere (in a progress callback) is propagated by the scope;
    // the data behind the lock is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every marker in `extents`, in file order, and whether there were more
/// than [`MAX_MARKERS`] (only the first are returned).
pub(super) fn find_markers(
    file: &File,
    path: &Path,
    size: u64,
    extents: &[Extent],
    total: u64,
    opts: &ScanOptions,
    plan: Plan,
) -> Result<(Vec<Marker>, bool), ScanError> {
    let shared = Shared {
        file,
        path,
        size,
        extents,
        plan,
        opts,
        finder: Finder::new(COMMON_PREFIX).into_owned(),
        queue: Mutex::new(Queue::default()),
        probing: AtomicBool::new(true),
        cold: AtomicBool::new(false),
        horizon: AtomicU64::new(u64::MAX),
        found: Mutex::new(Vec::new()),
        done: AtomicU64::new(0),
        reported: Mutex::new(0),
        total,
        stop: AtomicBool::new(false),
        error: Mutex::new(None),
    };
    std::thread::scope(|scope| {
        for _ in 1..plan.threads {
            let spawned = std::thread::Builder::new()
                .name("forkmail-scan".into())
                .spawn_scoped(scope, || shared.run());
            // Without another thread the scan is slower, not different.
            if spawned.is_err() {
                break;
            }
        }
        shared.run();
    });
    if let Some(e) = shared.error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let mut markers = shared.found.into_inner().unwrap_or_else(|e| e.into_inner());
    markers.sort_unstable_by_key(|m| m.offset);
    let truncated = markers.len() > MAX_MARKERS;
    markers.truncate(MAX_MARKERS);
    Ok((markers, truncated))
}

impl Shared<'_> {
    fn run(&self) {
        if let Err(e) = self.work() {
            let mut first = lock(&self.error);
            if first.is_none() {
                *first = Some(e);
            }
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    fn work(&self) -> Result<(), ScanError> {
        let mut buf = vec![0u8; self.plan.buffer];
        let mut found = Vec::new();
        let step = self.plan.buffer as u64 - LOOKAHEAD;
        // Carried across chunks: a file of many tiny extents must not cost a
        // callback (a message to the TUI) per extent.
        let mut unreported = 0;
        while let Some(chunk) = self.next_chunk() {
            let mut pos = chunk.start;
            while pos < chunk.end {
                if self.opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                    return Err(ScanError::Cancelled);
                }
                if self.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let accept_end = (pos + step).min(chunk.end);
                let read_end = (accept_end + LOOKAHEAD).min(chunk.extent_end);
                let window =
                    &mut buf[..crate::units::len_at_most(read_end - pos, self.plan.buffer)];
                self.read(window, pos)?;
                let wanted = self.find(window, pos, accept_end, &mut found)?;
                unreported += accept_end - pos;
                if unreported >= PROGRESS_STEP {
                    self.progress(unreported);
                    unreported = 0;
                }
                if !wanted {
                    break;
                }
                pos = accept_end;
            }
            self.collect(&mut found);
        }
        self.progress(unreported);
        Ok(())
    }

    fn next_chunk(&self) -> Option<Chunk> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let mut q = lock(&self.queue);
        let chunk = q.next.take(self.extents, self.plan.chunk)?;
        if chunk.start > self.horizon.load(Ordering::Relaxed) {
            return None;
        }
        q.handed += chunk.end - chunk.start;
        if self.cold.load(Ordering::Relaxed) {
            self.read_ahead(&mut q);
        }
        Some(chunk)
    }

    /// Advise the kernel to read the data up to [`Plan::prefetch`] bytes
    /// past what the workers were handed.
    fn read_ahead(&self, q: &mut Queue) {
        if q.ahead.pos < q.next.pos {
            q.ahead = q.next;
            q.advised = q.handed;
        }
        while q.advised < q.handed + self.plan.prefetch {
            let Some(c) = q.ahead.take(self.extents, self.plan.chunk) else {
                break;
            };
            prefetch(self.file, c.start, c.end - c.start);
            q.advised += c.end - c.start;
        }
    }

    /// Fill `buf` from `offset`, noticing the first read that misses the
    /// page cache.
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<(), ScanError> {
        if self.probing.load(Ordering::Relaxed) {
            let got = read_cached(self.file, buf, offset).map_err(|source| ScanError::Read {
                path: self.path.to_path_buf(),
                offset,
                source,
            })?;
            match got {
                NoWait::Cached(n) if n == buf.len() => return Ok(()),
                NoWait::Cached(n) => {
                    self.went_cold();
                    return read_full(self.file, self.path, &mut buf[n..], offset + n as u64);
                }
                NoWait::Uncached => self.went_cold(),
                NoWait::Unsupported => self.probing.store(false, Ordering::Relaxed),
            }
        }
        read_full(self.file, self.path, buf, offset)
    }

    fn went_cold(&self) {
        self.probing.store(false, Ordering::Relaxed);
        if !self.cold.swap(true, Ordering::Relaxed) {
            self.read_ahead(&mut lock(&self.queue));
        }
    }

    /// Decode the hits that start in `[pos, accept_end)` of `window` (read
    /// from `pos`) into `found`. False when the rest of the chunk is past
    /// the horizon and need not be read.
    fn find(
        &self,
        window: &[u8],
        pos: u64,
        accept_end: u64,
        found: &mut Vec<Marker>,
    ) -> Result<bool, ScanError> {
        let horizon = self.horizon.load(Ordering::Relaxed);
        for hit in self.finder.find_iter(window) {
            let offset = pos + hit as u64;
            if offset >= accept_end {
                break;
            }
            if offset > horizon {
                return Ok(false);
            }
            // Text that merely starts with the prefix costs nothing more.
            let rest = &window[hit..];
            if rest.len() >= RESUME_NETWORK_MAGIC.len()
                && !rest.starts_with(FORK_MAGIC)
                && !rest.starts_with(RESUME_NETWORK_MAGIC)
            {
                continue;
            }
            let whole = crate::units::len_at_most(self.size - offset, MAILBOX_SIZE);
            let decoded = if rest.len() >= whole {
                decode_mailbox(&rest[..whole], offset, self.size)
            } else {
                // The mailbox runs past the window: read it whole.
                let mut page = vec![0u8; whole];
                read_full(self.file, self.path, &mut page, offset)?;
                decode_mailbox(&page, offset, self.size)
            };
            found.extend(decoded);
            if found.len() >= BATCH {
                self.collect(found);
            }
        }
        Ok(accept_end <= self.horizon.load(Ordering::Relaxed))
    }

    /// Move `local` into the shared list, keeping it bounded: past `2·KEEP`
    /// markers only the first `KEEP` in file order are kept, and the last of
    /// them becomes the horizon no worker needs to look beyond.
    fn collect(&self, local: &mut Vec<Marker>) {
        if local.is_empty() {
            return;
        }
        let mut all = lock(&self.found);
        all.append(local);
        if all.len() > 2 * KEEP {
            all.sort_unstable_by_key(|m| m.offset);
            all.truncate(KEEP);
            let last = all[KEEP - 1].offset;
            self.horizon.fetch_min(last, Ordering::Relaxed);
        }
    }

    /// Add `n` data bytes to the progress and report it; what is reported
    /// never goes backwards, whichever worker reports.
    fn progress(&self, n: u64) {
        let Some(cb) = self.opts.progress else {
            return;
        };
        if n == 0 {
            return;
        }
        let now = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let mut reported = lock(&self.reported);
        if now > *reported {
            *reported = now;
            cb(ScanProgress {
                done: now.min(self.total),
                total: self.total,
            });
        }
    }
}
