//! forkmail's engine: everything between a memory file and a fork's ack.
//!
//! Data moves one way: [`store`] and [`source`] → [`scan`] → (payloads) →
//! [`fork`] → [`vmm`] → guest → ack. The engine emits typed events and
//! returns typed errors; the app (CLI and TUI) renders them. It depends on
//! the wire contract ([`mailbox`], the `forkmail-contract` crate) and on the
//! reference guest ([`guest`], the `forkmail-guest` crate: the simulator runs
//! the same consumer code), never on the app.

pub use forkmail_contract as mailbox;
pub use forkmail_guest as guest;

pub mod check;
pub mod copy;
pub mod error;
pub mod fanout;
pub mod files;
pub mod fork;
pub mod history;
pub mod image;
pub mod kinds;
pub mod sanitize;
pub mod scan;
pub mod source;
pub mod store;
pub mod template;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
pub mod transfer;
pub mod units;
pub mod vmm;
