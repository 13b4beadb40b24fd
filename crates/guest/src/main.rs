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

use std::ffi::OsString;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use forkmail_guest::mailbox::gateway;
use forkmail_guest::sim::{GuestArgs, run_guest};
use forkmail_guest::{
    ArmedMailbox, ConsumerConfig, Mailbox, Waker, parse_mailbox_params, run_consumer,
};

const USAGE: &str = "\
forkmail-guest: the reference guest agent for fork mailboxes

usage:
  forkmail-guest vm [--cmdline FILE] [--apply-dir DIR] [--ack-host IP]
      the agent inside a real VM: arm the mailboxes named on the kernel
      command line (forkmail.mailbox=NAME:TOKEN) and consume payloads
      (defaults: /proc/cmdline, /run/forkmail, the default gateway)
  forkmail-guest sim --memory FILE --state FILE --log FILE [--private]
      the restored guest of a simulated fork (alias: sim-guest)
  forkmail-guest --version | --help
";

/// What the command line asks for.
enum Mode {
    Sim(GuestArgs),
    Vm {
        cmdline: PathBuf,
        apply_dir: PathBuf,
        ack_host: Option<IpAddr>,
    },
    Help,
    Version,
}

/// Parse the arguments after the program name. Hand-written: the agent goes
/// into VM images, and a command-line library would be most of its size.
fn parse(mut args: impl Iterator<Item = OsString>) -> Result<Mode> {
    let mode = args.next().unwrap_or_default();
    let mut flags: Vec<(String, Option<OsString>)> = Vec::new();
    while let Some(a) = args.next() {
        let a = a
            .into_string()
            .map_err(|a| anyhow::anyhow!("argument {a:?} is not UTF-8"))?;
        let Some(flag) = a.strip_prefix("--") else {
            bail!("unexpected argument {a:?}\n\n{USAGE}");
        };
        let value = match flag {
            "private" | "help" | "version" => None,
            _ => Some(
                args.next()
                    .with_context(|| format!("--{flag} needs a value"))?,
            ),
        };
        flags.push((flag.to_string(), value));
    }
    let take = |flags: &mut Vec<(String, Option<OsString>)>, name: &str| {
        flags
            .iter()
            .position(|(f, _)| f == name)
            .map(|i| flags.remove(i).1)
    };
    if mode == "--help" || mode == "-h" || take(&mut flags, "help").is_some() {
        return Ok(Mode::Help);
    }
    if mode == "--version" || mode == "-V" {
        return Ok(Mode::Version);
    }
    let parsed = match mode.to_str() {
        Some("sim" | "sim-guest") => {
            let mut need = |name: &str| -> Result<PathBuf> {
                take(&mut flags, name)
                    .flatten()
                    .map(PathBuf::from)
                    .with_context(|| format!("sim needs --{name}\n\n{USAGE}"))
            };
            let (memory, state, log) = (need("memory")?, need("state")?, need("log")?);
            let private = take(&mut flags, "private").is_some();
            Mode::Sim(GuestArgs {
                memory,
                state,
                log,
                private,
            })
        }
        Some("vm") => {
            let path = |flags: &mut Vec<_>, name: &str, default: &str| {
                take(flags, name)
                    .flatten()
                    .map_or_else(|| PathBuf::from(default), PathBuf::from)
            };
            let cmdline = path(&mut flags, "cmdline", "/proc/cmdline");
            let apply_dir = path(&mut flags, "apply-dir", "/run/forkmail");
            let ack_host = match take(&mut flags, "ack-host").flatten() {
                Some(v) => Some(
                    v.to_string_lossy()
                        .parse()
                        .with_context(|| format!("--ack-host {v:?} is not an IP address"))?,
                ),
                None => None,
            };
            Mode::Vm {
                cmdline,
                apply_dir,
                ack_host,
            }
        }
        _ => bail!("unknown mode {mode:?}\n\n{USAGE}"),
    };
    if let Some((flag, _)) = flags.first() {
        bail!(
            "unknown flag --{flag} for {}\n\n{USAGE}",
            mode.to_string_lossy()
        );
    }
    Ok(parsed)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("forkmail-guest: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    match parse(std::env::args_os().skip(1))? {
        Mode::Sim(args) => run_guest(&args),
        Mode::Vm {
            cmdline,
            apply_dir,
            ack_host,
        } => vm(cmdline, apply_dir, ack_host),
        Mode::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Mode::Version => {
            println!("forkmail-guest {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
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
        armed.push(ArmedMailbox {
            mailbox: Mailbox::arm(name, token)?,
            fault: None,
        });
    }
    // The fast phase of the wake-up rule starts now: the template is
    // snapshotted moments from here, and every fork resumes at this point.
    let waker = Waker::new().listen_for_vmgenid();
    let ack_host = ack_host.unwrap_or_else(gateway);
    std::fs::create_dir_all(&apply_dir)
        .with_context(|| format!("create {}", apply_dir.display()))?;
    warm_up_route(ack_host);
    let names: Vec<&str> = armed.iter().map(|m| m.mailbox.name()).collect();
    let mut out = std::io::stdout();
    writeln!(
        out,
        "forkmail-guest: armed mailboxes={} pages={} ack_host={ack_host}",
        names.join(","),
        armed
            .iter()
            .map(|m| format!("{:#x}", m.mailbox.address()))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    out.flush()?;
    let cfg = ConsumerConfig {
        ack_host,
        apply_dir: Some(apply_dir),
    };
    run_consumer(&armed, &cfg, &mut out, waker)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> impl Iterator<Item = OsString> {
        v.iter().map(OsString::from).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn both_modes_parse_with_their_defaults() {
        let Ok(Mode::Vm {
            cmdline,
            apply_dir,
            ack_host,
        }) = parse(args(&["vm"]))
        else {
            panic!("vm parses");
        };
        assert_eq!(cmdline, PathBuf::from("/proc/cmdline"));
        assert_eq!(apply_dir, PathBuf::from("/run/forkmail"));
        assert_eq!(ack_host, None);
        let Ok(Mode::Vm { ack_host, .. }) = parse(args(&["vm", "--ack-host", "10.0.2.2"])) else {
            panic!("vm --ack-host parses");
        };
        assert_eq!(ack_host, Some("10.0.2.2".parse().unwrap()));
        let m = parse(args(&[
            "sim-guest",
            "--memory",
            "m",
            "--state",
            "s",
            "--log",
            "l",
            "--private",
        ]));
        let Ok(Mode::Sim(a)) = m else {
            panic!("sim parses");
        };
        assert!(
            a.private
                && a.memory == std::path::Path::new("m")
                && a.log == std::path::Path::new("l")
        );
    }

    #[test]
    fn mistakes_are_refused() {
        assert!(parse(args(&["vm", "--nope", "x"])).is_err());
        assert!(parse(args(&["sim", "--memory", "m"])).is_err());
        assert!(parse(args(&["vm", "--ack-host", "not-an-ip"])).is_err());
        assert!(parse(args(&["dance"])).is_err());
        assert!(parse(args(&["vm", "--cmdline"])).is_err());
    }
}
