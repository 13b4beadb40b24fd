//! Writing to the terminal or a pipe: every line of a command's output goes
//! through [`outln!`], which returns the write error instead of panicking,
//! so `forkmail forks | head` ends quietly when `head` closes the pipe.
//! Guest- or file-controlled text in human output goes through
//! [`crate::sanitize::escaped`]; `--json` stays exact.

use std::io::Write;

/// Write one formatted line to stdout; evaluates to `std::io::Result<()>`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::cli::output::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(format_args!($($arg)*))
    };
}

/// Write one formatted line to stderr, ignoring failure (a closed stderr
/// must not turn a result into a crash).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_err_line(format_args!($($arg)*))
    };
}

/// Write `args` and a newline to stdout.
pub fn write_line(args: std::fmt::Arguments) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")
}

/// Write `args` and a newline to stderr, ignoring errors.
pub fn write_err_line(args: std::fmt::Arguments) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.write_all(b"\n");
}

/// Write `bytes` to stdout as they are (a generated script, a man page).
pub fn write_all_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Pretty JSON of `value` as one stdout write.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_line(format_args!("{text}"))?;
    Ok(())
}

/// Whether `e` (or a cause) is a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
