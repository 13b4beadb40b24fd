//! The command-line interface: clap commands, tables and `--json` output.
//! Engine logic lives in the library; this only parses, calls and prints.

mod args;
mod catalog;
mod check_cmd;
mod event_line;
pub mod exit;
mod fanout_cmd;
mod fanout_progress;
mod fork_args;
mod fork_cmd;
mod import_cmd;
mod list;
pub mod output;
mod progress;
mod qemu_cmd;
mod signals;
mod snapshot_rows;
mod template_cmd;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use args::*;

use crate::error::ErrorKind;
use crate::sanitize::escaped;
use crate::source::SourceSet;
use crate::store::Store;
use crate::{errln, outln};
use exit::kind_of;

/// Where the log file goes: `$XDG_STATE_HOME/forkmail/forkmail.log`.
pub fn log_path() -> Option<PathBuf> {
    crate::env::state_dir()
        .ok()
        .map(|d| d.join("forkmail").join("forkmail.log"))
}

/// Open the store named by `--store`, `$FORKMAIL_STORE`, the config
/// file's `store`, or the XDG default.
pub fn open_store(explicit: Option<&Path>) -> Result<Store> {
    let root = crate::env::store_root(explicit, crate::config::current().store.as_deref())?;
    Store::open(&root).with_context(|| format!("open store {}", root.display()))
}

/// The run's read-only sources: `--source`, the config file's `sources`,
/// `$FORKMAIL_SOURCES`, and `/var/lib/hypeman` when it is readable.
pub fn open_sources(explicit: &[PathBuf]) -> SourceSet {
    SourceSet::open(&crate::env::source_paths(
        &crate::config::current().sources(explicit),
    ))
}

/// Open (creating it if missing) the demo store, saying what was made.
pub fn open_demo_store(explicit: Option<&Path>) -> Result<Store> {
    let mut failed = None;
    let root = crate::env::demo_store_root(explicit)?;
    let store = crate::template::demo::ensure_demo_store(&root, &mut |snap, about| {
        if let Err(e) = outln!(
            "created {:<11} {:>9} ({} on disk)  {about}",
            snap.name,
            crate::units::human_size(snap.memory_size),
            crate::units::human_size(snap.allocated)
        ) {
            failed.get_or_insert(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(store)
}

/// Run a non-TUI subcommand. Returns the process exit code.
pub fn run(cli: &Cli, command: &Command) -> Result<i32> {
    let store = || open_store(cli.store.as_deref());
    let sources = || open_sources(&cli.sources);
    match command {
        Command::Snapshots { json } => catalog::snapshots(&store()?, &sources(), *json),
        Command::Markers { target, json } => {
            // Markers of a file outside the store work without one.
            let store = store().ok();
            catalog::markers(store.as_ref(), &sources(), target, *json)
        }
        Command::Import(a) => import_cmd::import(&store()?, &sources(), a),
        Command::Template {
            action: TemplateAction::Create(a),
        } => template_cmd::template_create(&store()?, a),
        Command::Fork(a) => fork_cmd::fork(&store()?, &sources(), a),
        Command::Check(a) => check_cmd::check(&store()?, a),
        Command::Forks { json } => list::forks(&store()?, *json),
        Command::Stop { fork } => list::stop(&store()?, fork),
        Command::Rm { fork } => list::rm(&store()?, fork),
        Command::Gc { json } => list::gc(&store()?, *json),
        Command::Demo { .. } => {
            let s = open_demo_store(cli.store.as_deref())?;
            outln!("demo store ready: {}", s.root().display())?;
            Ok(0)
        }
        Command::Image {
            action: ImageAction::Build(a),
        } => qemu_cmd::image_build(&store()?, a),
        Command::Doctor { json } => qemu_cmd::doctor(&store()?, *json),
        Command::Paths { json } => list::paths(cli.store.as_deref(), *json),
        Command::Config(a) => config_cmd(a),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "forkmail", &mut out);
            output::write_all_stdout(&out)?;
            Ok(0)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            output::write_all_stdout(&out)?;
            Ok(0)
        }
        Command::SimGuest(a) => {
            crate::vmm::sim::run_guest(&crate::vmm::sim::GuestArgs {
                memory: a.memory.clone(),
                state: a.state.clone(),
                log: a.log.clone(),
                private: a.private,
            })?;
            Ok(0)
        }
    }
}

fn config_cmd(a: &ConfigArgs) -> Result<i32> {
    if a.print_default {
        let text = format!(
            "{}{}",
            crate::config::default_text(),
            crate::tui::settings::default_sections()
        );
        output::write_all_stdout(text.as_bytes())?;
        return Ok(0);
    }
    match crate::config::config_path() {
        Some(p) if p.exists() => {
            let config = crate::config::Config::load_from(&p)?;
            crate::tui::settings::check(&config)?;
            outln!("{} (valid)", p.display())?;
        }
        Some(p) => outln!(
            "{} (not there: defaults apply; `forkmail config --print-default` writes one)",
            p.display()
        )?,
        None => outln!("no config directory ($XDG_CONFIG_HOME and $HOME are unset)")?,
    }
    Ok(0)
}

/// Report a command's failure on stderr and give its exit code: from the
/// error's kind (README: "Exit status"), 1 when it has none. A closed
/// stdout is not a failure.
pub fn report_error(e: &anyhow::Error) -> i32 {
    if output::is_broken_pipe(e) {
        return 0;
    }
    errln!("forkmail: error: {}", escaped(&error_chain(e)));
    kind_of(e.as_ref()).map_or(1, ErrorKind::exit_code)
}

/// An error on one line: the contexts added on the way up, then the first
/// of forkmail's typed errors, whose message already includes its causes
/// (what, where and why); other errors' causes are appended.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in e.chain() {
        parts.push(cause.to_string());
        if exit::known_kind(cause).is_some() {
            break;
        }
    }
    parts.join(": ")
}

/// Initialise file logging. Returns a guard that flushes on drop.
pub fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let path = log_path()?;
    let dir = path.parent()?;
    crate::store::private_dir(dir).ok()?;
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
