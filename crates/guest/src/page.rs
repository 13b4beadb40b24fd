//! One mailbox page as the guest sees it: raw memory read and written with
//! volatile accesses, because the host changes it behind the program's back.
//!
//! # Ordering
//!
//! The host publishes a frame in a fixed order: payload and length first,
//! `seq` last. The guest mirrors it: it loads `seq` ([`MailboxPage::seq`]),
//! and only when that is non-zero reads the length and payload; once done
//! with them it stores `seq = 0` ([`MailboxPage::clear_seq`]), which hands
//! the frame back. Volatile accesses keep the compiler from dropping or
//! merging them, but not from moving other memory accesses across them, so
//! each side of the handshake carries a fence:
//!
//! - [`MailboxPage::seq`] loads `seq`, *then* issues an `Acquire` fence: the
//!   length and payload reads that follow cannot be moved before the load
//!   that saw the frame published.
//! - [`MailboxPage::clear_seq`] issues a `Release` fence, *then* stores 0:
//!   the payload reads before it are complete before the guest says the
//!   frame is free (the host may write the next frame right after).
//!
//! A fence on the other side of the access (as this file once had) orders
//! nothing.

use std::ptr::NonNull;
use std::sync::atomic::{Ordering, fence};

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

/// The storage of a locked mailbox: page-aligned, so it is exactly the one
/// page that gets locked.
#[repr(C, align(4096))]
struct LockedPage([u8; MAILBOX_SIZE]);
const _: () = assert!(std::mem::size_of::<LockedPage>() == MAILBOX_SIZE);

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
        let delta = usize::try_from(offset - base).map_err(std::io::Error::other)?;
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
        // The mailbox's bytes: `delta..len`, MAILBOX_SIZE of them.
        let ptr = NonNull::new(map[delta..].as_mut_ptr())
            .ok_or_else(|| std::io::Error::other("mapped at address 0"))?;
        Ok(MailboxPage {
            ptr,
            _backing: Some(map),
            owned: false,
        })
    }

    /// Allocate a zeroed, page-aligned 4 KiB buffer and lock it in memory.
    pub fn allocate_locked() -> std::io::Result<MailboxPage> {
        let mut page = Box::new(LockedPage([0; MAILBOX_SIZE]));
        // SAFETY: the range is exactly `page`, MAILBOX_SIZE bytes this
        // function owns; locking them in memory does not touch their contents.
        unsafe { rustix::mm::mlock(page.0.as_mut_ptr().cast(), MAILBOX_SIZE) }?;
        // From here on the page is reached through `ptr` only; Drop gives it
        // back to a Box to free it.
        let ptr = NonNull::from(Box::leak(page)).cast::<u8>();
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

    /// Read `buf.len()` bytes at `at` (bytes past the page are left as they are).
    pub fn read(&self, at: usize, buf: &mut [u8]) {
        let end = at.saturating_add(buf.len()).min(MAILBOX_SIZE);
        for (i, b) in buf.iter_mut().enumerate().take(end.saturating_sub(at)) {
            // SAFETY: at + i < MAILBOX_SIZE, inside the page.
            *b = unsafe { self.ptr.as_ptr().add(at + i).read_volatile() };
        }
    }

    /// Write `bytes` at `at` (bytes past the page are dropped).
    pub fn write(&self, at: usize, bytes: &[u8]) {
        let end = at.saturating_add(bytes.len()).min(MAILBOX_SIZE);
        for (i, b) in bytes.iter().enumerate().take(end.saturating_sub(at)) {
            // SAFETY: at + i < MAILBOX_SIZE, inside the page.
            unsafe { self.ptr.as_ptr().add(at + i).write_volatile(*b) };
        }
    }

    /// Read a little-endian u32 at `at` (a contract offset; past the page
    /// reads as 0).
    pub fn read_u32(&self, at: u64) -> u32 {
        let mut b = [0u8; 4];
        self.read(offset_in_page(at), &mut b);
        u32::from_le_bytes(b)
    }

    /// The seq field of a mailbox of `kind`: non-zero when the host has
    /// published a frame. Reads of the frame (length, payload) made after
    /// this call are ordered after the load (see the module's notes on ordering).
    pub fn seq(&self, kind: MailboxKind) -> u32 {
        let seq = self.read_u32(kind.seq_offset());
        // Load, then acquire: later reads stay after the load of seq.
        fence(Ordering::Acquire);
        seq
    }

    /// Set seq to 0 (consumed): the frame is the host's again. Reads of the
    /// frame made before this call are complete before the store (see
    /// [Ordering](self#ordering)).
    pub fn clear_seq(&self, kind: MailboxKind) {
        // Release, then store: earlier reads are done before seq reads 0.
        fence(Ordering::Release);
        self.write(offset_in_page(kind.seq_offset()), &0u32.to_le_bytes());
    }
}

/// A contract offset (`u64`) as an index into the page. Offsets past the
/// page (none of the contract's) become `usize::MAX`, which [`MailboxPage`]'s
/// bounded reads and writes treat as outside the page: nothing is touched.
pub(crate) fn offset_in_page(at: u64) -> usize {
    usize::try_from(at).unwrap_or(usize::MAX)
}

impl Drop for MailboxPage {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: `ptr` is the MAILBOX_SIZE-byte page allocated (and
            // locked) in allocate_locked; unlocking does not touch its
            // contents. A failure only leaves it locked until it is freed.
            let _ = unsafe { rustix::mm::munlock(self.ptr.as_ptr().cast(), MAILBOX_SIZE) };
            // SAFETY: `ptr` came from `Box::leak` of a `Box<LockedPage>` in
            // allocate_locked (`owned` is set only there) and is given back
            // here, once; no access through it follows.
            drop(unsafe { Box::from_raw(self.ptr.as_ptr().cast::<LockedPage>()) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    const KIND: MailboxKind = MailboxKind::Fork;

    fn at(offset: u64) -> usize {
        offset_in_page(offset)
    }

    const FILE_SIZE: usize = 3 * 4096;

    /// A memory file of three pages with the mailbox at 4096 + 8 (not page
    /// aligned, so it spans two pages), filled with `fill`.
    fn memory_file(fill: u8) -> (std::fs::File, u64) {
        let f = tempfile::tempfile().unwrap();
        f.write_all_at(&[fill; FILE_SIZE], 0).unwrap();
        (f, 4096 + 8)
    }

    #[test]
    fn seq_is_the_seq_field_and_clearing_it_touches_nothing_else() {
        let (f, offset) = memory_file(0xaa);
        let page = MailboxPage::map_file(&f, offset).unwrap();
        page.write(at(KIND.seq_offset()), &7u32.to_le_bytes());
        assert_eq!(page.seq(KIND), 7);
        page.clear_seq(KIND);
        assert_eq!(page.seq(KIND), 0);
        // Shared with the file (the host's view): exactly seq's 4 bytes changed.
        let mut whole = [0u8; FILE_SIZE];
        f.read_exact_at(&mut whole, 0).unwrap();
        let seq_at = usize::try_from(offset + KIND.seq_offset()).unwrap();
        assert_eq!(&whole[seq_at..seq_at + 4], &[0; 4]);
        assert!(whole[..seq_at].iter().all(|b| *b == 0xaa));
        assert!(whole[seq_at + 4..].iter().all(|b| *b == 0xaa));
    }

    #[test]
    fn a_locked_page_is_one_zeroed_aligned_page() {
        let page = MailboxPage::allocate_locked().expect("lock 4 KiB (RLIMIT_MEMLOCK)");
        assert_eq!(page.address() % 4096, 0);
        let mut all = vec![1u8; MAILBOX_SIZE];
        page.read(0, &mut all);
        assert!(all.iter().all(|b| *b == 0));
        page.write(MAILBOX_SIZE - 4, b"last");
        assert_eq!(
            page.read_u32(MAILBOX_SIZE as u64 - 4),
            u32::from_le_bytes(*b"last")
        );
    }

    #[test]
    fn offsets_past_the_page_touch_nothing() {
        let (f, offset) = memory_file(0x55);
        let page = MailboxPage::map_file(&f, offset).unwrap();
        assert_eq!(page.read_u32(u64::MAX), 0);
        page.write(usize::MAX, &[1, 2, 3]);
        page.write(MAILBOX_SIZE - 1, &[9, 9]);
        let mut b = [0u8; 2];
        page.read(MAILBOX_SIZE - 1, &mut b);
        assert_eq!(
            b,
            [9, 0],
            "only the byte inside the page is read and written"
        );
    }

    /// The handshake, with a host on another thread publishing frames the
    /// way forkmail does (payload and length, then seq) through its own
    /// mapping of the same memory: whenever `seq` reads non-zero, the frame
    /// read after it is whole, and `clear_seq` hands it back. (On x86 the
    /// hardware keeps loads in order anyway; the fences are what keep the
    /// compiler, and weaker CPUs, from moving the frame reads across seq.)
    #[test]
    fn a_frame_read_after_seq_is_whole_and_clear_seq_hands_it_back() {
        // Below 256: the page writes bytes one at a time, so a seq above 255
        // could be seen half written (the real host writes it at once).
        const ROUNDS: u32 = 255;
        let (f, offset) = memory_file(0);
        let guest = MailboxPage::map_file(&f, offset).unwrap();
        let host = MailboxPage::map_file(&f, offset).unwrap();
        let frame = |round: u32| -> Vec<u8> {
            let len = 1 + (round as usize * 37) % 1000;
            (0..len)
                .map(|i| u8::try_from((round as usize + i) % 251).unwrap())
                .collect()
        };
        let publisher = std::thread::spawn(move || {
            for round in 1..=ROUNDS {
                while host.read_u32(KIND.seq_offset()) != 0 {
                    std::thread::yield_now();
                }
                fence(Ordering::Acquire);
                let payload = frame(round);
                host.write(at(KIND.payload_offset()), &payload);
                let len = u32::try_from(payload.len()).unwrap();
                host.write(at(KIND.len_offset()), &len.to_le_bytes());
                fence(Ordering::Release);
                host.write(at(KIND.seq_offset()), &round.to_le_bytes());
            }
        });
        let mut seen = 0;
        while seen < ROUNDS {
            let seq = guest.seq(KIND);
            if seq == 0 {
                std::thread::yield_now();
                continue;
            }
            let len = guest.read_u32(KIND.len_offset()) as usize;
            let mut payload = vec![0u8; len];
            guest.read(at(KIND.payload_offset()), &mut payload);
            guest.clear_seq(KIND);
            assert_eq!(payload, frame(seq), "frame {seq} read whole");
            seen += 1;
            assert_eq!(seq, seen, "each frame once, in order");
        }
        publisher.join().unwrap();
    }
}
