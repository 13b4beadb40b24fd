//! forkmail: interactive fork sessions of microVM standby snapshots — the
//! app: the command line ([`cli`]) and the terminal UI ([`tui`]) over the
//! engine (`forkmail-engine`), whose modules are re-exported here so the
//! app and its tests name them as `forkmail::fork`, `forkmail::scan`, ….

pub use forkmail_engine::*;

pub mod cli;
pub mod config;
pub mod env;
pub mod tui;

// `tui::schema` without the `schema` feature.
#[cfg(not(feature = "schema"))]
mod jsonschema_off;
