//! forkmail-guest: the reference guest agent of the fork-mailbox contract.
//!
//! `forkmail-guest sim ...` plays a restored guest for the built-in simulator:
//! it maps the mailboxes the template armed in the fork's memory file and
//! runs the same consumer a real guest runs.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use forkmail::guest::{ArmedMailbox, ConsumerConfig, MailboxPage, run_consumer};
use forkmail::mailbox::{MailboxKind, decode_marker};
use forkmail::vmm::sim::read_state;

#[derive(Parser)]
#[command(
    name = "forkmail-guest",
    version,
    about = "Reference guest agent for fork mailboxes"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Act as the restored guest of a simulated fork.
    Sim {
        /// The fork's memory file.
        #[arg(long)]
        memory: PathBuf,
        /// The sim state file listing what the guest armed.
        #[arg(long)]
        state: PathBuf,
        /// Guest log to append to.
        #[arg(long)]
        log: PathBuf,
    },
}

fn main() {
    if let Err(e) = run() {
        eprintln!("forkmail-guest: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    match Cli::parse().mode {
        Mode::Sim { memory, state, log } => sim(memory, state, log),
    }
}

fn sim(memory: PathBuf, state: PathBuf, log_path: PathBuf) -> Result<()> {
    let state = read_state(&state)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&memory)
        .with_context(|| format!("open memory file {}", memory.display()))?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("open guest log {}", log_path.display()))?;
    let mut armed = Vec::new();
    for mb in &state.mailboxes {
        let page = MailboxPage::map_file(&file, mb.offset)
            .with_context(|| format!("map mailbox {} at {:#x}", mb.name, mb.offset))?;
        // A real guest knows its own buffer; the simulated one checks that
        // the marker it armed is still where it left it.
        let mut head = vec![0u8; 256];
        page.read(0, &mut head);
        match decode_marker(&head) {
            Some(m) if m.name.as_deref() == Some(mb.name.as_str()) && m.token == mb.token => {}
            _ => bail!(
                "mailbox {} at {:#x}: marker is not there",
                mb.name,
                mb.offset
            ),
        }
        armed.push(ArmedMailbox {
            kind: MailboxKind::Fork,
            name: mb.name.clone(),
            page,
            fault: mb.fault,
        });
    }
    let names: Vec<&str> = armed.iter().map(|m| m.name.as_str()).collect();
    writeln!(
        log,
        "forkmail-guest: resumed pid={} mailboxes={}",
        std::process::id(),
        names.join(",")
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("install signal handler")?;
    }
    println!("ready");
    std::io::stdout().flush()?;
    let cfg = ConsumerConfig {
        ack_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        poll_interval: Duration::from_micros(500),
        apply_dir: None,
    };
    run_consumer(&armed, &cfg, &mut log, &stop)?;
    writeln!(log, "forkmail-guest: stopped")?;
    Ok(())
}
