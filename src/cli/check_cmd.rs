//! `forkmail check SNAPSHOT`: the guest conformance suite as a table (rows
//! as checks finish), one JSON object per check with `--json`, and JUnit
//! XML with `--junit FILE`. Exit status 0 when every required check passes.

use std::sync::Mutex;

use anyhow::{Context, Result};

use super::CheckArgs;
use super::line_writer::LineWriter;
use super::signals::cancel_flag;
use crate::check::{CheckEvent, CheckOptions, CheckResult, junit_xml, run_check};
use crate::error::ErrorKind;
use crate::sanitize::escaped;
use crate::store::Store;
use crate::{errln, outln};

/// Width of the EVIDENCE column's indent.
const INDENT: usize = 38;

fn row(r: &CheckResult) -> Vec<String> {
    let mut lines = Vec::new();
    let mut ev = r.evidence.iter();
    lines.push(format!(
        "{:<14} {:<8} {:>8} ms  {}",
        r.check.label(),
        r.verdict.label().to_uppercase(),
        r.elapsed_ms,
        escaped(ev.next().map(String::as_str).unwrap_or(""))
    ));
    for e in ev {
        lines.push(format!("{:INDENT$}{}", "", escaped(e)));
    }
    lines
}

pub(super) fn check(store: &Store, a: &CheckArgs) -> Result<i32> {
    let opts = CheckOptions {
        snapshot: a.snapshot.clone(),
        mailboxes: a.mailboxes.clone(),
        deadline_ms: a.vmm_timeout,
        zero_copy: a.zero_copy,
        parallel: a.parallel.max(1),
    };
    let cancel = cancel_flag()?;
    let json = a.json;
    let header = Mutex::new(false);
    // Rows are queued for a writer thread: a reader that does not read never
    // holds a check (or its observation of a fork) up.
    let writer = LineWriter::stdout(super::fork_cmd::dropped_note(json));
    let sink = |e: CheckEvent| {
        let CheckEvent::Finished(r) = e else { return };
        if json {
            if let Ok(line) = serde_json::to_string(&r) {
                writer.line(line);
            }
            return;
        }
        if let Ok(mut h) = header.lock()
            && !*h
        {
            *h = true;
            writer.line(format!(
                "{:<14} {:<8} {:>11}  EVIDENCE",
                "CHECK", "VERDICT", "TIME"
            ));
        }
        for l in row(&r) {
            writer.line(l);
        }
    };
    if !json {
        outln!(
            "checking the guest of {} against the mailbox contract (deadline {} ms{})",
            a.snapshot,
            a.vmm_timeout,
            if a.zero_copy { ", zero-copy forks" } else { "" }
        )?;
    }
    let report = run_check(store, &opts, &sink, &cancel);
    writer.finish();
    let report = report?;
    if let Some(path) = &a.junit {
        std::fs::write(path, junit_xml(&report))
            .with_context(|| format!("write JUnit XML to {}", path.display()))?;
    }
    let count = |v| report.results.iter().filter(|r| r.verdict == v).count();
    use crate::check::Verdict;
    if !json {
        outln!(
            "{} checks of {} ({} mailbox(es): {}) in {} ms: {} passed, {} failed, {} warning(s)",
            report.results.len(),
            report.snapshot,
            report.mailboxes.len(),
            escaped(&report.mailboxes.join(", ")),
            report.elapsed_ms,
            count(Verdict::Pass),
            count(Verdict::Fail),
            count(Verdict::Warn)
        )?;
    }
    if report.cancelled {
        errln!("forkmail: check of {} cancelled", escaped(&a.snapshot));
        return Ok(ErrorKind::Cancelled.exit_code());
    }
    if report.passed() {
        Ok(0)
    } else {
        let failed: Vec<&str> = report
            .results
            .iter()
            .filter(|r| r.required && r.verdict == Verdict::Fail)
            .map(|r| r.check.label())
            .collect();
        errln!(
            "forkmail: the guest of {} fails: {}",
            escaped(&a.snapshot),
            failed.join(", ")
        );
        Ok(CHECK_FAILED)
    }
}

/// Exit status of a suite with a failed required check.
pub const CHECK_FAILED: i32 = 8;
