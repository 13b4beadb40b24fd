//! Byte layout of both mailbox kinds, straight from `mailbox-contract.md`.
//!
//! Every number here is part of the wire format: a guest built against
//! Hypeman's constants must work with forkmail unchanged.

use serde::{Deserialize, Serialize};

/// Size of one mailbox buffer in guest memory.
pub const MAILBOX_SIZE: usize = 4096;
/// Magic of a fork mailbox, NUL included (24 bytes).
pub const FORK_MAGIC: &[u8; 24] = b"HYPEMAN_FORK_MAILBOX_V1\0";
/// Magic of a resume-network mailbox, NUL included (34 bytes).
pub const RESUME_NETWORK_MAGIC: &[u8; 34] = b"HYPEMAN_RESUME_NETWORK_MAILBOX_V1\0";
/// The bytes both magics start with: what a one-pass scan searches for.
pub const COMMON_PREFIX: &[u8; 8] = b"HYPEMAN_";

/// Longest legal fork marker: magic + 64-byte name + NUL + 128-byte token.
pub const MAX_MARKER_LEN: usize = 24 + MAX_NAME_LEN + 1 + MAX_TOKEN_LEN;

/// Fork mailbox: magic, name and token end before this offset (the seq
/// field's, as an index).
pub const FORK_IDENTITY_END: usize = 256;
/// Fork mailbox: seq field offset.
pub const FORK_SEQ_OFFSET: u64 = 256;
const _: () = assert!(FORK_IDENTITY_END as u64 == FORK_SEQ_OFFSET);
/// Fork mailbox: length field offset.
pub const FORK_LEN_OFFSET: u64 = 260;
/// Fork mailbox: payload offset.
pub const FORK_PAYLOAD_OFFSET: u64 = 264;
/// Fork mailbox: largest payload.
pub const FORK_MAX_PAYLOAD: usize = 3832;

/// Resume-network mailbox: the token is zero padded up to this offset.
pub const RESUME_NETWORK_IDENTITY_END: usize = 64;
/// Resume-network mailbox: seq field offset.
pub const RESUME_NETWORK_SEQ_OFFSET: u64 = 64;
/// Resume-network mailbox: length field offset.
pub const RESUME_NETWORK_LEN_OFFSET: u64 = 68;
/// Resume-network mailbox: payload offset.
pub const RESUME_NETWORK_PAYLOAD_OFFSET: u64 = 72;
/// Resume-network mailbox: largest payload.
pub const RESUME_NETWORK_MAX_PAYLOAD: usize = 4024;
/// Resume-network token length limit.
pub const RESUME_NETWORK_MAX_TOKEN_LEN: usize = 30;

/// At most this many mailboxes in one fork request.
pub const MAX_MAILBOXES: usize = 16;
/// Longest mailbox name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest fork mailbox token.
pub const MAX_TOKEN_LEN: usize = 128;
/// Ack deadline used when none (or 0) is given.
pub const DEFAULT_ACK_TIMEOUT_MS: u64 = 5000;
/// Largest ack deadline a request may ask for.
pub const MAX_ACK_TIMEOUT_MS: u64 = 30_000;

/// Which of the two mailbox kinds a marker belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum MailboxKind {
    /// `HYPEMAN_FORK_MAILBOX_V1`: named, carries the fork payload.
    Fork,
    /// `HYPEMAN_RESUME_NETWORK_MAILBOX_V1`: Hypeman's network handoff.
    ResumeNetwork,
}

impl MailboxKind {
    /// The magic bytes, NUL included.
    pub fn magic(self) -> &'static [u8] {
        match self {
            MailboxKind::Fork => FORK_MAGIC,
            MailboxKind::ResumeNetwork => RESUME_NETWORK_MAGIC,
        }
    }
    /// Offset of the u32 LE seq (publish flag) from the start of the magic.
    pub fn seq_offset(self) -> u64 {
        match self {
            MailboxKind::Fork => FORK_SEQ_OFFSET,
            MailboxKind::ResumeNetwork => RESUME_NETWORK_SEQ_OFFSET,
        }
    }
    /// Offset of the u32 LE payload length.
    pub fn len_offset(self) -> u64 {
        match self {
            MailboxKind::Fork => FORK_LEN_OFFSET,
            MailboxKind::ResumeNetwork => RESUME_NETWORK_LEN_OFFSET,
        }
    }
    /// Offset of the payload bytes.
    pub fn payload_offset(self) -> u64 {
        match self {
            MailboxKind::Fork => FORK_PAYLOAD_OFFSET,
            MailboxKind::ResumeNetwork => RESUME_NETWORK_PAYLOAD_OFFSET,
        }
    }
    /// Largest payload the frame holds.
    pub fn max_payload(self) -> usize {
        match self {
            MailboxKind::Fork => FORK_MAX_PAYLOAD,
            MailboxKind::ResumeNetwork => RESUME_NETWORK_MAX_PAYLOAD,
        }
    }
    /// Short label used in tables and JSON (`fork`, `resume-network`).
    pub fn label(self) -> &'static str {
        match self {
            MailboxKind::Fork => "fork",
            MailboxKind::ResumeNetwork => "resume-network",
        }
    }
}

/// The magic of `kind`, assembled at run time from a scrambled copy.
///
/// A guest must not carry the plain magic in its binary: its text pages sit
/// in guest RAM too, and a scan would report them as stray markers.
pub fn runtime_magic(kind: MailboxKind) -> Vec<u8> {
    const KEY: u8 = 0x5a;
    const fn scramble<const N: usize>(magic: &[u8; N]) -> [u8; N] {
        let mut out = [0u8; N];
        let mut i = 0;
        while i < N {
            out[i] = magic[i] ^ KEY;
            i += 1;
        }
        out
    }
    static FORK: [u8; 24] = scramble(FORK_MAGIC);
    static RESUME: [u8; 34] = scramble(RESUME_NETWORK_MAGIC);
    let scrambled: &[u8] = match kind {
        MailboxKind::Fork => &FORK,
        MailboxKind::ResumeNetwork => &RESUME,
    };
    let key = std::hint::black_box(KEY);
    scrambled.iter().map(|b| b ^ key).collect()
}
