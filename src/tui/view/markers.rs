//! The markers pane: every marker of the selected snapshot, with the
//! per-mailbox fork settings, a scan gauge, or how to arm a mailbox.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Row, Table, TableState, Wrap};

use super::{clip, pane_block};
use crate::mailbox::MailboxKind;
use crate::sanitize::{safe, safe_owned};
use crate::scan::Marker;
use crate::tui::app::{App, Pane};
use crate::tui::session::exclusions;
use crate::tui::sources::Entry;
use crate::units::human_size;

/// Rows the pane would like (borders included).
pub fn wanted_height(app: &App) -> u16 {
    match app.markers() {
        Some(r) if r.markers.is_empty() => 7,
        Some(r) => {
            let warn = r.markers.iter().any(|m| m.duplicate || !m.valid);
            app.visible_markers().len().max(1) as u16 + 3 + u16::from(warn)
        }
        None => 5,
    }
}

fn masked(token: &str, reveal: bool) -> String {
    if reveal {
        safe_owned(token)
    } else {
        "•".repeat(8)
    }
}

fn note(m: &Marker) -> (String, bool) {
    if !m.valid {
        return (
            format!(
                "INVALID: {}",
                safe(m.problem.as_deref().unwrap_or("bad marker"))
            ),
            true,
        );
    }
    if m.duplicate {
        return ("DUPLICATE".into(), true);
    }
    if m.seq != 0 {
        return ("published before snapshot".into(), true);
    }
    if !m.page_aligned {
        return ("unaligned".into(), false);
    }
    (String::new(), false)
}

/// Draw the markers pane.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(entry) = app.catalog.selected_entry() else {
        let block = pane_block(app, Pane::Markers, "Markers".into());
        f.render_widget(Paragraph::new("").block(block), area);
        return;
    };
    let key = entry.key();
    let read_only = !matches!(entry, Entry::Store(_));
    let shown = if read_only {
        format!("{} · read-only", safe(&key))
    } else {
        key.clone()
    };
    let title = if app.filters.markers.is_empty() {
        format!("Markers · {shown}")
    } else {
        format!(
            "Markers · {shown} (filter \"{}\")",
            safe(&app.filters.markers)
        )
    };
    let block = pane_block(app, Pane::Markers, title);
    if let Entry::Problem {
        problem, reason, ..
    } = entry
    {
        let p = Paragraph::new(vec![
            Line::styled(
                format!("unreadable ({problem}): {}", safe(reason)),
                app.theme.error(),
            ),
            Line::styled(
                "forkmail lists what it cannot read instead of hiding it; nothing here was changed",
                app.theme.dim(),
            ),
        ])
        .wrap(Wrap { trim: true })
        .block(block);
        f.render_widget(p, area);
        return;
    }
    if let Some(err) = app.catalog.failed.get(&key) {
        let p = Paragraph::new(vec![
            Line::styled(format!("scan failed: {}", safe(err)), app.theme.error()),
            Line::styled("press r to scan again", app.theme.dim()),
        ])
        .wrap(Wrap { trim: true })
        .block(block);
        f.render_widget(p, area);
        return;
    }
    let Some(report) = app.catalog.cached(&key) else {
        let inner = block.inner(area);
        f.render_widget(block, area);
        let job = app.catalog.scan_job.as_ref().filter(|j| j.snapshot == key);
        let (done, total) = job.map(|j| (j.done, j.total)).unwrap_or((0, 0));
        let ratio = if total > 0 {
            (done as f64 / total as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let [text, gauge] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(inner);
        f.render_widget(
            Paragraph::new(match entry.memory_size() {
                Some(size) => format!(
                    "scanning {} of data in {}…",
                    human_size(total),
                    human_size(size)
                ),
                // A compressed stream: its length is known at its end.
                None => format!("scanning (about {} so far)…", human_size(total)),
            }),
            text,
        );
        // Throughput and ETA from the scan's own start (none with a frozen clock).
        let speed = job
            .map(|j| {
                app.clock
                    .instant()
                    .saturating_duration_since(j.started)
                    .as_secs_f64()
            })
            .filter(|s| *s > 0.0 && done > 0)
            .map(|secs| {
                let rate = done as f64 / secs;
                let eta = (total > done).then(|| (total - done) as f64 / rate);
                format!(" · {}", super::rate_eta(rate, eta))
            })
            .unwrap_or_default();
        f.render_widget(
            Gauge::default()
                .gauge_style(app.theme.ok())
                .ratio(ratio)
                .label(format!(
                    "{} / {}{speed}",
                    human_size(done),
                    human_size(total)
                )),
            gauge,
        );
        return;
    };
    if report.markers.is_empty() {
        let lines = vec![
            Line::styled(
                format!(
                    "No markers in {} ({} of data scanned).",
                    human_size(report.file_size),
                    human_size(report.data_bytes)
                ),
                app.theme.warn(),
            ),
            Line::raw(
                "To arm a mailbox, a program in the guest allocates a page-aligned 4 KiB buffer, writes HYPEMAN_FORK_MAILBOX_V1\\0<name>\\0<token> at its start (seq = 0), mlocks it, and keeps it until the snapshot is taken — e.g. `forkmail-guest arm`.",
            ),
        ];
        f.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
            area,
        );
        return;
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let warn_count = report
        .markers
        .iter()
        .filter(|m| m.duplicate || !m.valid)
        .count();
    let (table_area, warn_area) = if warn_count > 0 || report.truncated {
        let [a, b] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
        (a, Some(b))
    } else {
        (inner, None)
    };
    let name_w = report
        .markers
        .iter()
        .map(|m| m.name.as_ref().map_or(16, |n| n.chars().count()))
        .max()
        .unwrap_or(10)
        .clamp(10, 24) as u16;
    // A revealed token gets the room left after the fixed columns; one that
    // is longer ends in `…` (never cut silently); `y` copies it whole.
    let fixed = 3 + 4 + name_w + 11 + 3 + 4 + 5 + 9 + 8 + 2;
    let longest = report
        .markers
        .iter()
        .map(|m| m.token.chars().count())
        .max()
        .unwrap_or(8) as u16;
    let token_w: u16 = if app.reveal_tokens {
        longest.clamp(8, table_area.width.saturating_sub(fixed).max(8))
    } else {
        8
    };
    let visible = app.visible_markers();
    // Duplicate or invalid names, found in one pass (not one per row).
    let excluded_names = exclusions(report);
    let (shown, sel) = super::window(visible.len(), app.marker_sel, table_area.height);
    let rows = visible[shown].iter().map(|&i| &report.markers[i]).map(|m| {
        let (inc, ack) = match (m.kind, &m.name) {
            // Read-only: shown, never forked from here.
            _ if read_only => (" - ".to_string(), "-".into()),
            // Duplicate or invalid: never part of a fork, whatever the draft says.
            (MailboxKind::Fork, Some(name)) if excluded_names.contains_key(name.as_str()) => {
                (" ✗ ".to_string(), "-".into())
            }
            (MailboxKind::Fork, Some(name)) => {
                match app.drafts.get(&(key.clone(), name.clone())) {
                    Some(d) => (
                        if d.include { "[x]" } else { "[ ]" }.to_string(),
                        if d.wait_for_ack {
                            format!("{:.1}s", d.ack_timeout_ms as f64 / 1000.0)
                        } else {
                            "off".into()
                        },
                    ),
                    None => ("?".into(), "?".into()),
                }
            }
            _ => (" - ".into(), "-".into()),
        };
        let (kind, name) = match m.kind {
            MailboxKind::Fork => (
                "fork",
                m.name.as_deref().map(safe_owned).unwrap_or_default(),
            ),
            MailboxKind::ResumeNetwork => ("rnet", "(resume-network)".into()),
        };
        let (text, bad) = note(m);
        let note_style = if bad {
            if m.valid {
                app.theme.warn()
            } else {
                app.theme.error()
            }
        } else {
            app.theme.dim()
        };
        let excluded = matches!((m.kind, &m.name), (MailboxKind::Fork, Some(n)) if excluded_names.contains_key(n.as_str()));
        let inc_style = if excluded {
            app.theme.error()
        } else {
            app.theme.key()
        };
        Row::new(vec![
            Span::styled(inc, inc_style),
            Span::raw(kind),
            Span::raw(name),
            Span::raw(clip(&masked(&m.token, app.reveal_tokens), token_w as usize)),
            Span::raw(format!("{:#x}", m.offset)),
            Span::raw(m.seq.to_string()),
            Span::raw(m.payload_len.to_string()),
            Span::raw(ack),
            Span::styled(text, note_style),
        ])
    });
    let header = Row::new([
        "IN", "KIND", "NAME", "TOKEN", "OFFSET", "SEQ", "LEN", "ACK", "NOTE",
    ])
    .style(app.theme.header());
    let table = Table::new(
        rows,
        [
            Constraint::Length(3),
            Constraint::Length(4),
            Constraint::Length(name_w),
            Constraint::Length(token_w),
            Constraint::Length(11),
            Constraint::Length(3),
            Constraint::Length(4),
            Constraint::Length(5),
            Constraint::Min(9),
        ],
    )
    .header(header)
    .row_highlight_style(app.theme.selected())
    .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(sel));
    f.render_stateful_widget(table, table_area, &mut state);
    if let Some(w) = warn_area {
        let dup = report.markers.iter().any(|m| m.duplicate);
        let invalid = report.markers.iter().any(|m| !m.valid);
        let text = if report.truncated {
            TRUNCATED
        } else {
            warning(dup, invalid)
        };
        f.render_widget(Paragraph::new(Line::styled(text, app.theme.error())), w);
    }
}

/// The warning for a scan that hit the marker cap: a guest flooded its
/// memory with markers, so a copy of any mailbox could be hidden.
pub const TRUNCATED: &str = "⚠ scan stopped at 65536 markers: more may hide; forks need a --token";

/// The warning under the table. It fits the pane at 80 columns (78 inside
/// the borders): forks leave these mailboxes out (` ✗ ` in the IN column).
pub fn warning(dup: bool, invalid: bool) -> &'static str {
    match (dup, invalid) {
        (true, true) => "⚠ ✗ duplicate/invalid markers: never forked (forkmail won't guess)",
        (true, false) => {
            "⚠ ✗ duplicate marker: never forked (forkmail won't patch an ambiguous one)"
        }
        _ => "⚠ ✗ invalid markers: never forked",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn warnings_fit_inside_an_80_column_pane() {
        assert!(super::TRUNCATED.chars().count() <= 78);
        for (d, i) in [(true, true), (true, false), (false, true)] {
            let w = super::warning(d, i);
            assert!(w.chars().count() <= 78, "{} > 78: {w}", w.chars().count());
        }
    }
}
