//! Building a fan-out: names, per-fork payloads (placeholders expanded,
//! matrix lines), every payload checked, and the capacity check — all
//! before the first copy.

use std::collections::HashSet;
use std::sync::Arc;

use super::matrix::MatrixLine;
use super::run::{FanoutPlan, PlannedFork};
use super::template::{Vars, expand};
use super::{Capacity, FanoutError, MAX_FORKS, capacity};
use crate::fork::{MailboxSpec, generate_fork_name};
use crate::mailbox::check_payload;
use crate::scan::{ScanOptions, scan_cached};
use crate::store::{Store, ValidName};

/// Where the forks' payloads come from.
#[derive(Debug, Clone)]
pub enum PayloadTemplate {
    /// `count` forks, each with these mailboxes (payload texts may hold
    /// placeholders).
    Count {
        /// Forks to make.
        count: usize,
        /// The mailboxes of every fork.
        mailboxes: Vec<MailboxSpec>,
    },
    /// One fork per matrix line.
    Matrix {
        /// The lines.
        lines: Vec<MatrixLine>,
        /// Acks for lines that say nothing about acks (mailbox, timeout).
        default_acks: Vec<(String, Option<i64>)>,
        /// Tokens for every line (mailbox, token).
        tokens: Vec<(String, String)>,
    },
}

/// What a person asks a fan-out for.
#[derive(Debug, Clone)]
pub struct FanoutSpec {
    /// Source snapshot.
    pub snapshot: String,
    /// Fork names are `<base>-<i>` (default: `<snapshot>-<6 hex>`).
    pub base_name: Option<String>,
    /// The payloads.
    pub payloads: PayloadTemplate,
    /// Sessions at a time.
    pub parallel: usize,
    /// Keep the other forks when one fails.
    pub keep_going: bool,
    /// Zero-copy forks.
    pub zero_copy: bool,
    /// Restore the forks (false: stop after patch).
    pub restore: bool,
    /// Address of the forks' ack sockets (`--ack-bind`).
    pub ack_bind: Option<std::net::IpAddr>,
}

/// The mailboxes of fork `index` named `name`: placeholders expanded.
pub fn preview_payloads(
    mailboxes: &[MailboxSpec],
    index: usize,
    name: &str,
) -> Result<Vec<MailboxSpec>, FanoutError> {
    let vars = Vars::new(index, name);
    mailboxes
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(p) = &m.payload {
                m.payload = Some(expand(p, &vars)?);
            }
            Ok(m)
        })
        .collect()
}

/// The name of fork `index` of a fan-out with base name `base`.
pub fn member_name(base: &str, index: usize) -> String {
    let suffix = format!("-{index}");
    let keep = 63usize.saturating_sub(suffix.len());
    let base: String = base.chars().take(keep).collect();
    format!("{}{suffix}", base.trim_end_matches('-'))
}

/// Plan a fan-out: every fork named and its payloads checked, the
/// snapshot's discovery done once, and the capacity measured and judged.
pub fn plan_fanout(
    store: &Store,
    spec: &FanoutSpec,
) -> Result<(FanoutPlan, Capacity), FanoutError> {
    let snap = store.snapshot(&spec.snapshot)?;
    let base = spec
        .base_name
        .clone()
        .unwrap_or_else(|| generate_fork_name(&spec.snapshot));
    let mut forks = Vec::new();
    match &spec.payloads {
        PayloadTemplate::Count { count, mailboxes } => {
            if *count == 0 || *count > MAX_FORKS {
                return Err(FanoutError::Request(format!(
                    "--count {count}: expected 1 to {MAX_FORKS}"
                )));
            }
            for index in 0..*count {
                let name = member_name(&base, index);
                let mailboxes = preview_payloads(mailboxes, index, &name)?;
                forks.push(PlannedFork {
                    index,
                    name,
                    mailboxes,
                });
            }
        }
        PayloadTemplate::Matrix {
            lines,
            default_acks,
            tokens,
        } => {
            if lines.len() > MAX_FORKS {
                return Err(FanoutError::Request(format!(
                    "the matrix has {} forks; at most {MAX_FORKS}",
                    lines.len()
                )));
            }
            for (index, line) in lines.iter().enumerate() {
                let name = line
                    .name
                    .clone()
                    .unwrap_or_else(|| member_name(&base, index));
                let acks = line.acks.as_ref().unwrap_or(default_acks);
                let specs: Vec<MailboxSpec> = line
                    .payloads
                    .iter()
                    .map(|(mailbox, text)| {
                        let ack = acks.iter().find(|(m, _)| m == mailbox);
                        MailboxSpec {
                            name: mailbox.clone(),
                            token: tokens
                                .iter()
                                .find(|(m, _)| m == mailbox)
                                .map(|(_, t)| t.clone()),
                            payload: Some(text.clone()),
                            wait_for_ack: ack.is_some(),
                            ack_timeout_ms: ack.and_then(|(_, t)| *t),
                        }
                    })
                    .collect();
                let mailboxes = preview_payloads(&specs, index, &name)?;
                forks.push(PlannedFork {
                    index,
                    name,
                    mailboxes,
                });
            }
        }
    }
    check_forks(store, &forks)?;
    let discovery = scan_cached(
        &snap.memory_path(),
        &store.scan_cache_path(&snap.name),
        &ScanOptions::default(),
    )
    .map_err(|e| FanoutError::Capacity(format!("discovery of {}: {e}", snap.name)))?;
    let cap = capacity::measure(
        &snap,
        &store.forks_dir(),
        forks.len(),
        spec.zero_copy,
        spec.restore,
    )?;
    if let Some(why) = cap.refusal() {
        return Err(FanoutError::Capacity(format!(
            "{} forks of {} do not fit: {why}",
            forks.len(),
            snap.name
        )));
    }
    let plan = FanoutPlan {
        snapshot: spec.snapshot.clone(),
        base: base.clone(),
        forks,
        parallel: spec.parallel.max(1),
        keep_going: spec.keep_going,
        zero_copy: spec.zero_copy,
        restore: spec.restore,
        discovery: Some(Arc::new(discovery)),
        permits: None,
        ack_bind: spec.ack_bind,
        ack_linger_ms: None,
        hold: false,
    };
    Ok((plan, cap))
}

/// Names valid, unique and free; every payload as the engine will judge it.
fn check_forks(store: &Store, forks: &[PlannedFork]) -> Result<(), FanoutError> {
    let mut seen = HashSet::new();
    for f in forks {
        let bad = |reason: String| FanoutError::Fork {
            index: f.index,
            name: f.name.clone(),
            reason,
        };
        ValidName::new(&f.name).map_err(|e| bad(format!("fork name: {e}")))?;
        if !seen.insert(f.name.as_str()) {
            return Err(bad("the name is used twice in this fan-out".into()));
        }
        if std::fs::symlink_metadata(store.forks_dir().join(&f.name)).is_ok() {
            return Err(bad(format!("fork {} already exists", f.name)));
        }
        for m in &f.mailboxes {
            let text = m.payload.as_deref().unwrap_or("");
            if let Some(p) = check_payload(text, m.wait_for_ack).problem {
                return Err(bad(format!("mailbox {}: {p}", m.name)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_stay_within_the_name_rule() {
        assert_eq!(member_name("fan", 10), "fan-10");
        let long = "a".repeat(70);
        let n = member_name(&long, 123);
        assert!(n.len() <= 63 && n.ends_with("-123"));
        assert!(ValidName::new(&n).is_ok());
    }

    #[test]
    fn previews_expand_each_fork() {
        let m = MailboxSpec {
            name: "app".into(),
            token: None,
            payload: Some(r#"{"replica":{{i}},"fork":"{{fork}}"}"#.into()),
            wait_for_ack: true,
            ack_timeout_ms: None,
        };
        let p = preview_payloads(&[m], 15, "fan-15").unwrap();
        assert_eq!(
            p[0].payload.as_deref(),
            Some(r#"{"replica":15,"fork":"fan-15"}"#)
        );
    }
}
