//! The detail of a fan-out (a per-fork stage grid, then the summary the
//! CLI prints: counts, per-stage spread, divergence, failures with their
//! kinds) and of a conformance-suite run (its table, live; a row's whole
//! evidence on Enter).

use ratatui::text::{Line, Span};

use super::detail::stage_glyph;
use super::groups::{CheckView, Sessions};
use super::model::SessionView;
use crate::check::{CheckId, Verdict};
use crate::fork::Stage;
use crate::sanitize::safe;
use crate::tui::msg::FanoutSummary;
use crate::tui::shared::Shared;
use crate::tui::text::{clip, clip_middle, width as text_width, wrap};
use crate::units::human_size;

/// Column heads of the stage grid.
const HEADS: [&str; 7] = ["val", "cpy", "pre", "pat", "res", "ack", "done"];

/// A fan-out's summary from its forks' sessions (one read back from the
/// history: no divergence measured).
pub fn summary_of(members: &[&SessionView], count: usize) -> FanoutSummary {
    let done = members.iter().filter(|s| s.done()).count();
    let mut stages = Vec::new();
    for st in Stage::PIPELINE {
        let mut took: Vec<u64> = members
            .iter()
            .filter_map(|s| {
                if st == Stage::Done {
                    return s.done().then_some(s.elapsed_ms);
                }
                let r = s.stages.get(&st)?;
                (r.status == crate::fork::Status::Ok)
                    .then(|| r.elapsed_ms.saturating_sub(r.started_ms))
            })
            .collect();
        if took.is_empty() {
            continue;
        }
        took.sort_unstable();
        let at = |p: usize| took[((took.len() - 1) * p).div_ceil(100)];
        stages.push((st, at(50), at(95), took[took.len() - 1]));
    }
    FanoutSummary {
        forks: count.max(members.len()),
        done,
        failed: members.iter().filter(|s| s.failed()).count(),
        elapsed_ms: members.iter().map(|s| s.elapsed_ms).max().unwrap_or(0),
        per_second: 0.0,
        stages,
        divergence: None,
        failures: members
            .iter()
            .filter_map(|s| {
                let f = s.failure.as_ref()?;
                Some((s.fork.clone(), f.kind, f.message.clone()))
            })
            .collect(),
        removed: members
            .iter()
            .filter(|s| {
                s.kept
                    .as_ref()
                    .is_some_and(|k| k.fate == crate::fork::Fate::Removed)
            })
            .count(),
    }
}

fn summary_lines(cx: &Shared, s: &FanoutSummary, width: usize) -> Vec<Line<'static>> {
    let t = cx.theme();
    let mut lines = Vec::new();
    let rate = if s.per_second > 0.0 {
        format!(" ({:.1} forks/s)", s.per_second)
    } else {
        String::new()
    };
    lines.push(Line::styled(
        format!(
            " {} of {} done, {} failed in {} ms{rate}",
            s.done, s.forks, s.failed, s.elapsed_ms
        ),
        if s.failed > 0 { t.error() } else { t.ok() },
    ));
    if !s.stages.is_empty() {
        lines.push(Line::styled(
            format!(" {:<9} {:>9} {:>9} {:>9}", "stage", "median", "p95", "max"),
            t.header(),
        ));
        for (st, med, p95, max) in &s.stages {
            let label = if *st == Stage::Done {
                "total"
            } else {
                st.label()
            };
            let ms = |v: &u64| format!("{v} ms");
            lines.push(Line::styled(
                format!(" {label:<9} {:>9} {:>9} {:>9}", ms(med), ms(p95), ms(max)),
                t.dim(),
            ));
        }
    }
    if let Some((n, bytes, how)) = s.divergence {
        for l in wrap(
            &format!(
                "divergence: {} private over {n} running fork(s) ({how})",
                human_size(bytes)
            ),
            width.saturating_sub(2),
        ) {
            lines.push(Line::styled(format!(" {l}"), t.dim()));
        }
    }
    if !s.failures.is_empty() {
        lines.push(Line::styled(" failed:", t.error()));
        for (fork, kind, message) in &s.failures {
            let head = format!("   {} {}: ", clip_middle(fork, 16), kind.as_str());
            let room = width.saturating_sub(text_width(&head));
            lines.push(Line::from(vec![
                Span::raw(head),
                Span::styled(clip(&safe(message), room.max(10)), t.error()),
            ]));
        }
    }
    if s.removed > 0 {
        for l in wrap(
            &format!(
                "rolled back: removed the {} fork(s) that were made (a fan-out is all or nothing)",
                s.removed
            ),
            width.saturating_sub(2),
        ) {
            lines.push(Line::styled(format!(" {l}"), t.warn()));
        }
    }
    lines
}

/// Fan-out `gi`'s detail: one row per fork, one column per stage, then its
/// summary (once it ended).
pub fn fanout_lines(cx: &Shared, m: &Sessions, gi: usize, width: usize) -> Vec<Line<'static>> {
    let t = cx.theme();
    let Some(fo) = m.fanouts.get(gi) else {
        return Vec::new();
    };
    let members = m.members(gi);
    let done = members.iter().filter(|s| s.done()).count();
    let failed = members.iter().filter(|s| s.failed()).count();
    let running = members.iter().filter(|s| s.is_running()).count();
    let mut lines = vec![Line::from(vec![
        Span::styled(format!(" {done} done"), t.ok()),
        Span::styled(
            format!(", {failed} failed"),
            if failed > 0 { t.error() } else { t.dim() },
        ),
        Span::styled(
            format!(", {running} to go · {} at a time", fo.parallel),
            t.dim(),
        ),
    ])];
    let name_w = members
        .iter()
        .map(|s| s.fork.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, width.saturating_sub(2 + 5 * HEADS.len()).clamp(6, 24));
    let mut head = format!(" {:<name_w$} ", "fork");
    for h in HEADS {
        head.push_str(&format!("{h:<5}"));
    }
    lines.push(Line::styled(head, t.header()));
    for s in &members {
        let mut spans = vec![Span::raw(format!(
            " {:<name_w$} ",
            clip_middle(&s.fork, name_w)
        ))];
        for st in Stage::PIPELINE {
            let (g, style) = stage_glyph(cx, s, st);
            spans.push(Span::styled(format!("{g:<5}"), style));
        }
        if let Some(e) = s.error()
            && !s.cancelled()
        {
            let room = width.saturating_sub(name_w + 2 + 5 * HEADS.len());
            spans.push(Span::styled(clip(&e, room), t.error()));
        }
        lines.push(Line::from(spans));
    }
    let summary = fo
        .summary
        .clone()
        .or_else(|| (running == 0).then(|| summary_of(&members, fo.count)));
    if let Some(summary) = summary {
        lines.push(Line::raw(""));
        lines.extend(summary_lines(cx, &summary, width));
    }
    lines
}

/// Conformance run `c`'s table: rule, verdict, time and the first line of
/// the evidence (row `sel` marked when the detail is focused).
pub fn check_lines(
    cx: &Shared,
    c: &CheckView,
    width: usize,
    sel: Option<usize>,
) -> Vec<Line<'static>> {
    let t = cx.theme();
    let mut lines = vec![Line::styled(
        format!("  {:<13} {:<8} {:>8}  evidence", "check", "verdict", "time"),
        t.header(),
    )];
    for (i, (id, row)) in c.rows.iter().enumerate() {
        let mark = if sel == Some(i) { ">" } else { " " };
        match row {
            None => lines.push(Line::from(vec![
                Span::raw(format!("{mark} {:<13} ", id.label())),
                Span::styled(format!("{} running", cx.spinner()), t.warn()),
            ])),
            Some(r) => {
                let style = match r.verdict {
                    Verdict::Pass => t.ok(),
                    Verdict::Fail => t.error(),
                    Verdict::Warn => t.warn(),
                };
                let first = r.evidence.first().map(String::as_str).unwrap_or("");
                // Narrow: the evidence goes on a line of its own.
                let beside = width >= 36 + 30;
                let room = if beside {
                    width.saturating_sub(36)
                } else {
                    width.saturating_sub(4)
                };
                let more = if r.evidence.len() > 1 || text_width(first) > room {
                    " (Enter: all)"
                } else {
                    ""
                };
                let evidence = vec![
                    Span::raw(clip(&safe(first), room.saturating_sub(text_width(more)))),
                    Span::styled(more, t.dim()),
                ];
                let mut spans = vec![
                    Span::raw(format!("{mark} {:<13} ", id.label())),
                    Span::styled(format!("{:<8}", r.verdict.label()), style),
                    Span::styled(format!(" {:>5} ms  ", r.elapsed_ms), t.dim()),
                ];
                if beside {
                    spans.extend(evidence.iter().cloned());
                }
                let line = Line::from(spans);
                lines.push(if sel == Some(i) {
                    line.style(t.selected())
                } else {
                    line
                });
                if !beside {
                    let mut under = vec![Span::raw("    ")];
                    under.extend(evidence);
                    lines.push(Line::from(under));
                }
            }
        }
    }
    lines.push(Line::raw(""));
    match &c.outcome {
        None => lines.push(Line::styled(" running… (x cancels)", t.warn())),
        Some(Ok(true)) => lines.push(Line::styled(" every required check passed", t.ok())),
        Some(Ok(false)) => {
            let text = "a required check failed (Enter on a row: its whole evidence, y copies it)";
            for l in wrap(text, width.saturating_sub(2)) {
                lines.push(Line::styled(format!(" {l}"), t.error()));
            }
        }
        Some(Err(e)) => {
            for l in wrap(
                &format!("could not run: {}", safe(e)),
                width.saturating_sub(2),
            ) {
                lines.push(Line::styled(format!(" {l}"), t.error()));
            }
        }
    }
    lines
}

/// The whole evidence of check `id` of run `c`, as the viewer shows it.
pub fn check_evidence(c: &CheckView, id: CheckId) -> Vec<String> {
    match c.rows.get(&id) {
        Some(Some(r)) => {
            let mut out = vec![
                format!("check {} on the guest of {}", id.label(), safe(&c.snapshot)),
                format!("verdict {} in {} ms", r.verdict.label(), r.elapsed_ms),
                String::new(),
            ];
            out.extend(r.evidence.iter().map(|e| safe(e).into_owned()));
            out
        }
        _ => vec![format!("check {} is still running", id.label())],
    }
}

/// Every check's whole evidence (Enter on a run's row).
pub fn check_report(c: &CheckView) -> Vec<String> {
    let mut out = Vec::new();
    for id in c.rows.keys() {
        out.extend(check_evidence(c, *id));
        out.push(String::new());
    }
    out
}
