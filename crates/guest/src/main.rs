//! forkmail-guest: the reference guest agent of the fork-mailbox contract.
//!
//! `forkmail-guest sim ...` plays a restored guest for the built-in simulator
//! (the same code `forkmail sim-guest` runs): it maps the mailboxes the
//! template armed in the fork's memory file and runs the same consumer a
//! real guest runs.
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

use forkmail_contract::MailboxKind;
use forkmail_guest::sim::{GuestArgs, run_guest};
use forkmail_guest::{
    ArmedMailbox, ConsumerConfig, MailboxPage, arm_fork_mailbox, default_gateway,
    parse_mailbox_params, run_consumer,
};

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
    #[command(alias = "sim-guest")]
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
        /// Map the memory privately (zero-copy fork).
        #[arg(long)]
        private: bool,
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
        Mode::Sim {
            memory,
            state,
            log,
            private,
        } => run_guest(&GuestArgs {
            memory,
            state,
            log,
            private,
        }),
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
    warm_up_route(ack_host);
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

/// Resolve the ack host's link-layer address before the snapshot is taken:
/// one empty datagram to its discard port. A fork's first ack then goes out
/// at once instead of waiting for an ARP round trip through the VMM.
fn warm_up_route(host: IpAddr) {
    let bind = match host {
        IpAddr::V4(_) => "0.0.0.0:0",
        IpAddr::V6(_) => "[::]:0",
    };
    if let Ok(s) = std::net::UdpSocket::bind(bind) {
        let _ = s.send_to(&[], (host, 9));
    }
    // Until the neighbour table has it (flags 0x2: complete), 500 ms at most.
    let want = host.to_string();
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    while std::time::Instant::now() < deadline {
        let arp = std::fs::read_to_string("/proc/net/arp").unwrap_or_default();
        let resolved = arp.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&want.as_str()) && f.get(2) == Some(&"0x2")
        });
        if resolved {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
