//! The reference guest: arm mailboxes, wait for seq, read the payload, apply
//! it, ack, reset seq. The simulator's guest process and the agent inside a
//! real VM run this same consumer.

mod cmdline;
pub mod mailbox;
mod page;
pub mod sim;
pub mod wake;

use std::io::Write;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cmdline::{MAILBOX_PARAM, default_gateway, encode_mailbox_param, parse_mailbox_params};
pub use page::MailboxPage;

use forkmail_contract::format_ack;

pub use forkmail_contract::ack_port_of;

pub use mailbox::{Mailbox, MailboxError, write_fork_marker};
pub use wake::Waker;

/// How a simulated guest misbehaves for one mailbox (QA of failure paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "ms")]
pub enum GuestFault {
    /// Consume the payload but never ack.
    NoAck,
    /// Wait this many milliseconds before acking.
    Slow(u64),
    /// Send acks that must not count (wrong mailbox, free text).
    BadAck,
    /// Exit (status 1) as soon as the payload is read: a guest that dies.
    Crash,
}

impl std::str::FromStr for GuestFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "no-ack" => Ok(GuestFault::NoAck),
            "bad-ack" => Ok(GuestFault::BadAck),
            "crash" => Ok(GuestFault::Crash),
            _ => match s.strip_prefix("slow:") {
                Some(ms) => ms
                    .parse()
                    .map(GuestFault::Slow)
                    .map_err(|_| format!("slow:MS needs milliseconds, got {ms:?}")),
                None => Err(format!(
                    "unknown guest fault {s:?} (expected no-ack, slow:MS, bad-ack or crash)"
                )),
            },
        }
    }
}

/// One mailbox the reference guest armed, with the misbehaviour it was
/// told to show (the simulator's QA of failure paths).
pub struct ArmedMailbox {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// Injected misbehaviour, if any.
    pub fault: Option<GuestFault>,
}

impl AsRef<Mailbox> for ArmedMailbox {
    fn as_ref(&self) -> &Mailbox {
        &self.mailbox
    }
}

/// Settings of the consumer loop.
pub struct ConsumerConfig {
    /// Where acks go: 127.0.0.1 in the simulator, the default gateway in a VM.
    pub ack_host: IpAddr,
    /// Directory to write each applied payload to as `<name>.json`.
    pub apply_dir: Option<PathBuf>,
}

/// Consume each published payload as the wake-up rule finds it
/// ([`mailbox::wait`] with `waker`), until the waker is interrupted.
/// Log lines go to `log`: `forkmail-guest: mailbox=<name> payload=<json>`.
pub fn run_consumer(
    mailboxes: &[ArmedMailbox],
    cfg: &ConsumerConfig,
    log: &mut dyn Write,
    mut waker: Waker,
) -> std::io::Result<()> {
    let socket = UdpSocket::bind(match cfg.ack_host {
        IpAddr::V4(_) => "0.0.0.0:0",
        IpAddr::V6(_) => "[::]:0",
    })?;
    // Parse once before any payload: the parser's stack guard learns this
    // thread's stack bounds the first time (glibc reads /proc/self/maps for
    // them). Done here, that work is in the template and no fork repeats
    // it between its restore and its ack.
    let _ = ack_port_of(br#"{"ack_port":0}"#);
    while let Some(i) = mailbox::wait(mailboxes, &mut waker, None) {
        if let Some(mb) = mailboxes.get(i) {
            consume_one(mb, cfg, &socket, log, &mut waker)?;
        }
    }
    Ok(())
}

fn consume_one(
    armed: &ArmedMailbox,
    cfg: &ConsumerConfig,
    socket: &UdpSocket,
    log: &mut dyn Write,
    waker: &mut Waker,
) -> std::io::Result<()> {
    let mb = &armed.mailbox;
    let buf = match mb.payload() {
        Ok(buf) => buf,
        Err(e) => {
            writeln!(log, "forkmail-guest: mailbox={} error={e}", mb.name())?;
            mb.reset();
            return log.flush();
        }
    };
    let text = String::from_utf8_lossy(&buf).into_owned();
    writeln!(
        log,
        "forkmail-guest: mailbox={} payload={}",
        mb.name(),
        text
    )?;
    log.flush()?;
    if armed.fault == Some(GuestFault::Crash) {
        writeln!(
            log,
            "forkmail-guest: mailbox={} fault=crash: exiting",
            mb.name()
        )?;
        log.flush()?;
        return Err(std::io::Error::other("injected fault: the guest crashed"));
    }
    if let Some(dir) = &cfg.apply_dir {
        // The directory is made at start; made again only if it went away
        // (one system call less on the way to the ack).
        let file = dir.join(format!("{}.json", mb.name()));
        if let Err(e) = std::fs::write(&file, &buf)
            && e.kind() == std::io::ErrorKind::NotFound
        {
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(&file, &buf);
        }
    }
    // Any object that fits the frame, however deep (the host's own parser).
    let ack_port = ack_port_of(&buf);
    // Reset seq before acking: once the host hears the ack, the frame is free.
    mb.reset();
    if let Some(port) = ack_port {
        let to = SocketAddr::new(cfg.ack_host, port);
        match armed.fault {
            Some(GuestFault::NoAck) => {
                writeln!(
                    log,
                    "forkmail-guest: mailbox={} fault=no-ack (not acking)",
                    mb.name()
                )?;
            }
            Some(GuestFault::BadAck) => {
                for bad in [
                    format!("stage=applied mailbox={}x", mb.name()),
                    format!("hello stage=applied mailbox={}", mb.name()),
                    format!("stage=received mailbox={}", mb.name()),
                ] {
                    socket.send_to(bad.as_bytes(), to)?;
                }
                writeln!(
                    log,
                    "forkmail-guest: mailbox={} fault=bad-ack sent to {to}",
                    mb.name()
                )?;
            }
            Some(GuestFault::Slow(ms)) => {
                writeln!(
                    log,
                    "forkmail-guest: mailbox={} fault=slow waiting {ms} ms",
                    mb.name()
                )?;
                log.flush()?;
                // A stop meanwhile ends the wait (and the guest) at once.
                if waker.pause(Duration::from_millis(ms)) {
                    return Ok(());
                }
                socket.send_to(format_ack(mb.name()).as_bytes(), to)?;
                writeln!(
                    log,
                    "forkmail-guest: mailbox={} ack sent to {to}",
                    mb.name()
                )?;
            }
            // Handled before the ack: the guest is gone by now.
            Some(GuestFault::Crash) | None => {
                socket.send_to(format_ack(mb.name()).as_bytes(), to)?;
                writeln!(
                    log,
                    "forkmail-guest: mailbox={} ack sent to {to}",
                    mb.name()
                )?;
            }
        }
        log.flush()?;
    }
    Ok(())
}
