//! The `limits`, `independence`, `no-payload` and `robustness` checks.

use super::observe_window;
use super::probe::{Ctx, Probe, Ran, echoes, log_tail, noise_evidence, payload, spec};
use super::rules::{consumed_evidence, result};
use super::{CheckId, CheckResult, Verdict, patience_ms};
use crate::mailbox::{FORK_MAX_PAYLOAD, MAX_MAILBOXES, check_payload, inject_ack_port};
use crate::vmm::AckSender;

/// Levels of nesting in the `deep` case (the contract allows any depth
/// that fits; this is far beyond the 128 most JSON parsers default to).
const DEEP: usize = 1000;

/// Text with multi-byte UTF-8 and every JSON escape.
const UTF8_FIELDS: &str = r#""text":"grüße, 日本語, 🦀 ✓","escaped":"quote \" backslash \\ slash \/ newline \n tab \t \u00e9 \ud83e\udd80 \u0000 end""#;

/// The ack deadline for a check's forks: acks asked only of a guest that
/// acks, with the patience of the `acks` check (its latency is judged there).
fn ack_ms(ctx: &Ctx, guest_acks: bool) -> Option<u64> {
    guest_acks.then(|| patience_ms(ctx.deadline_ms))
}

/// A payload of exactly `target` bytes as written (with `ack_port` when
/// `with_ack`): `extra` fields and a padding string.
fn sized(check: &str, fork: &str, target: usize, with_ack: bool) -> String {
    let bare = payload(check, fork, r#""case":"max-size","pad":"""#);
    let sent = check_payload(&bare, with_ack).sent_bytes;
    let pad = "x".repeat(target.saturating_sub(sent));
    payload(check, fork, &format!(r#""case":"max-size","pad":"{pad}""#))
}

/// What the guest echoed for `mailbox` against what was written.
fn echo_verdict(r: &Ran, ctx: &Ctx, mailbox: &str, sent: &str) -> Result<&'static str, String> {
    let Some(info) = r.info(ctx) else {
        return Ok("echo not seen");
    };
    let written = match r.ports().iter().find(|(m, _)| m == mailbox) {
        Some((_, port)) => inject_ack_port(sent, *port).unwrap_or_else(|_| sent.to_string()),
        None => sent.to_string(),
    };
    let echoed: Vec<String> = echoes(&info)
        .into_iter()
        .filter(|(m, _)| m == mailbox)
        .map(|(_, p)| p)
        .collect();
    match echoed.last() {
        None => Ok("echo not seen"),
        Some(e) if *e == written => Ok("echo matches"),
        Some(e) => Err(format!(
            "the console shows a different payload for {mailbox}: {} bytes echoed, {} written",
            e.len(),
            written.len()
        )),
    }
}

/// `limits`: the largest payload, UTF-8 and escapes, deep nesting, and
/// every mailbox of the template in one fork.
pub(super) fn limits(ctx: &Ctx, guest_acks: bool) -> CheckResult {
    let first = ctx.selected[0].clone();
    let ack = ack_ms(ctx, guest_acks);
    let cases: Vec<(&str, Vec<(String, String)>)> = {
        let n = |c: &str| ctx.name(c);
        let all: Vec<(String, String)> = ctx
            .usable
            .iter()
            .take(MAX_MAILBOXES)
            .map(|(m, _)| {
                (
                    m.clone(),
                    payload("limits", &n("lim-all"), r#""case":"all-mailboxes""#),
                )
            })
            .collect();
        vec![
            (
                "lim-max",
                vec![(
                    first.clone(),
                    sized("limits", &n("lim-max"), FORK_MAX_PAYLOAD, guest_acks),
                )],
            ),
            (
                "lim-utf8",
                vec![(
                    first.clone(),
                    payload(
                        "limits",
                        &n("lim-utf8"),
                        &format!(r#""case":"utf-8",{UTF8_FIELDS}"#),
                    ),
                )],
            ),
            (
                "lim-deep",
                vec![(
                    first.clone(),
                    payload(
                        "limits",
                        &n("lim-deep"),
                        &format!(
                            r#""case":"deep","deep":{}1{}"#,
                            "[".repeat(DEEP),
                            "]".repeat(DEEP)
                        ),
                    ),
                )],
            ),
            ("lim-all", all),
        ]
    };
    let probes = cases
        .iter()
        .map(|(case, mbs)| Probe {
            case: case.to_string(),
            mailboxes: mbs.iter().map(|(m, p)| spec(m, p.clone(), ack)).collect(),
        })
        .collect();
    let ran = ctx.run(probes);
    let mut fail = false;
    let mut evidence = Vec::new();
    for ((case, mbs), r) in cases.iter().zip(&ran) {
        let names: Vec<String> = mbs.iter().map(|(m, _)| m.clone()).collect();
        let acked = vec![guest_acks; names.len()];
        let (v, ev) = consumed_evidence(ctx, r, &names, &acked);
        let label = case.trim_start_matches("lim-");
        if v == Verdict::Fail {
            fail = true;
            evidence.extend(ev.into_iter().map(|e| format!("{label}: {e}")));
            continue;
        }
        let mut notes = vec![if guest_acks {
            let ports = r.ports();
            let mut distinct: Vec<u16> = ports.iter().map(|(_, p)| *p).collect();
            distinct.sort_unstable();
            distinct.dedup();
            format!(
                "{} mailbox(es) acked on {} distinct port(s)",
                r.acks().len(),
                distinct.len()
            )
        } else {
            format!(
                "{} mailbox(es) consumed (no acks asked: the guest does not ack)",
                names.len()
            )
        }];
        if *case == "lim-max" {
            let bytes = r.written(&first).unwrap_or(0);
            notes.insert(0, format!("{bytes}-byte payload written"));
            if bytes != FORK_MAX_PAYLOAD {
                notes.push(format!(
                    "(not {FORK_MAX_PAYLOAD}: the ack port had fewer than 5 digits)"
                ));
            }
        }
        for (m, p) in mbs.iter().take(1) {
            match echo_verdict(r, ctx, m, p) {
                Ok(e) => notes.push(e.to_string()),
                Err(e) => {
                    fail = true;
                    notes.push(e);
                }
            }
        }
        evidence.push(format!("{label}: {}", notes.join(", ")));
    }
    ctx.remove(&ran);
    result(
        CheckId::Limits,
        if fail { Verdict::Fail } else { Verdict::Pass },
        evidence,
        ran.len(),
    )
}

/// `independence`: two forks at once, each with its own nonce.
pub(super) fn independence(ctx: &Ctx, guest_acks: bool) -> CheckResult {
    let ack = ack_ms(ctx, guest_acks);
    let sides: Vec<(String, String)> = ["ind-a", "ind-b"]
        .iter()
        .map(|c| (c.to_string(), uuid::Uuid::new_v4().to_string()))
        .collect();
    let probes = sides
        .iter()
        .map(|(case, nonce)| Probe {
            case: case.clone(),
            mailboxes: ctx
                .selected
                .iter()
                .map(|m| {
                    spec(
                        m,
                        payload(
                            "independence",
                            &ctx.name(case),
                            &format!(r#""nonce":"{nonce}""#),
                        ),
                        ack,
                    )
                })
                .collect(),
        })
        .collect();
    let ran = ctx.run(probes);
    let mut fail = false;
    let mut evidence = Vec::new();
    let mut echo_seen = 0;
    for (i, r) in ran.iter().enumerate() {
        if let Some(f) = r.failure() {
            fail = true;
            evidence.push(f);
            continue;
        }
        for (m, from, why) in r.ignored() {
            fail = true;
            evidence.push(format!(
                "fork {}: a datagram from its own guest ({from}) on {m}'s port did not count: {why}",
                r.name
            ));
        }
        // Someone else's datagrams are noise — unless the other fork's guest
        // sent them: a crossed ack is this guest's doing.
        let sibling = ran[1 - i]
            .result
            .as_ref()
            .ok()
            .and_then(|o| o.process.clone());
        for (m, from, _, _) in r.noise() {
            if let Some(p) = &sibling
                && AckSender::Process(p.clone()).verify(from).is_ok()
            {
                fail = true;
                evidence.push(format!(
                    "fork {}: a crossed datagram on {m}'s port from the other fork's guest ({from})",
                    r.name
                ));
            }
        }
        let acked = vec![guest_acks; ctx.selected.len()];
        let (v, ev) = consumed_evidence(ctx, r, &ctx.selected, &acked);
        if v == Verdict::Fail {
            fail = true;
            evidence.extend(ev);
        }
        let Some(info) = r.info(ctx) else { continue };
        let echoed = echoes(&info);
        let own = &sides[i].1;
        let other = &sides[1 - i].1;
        if echoed.iter().any(|(_, p)| p.contains(other.as_str())) {
            fail = true;
            evidence.push(format!(
                "fork {}: its console shows the other fork's payload",
                r.name
            ));
        } else if echoed.iter().any(|(_, p)| p.contains(own.as_str())) {
            echo_seen += 1;
        }
    }
    if !fail {
        let acks: usize = ran.iter().map(|r| r.acks().len()).sum();
        evidence.push(if guest_acks {
            format!(
                "each guest acked its own fork only: {acks} ack(s), no datagram of theirs ignored"
            )
        } else {
            "no acks asked (the guest does not ack); no datagram arrived".into()
        });
    }
    evidence.push(match echo_seen {
        2 => "echo seen: each console shows its own payload".into(),
        0 => "echo not seen (not required)".into(),
        n => format!("echo seen on {n} of 2 consoles"),
    });
    evidence.extend(noise_evidence(&ran));
    ctx.remove(&ran);
    result(
        CheckId::Independence,
        if fail { Verdict::Fail } else { Verdict::Pass },
        evidence,
        ran.len(),
    )
}

/// `no-payload`: a fork with one mailbox (none when the template has only
/// one); every other mailbox of the template must stay at seq 0.
pub(super) fn no_payload(ctx: &Ctx, guest_acks: bool) -> CheckResult {
    let included: Option<String> = (ctx.usable.len() >= 2).then(|| ctx.selected[0].clone());
    let left: Vec<String> = ctx
        .usable
        .iter()
        .map(|(m, _)| m.clone())
        .filter(|m| Some(m) != included.as_ref())
        .collect();
    let name = ctx.name("nopay");
    let mailboxes = included
        .iter()
        .map(|m| spec(m, payload("no-payload", &name, ""), ack_ms(ctx, guest_acks)))
        .collect();
    let ran = ctx.run(vec![Probe {
        case: "nopay".into(),
        mailboxes,
    }]);
    let r = &ran[0];
    let mut fail = false;
    let mut evidence = Vec::new();
    if let Some(f) = r.failure() {
        fail = true;
        evidence.push(f);
    } else {
        if let Some(m) = &included {
            let (v, ev) = consumed_evidence(ctx, r, std::slice::from_ref(m), &[guest_acks]);
            fail |= v == Verdict::Fail;
            evidence.extend(ev);
        }
        let window = observe_window(ctx.deadline_ms);
        match ctx.watch_untouched(r, &left, window) {
            Ok(None) => evidence.push(format!(
                "{} (not in the fork): seq 0 throughout {} ms{}",
                left.join(", "),
                window.as_millis(),
                match &included {
                    Some(m) => format!(" after {m} was handled"),
                    None => " (a fork with no mailbox)".into(),
                }
            )),
            Ok(Some((m, q))) => {
                fail = true;
                evidence.push(format!("{m} was not in the fork, yet its seq became {q}"));
            }
            Err(e) => {
                fail = true;
                evidence.push(format!("cannot read the fork's memory: {e}"));
            }
        }
        let stray = r.ignored();
        if stray.is_empty() {
            evidence.push("no stray datagram from the guest".into());
        }
        for (m, from, why) in stray {
            fail = true;
            evidence.push(format!(
                "a datagram from the guest ({from}) on {m}'s port did not count: {why}"
            ));
        }
        evidence.extend(noise_evidence(&ran));
    }
    ctx.remove(&ran);
    result(
        CheckId::NoPayload,
        if fail { Verdict::Fail } else { Verdict::Pass },
        evidence,
        1,
    )
}

/// Payloads that are valid JSON objects but nothing a guest expects.
const ODD_PAYLOADS: [&str; 2] = [
    "{}",
    r#"{"ack_port":"not-a-port","forkmail_check":[null,true,-0.0,1e308,"",{"":{}}],"nested":{"ack_port":1}}"#,
];

/// `robustness` (a warning, never a failure): the guest still runs after
/// payloads it does not expect.
pub(super) fn robustness(ctx: &Ctx) -> CheckResult {
    let first = ctx.selected[0].clone();
    let probes = ODD_PAYLOADS
        .iter()
        .enumerate()
        .map(|(i, p)| Probe {
            case: format!("rob-{i}"),
            mailboxes: vec![spec(&first, p.to_string(), None)],
        })
        .collect();
    let ran = ctx.run(probes);
    let mut warn = false;
    let mut evidence = Vec::new();
    for (r, p) in ran.iter().zip(ODD_PAYLOADS) {
        if let Some(f) = r.failure() {
            warn = true;
            evidence.push(f);
            continue;
        }
        let _ = ctx.wait_consumed(r, std::slice::from_ref(&first));
        let _ = ctx.watch_untouched(r, &[], observe_window(ctx.deadline_ms));
        if ctx.alive(&r.name) {
            evidence.push(format!("still running after {p}"));
        } else {
            warn = true;
            let tail = r.info(ctx).map(|i| log_tail(&i)).unwrap_or_default();
            evidence.push(format!("the guest stopped after {p}; its log ends: {tail}"));
        }
    }
    ctx.remove(&ran);
    result(
        CheckId::Robustness,
        if warn { Verdict::Warn } else { Verdict::Pass },
        evidence,
        ran.len(),
    )
}
