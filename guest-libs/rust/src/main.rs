//! A fork-aware guest on the Rust guest library (`forkmail_guest::mailbox`).
//! It arms one mailbox per `forkmail.mailbox=NAME:TOKEN` on the kernel
//! command line, waits with the wake-up rule, prints each payload on the
//! console as
//!
//! ```text
//! forkmail-guest: mailbox=NAME payload=JSON
//! ```
//!
//! (the line `forkmail check` compares byte for byte with what it wrote),
//! resets seq and acks.
//!
//! `example.fault=no-ack|ack-twice|bad-ack` on the kernel command line
//! breaks one rule on purpose: `../run-check.sh` shows `forkmail check`
//! catching it. Build: `./build-example.sh OUT` (one static binary).

use std::io::Write;
use std::net::UdpSocket;

use forkmail_guest::mailbox::{Mailbox, gateway, wait};
use forkmail_guest::parse_mailbox_params;
use forkmail_guest::wake::Waker;

fn main() {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let fault = cmdline
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("example.fault="))
        .unwrap_or("")
        .to_string();
    let params = match parse_mailbox_params(&cmdline) {
        Ok(p) if !p.is_empty() => p,
        Ok(_) => return say("no forkmail.mailbox=NAME:TOKEN on the kernel command line"),
        Err(e) => return say(&format!("kernel command line: {e}")),
    };
    let mut boxes = Vec::new();
    for (name, token) in &params {
        match Mailbox::arm(name, token) {
            Ok(mb) => boxes.push(mb),
            Err(e) => return say(&format!("{e}")),
        }
    }
    let mut waker = Waker::new().listen_for_vmgenid();
    let names: Vec<&str> = boxes.iter().map(Mailbox::name).collect();
    say(&format!("armed {}", names.join(",")));
    while let Some(i) = wait(&boxes, &mut waker, None) {
        let mb = &boxes[i];
        match mb.payload() {
            Ok(payload) => {
                println!(
                    "forkmail-guest: mailbox={} payload={}",
                    mb.name(),
                    String::from_utf8_lossy(&payload)
                );
                mb.reset();
                ack(mb, &payload, &fault);
            }
            Err(e) => {
                say(&format!("{e}"));
                mb.reset();
            }
        }
        let _ = std::io::stdout().flush();
    }
}

/// Ack as the contract says — or break it the way `fault` asks.
fn ack(mb: &Mailbox, payload: &[u8], fault: &str) {
    match fault {
        "no-ack" => say(&format!("mailbox={} fault=no-ack: not acking", mb.name())),
        "bad-ack" => {
            // The right host and port, the wrong text.
            let Some(port) = forkmail_guest::ack_port_of(payload) else {
                return;
            };
            let line = format!("stage=received mailbox={}\n", mb.name());
            let sent = UdpSocket::bind("0.0.0.0:0")
                .and_then(|s| s.send_to(line.as_bytes(), (gateway(), port)));
            say(&format!(
                "mailbox={} fault=bad-ack: sent stage=received ({sent:?})",
                mb.name()
            ));
        }
        _ => {
            let times = if fault == "ack-twice" { 2 } else { 1 };
            for _ in 0..times {
                match mb.ack(payload) {
                    Ok(Some(to)) => say(&format!("mailbox={} ack sent to {to}", mb.name())),
                    Ok(None) => {} // no ack_port: no ack asked for
                    Err(e) => say(&format!("{e}")),
                }
            }
        }
    }
}

fn say(what: &str) {
    println!("example-rust: {what}");
    let _ = std::io::stdout().flush();
}
