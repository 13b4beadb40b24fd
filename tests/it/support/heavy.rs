//! The one policy for heavy tests (a fresh clone built in release mode,
//! real QEMU guests, the TUI in tmux).
//!
//! They are `#[ignore]`d, so the default `cargo test` is fast and local and
//! lists them as ignored. Asked for explicitly (`cargo test --
//! --include-ignored`, as `.ci/run` does), a heavy test needs its tools:
//! a missing one fails the test with what to install. A test that could not
//! run is never reported as passed.

use std::process::Command;

/// Fail `test` unless `tool` runs (`tool ARGS` exits 0); `why` says what
/// the test needs it for and how to install it.
pub fn require(test: &str, tool: &str, args: &[&str], why: &str) {
    match Command::new(tool).args(args).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "{test} cannot run: `{tool} {}` failed ({}): {why}",
            args.join(" "),
            o.status
        ),
        Err(e) => panic!("{test} cannot run: {tool} is not runnable ({e}): {why}"),
    }
}
