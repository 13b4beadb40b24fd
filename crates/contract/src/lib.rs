//! The fork-mailbox wire contract (`mailbox-contract.md`): layouts, marker
//! encode/decode, frame write/read, request validation, ack_port injection
//! and ack parsing. Pure code: no I/O beyond the [`MemoryAt`] trait.

mod ack;
mod frame;
mod layout;
mod marker;
mod payload;
mod request;

pub use ack::*;
pub use frame::*;
pub use layout::*;
pub use marker::*;
pub use payload::*;
pub use request::*;
