//! The `forkmail` binary: TUI by default, plus subcommands (and, hidden, the
//! simulated guest the sim VMM starts: the same binary, so nothing else has
//! to be built or installed).

use clap::Parser;

use forkmail::cli::{Cli, Command};

fn main() {
    forkmail::vmm::sim::this_program_hosts_the_guest();
    // Everything forkmail creates is the user's own: a store, a fork's
    // memory copy, a guest log holding payloads, QEMU's sockets.
    rustix::process::umask(rustix::fs::Mode::RWXG | rustix::fs::Mode::RWXO);
    let cli = Cli::parse();
    forkmail::env::configure_engine();
    #[cfg(feature = "test-hooks")]
    install_test_hooks();
    // The simulated guest writes its own log; it must not share the CLI's.
    let _log = match &cli.command {
        Some(Command::SimGuest(_)) => None,
        _ => forkmail::cli::init_logging(),
    };
    let code = run(&cli);
    std::process::exit(code.unwrap_or_else(|e| forkmail::cli::report_error(&e)));
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    // Commands about the config file itself, and those that need none, run
    // even when it is broken.
    if let Some(
        cmd @ (Command::Config(_)
        | Command::Completions { .. }
        | Command::Man
        | Command::SimGuest(_)),
    ) = &cli.command
    {
        return forkmail::cli::run(cli, cmd);
    }
    let config = forkmail::config::Config::load()?;
    forkmail::tui::settings::check(&config)?;
    forkmail::config::install(config);
    match &cli.command {
        None => run_tui(cli, false),
        Some(Command::Demo { no_tui: false }) => run_tui(cli, true),
        Some(cmd) => forkmail::cli::run(cli, cmd),
    }
}

fn run_tui(cli: &Cli, demo: bool) -> anyhow::Result<i32> {
    let store = if demo {
        forkmail::cli::open_demo_store(cli.store.as_deref())?
    } else {
        forkmail::cli::open_store(cli.store.as_deref())?
    };
    let config = forkmail::config::current();
    let options = forkmail::tui::app::Options {
        keymap: forkmail::tui::settings::keymap(config)?,
        ack_timeout_ms: config.ack_timeout_ms().unwrap_or(0),
        select: demo.then(|| forkmail::template::demo::DEMO_FIRST.to_string()),
        osc52: true,
    };
    forkmail::tui::run(
        store,
        forkmail::tui::settings::theme(config),
        options,
        forkmail::cli::open_sources(&cli.sources),
    )
}

/// Crash tests only (the `test-hooks` feature, which release builds never
/// have): `FORKMAIL_HOLD_AT=<stage>` holds every session at that stage.
#[cfg(feature = "test-hooks")]
fn install_test_hooks() {
    if let Some(stage) = std::env::var("FORKMAIL_HOLD_AT")
        .ok()
        .and_then(|v| serde_json::from_value(serde_json::Value::String(v)).ok())
    {
        forkmail::test_hooks::set_hold_at(stage);
    }
}
