//! The `acks` and `consumption` checks.

use super::probe::{Ctx, Probe, Ran, noise_evidence, payload, spec};
use super::{CheckId, CheckResult, Latency, Verdict, patience_ms};
use crate::fanout::Spread;

/// Forks the `acks` check makes (latency is reported over their acks).
const ACK_RUNS: usize = 3;
/// How long the `acks` check keeps listening after each ack, so a guest
/// that acks a mailbox twice is seen doing it.
pub(super) const DUPLICATE_GRACE_MS: u64 = 500;

/// A result with no time yet (the caller times each check).
pub(super) fn result(
    id: CheckId,
    verdict: Verdict,
    evidence: Vec<String>,
    forks: usize,
) -> CheckResult {
    CheckResult {
        check: id,
        rule: id.rule(),
        verdict,
        required: id.required(),
        evidence,
        elapsed_ms: 0,
        forks,
        latency: None,
    }
}

/// `acks`: forks with every mailbox waiting for its ack, listening past
/// the deadline to tell late from never, and on after each ack for
/// [`DUPLICATE_GRACE_MS`] (a second ack is evidence against the guest).
/// Returns the row, and whether the guest acks at all (every mailbox of one
/// fork acked, however late).
pub(super) fn acks(ctx: &Ctx) -> (CheckResult, bool) {
    let deadline = ctx.deadline_ms;
    let patience = patience_ms(deadline);
    let probes = (0..ACK_RUNS)
        .map(|r| {
            let case = format!("acks-{r}");
            let name = ctx.name(&case);
            let mailboxes = ctx
                .selected
                .iter()
                .map(|m| {
                    spec(
                        m,
                        payload("acks", &name, &format!(r#""run":{r}"#)),
                        Some(patience),
                    )
                })
                .collect();
            Probe { case, mailboxes }
        })
        .collect();
    let ran = ctx.run_lingering(probes, Some(DUPLICATE_GRACE_MS));
    let mut evidence = Vec::new();
    let mut fail = false;
    let mut latencies = Vec::new();
    let mut guest_acks = false;
    let mut stray = 0;
    for r in &ran {
        let acks = r.acks();
        if ctx
            .selected
            .iter()
            .all(|m| acks.iter().any(|(a, _, _)| a == m))
        {
            guest_acks = true;
        }
        for (m, _, ms) in &acks {
            latencies.push(*ms);
            if *ms > deadline {
                fail = true;
                evidence.push(format!(
                    "fork {}: {m} acked after {ms} ms, past the {deadline} ms deadline",
                    r.name
                ));
            }
        }
        for (m, from, why) in r.ignored() {
            fail = true;
            stray += 1;
            evidence.push(format!(
                "fork {}: a datagram from {from} on {m}'s ack port did not count: {why}",
                r.name
            ));
        }
        if let Some(f) = r.failure() {
            fail = true;
            evidence.push(f);
        }
    }
    let latency = Spread::of(&latencies).map(|s| Latency {
        samples: s.samples,
        median_ms: s.median_ms,
        max_ms: s.max_ms,
        deadline_ms: deadline,
    });
    if let Some(l) = &latency {
        evidence.insert(
            0,
            format!(
                "{} ack(s) from {} fork(s): median {} ms, max {} ms (deadline {deadline} ms)",
                l.samples,
                ran.len(),
                l.median_ms,
                l.max_ms
            ),
        );
    } else {
        evidence.insert(
            0,
            format!("no valid ack in {} fork(s) within {patience} ms", ran.len()),
        );
    }
    if guest_acks && stray == 0 {
        evidence.push(format!(
            "no second datagram on any ack port in the {DUPLICATE_GRACE_MS} ms after each ack"
        ));
    }
    evidence.extend(noise_evidence(&ran));
    ctx.remove(&ran);
    let mut row = result(
        CheckId::Acks,
        if fail { Verdict::Fail } else { Verdict::Pass },
        evidence,
        ran.len(),
    );
    row.latency = latency;
    (row, guest_acks)
}

/// `consumption`: one fork with every mailbox (every other one waiting for
/// its ack when the guest acks); each frame's seq must read 0 after the
/// ack, or within the grace period.
pub(super) fn consumption(ctx: &Ctx, guest_acks: bool) -> CheckResult {
    let name = ctx.name("cons");
    let acked: Vec<bool> = (0..ctx.selected.len())
        .map(|i| guest_acks && i % 2 == 0)
        .collect();
    let mailboxes = ctx
        .selected
        .iter()
        .zip(&acked)
        .map(|(m, a)| {
            spec(
                m,
                payload("consumption", &name, ""),
                a.then(|| patience_ms(ctx.deadline_ms)),
            )
        })
        .collect();
    let ran = ctx.run(vec![Probe {
        case: "cons".into(),
        mailboxes,
    }]);
    let (verdict, evidence) = consumed_evidence(ctx, &ran[0], &ctx.selected, &acked);
    ctx.remove(&ran);
    result(CheckId::Consumption, verdict, evidence, 1)
}

/// Per mailbox, whether its seq went back to 0, as evidence.
pub(super) fn consumed_evidence(
    ctx: &Ctx,
    r: &Ran,
    mailboxes: &[String],
    acked: &[bool],
) -> (Verdict, Vec<String>) {
    if let Some(f) = r.failure() {
        return (Verdict::Fail, vec![f]);
    }
    let seen = match ctx.wait_consumed(r, mailboxes) {
        Ok(s) => s,
        Err(e) => {
            return (
                Verdict::Fail,
                vec![format!("fork {}: cannot read its memory: {e}", r.name)],
            );
        }
    };
    let mut fail = false;
    let evidence = mailboxes
        .iter()
        .zip(acked)
        .zip(seen)
        .map(|((m, a), s)| match (s, a) {
            (Ok(0), true) => format!("{m}: seq 0 once acked"),
            (Ok(ms), true) => format!("{m}: seq 0 {ms} ms after the ack"),
            (Ok(ms), false) => format!("{m}: seq 0 within {ms} ms (no ack asked)"),
            (Err(q), _) => {
                fail = true;
                format!(
                    "{m}: seq still {q} {} ms after the session ended: the payload was not consumed",
                    ctx.deadline_ms
                )
            }
        })
        .collect();
    (if fail { Verdict::Fail } else { Verdict::Pass }, evidence)
}
