//! One mailbox page as the guest sees it: raw memory read and written with
//! volatile accesses, because the host changes it behind the program's back.

use std::ptr::NonNull;

use forkmail_contract::{MAILBOX_SIZE, MailboxKind};

/// A 4 KiB mailbox buffer in this process's address space.
///
/// Either a locked allocation (a real guest arming its own buffer) or a
/// shared mapping of a memory file (the simulator's guest).
pub struct MailboxPage {
    ptr: NonNull<u8>,
    /// Keeps a file mapping alive, when the page comes from one.
    _backing: Option<memmap2::MmapMut>,
    /// Owned allocation to free on drop.
    owned: bool,
}

// SAFETY: the page is only accessed through volatile reads/writes of plain
// bytes; moving the owner between threads is fine.
unsafe impl Send for MailboxPage {}

impl MailboxPage {
    /// Map the mailbox at `offset` of `file` shared, so writes by the host
    /// (and ours) go to the same page cache pages.
    pub fn map_file(file: &std::fs::File, offset: u64) -> std::io::Result<MailboxPage> {
        Self::map(file, offset, true)
    }

    /// Map the mailbox at `offset` of `file` privately (copy-on-write): the
    /// simulator's zero-copy guest. The host writes the frame through
    /// `/proc/PID/mem`; neither side ever writes the file.
    pub fn map_file_private(file: &std::fs::File, offset: u64) -> std::io::Result<MailboxPage> {
        Self::map(file, offset, false)
    }

    fn map(file: &std::fs::File, offset: u64, shared: bool) -> std::io::Result<MailboxPage> {
        let page = 4096u64;
        let base = offset / page * page;
        let delta = (offset - base) as usize;
        let len = delta + MAILBOX_SIZE;
        let file_len = file.metadata()?.len();
        if offset + MAILBOX_SIZE as u64 > file_len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("mailbox at {offset:#x} runs past the end of the memory file"),
            ));
        }
        // SAFETY: the mapping is shared with the host by design; all access
        // goes through volatile operations on bytes, and the length was
        // checked against the file size above.
        let mut map = unsafe {
            let mut opts = memmap2::MmapOptions::new();
            opts.offset(base).len(len);
            if shared {
                opts.map_mut(file)?
            } else {
                opts.map_copy(file)?
            }
        };
        // SAFETY: delta < len, so the pointer is inside the mapping.
        let ptr = unsafe { NonNull::new_unchecked(map.as_mut_ptr().add(delta)) };
        Ok(MailboxPage {
            ptr,
            _backing: Some(map),
            owned: false,
        })
    }

    /// Allocate a zeroed, page-aligned 4 KiB buffer and lock it in memory.
    pub fn allocate_locked() -> std::io::Result<MailboxPage> {
        let layout = std::alloc::Layout::from_size_align(MAILBOX_SIZE, 4096)
            .map_err(std::io::Error::other)?;
        // SAFETY: layout has non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or_else(|| std::io::Error::other("out of memory"))?;
        // SAFETY: ptr points to MAILBOX_SIZE bytes we own.
        if unsafe { libc::mlock(ptr.as_ptr().cast(), MAILBOX_SIZE) } != 0 {
            let err = std::io::Error::last_os_error();
            // SAFETY: allocated above with this layout.
            unsafe { std::alloc::dealloc(raw, layout) };
            return Err(err);
        }
        Ok(MailboxPage {
            ptr,
            _backing: None,
            owned: true,
        })
    }

    /// Virtual address of the first byte (for logs).
    pub fn address(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Read `buf.len()` bytes at `at`.
    pub fn read(&self, at: usize, buf: &mut [u8]) {
        let end = (at + buf.len()).min(MAILBOX_SIZE);
        for (i, b) in buf.iter_mut().enumerate().take(end.saturating_sub(at)) {
            // SAFETY: at + i < MAILBOX_SIZE, inside the page.
            *b = unsafe { self.ptr.as_ptr().add(at + i).read_volatile() };
        }
    }

    /// Write `bytes` at `at`.
    pub fn write(&self, at: usize, bytes: &[u8]) {
        let end = (at + bytes.len()).min(MAILBOX_SIZE);
        for (i, b) in bytes.iter().enumerate().take(end.saturating_sub(at)) {
            // SAFETY: at + i < MAILBOX_SIZE, inside the page.
            unsafe { self.ptr.as_ptr().add(at + i).write_volatile(*b) };
        }
    }

    /// Read a little-endian u32 at `at`.
    pub fn read_u32(&self, at: u64) -> u32 {
        let mut b = [0u8; 4];
        self.read(at as usize, &mut b);
        u32::from_le_bytes(b)
    }

    /// The seq field of a mailbox of `kind`.
    pub fn seq(&self, kind: MailboxKind) -> u32 {
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        self.read_u32(kind.seq_offset())
    }

    /// Set seq to 0 (consumed).
    pub fn clear_seq(&self, kind: MailboxKind) {
        self.write(kind.seq_offset() as usize, &0u32.to_le_bytes());
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
    }
}

impl Drop for MailboxPage {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: allocated in allocate_locked with exactly this layout.
            unsafe {
                libc::munlock(self.ptr.as_ptr().cast(), MAILBOX_SIZE);
                if let Ok(layout) = std::alloc::Layout::from_size_align(MAILBOX_SIZE, 4096) {
                    std::alloc::dealloc(self.ptr.as_ptr(), layout);
                }
            }
        }
    }
}
