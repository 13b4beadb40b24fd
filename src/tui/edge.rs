//! The TUI's edge with its environment: the only place it reads
//! environment variables — `$VISUAL`/`$EDITOR`, `$PAGER`, `NO_COLOR`,
//! `$HOME` (for a `~/` typed in a path), and the switches tests use
//! (`FORKMAIL_NO_WATCH`, `FORKMAIL_HOLD_AT=tui-panic`). Everything else
//! takes what it needs as arguments.

use std::path::{Path, PathBuf};

/// Whether `NO_COLOR` asks for no colour (set to a non-empty value).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The first of `vars` set to something other than blanks.
fn program(vars: &[&str]) -> Option<String> {
    vars.iter()
        .find_map(|v| std::env::var(v).ok().filter(|v| !v.trim().is_empty()))
}

/// The editor a payload is handed to: `$VISUAL`, else `$EDITOR`, else `vi`.
pub fn editor() -> String {
    program(&["VISUAL", "EDITOR"]).unwrap_or_else(|| "vi".into())
}

/// The pager a log is handed to: `$PAGER`, else `less`.
pub fn pager() -> String {
    program(&["PAGER"]).unwrap_or_else(|| "less".into())
}

/// A path as a person typed it: `~/` at its start is their home.
pub fn typed_path(text: &str) -> PathBuf {
    match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(text),
    }
}

/// Whether the store watcher is switched off (tests of the polling
/// fallback: `FORKMAIL_NO_WATCH`).
pub fn watcher_disabled() -> bool {
    std::env::var_os("FORKMAIL_NO_WATCH").is_some()
}

/// Crash tests only: `FORKMAIL_HOLD_AT=tui-panic` panics once the
/// terminal is taken, to prove it is given back (the `test-hooks`
/// feature; release builds have no such hook).
#[cfg(feature = "test-hooks")]
pub fn panic_asked() -> bool {
    std::env::var("FORKMAIL_HOLD_AT").is_ok_and(|v| v == "tui-panic")
}
