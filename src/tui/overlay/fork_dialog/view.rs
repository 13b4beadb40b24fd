//! The fork dialog drawn: its fields (the focused one reversed, a text
//! field with a cursor), the mailboxes, the payloads about to be sent
//! (wrapped, so they read whole), what cannot be forked, and why the last
//! attempt was refused — first, where it is seen. A dialog taller than the
//! terminal scrolls (PgDn/PgUp), keeping the focused field in view.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::form::{Field, ForkForm};
use crate::sanitize::safe;
use crate::tui::shared::Shared;
use crate::tui::text::{u16_of, wrap};
use crate::tui::widget::popup::centered;

/// The dialog's lines in `width` columns, and the line of the focused field.
fn lines(cx: &Shared, form: &ForkForm, width: usize) -> (Vec<Line<'static>>, usize) {
    let t = cx.theme();
    let focus = form.field();
    let mut focus_line = 0;
    // The focused field is shown reversed, a text field with a cursor.
    let style = |f: Field, base| if f == focus { t.selected() } else { base };
    let cursor = |f: Field| if f == focus { "█" } else { "" };
    let check = |on: bool| if on { "[x]" } else { "[ ]" };
    let n = form.count();
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = &form.error {
        for l in wrap(&format!("✗ not forked: {e}"), width) {
            lines.push(Line::styled(l, t.error()));
        }
        lines.push(Line::raw(""));
    }
    let label = if n > 1 { "base name: " } else { "fork name: " };
    if focus == Field::Name {
        focus_line = lines.len();
    }
    lines.push(Line::from(vec![
        Span::styled(label, t.dim()),
        Span::styled(
            format!("{}{}", safe(&form.name), cursor(Field::Name)),
            style(Field::Name, t.key()),
        ),
    ]));
    if matches!(focus, Field::Count | Field::Parallel) {
        focus_line = lines.len();
    }
    lines.push(Line::from(vec![
        Span::styled("count: ", t.dim()),
        Span::styled(
            format!("{}{}", form.count, cursor(Field::Count)),
            style(Field::Count, t.key()),
        ),
        Span::styled("   parallel: ", t.dim()),
        Span::styled(
            format!("{}{}", form.parallel, cursor(Field::Parallel)),
            style(Field::Parallel, t.key()),
        ),
        Span::styled(
            if n > 1 {
                format!(
                    "   fan-out: {}-0 … {}-{}",
                    safe(&form.name),
                    safe(&form.name),
                    n - 1
                )
            } else {
                "   (count > 1: a fan-out)".to_string()
            },
            t.dim(),
        ),
    ]));
    if matches!(focus, Field::NoRestore) {
        focus_line = lines.len();
    }
    lines.push(Line::from(vec![
        Span::styled(
            format!("{} no restore", check(form.no_restore)),
            style(Field::NoRestore, t.key()),
        ),
        Span::styled(" (stop after patch; keep the fork to inspect)", t.dim()),
    ]));
    if matches!(focus, Field::ZeroCopy) {
        focus_line = lines.len();
    }
    lines.push(Line::from(vec![
        Span::styled(
            format!("{} zero copy", check(form.zero_copy)),
            style(Field::ZeroCopy, t.key()),
        ),
        Span::styled(" (map the template privately)", t.dim()),
    ]));
    lines.push(Line::raw(""));
    if form.mailboxes.is_empty() {
        lines.push(Line::styled(
            "no mailbox included (space in the markers pane includes one)",
            t.dim(),
        ));
    } else {
        lines.push(Line::styled("mailboxes:", t.dim()));
        for (i, m) in form.mailboxes.iter().enumerate() {
            if matches!(focus, Field::Ack(j) | Field::Timeout(j) | Field::Token(j) if j == i) {
                focus_line = lines.len();
            }
            let mut spans = vec![
                Span::styled(format!("  • {:<14} ", safe(&m.name)), t.key()),
                Span::styled(
                    format!("{} ack", check(m.wait_for_ack)),
                    style(Field::Ack(i), t.key()),
                ),
            ];
            if m.wait_for_ack {
                spans.push(Span::raw(" within "));
                spans.push(Span::styled(
                    format!("{}{} s", m.timeout, cursor(Field::Timeout(i))),
                    style(Field::Timeout(i), t.key()),
                ));
            }
            spans.push(Span::styled("  token ", t.dim()));
            let token = if m.token.is_empty() && focus != Field::Token(i) {
                "(discovered)".to_string()
            } else {
                format!("{}{}", safe(&m.token), cursor(Field::Token(i)))
            };
            spans.push(Span::styled(token, style(Field::Token(i), t.dim())));
            lines.push(Line::from(spans));
            if let Some(Ok(schema)) =
                crate::tui::snapshots::payload::schema::load(cx.store(), &m.name)
            {
                let errs = schema.check(&m.payload);
                if let Some(e) = errs.first() {
                    let text = format!(
                        "⚠ schema: line {}: {} ({} in all)",
                        e.line,
                        e.message,
                        errs.len()
                    );
                    for l in wrap(&text, width.saturating_sub(6)) {
                        lines.push(Line::styled(format!("      {l}"), t.warn()));
                    }
                }
            }
        }
    }
    if !form.preview.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            if n > 1 {
                "payloads of the first and last fork ({{i}}, {{fork}}, {{uuid}} expanded):"
            } else {
                "payloads to send ({{i}}, {{fork}}, {{uuid}} expanded; ack_port is added):"
            },
            t.dim(),
        ));
        for p in &form.preview {
            let (mark, st) = match &p.problem {
                Some(_) => ("✗", t.error()),
                None => ("✓", t.ok()),
            };
            let text = format!("{mark} {} {}={}", p.fork, p.mailbox, p.text);
            for (k, l) in wrap(&text, width.saturating_sub(4)).into_iter().enumerate() {
                let indent = if k == 0 { "  " } else { "    " };
                lines.push(Line::styled(format!("{indent}{l}"), st));
            }
            if let Some(why) = &p.problem {
                for l in wrap(why, width.saturating_sub(6)) {
                    lines.push(Line::styled(format!("      {l}"), t.error()));
                }
            }
        }
    }
    if !form.excluded.is_empty() {
        lines.push(Line::styled("not forked (cannot be patched):", t.error()));
        for x in &form.excluded {
            for l in wrap(&format!("✗ {x}"), width.saturating_sub(2)) {
                lines.push(Line::styled(format!("  {l}"), t.error()));
            }
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Enter: fork   Tab/↓: next field   Space: toggle   +/-: timeout   Esc: cancel",
        t.dim(),
    ));
    (lines, focus_line)
}

/// Draw the dialog over `area`, scrolled by `scroll` lines (the focused
/// field kept in view).
pub fn draw(f: &mut Frame, area: Rect, cx: &Shared, form: &ForkForm, scroll: usize) {
    let t = cx.theme();
    let w = area.width.saturating_sub(2).min(100);
    let (lines, focus_line) = lines(cx, form, usize::from(w.saturating_sub(2)));
    let h = (u16_of(lines.len()) + 2).min(area.height.saturating_sub(1));
    let shown = usize::from(h.saturating_sub(2)).max(1);
    let max = lines.len().saturating_sub(shown);
    let mut scroll = scroll.min(max);
    if focus_line < scroll {
        scroll = focus_line;
    } else if focus_line >= scroll + shown {
        scroll = focus_line + 1 - shown;
    }
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    let mut title = match &form.replay_of {
        Some(p) => format!(
            " Replay {} ({}): fork {} ",
            safe(&p.fork),
            p.started,
            safe(&form.snapshot)
        ),
        None => format!(" Fork {} ", safe(&form.snapshot)),
    };
    if max > 0 {
        title.push_str(&format!(
            "· lines {}-{} of {} (PgDn/PgUp) ",
            scroll + 1,
            (scroll + shown).min(lines.len()),
            lines.len()
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus())
        .title(title);
    let visible: Vec<Line> = lines.into_iter().skip(scroll).take(shown).collect();
    f.render_widget(Paragraph::new(visible).block(block), r);
}
