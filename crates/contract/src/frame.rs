//! Frame write and read: payload, length, seq — in that order.

use std::io;

use super::layout::*;

/// Positioned access to guest memory: a memory file, `/proc/PID/mem`, or a
/// byte buffer in tests. The only I/O the contract code ever does.
pub trait MemoryAt {
    /// Fill `buf` from `offset`, or fail (a short read is an error).
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Write all of `buf` at `offset`.
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
}

impl MemoryAt for std::fs::File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, buf, offset)
    }
}

impl MemoryAt for Vec<u8> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        let src = self.get(start..end).ok_or_else(eof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        let dst = self.get_mut(start..end).ok_or_else(eof)?;
        dst.copy_from_slice(buf);
        Ok(())
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "range outside the memory")
}

/// Publish one frame at the marker starting at `marker_offset`: payload bytes,
/// then the length, then seq = 1 (the publish flag, written last).
///
/// The caller has checked that the payload fits (see [`frame_fits`]).
pub fn write_frame<M: MemoryAt + ?Sized>(
    mem: &mut M,
    kind: MailboxKind,
    marker_offset: u64,
    payload: &[u8],
) -> io::Result<()> {
    if payload.len() > kind.max_payload() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "payload is {} bytes, the frame holds at most {}",
                payload.len(),
                kind.max_payload()
            ),
        ));
    }
    let len = u32::try_from(payload.len()).map_err(|_| eof())?;
    mem.write_all_at(payload, marker_offset + kind.payload_offset())?;
    mem.write_all_at(&len.to_le_bytes(), marker_offset + kind.len_offset())?;
    mem.write_all_at(&1u32.to_le_bytes(), marker_offset + kind.seq_offset())?;
    Ok(())
}

/// Whether a payload of `len` bytes fits in a file of `file_size` bytes at
/// a marker at `marker_offset` (`offset + 264 + len <= size` for forks).
pub fn frame_fits(kind: MailboxKind, marker_offset: u64, len: usize, file_size: u64) -> bool {
    len <= kind.max_payload()
        && marker_offset
            .checked_add(kind.payload_offset())
            .and_then(|o| o.checked_add(len as u64))
            .is_some_and(|end| end <= file_size)
}

/// The frame fields as they are in memory right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The publish flag: 0 = nothing published.
    pub seq: u32,
    /// Declared payload length.
    pub len: u32,
    /// The payload bytes when seq is non-zero and the length is in range.
    pub payload: Option<Vec<u8>>,
}

/// Read the frame of the marker at `marker_offset`.
pub fn read_frame<M: MemoryAt + ?Sized>(
    mem: &M,
    kind: MailboxKind,
    marker_offset: u64,
) -> io::Result<Frame> {
    let mut word = [0u8; 4];
    mem.read_exact_at(&mut word, marker_offset + kind.seq_offset())?;
    let seq = u32::from_le_bytes(word);
    mem.read_exact_at(&mut word, marker_offset + kind.len_offset())?;
    let len = u32::from_le_bytes(word);
    let payload = if seq != 0 && (len as usize) <= kind.max_payload() {
        let mut buf = vec![0u8; len as usize];
        mem.read_exact_at(&mut buf, marker_offset + kind.payload_offset())?;
        Some(buf)
    } else {
        None
    };
    Ok(Frame { seq, len, payload })
}

/// Reset seq to 0: what a guest does once it has consumed the payload.
pub fn clear_seq<M: MemoryAt + ?Sized>(
    mem: &mut M,
    kind: MailboxKind,
    marker_offset: u64,
) -> io::Result<()> {
    mem.write_all_at(&0u32.to_le_bytes(), marker_offset + kind.seq_offset())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marker::encode_fork_marker;

    /// Records every write so the order can be checked.
    struct Recorder {
        mem: Vec<u8>,
        writes: Vec<u64>,
    }
    impl MemoryAt for Recorder {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            self.mem.read_exact_at(buf, offset)
        }
        fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
            self.writes.push(offset);
            self.mem.write_all_at(buf, offset)
        }
    }

    #[test]
    fn host_writes_payload_then_length_then_seq_last() {
        let mut r = Recorder {
            mem: vec![0; 3 * MAILBOX_SIZE],
            writes: vec![],
        };
        let at = MAILBOX_SIZE as u64;
        write_frame(&mut r, MailboxKind::Fork, at, br#"{"a":1}"#).unwrap();
        assert_eq!(r.writes, vec![at + 264, at + 260, at + 256]);
        let f = read_frame(&r.mem, MailboxKind::Fork, at).unwrap();
        assert_eq!(f.seq, 1);
        assert_eq!(f.len, 7);
        assert_eq!(f.payload.as_deref(), Some(&br#"{"a":1}"#[..]));
    }

    #[test]
    fn fields_are_little_endian_u32_at_256_260_264() {
        let mut mem = vec![0u8; MAILBOX_SIZE];
        mem[..20].copy_from_slice(&encode_fork_marker("m", "t")[..20]);
        write_frame(&mut mem, MailboxKind::Fork, 0, &[b'x'; 0x0102]).unwrap();
        assert_eq!(&mem[256..260], &[1, 0, 0, 0]);
        assert_eq!(&mem[260..264], &[0x02, 0x01, 0, 0]);
        assert_eq!(mem[264], b'x');
    }

    #[test]
    fn resume_network_frame_is_at_64_68_72() {
        let mut r = Recorder {
            mem: vec![0; MAILBOX_SIZE],
            writes: vec![],
        };
        write_frame(&mut r, MailboxKind::ResumeNetwork, 0, b"{}").unwrap();
        assert_eq!(r.writes, vec![72, 68, 64]);
    }

    #[test]
    fn seq_zero_means_nothing_published() {
        let mem = vec![0u8; MAILBOX_SIZE];
        let f = read_frame(&mem, MailboxKind::Fork, 0).unwrap();
        assert_eq!(f.seq, 0);
        assert_eq!(f.payload, None);
    }

    #[test]
    fn guest_resets_seq_to_zero_after_consuming() {
        let mut mem = vec![0u8; MAILBOX_SIZE];
        write_frame(&mut mem, MailboxKind::Fork, 0, b"{}").unwrap();
        clear_seq(&mut mem, MailboxKind::Fork, 0).unwrap();
        assert_eq!(read_frame(&mem, MailboxKind::Fork, 0).unwrap().seq, 0);
    }

    #[test]
    fn fork_payload_is_at_most_3832_bytes_and_ends_the_page() {
        let mut mem = vec![0u8; MAILBOX_SIZE];
        let full = [b'x'; 3832];
        write_frame(&mut mem, MailboxKind::Fork, 0, &full).unwrap();
        assert_eq!(
            mem[MAILBOX_SIZE - 1],
            b'x',
            "the last payload byte is the page's last"
        );
        let f = read_frame(&mem, MailboxKind::Fork, 0).unwrap();
        assert_eq!(f.payload.as_deref(), Some(&full[..]));
        let before = mem.clone();
        assert!(write_frame(&mut mem, MailboxKind::Fork, 0, &[b' '; 3833]).is_err());
        assert_eq!(mem, before, "a refused frame writes nothing");
    }

    #[test]
    fn resume_network_payload_is_at_most_4024_bytes_and_ends_the_page() {
        let mut mem = vec![0u8; MAILBOX_SIZE];
        let full = [b'y'; 4024];
        write_frame(&mut mem, MailboxKind::ResumeNetwork, 0, &full).unwrap();
        assert_eq!(mem[MAILBOX_SIZE - 1], b'y');
        assert_eq!(&mem[68..72], &4024u32.to_le_bytes());
        let before = mem.clone();
        assert!(write_frame(&mut mem, MailboxKind::ResumeNetwork, 0, &[b' '; 4025]).is_err());
        assert_eq!(mem, before);
    }

    #[test]
    fn frame_must_fit_in_the_memory_file() {
        // offset + 264 + len <= file size
        assert!(frame_fits(MailboxKind::Fork, 100, 10, 374));
        assert!(!frame_fits(MailboxKind::Fork, 100, 11, 374));
        assert!(!frame_fits(MailboxKind::Fork, u64::MAX - 3, 1, u64::MAX));
    }
}
