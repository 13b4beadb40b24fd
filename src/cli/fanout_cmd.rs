//! `forkmail fork --count N` / `--matrix FILE`: plan the fan-out, run it
//! with a live view, then summarize (per-stage median/p95/max, failures,
//! divergence) — or, with `--json`, the event lines and a summary line.

use anyhow::Result;
use serde_json::json;

use super::ForkArgs;
use super::fanout_progress::Progress;
use super::fork_args::{mailbox_specs, parse_ack, split_kv};
use super::signals::cancel_flag;
use crate::error::UsageError;
use crate::fanout::{
    FanoutEvent, FanoutReport, FanoutSpec, MemberRecorders, PayloadTemplate, plan_fanout,
    read_matrix, spreads,
};
use crate::fork::{Forks, divergence};
use crate::sanitize::escaped;
use crate::store::Store;
use crate::units::human_size;
use crate::{errln, outln};

pub(super) fn fanout(store: &Store, a: &ForkArgs) -> Result<i32> {
    let payloads = match (&a.matrix, a.count) {
        (Some(path), _) => {
            let default_acks = a
                .acks
                .iter()
                .map(|s| parse_ack(s))
                .collect::<Result<Vec<_>, _>>()?;
            let tokens = a
                .tokens
                .iter()
                .map(|t| split_kv("--token", t).map(|(n, v)| (n.to_string(), v.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            PayloadTemplate::Matrix {
                lines: read_matrix(path)?,
                default_acks,
                tokens,
            }
        }
        (None, Some(count)) => PayloadTemplate::Count {
            count,
            mailboxes: mailbox_specs(a)?,
        },
        (None, None) => return Err(UsageError("a fan-out needs --count or --matrix".into()).into()),
    };
    if a.parallel == 0 {
        return Err(UsageError("--parallel 0: at least one session at a time".into()).into());
    }
    let spec = FanoutSpec {
        snapshot: a.snapshot.clone(),
        base_name: a.name.clone(),
        payloads,
        parallel: a.parallel,
        keep_going: a.keep_going,
        zero_copy: a.zero_copy,
        restore: !a.no_restore,
        ack_bind: a.ack_bind,
    };
    let (plan, capacity) = plan_fanout(store, &spec)?;
    let cancel = cancel_flag()?;
    let progress = Progress::new(a.json, plan.forks.len());
    if !a.json {
        outln!(
            "fan-out: {} forks of {}, {} at a time{}{}",
            plan.forks.len(),
            plan.snapshot,
            plan.parallel.min(plan.forks.len()),
            if plan.zero_copy { ", zero-copy" } else { "" },
            if plan.keep_going { ", keep going" } else { "" }
        )?;
    }
    let forks = Forks::new(store);
    // Each fork is a session of its own in the store's history.
    let recorders = MemberRecorders::start(store, &plan, "cli");
    let sink = |e: FanoutEvent| {
        recorders.on(store, &e);
        progress.on(e);
    };
    let report = crate::fanout::run_fanout(&forks, &plan, &sink, &cancel);
    progress.finish();
    let divergence = total_divergence(&forks, &report);
    if a.json {
        let _ = outln!(
            "{}",
            summary_json(&plan.snapshot, &report, divergence, &capacity)
        );
    } else {
        let _ = print_summary(&plan.snapshot, &report, divergence);
    }
    Ok(match report.first_failure() {
        None => 0,
        Some(e) => {
            errln!(
                "forkmail: fan-out of {}: {} of {} forks failed ({}): {}",
                escaped(&plan.snapshot),
                report.failed(),
                report.forks.len(),
                e.kind(),
                escaped(&e.to_string())
            );
            e.kind().exit_code()
        }
    })
}

/// (running forks measured, bytes in all, how) over the forks that stayed.
fn total_divergence(forks: &Forks, report: &FanoutReport) -> (usize, u64, Option<&'static str>) {
    let mut n = 0;
    let mut bytes = 0;
    let mut how = None;
    for f in report
        .forks
        .iter()
        .filter(|f| f.result.is_ok() && !f.removed)
    {
        if let Ok(entry) = forks.get(&f.name)
            && let Some(d) = divergence(&entry)
        {
            n += 1;
            bytes += d.bytes;
            how = Some(d.source.label());
        }
    }
    (n, bytes, how)
}

fn summary_json(
    snapshot: &str,
    r: &FanoutReport,
    (div_forks, div_bytes, _): (usize, u64, Option<&str>),
    capacity: &crate::fanout::Capacity,
) -> serde_json::Value {
    let stages: serde_json::Map<String, serde_json::Value> =
        spreads(r.forks.iter().map(|f| &f.clock))
            .into_iter()
            .map(|(st, s)| (st.label().to_string(), json!(s)))
            .collect();
    let failures: Vec<_> = r
        .forks
        .iter()
        .filter_map(|f| {
            let e = f.result.as_ref().err()?;
            Some(json!({"fork": f.name, "stage": e.stage(), "kind": e.kind(), "error": e.to_string()}))
        })
        .collect();
    let removed: Vec<&str> = r
        .forks
        .iter()
        .filter(|f| f.removed)
        .map(|f| f.name.as_str())
        .collect();
    json!({"summary": {
        "snapshot": snapshot, "forks": r.forks.len(), "done": r.done(), "failed": r.failed(),
        "elapsed_ms": crate::units::millis(r.elapsed),
        "forks_per_second": (r.forks_per_second() * 100.0).round() / 100.0,
        "stages": stages, "failures": failures, "removed": removed,
        "divergence": {"forks": div_forks, "bytes": div_bytes},
        "capacity": capacity,
    }})
}

fn print_summary(
    snapshot: &str,
    r: &FanoutReport,
    (div_forks, div_bytes, how): (usize, u64, Option<&str>),
) -> std::io::Result<()> {
    outln!(
        "{} forks of {} in {} ms ({:.1} forks/s): {} done, {} failed",
        r.forks.len(),
        snapshot,
        r.elapsed.as_millis(),
        r.forks_per_second(),
        r.done(),
        r.failed()
    )?;
    let sp = spreads(r.forks.iter().map(|f| &f.clock));
    if !sp.is_empty() {
        outln!(
            "  {:<10} {:>9} {:>9} {:>9}",
            "stage",
            "median",
            "p95",
            "max"
        )?;
        for (st, s) in sp {
            let label = if st == crate::fork::Stage::Done {
                "total"
            } else {
                st.label()
            };
            outln!(
                "  {:<10} {:>6} ms {:>6} ms {:>6} ms",
                label,
                s.median_ms,
                s.p95_ms,
                s.max_ms
            )?;
        }
    }
    if let Some(how) = how {
        outln!(
            "  divergence: {} private in all over {div_forks} running fork(s) ({how})",
            human_size(div_bytes)
        )?;
    }
    let failed: Vec<_> = r.forks.iter().filter(|f| f.result.is_err()).collect();
    if !failed.is_empty() {
        outln!("failed:")?;
        for f in failed {
            if let Err(e) = &f.result {
                outln!(
                    "  {:<24} {:<13} {}",
                    f.name,
                    e.kind().as_str(),
                    escaped(&e.to_string())
                )?;
            }
        }
    }
    let removed = r.forks.iter().filter(|f| f.removed).count();
    if removed > 0 {
        outln!(
            "rolled back: removed the {removed} fork(s) that were made (a fan-out is all or nothing without --keep-going)"
        )?;
    }
    Ok(())
}
