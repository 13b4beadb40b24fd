//! `forkmail fork`: build a request from flags, run the session, render its
//! events as lines (or JSON lines), roll back on Ctrl-C/SIGTERM/SIGHUP.

use std::io::Write;

use anyhow::Result;

use super::ForkArgs;
use super::progress::Progress;
use super::signals::cancel_flag;
use crate::error::UsageError;
use crate::files::{ReadError, read_bounded};
use crate::fork::{ForkRequest, Forks, Happening, MailboxSpec, SessionEvent};
use crate::history::Recorder;
use crate::mailbox::{FORK_MAX_PAYLOAD, ValidationError};
use crate::sanitize::escaped;
use crate::source::SourceSet;
use crate::store::Store;
use crate::units::human_size;
use crate::{errln, outln};
use std::sync::Mutex;

/// Split `NAME=VALUE` (the first `=`).
pub(super) fn split_kv<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str), UsageError> {
    text.split_once('=')
        .ok_or_else(|| UsageError(format!("{flag} {text:?}: expected NAME=VALUE")))
}

/// The payload given as `@FILE`: at most what can fit a frame is read.
fn payload_file(name: &str, file: &str) -> Result<String> {
    match read_bounded(
        std::path::Path::new(file),
        FORK_MAX_PAYLOAD as u64,
        "a payload",
    ) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            UsageError(format!(
                "--payload {name}: payload file {file} is not UTF-8"
            ))
            .into()
        }),
        Err(ReadError::TooLarge { .. }) => Err(ValidationError::PayloadTooLarge {
            name: name.into(),
            len: FORK_MAX_PAYLOAD + 1,
            after_injection: false,
        }
        .into()),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("--payload {name}: cannot read payload file {file}"))),
    }
}

/// One `--ack NAME[=TIMEOUT_MS]`.
pub fn parse_ack(ack: &str) -> Result<(String, Option<i64>), UsageError> {
    Ok(match ack.split_once('=') {
        Some((n, t)) => {
            (
                n.to_string(),
                Some(t.parse::<i64>().map_err(|_| {
                    UsageError(format!("--ack {ack:?}: timeout must be milliseconds"))
                })?),
            )
        }
        // Without a timeout: the config file's default, if any.
        None => (
            ack.to_string(),
            crate::config::current()
                .ack_timeout_ms()
                .map(|ms| ms as i64),
        ),
    })
}

/// Build the mailbox list from `--payload`, `--ack`, `--token`, in the
/// caller's order. A name given twice stays twice: rule 3 is the engine's to
/// report, with the contract's message.
pub fn mailbox_specs(a: &ForkArgs) -> Result<Vec<MailboxSpec>> {
    let mut specs: Vec<MailboxSpec> = Vec::new();
    for p in &a.payloads {
        let (name, value) = split_kv("--payload", p)?;
        let payload = match value.strip_prefix('@') {
            Some(file) => payload_file(name, file)?,
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
        let (name, timeout) = parse_ack(ack)?;
        let name = name.as_str();
        let mut found = false;
        for s in specs.iter_mut().filter(|s| s.name == name) {
            s.wait_for_ack = true;
            s.ack_timeout_ms = timeout;
            found = true;
        }
        if !found {
            return Err(UsageError(format!(
                "--ack {name}: no --payload given for mailbox {name:?}"
            ))
            .into());
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
            return Err(UsageError(format!(
                "--token {name}: no --payload given for mailbox {name:?}"
            ))
            .into());
        }
    }
    Ok(specs)
}

pub(super) fn fork(store: &Store, sources: &SourceSet, a: &ForkArgs) -> Result<i32> {
    if a.count.is_some() || a.matrix.is_some() {
        if a.export.is_some() {
            return Err(UsageError(
                "--export writes one patched fork; it does not go with --count or --matrix".into(),
            )
            .into());
        }
        return super::fanout_cmd::fanout(store, a);
    }
    let mut req = ForkRequest::new(&a.snapshot);
    req.fork_name = a.name.clone();
    req.mailboxes = mailbox_specs(a)?;
    req.restore = !a.no_restore;
    req.zero_copy = a.zero_copy;
    req.ack_bind = a.ack_bind;
    if let Some(dir) = &a.export {
        // Nothing under a source is ever written, exports included.
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        if sources.contains_path(dir) || parent.is_some_and(|p| sources.contains_path(p)) {
            return Err(UsageError(format!(
                "--export {}: that is inside a read-only source; export elsewhere",
                dir.display()
            ))
            .into());
        }
        req.export = Some(dir.clone());
    }
    // A closed terminal (SIGHUP) rolls back like Ctrl-C: no half-made fork stays.
    let cancel = cancel_flag()?;
    let json = a.json;
    // Kept in the store's session history (the TUI lists it, `r` replays it).
    let recorder = match Recorder::start(store, &req, "cli") {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    };
    let recorder = Mutex::new(recorder);
    let progress = Progress::new("copy", json);
    let sink = move |e: SessionEvent| {
        if let Ok(mut r) = recorder.lock()
            && let Some(r) = r.as_mut()
        {
            r.record(&e);
        }
        match &e.what {
            Happening::CopyProgress { bytes, total } if !json => {
                progress.update(*bytes, *total);
                if bytes != total {
                    return;
                }
                progress.finish();
            }
            Happening::Copied { .. } | Happening::StageFailed(_) => progress.finish(),
            _ => {}
        }
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the session: its outcome still
        // counts (and its exit status says it).
        if json {
            if let Ok(line) = serde_json::to_string(&e) {
                let _ = writeln!(out, "{line}");
            }
        } else if let Some(line) = human_line(&e) {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    };
    let forks = Forks::new(store);
    let prestart = if a.prestart {
        let p = forks.prestart(&a.snapshot, a.zero_copy)?;
        if let Some(p) = &p
            && !json
        {
            let pid = p.process().map(|r| r.pid).unwrap_or_default();
            let _ = outln!(
                "prestarted the VMM (pid {pid}) in {} ms",
                p.booted_in().as_millis()
            );
        }
        p
    } else {
        None
    };
    match forks.create_prestarted(&req, prestart, &sink, &cancel) {
        Ok(outcome) => {
            if !json {
                let _ = match outcome.pid() {
                    Some(pid) => outln!(
                        "fork {} is running (pid {pid}); `forkmail stop {}` stops it, `forkmail rm {}` removes it",
                        outcome.name,
                        outcome.name,
                        outcome.name
                    ),
                    None => outln!(
                        "fork {} patched at {} (not restored)",
                        outcome.name,
                        outcome.dir.display()
                    ),
                };
            }
            Ok(0)
        }
        Err(err) => {
            errln!(
                "forkmail: fork of {} failed ({}): {}",
                escaped(&a.snapshot),
                err.kind,
                escaped(&err.message)
            );
            Ok(err.kind.exit_code())
        }
    }
}

/// One human line per interesting event; guest-controlled text escaped.
pub fn human_line(e: &SessionEvent) -> Option<String> {
    let t = format!("{:>6} ms", e.elapsed_ms);
    let stage = e.stage().label();
    let mb = e
        .mailbox()
        .map(|m| format!(" [{}]", escaped(m)))
        .unwrap_or_default();
    let detail = e
        .detail()
        .map(|d| format!(" {}", escaped(&d)))
        .unwrap_or_default();
    Some(match &e.what {
        Happening::StageStarted(_) => format!("{t}  {stage:<9} …"),
        Happening::CopyStarted { .. } => format!("{t}  {stage:<9} …"),
        Happening::AckWaiting {
            port, deadline_ms, ..
        } => format!("{t}  {stage:<9} …{mb} waiting on port {port} (deadline {deadline_ms} ms)"),
        Happening::CopyProgress { bytes, total } => {
            if bytes != total {
                return None;
            }
            format!(
                "{t}  {stage:<9} {} / {}",
                human_size(*bytes),
                human_size(*total)
            )
        }
        Happening::FrameWritten { .. }
        | Happening::DatagramIgnored { .. }
        | Happening::VmLoaded { .. } => {
            format!("{t}  {stage:<9} ·{mb}{detail}")
        }
        Happening::StageFailed(err) | Happening::Failed(err) => {
            format!("{t}  {stage:<9} FAILED{mb} {}", escaped(&err.message))
        }
        Happening::RollbackFailed { error } => {
            format!("{t}  {stage:<9} FAILED {}", escaped(error))
        }
        _ => format!("{t}  {stage:<9} ok{mb}{detail}"),
    })
}
