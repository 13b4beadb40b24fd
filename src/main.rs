//! The `forkmail` binary: TUI by default, plus subcommands.

use clap::Parser;

use forkmail::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let _log = forkmail::cli::init_logging();
    let code = match &cli.command {
        None => run_tui(&cli, false),
        Some(Command::Demo { no_tui: false }) => run_tui(&cli, true),
        Some(cmd) => forkmail::cli::run(&cli, cmd),
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("forkmail: error: {}", forkmail::cli::error_chain(&e));
            std::process::exit(1);
        }
    }
}

fn run_tui(cli: &Cli, demo: bool) -> anyhow::Result<i32> {
    let store = if demo {
        forkmail::cli::ensure_demo_store(cli.store.as_deref(), &mut std::io::stdout())?
    } else {
        forkmail::cli::open_store(cli.store.as_deref())?
    };
    forkmail::tui::run(store)
}
