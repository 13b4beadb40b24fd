//! The simulated guest process: what `forkmail sim-guest` (hidden) and
//! `forkmail-guest sim` run. It plays a restored guest over a fork's memory
//! file with the same consumer a real guest runs.
//!
//! Protocol with the driver: the process maps every mailbox the template
//! armed (shared for a copy fork; privately, copy-on-write, for a zero-copy
//! fork), checks each marker is where the state file says, prints `ready` on
//! stdout and waits — paused — for a `run` line on stdin. Anything else (or
//! end of input: the engine rolled back) ends it before a payload is read.

use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

mod state;

use crate::{ArmedMailbox, ConsumerConfig, Mailbox, MailboxPage, Waker, run_consumer};
use forkmail_contract::{MailboxKind, runtime_magic};
pub use state::{SimMailbox, SimResumeNetwork, SimState, StateError, read_state};

/// The subcommand both binaries run the simulated guest under.
pub const GUEST_SUBCOMMAND: &str = "sim-guest";
/// The line the guest prints once it is mapped and paused.
pub const READY_LINE: &str = "ready";
/// The line that resumes it.
pub const RUN_LINE: &str = "run";

/// Where the simulated guest runs.
#[derive(Debug, Clone)]
pub struct GuestArgs {
    /// The memory file (the fork's copy, or the template's for zero-copy).
    pub memory: PathBuf,
    /// The sim state file listing what the guest armed.
    pub state: PathBuf,
    /// Guest log to append to.
    pub log: PathBuf,
    /// Map the memory privately (zero-copy fork): the file is never written.
    pub private: bool,
}

/// Run the simulated guest until SIGTERM/SIGINT (or until told not to run).
pub fn run_guest(args: &GuestArgs) -> Result<()> {
    let state = read_state(&args.state)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(!args.private)
        .open(&args.memory)
        .with_context(|| format!("open memory file {}", args.memory.display()))?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .with_context(|| format!("open guest log {}", args.log.display()))?;
    let mut armed = Vec::new();
    for mb in &state.mailboxes {
        let page = if args.private {
            MailboxPage::map_file_private(&file, mb.offset)
        } else {
            MailboxPage::map_file(&file, mb.offset)
        }
        .with_context(|| format!("map mailbox {} at {:#x}", mb.name, mb.offset))?;
        check_marker(&page, &mb.name, &mb.token, mb.offset)?;
        armed.push(ArmedMailbox {
            mailbox: Mailbox::on_page(MailboxKind::Fork, &mb.name, page),
            fault: mb.fault,
        });
    }
    // SIGTERM/SIGINT write to a self-pipe the waker listens to: the guest
    // stops at once, even in the slow phase of the wake-up rule.
    let (interrupt, on_signal) = UnixStream::pair().context("make the signal pipe")?;
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let writer = on_signal.try_clone().context("make the signal pipe")?;
        signal_hook::low_level::pipe::register(sig, writer).context("install signal handler")?;
    }
    let mut out = std::io::stdout();
    writeln!(out, "{READY_LINE}")?;
    out.flush()?;
    if !wait_for_run(&mut std::io::stdin().lock()) {
        return Ok(());
    }
    let names: Vec<&str> = armed.iter().map(|m| m.mailbox.name()).collect();
    writeln!(
        log,
        "forkmail-guest: resumed pid={} mailboxes={}",
        std::process::id(),
        names.join(",")
    )?;
    let cfg = ConsumerConfig {
        ack_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        apply_dir: None,
    };
    // The `run` line is the resume: the waker starts in its fast phase.
    let waker = Waker::new().interrupted_by(interrupt.as_raw_fd());
    run_consumer(&armed, &cfg, &mut log, waker)?;
    writeln!(log, "forkmail-guest: stopped")?;
    Ok(())
}

/// Paused until the driver says `run`; false when it said anything else or
/// went away.
fn wait_for_run(input: &mut dyn BufRead) -> bool {
    let mut line = String::new();
    matches!(input.read_line(&mut line), Ok(n) if n > 0) && line.trim() == RUN_LINE
}

/// A real guest knows its own buffer; the simulated one checks that the
/// marker it armed is still where it left it. The marker is built at run
/// time rather than decoded with the contract's constants: this code also
/// runs inside real VMs, where plain magic strings in the binary would show
/// up as stray markers in the guest's memory.
fn check_marker(page: &MailboxPage, name: &str, token: &str, offset: u64) -> Result<()> {
    let mut head = vec![0u8; 256];
    page.read(0, &mut head);
    let mut want = runtime_magic(MailboxKind::Fork);
    want.extend_from_slice(name.as_bytes());
    want.push(0);
    want.extend_from_slice(token.as_bytes());
    let exact = head.starts_with(&want) && head.get(want.len()).is_none_or(|b| *b == 0);
    if !exact {
        bail!("mailbox {name} at {offset:#x}: marker is not there");
    }
    Ok(())
}

/// The guest's command-line arguments after the subcommand.
pub fn guest_argv(args: &GuestArgs) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = vec![
        GUEST_SUBCOMMAND.into(),
        "--memory".into(),
        args.memory.clone().into(),
        "--state".into(),
        args.state.clone().into(),
        "--log".into(),
        args.log.clone().into(),
    ];
    if args.private {
        v.push("--private".into());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_run_line_resumes() {
        assert!(wait_for_run(&mut "run\n".as_bytes()));
        assert!(!wait_for_run(&mut "".as_bytes()));
        assert!(!wait_for_run(&mut "abort\n".as_bytes()));
    }
}
