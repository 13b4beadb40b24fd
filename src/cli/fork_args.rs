//! What `forkmail fork`'s flags ask for: `NAME=VALUE` pairs, payloads
//! (inline or `@FILE`), acks and tokens, turned into [`MailboxSpec`]s. Used by
//! a single fork and by a fan-out.

use anyhow::Result;

use super::ForkArgs;
use crate::error::UsageError;
use crate::files::{ReadError, read_bounded};
use crate::fork::MailboxSpec;
use crate::mailbox::{FORK_MAX_PAYLOAD, ValidationError};

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
        // Only the first 3833 bytes were read: the file's own size says how
        // large it is (a size that lies, as /proc files do, says "more").
        Err(ReadError::TooLarge { .. }) => {
            match crate::files::open_regular(std::path::Path::new(file))
                .and_then(|f| {
                    f.metadata().map_err(|source| ReadError::Io {
                        path: file.into(),
                        source,
                    })
                })
                .ok()
                .map(|m| m.len())
                .and_then(|len| usize::try_from(len).ok())
                .filter(|len| *len > FORK_MAX_PAYLOAD)
            {
                Some(len) => Err(ValidationError::PayloadTooLarge {
                    name: name.into(),
                    len,
                    after_injection: false,
                }
                .into()),
                None => Err(UsageError(format!(
                    "--payload {name}: payload file {file} holds more than {FORK_MAX_PAYLOAD} bytes, the most a frame holds"
                ))
                .into()),
            }
        }
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
