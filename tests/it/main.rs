//! forkmail's integration tests, one binary (as ripgrep does): every module
//! runs the real `forkmail` binary, a real store on disk, real UDP sockets
//! and real child processes.
//!
//! `cargo test` runs the fast, local ones. The heavy end-to-end tests —
//! a fresh clone built in release mode, real QEMU guests (they download a
//! Debian kernel), the TUI in tmux — are `#[ignore]`d with the reason, so
//! they show as ignored; `cargo test -- --include-ignored` (what `.ci/run`
//! does) runs them, and then a missing tool fails the test
//! ([`support::heavy`]): nothing that did not run is counted as passed.

// The Hypeman fixture is shared with the engine's unit tests, where these
// are `crate::files` and `crate::mailbox`.
use forkmail::{files, mailbox};

mod support;

mod cli_check;
mod cli_config;
mod cli_exit_and_output;
mod cli_fanout;
mod cli_fork;
mod cli_reliability;
mod cli_sources;
mod fresh_clone;
mod guest_libs;
mod guest_vectors;
mod properties;
mod properties_round2;
mod qemu_cli;
mod qemu_e2e;
mod qemu_own_guest;
mod round2;
mod round2_tui;
mod tui_engine_agreement;
mod tui_evidence;
mod tui_fanout_screens;
mod tui_features;
mod tui_keys;
mod tui_live;
mod tui_narrow;
mod tui_screens;
mod tui_sources;
mod tui_stage;
mod tui_tmux;
