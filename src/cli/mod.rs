//! The command-line interface: clap commands, tables and `--json` output.
//! Engine logic lives in the library; this only parses, calls and prints.

mod args;
mod demo;
mod fork_cmd;
mod list;
mod qemu_cmd;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use args::*;
pub use demo::{demo_store_root, ensure_demo_store};
pub use list::{fork_status, remove_fork, stop_fork};

use crate::store::Store;

/// Where the log file goes: `$XDG_STATE_HOME/forkmail/forkmail.log`.
pub fn log_path() -> Option<PathBuf> {
    crate::store::state_dir()
        .ok()
        .map(|d| d.join("forkmail").join("forkmail.log"))
}

/// Open the store named by `--store`, `$FORKMAIL_STORE` or the XDG default.
pub fn open_store(explicit: Option<&Path>) -> Result<Store> {
    let root = Store::resolve_root(explicit)?;
    Store::open(&root).with_context(|| format!("open store {}", root.display()))
}

/// Run a non-TUI subcommand. Returns the process exit code.
pub fn run(cli: &Cli, command: &Command) -> Result<i32> {
    match command {
        Command::Snapshots { json } => list::snapshots(&open_store(cli.store.as_deref())?, *json),
        Command::Markers { target, json } => list::markers(cli.store.as_deref(), target, *json),
        Command::Template {
            action: TemplateAction::Create(a),
        } => list::template_create(&open_store(cli.store.as_deref())?, a),
        Command::Fork(a) => fork_cmd::fork(&open_store(cli.store.as_deref())?, a),
        Command::Forks { json } => list::forks(&open_store(cli.store.as_deref())?, *json),
        Command::Stop { fork } => list::stop(&open_store(cli.store.as_deref())?, fork),
        Command::Rm { fork } => list::rm(&open_store(cli.store.as_deref())?, fork),
        Command::Demo { .. } => {
            let store = ensure_demo_store(cli.store.as_deref(), &mut std::io::stdout())?;
            println!("demo store ready: {}", store.root().display());
            Ok(0)
        }
        Command::Image {
            action: ImageAction::Build(a),
        } => qemu_cmd::image_build(&open_store(cli.store.as_deref())?, a),
        Command::Doctor { json } => qemu_cmd::doctor(&open_store(cli.store.as_deref())?, *json),
        Command::Paths { json } => list::paths(cli.store.as_deref(), *json),
    }
}

/// An error and its causes on one line, each cause once: many of the
/// library's messages already include their cause.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

/// Initialise file logging. Returns a guard that flushes on drop.
pub fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let path = log_path()?;
    let dir = path.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    let appender = tracing_appender::rolling::never(dir, "forkmail.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("FORKMAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}
