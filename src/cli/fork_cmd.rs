//! `forkmail fork`: build a request from flags, run the session, render its
//! events as lines (or JSON lines), roll back on Ctrl-C.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};

use crate::fork::{ForkRequest, MailboxSpec, SessionEvent, Stage, Status, run_session};
use crate::store::Store;
use crate::units::human_size;

use super::ForkArgs;

/// Split `NAME=VALUE` (the first `=`).
fn split_kv<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str)> {
    text.split_once('=')
        .with_context(|| format!("{flag} {text:?}: expected NAME=VALUE"))
}

/// Build the mailbox list from `--payload`, `--ack`, `--token`, in the
/// caller's order. A name given twice stays twice: rule 3 is the engine's to
/// report, with the contract's message.
pub fn mailbox_specs(a: &ForkArgs) -> Result<Vec<MailboxSpec>> {
    let mut specs: Vec<MailboxSpec> = Vec::new();
    for p in &a.payloads {
        let (name, value) = split_kv("--payload", p)?;
        let payload = match value.strip_prefix('@') {
            Some(file) => std::fs::read_to_string(file)
                .with_context(|| format!("--payload {name}: cannot read payload file {file}"))?,
            None => value.to_string(),
        };
        specs.push(MailboxSpec {
            name: name.into(),
            token: None,
            payload: Some(payload),
            wait_for_ack: false,
            ack_timeout_ms: None,
        });
    }
    for ack in &a.acks {
        let (name, timeout) = match ack.split_once('=') {
            Some((n, t)) => (
                n,
                Some(
                    t.parse::<i64>()
                        .with_context(|| format!("--ack {ack:?}: timeout must be milliseconds"))?,
                ),
            ),
            None => (ack.as_str(), None),
        };
        let mut found = false;
        for s in specs.iter_mut().filter(|s| s.name == name) {
            s.wait_for_ack = true;
            s.ack_timeout_ms = timeout;
            found = true;
        }
        if !found {
            bail!("--ack {name}: no --payload given for mailbox {name:?}");
        }
    }
    for t in &a.tokens {
        let (name, token) = split_kv("--token", t)?;
        let mut found = false;
        for s in specs.iter_mut().filter(|s| s.name == name) {
            s.token = Some(token.into());
            found = true;
        }
        if !found {
            bail!("--token {name}: no --payload given for mailbox {name:?}");
        }
    }
    Ok(specs)
}

pub(super) fn fork(store: &Store, a: &ForkArgs) -> Result<i32> {
    let mut req = ForkRequest::new(&a.snapshot);
    req.fork_name = a.name.clone();
    req.mailboxes = mailbox_specs(a)?;
    req.restore = !a.no_restore;
    req.zero_copy = a.zero_copy;
    let cancel = Arc::new(AtomicBool::new(false));
    // A closed terminal (SIGHUP) rolls back like Ctrl-C: no half-made fork stays.
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&cancel)).context("install signal handler")?;
    }
    let json = a.json;
    let sink = move |e: SessionEvent| {
        let mut out = std::io::stdout().lock();
        if json {
            if let Ok(line) = serde_json::to_string(&e) {
                let _ = writeln!(out, "{line}");
            }
        } else if let Some(line) = human_line(&e) {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    };
    match run_session(store, &req, &sink, &cancel) {
        Ok(outcome) => {
            if !json {
                match outcome.pid {
                    Some(pid) => println!(
                        "fork {} is running (pid {pid}); `forkmail stop {}` stops it, `forkmail rm {}` removes it",
                        outcome.name, outcome.name, outcome.name
                    ),
                    None => println!(
                        "fork {} patched at {} (not restored)",
                        outcome.name,
                        outcome.dir.display()
                    ),
                }
            }
            Ok(0)
        }
        Err(reason) => {
            eprintln!("forkmail: fork of {} failed: {reason}", a.snapshot);
            Ok(if reason == "cancelled" { 130 } else { 1 })
        }
    }
}

/// One human line per interesting event.
fn human_line(e: &SessionEvent) -> Option<String> {
    let t = format!("{:>6} ms", e.elapsed_ms);
    let stage = e.stage.label();
    let mb = e
        .mailbox
        .as_deref()
        .map(|m| format!(" [{m}]"))
        .unwrap_or_default();
    Some(match e.status {
        Status::Started => match (e.stage, e.ack_port) {
            (Stage::Ack, Some(port)) => format!(
                "{t}  {stage:<9} …{mb} waiting on 127.0.0.1:{port} (deadline {} ms)",
                e.deadline_ms.unwrap_or(0)
            ),
            (Stage::Ack, None) => return None,
            _ => format!("{t}  {stage:<9} …"),
        },
        Status::Progress => match (e.bytes, e.total) {
            (Some(b), Some(total)) if e.stage == Stage::Copy => {
                if b != total {
                    return None;
                }
                format!("{t}  {stage:<9} {} / {}", human_size(b), human_size(total))
            }
            _ => format!(
                "{t}  {stage:<9} ·{mb} {}",
                e.detail.clone().unwrap_or_default()
            ),
        },
        Status::Ok => format!(
            "{t}  {stage:<9} ok{mb} {}",
            e.detail.clone().unwrap_or_default()
        ),
        Status::Failed => format!(
            "{t}  {stage:<9} FAILED{mb} {}",
            e.error.clone().unwrap_or_default()
        ),
    })
}
