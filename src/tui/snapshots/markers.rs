//! The markers pane: every marker of the selected snapshot, with the
//! per-mailbox fork settings, a scan gauge, or how to arm a mailbox. It
//! owns its selection, its filter and whether tokens show.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Row, Table, TableState, Wrap};

use super::catalog::Catalog;
use super::drafts::Drafts;
use super::exclusion::exclusions;
use super::sources::Entry;
use crate::mailbox::MailboxKind;
use crate::sanitize::{safe, safe_owned};
use crate::scan::{Marker, ScanReport};
use crate::tui::action::{Action, Level};
use crate::tui::keymap::Scope;
use crate::tui::shared::Shared;
use crate::tui::text::{clip, counted, rate_eta, secs, step, u16_of, window};
use crate::tui::widget::pane_block;
use crate::units::human_size;

/// The markers pane.
#[derive(Debug, Default)]
pub struct Markers {
    /// Selected row among the visible markers.
    pub sel: usize,
    /// Name filter.
    pub filter: String,
    /// Tokens shown in clear.
    pub reveal: bool,
}

impl Markers {
    /// Indices (into `report`) of the markers the filter lets through.
    pub fn visible(&self, report: Option<&ScanReport>) -> Vec<usize> {
        let Some(r) = report else {
            return Vec::new();
        };
        r.markers
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                crate::tui::text::passes(&self.filter, &[m.name.as_deref().unwrap_or("")])
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The selected marker.
    pub fn selected<'a>(&self, report: Option<&'a ScanReport>) -> Option<&'a Marker> {
        let i = *self.visible(report).get(self.sel)?;
        report?.markers.get(i)
    }

    /// Move the selection. Returns whether it moved.
    pub fn move_sel(&mut self, action: Action, report: Option<&ScanReport>, page: usize) -> bool {
        let new = step(action, self.sel, self.visible(report).len(), page);
        let moved = new != self.sel;
        self.sel = new;
        moved
    }

    /// Select row `row` (a click). Returns whether it moved.
    pub fn select(&mut self, row: usize, report: Option<&ScanReport>) -> bool {
        let moved = row != self.sel && row < self.visible(report).len();
        if moved {
            self.sel = row;
        }
        moved
    }

    /// Keep the selection on a visible row.
    pub fn clamp(&mut self, report: Option<&ScanReport>) {
        self.sel = self.sel.min(self.visible(report).len().saturating_sub(1));
    }

    /// Set the name filter.
    pub fn set_filter(&mut self, text: String, report: Option<&ScanReport>) {
        self.filter = text;
        self.clamp(report);
    }

    /// `t`: show or mask tokens.
    pub fn toggle_reveal(&mut self, cx: &mut Shared) {
        self.reveal = !self.reveal;
        let t = cx.keymap().key_for(Scope::Markers, Action::RevealTokens);
        let text = if self.reveal {
            format!("tokens revealed ({t} masks them)")
        } else {
            format!("tokens masked ({t} reveals them)")
        };
        cx.say(text, Level::Info);
    }

    /// Rows the pane would like (borders included).
    pub fn wanted_height(&self, report: Option<&ScanReport>) -> u16 {
        match report {
            Some(r) if r.markers.is_empty() => 7,
            Some(r) => {
                let warn = r.markers.iter().any(|m| m.duplicate || !m.valid);
                u16_of(self.visible(report).len().max(1)) + 3 + u16::from(warn)
            }
            None => 5,
        }
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

impl Markers {
    /// Draw the markers pane.
    pub fn draw(
        &self,
        f: &mut Frame,
        area: Rect,
        cx: &Shared,
        focused: bool,
        catalog: &Catalog,
        drafts: &Drafts,
    ) {
        let t = cx.theme();
        let Some(entry) = catalog.selected_entry() else {
            let block = pane_block(t, focused, "Markers".into());
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
        let report = catalog.cached(&key);
        // A count only once the scan knows it.
        let title = match report {
            Some(r) => counted(
                &format!("Markers · {shown}"),
                self.visible(Some(r.as_ref())).len(),
                r.markers.len(),
                &self.filter,
            ),
            None => format!("Markers · {shown}"),
        };
        let block = pane_block(t, focused, title);
        if let Entry::Problem {
            problem, reason, ..
        } = entry
        {
            let p = Paragraph::new(vec![
            Line::styled(
                format!("unreadable ({problem}): {}", safe(reason)),
                t.error(),
            ),
            Line::styled(
                "forkmail lists what it cannot read instead of hiding it; nothing here was changed",
                t.dim(),
            ),
        ])
        .wrap(Wrap { trim: true })
        .block(block);
            f.render_widget(p, area);
            return;
        }
        if let Some(err) = catalog.failed.get(&key) {
            let p = Paragraph::new(vec![
                Line::styled(format!("scan failed: {}", safe(err)), t.error()),
                Line::styled("press r to scan again", t.dim()),
            ])
            .wrap(Wrap { trim: true })
            .block(block);
            f.render_widget(p, area);
            return;
        }
        let Some(report) = report else {
            let inner = block.inner(area);
            f.render_widget(block, area);
            let job = catalog.scan_job.as_ref().filter(|j| j.snapshot == key);
            let (done, total) = job.map(|j| (j.done, j.total)).unwrap_or((0, 0));
            let ratio = if total > 0 {
                (done as f64 / total as f64).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let gone_ms = job.map(|j| {
                cx.clock()
                    .instant()
                    .saturating_duration_since(j.started)
                    .as_millis()
            });
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
            let speed = gone_ms
                .and_then(|ms| {
                    crate::tui::text::progress_rate(
                        done,
                        total,
                        u64::try_from(ms).unwrap_or(u64::MAX),
                    )
                })
                .map(|(rate, eta)| format!(" · {}", rate_eta(rate, eta)))
                .unwrap_or_default();
            f.render_widget(
                Gauge::default()
                    .gauge_style(t.ok())
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
                    t.warn(),
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
            .clamp(10, 24);
        let name_w = u16_of(name_w);
        // A revealed token gets the room left after the fixed columns; one that
        // is longer ends in `…` (never cut silently); `y` copies it whole.
        let fixed = 3 + 4 + name_w + 11 + 3 + 4 + 6 + 9 + 8 + 2;
        let longest = report
            .markers
            .iter()
            .map(|m| m.token.chars().count())
            .max()
            .unwrap_or(8);
        let longest = u16_of(longest);
        let token_w: u16 = if self.reveal {
            longest.clamp(8, table_area.width.saturating_sub(fixed).max(8))
        } else {
            8
        };
        let visible = self.visible(Some(report.as_ref()));
        // Duplicate or invalid names, found in one pass (not one per row).
        let excluded_names = exclusions(report);
        let (shown, sel) = window(visible.len(), self.sel, table_area.height);
        let rows = visible[shown].iter().map(|&i| &report.markers[i]).map(|m| {
        let (inc, ack) = match (m.kind, &m.name) {
            // Read-only: shown, never forked from here.
            _ if read_only => (" - ".to_string(), "-".into()),
            // Duplicate or invalid: never part of a fork, whatever the draft says.
            (MailboxKind::Fork, Some(name)) if excluded_names.contains_key(name.as_str()) => {
                (" ✗ ".to_string(), "-".into())
            }
            (MailboxKind::Fork, Some(name)) => {
                match drafts.peek(&key, name) {
                    Some(d) => (
                        if d.include { "[x]" } else { "[ ]" }.to_string(),
                        if d.wait_for_ack {
                            secs(d.ack_timeout_ms)
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
                t.warn()
            } else {
                t.error()
            }
        } else {
            t.dim()
        };
        let excluded = matches!((m.kind, &m.name), (MailboxKind::Fork, Some(n)) if excluded_names.contains_key(n.as_str()));
        let inc_style = if excluded {
            t.error()
        } else {
            t.key()
        };
        Row::new(vec![
            Span::styled(inc, inc_style),
            Span::raw(kind),
            Span::raw(name),
            Span::raw(clip(&masked(&m.token, self.reveal), usize::from(token_w))),
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
        .style(t.header());
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
                Constraint::Length(6),
                Constraint::Min(9),
            ],
        )
        .header(header)
        .row_highlight_style(t.selected())
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
            f.render_widget(Paragraph::new(Line::styled(text, t.error())), w);
        }
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
