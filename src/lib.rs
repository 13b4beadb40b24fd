//! forkmail: interactive fork sessions of microVM standby snapshots.
//!
//! Data moves one way: [`store`] → [`scan`] → (payloads) → [`fork`] → [`vmm`]
//! → [`guest`] → ack. The engine emits typed events; the TUI and the CLI are
//! two renderers of them.

pub mod check;
pub mod cli;
pub mod config;
pub mod copy;
pub mod error;
pub mod fanout;
pub mod files;
pub mod fork;
pub mod guest;
pub mod history;
pub mod image;
pub mod mailbox;
pub mod sanitize;
pub mod scan;
pub mod source;
pub mod store;
pub mod template;
pub mod transfer;
pub mod tui;
pub mod units;
pub mod vmm;
