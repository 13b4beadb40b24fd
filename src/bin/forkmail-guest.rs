//! forkmail-guest: the reference guest agent of the fork-mailbox contract.
//!
//! `forkmail-guest sim ...` plays a restored guest for the built-in simulator:
//! it maps the mailboxes the template armed in the fork's memory file and
//! runs the same consumer a real guest runs.
//!
//! `forkmail-guest vm` is the agent inside a real VM (started by the image's
//! `/init`): it arms the mailboxes named on the kernel command line
//! (`forkmail.mailbox=NAME:TOKEN`), prints `forkmail-guest: armed ...` on the
//! console, then consumes payloads: console, `/run/forkmail/<name>.json`, ack
//! to the default gateway.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use forkmail::guest::{
    ArmedMailbox, ConsumerConfig, MailboxPage, arm_fork_mailbox, default_gateway,
    parse_mailbox_params, run_consumer,
};
use forkmail::mailbox::{MailboxKind, runtime_magic};
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
    /// Run as the agent inside a real VM: arm the mailboxes named on the
    /// kernel command line and consume payloads.
    Vm {
        /// Where the mailboxes are named.
        #[arg(long, default_value = "/proc/cmdline")]
        cmdline: PathBuf,
        /// Directory for applied payloads (`<name>.json`).
        #[arg(long, default_value = "/run/forkmail")]
        apply_dir: PathBuf,
        /// Ack host (default: the default gateway, else 10.0.2.2).
        #[arg(long)]
        ack_host: Option<IpAddr>,
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
        Mode::Vm {
            cmdline,
            apply_dir,
            ack_host,
        } => vm(cmdline, apply_dir, ack_host),
    }
}

fn vm(cmdline: PathBuf, apply_dir: PathBuf, ack_host: Option<IpAddr>) -> Result<()> {
    let text =
        std::fs::read_to_string(&cmdline).with_context(|| format!("read {}", cmdline.display()))?;
    let wanted = parse_mailbox_params(&text).map_err(anyhow::Error::msg)?;
    if wanted.is_empty() {
        bail!(
            "no forkmail.mailbox=NAME:TOKEN parameter in {}",
            cmdline.display()
        );
    }
    let mut armed = Vec::new();
    for (name, token) in &wanted {
        let page = MailboxPage::allocate_locked()
            .with_context(|| format!("allocate and lock the page of mailbox {name}"))?;
        arm_fork_mailbox(&page, name, token);
        armed.push(ArmedMailbox {
            kind: MailboxKind::Fork,
            name: name.clone(),
            page,
            fault: None,
        });
    }
    let ack_host = ack_host.unwrap_or_else(|| {
        let route = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        IpAddr::V4(default_gateway(&route).unwrap_or(Ipv4Addr::new(10, 0, 2, 2)))
    });
    std::fs::create_dir_all(&apply_dir)
        .with_context(|| format!("create {}", apply_dir.display()))?;
    let names: Vec<&str> = armed.iter().map(|m| m.name.as_str()).collect();
    let mut out = std::io::stdout();
    writeln!(
        out,
        "forkmail-guest: armed mailboxes={} pages={} ack_host={ack_host}",
        names.join(","),
        armed
            .iter()
            .map(|m| format!("{:#x}", m.page.address()))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    out.flush()?;
    let stop = Arc::new(AtomicBool::new(false));
    let cfg = ConsumerConfig {
        ack_host,
        poll_interval: Duration::from_micros(500),
        apply_dir: Some(apply_dir),
    };
    run_consumer(&armed, &cfg, &mut out, &stop)?;
    Ok(())
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
        // Compared against a marker built at run time, not decoded with the
        // contract's constants: this binary also runs inside real VMs, and the
        // plain magic strings in it would show up as stray markers in the
        // guest's memory.
        let mut want = runtime_magic(MailboxKind::Fork);
        want.extend_from_slice(mb.name.as_bytes());
        want.push(0);
        want.extend_from_slice(mb.token.as_bytes());
        let exact = head.starts_with(&want) && head.get(want.len()).is_none_or(|b| *b == 0);
        if !exact {
            bail!(
                "mailbox {} at {:#x}: marker is not there",
                mb.name,
                mb.offset
            );
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
