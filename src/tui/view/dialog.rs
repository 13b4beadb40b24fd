//! Dialogs: the fork dialog (editable fork name) and yes/no confirmations.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::sanitize::safe;
use crate::tui::app::{App, Dialog};
use crate::tui::form::{Field, ForkForm};
use crate::tui::widget::popup::centered;

fn form_lines<'a>(app: &App, form: &ForkForm) -> (String, Vec<Line<'a>>) {
    let t = &app.theme;
    let focus = form.field();
    // The focused field is shown reversed, a text field with a cursor.
    let style = |f: Field, base| if f == focus { t.selected() } else { base };
    let cursor = |f: Field| if f == focus { "█" } else { "" };
    let check = |on: bool| if on { "[x]" } else { "[ ]" };
    let n = crate::tui::fanout::dialog_count(&form.count);
    let label = if n > 1 { "base name: " } else { "fork name: " };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(label, t.dim()),
            Span::styled(
                format!("{}{}", form.name, cursor(Field::Name)),
                style(Field::Name, t.key()),
            ),
        ]),
        Line::from(vec![
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
                    format!("   fan-out: {}-0 … {}-{}", form.name, form.name, n - 1)
                } else {
                    "   (count > 1: a fan-out)".to_string()
                },
                t.dim(),
            ),
        ]),
        Line::from(vec![
            Span::styled(
                format!("{} no restore", check(form.no_restore)),
                style(Field::NoRestore, t.key()),
            ),
            Span::styled(" (stop after patch; keep the fork to inspect)   ", t.dim()),
        ]),
        Line::from(vec![
            Span::styled(
                format!("{} zero copy", check(form.zero_copy)),
                style(Field::ZeroCopy, t.key()),
            ),
            Span::styled(
                " (map the template privately, patch the paused guest)",
                t.dim(),
            ),
        ]),
        Line::raw(""),
    ];
    if form.mailboxes.is_empty() {
        lines.push(Line::styled(
            "no mailbox included (space in the markers pane includes one)",
            t.dim(),
        ));
    } else {
        lines.push(Line::styled("mailboxes:", t.dim()));
        for (i, m) in form.mailboxes.iter().enumerate() {
            // A fan-out's payloads are judged once expanded (the preview).
            let bad = m.payload_problem().filter(|_| n < 2);
            let mut spans = vec![
                Span::styled(
                    format!("  • {:<14} ", safe(&m.name)),
                    if bad.is_some() { t.error() } else { t.key() },
                ),
                Span::styled(
                    format!("{} ack", check(m.wait_for_ack)),
                    style(Field::Ack(i), t.key()),
                ),
            ];
            if m.wait_for_ack {
                spans.push(Span::raw(" within "));
                spans.push(Span::styled(
                    format!("{}{} ms", m.timeout_ms, cursor(Field::Timeout(i))),
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
            if let Some(p) = bad {
                lines.push(Line::styled(
                    format!("      ✗ invalid payload: {p}"),
                    t.error(),
                ));
            }
            if let Some(Ok(schema)) = crate::tui::schema::load(&app.store, &m.name) {
                let errs = schema.check(&m.payload);
                if let Some(e) = errs.first() {
                    lines.push(Line::styled(
                        format!(
                            "      ⚠ schema: line {}: {} ({} in all)",
                            e.line,
                            e.message,
                            errs.len()
                        ),
                        t.warn(),
                    ));
                }
            }
        }
    }
    if !form.preview.is_empty() {
        lines.push(Line::styled(
            "payloads ({i}, {fork}, {uuid} expanded), first and last fork:",
            t.dim(),
        ));
        for (p, bad) in &form.preview {
            let mark = if *bad { "✗" } else { "✓" };
            lines.push(Line::styled(
                format!("  {mark} {}", super::clip(p, 64)),
                if *bad { t.error() } else { t.ok() },
            ));
        }
    }
    if !form.excluded.is_empty() {
        lines.push(Line::styled("not forked (cannot be patched):", t.error()));
        for x in &form.excluded {
            lines.push(Line::styled(format!("  ✗ {x}"), t.error()));
        }
    }
    if let Some(e) = &form.error {
        lines.push(Line::styled(e.clone(), t.error()));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Enter: fork   Tab/↓: next field   Space: toggle   +/-: timeout   Esc: cancel",
        t.dim(),
    ));
    let title = match &form.replay_of {
        Some(id) => format!(" Replay {id}: fork {} ", form.snapshot),
        None => format!(" Fork {} ", form.snapshot),
    };
    (title, lines)
}

/// Draw the open dialog.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(d) = &app.dialog else { return };
    let t = &app.theme;
    let (title, lines) = match d {
        Dialog::Fork(form) => form_lines(app, form),
        Dialog::BulkForkOp { names, remove } => {
            let verb = if *remove { "Remove" } else { "Stop" };
            let shown: Vec<&str> = names.iter().take(6).map(String::as_str).collect();
            let more = names.len().saturating_sub(shown.len());
            let mut list = shown.join(", ");
            if more > 0 {
                list.push_str(&format!(" and {more} more"));
            }
            (
                format!(" {verb} {} forks ", names.len()),
                vec![
                    Line::styled(
                        if *remove {
                            format!(
                                "Remove {} forks? This stops them and deletes their files.",
                                names.len()
                            )
                        } else {
                            format!(
                                "Stop {} forks? Their VMs stop; their files stay.",
                                names.len()
                            )
                        },
                        t.warn(),
                    ),
                    Line::raw(list),
                    Line::raw(""),
                    Line::styled(
                        format!("y: {} them all   n / Esc: keep them", verb.to_lowercase()),
                        t.dim(),
                    ),
                ],
            )
        }
        Dialog::StopFork(name) => (
            " Stop fork ".to_string(),
            vec![
                Line::raw(format!("Stop {name}? Its VM stops; its files stay.")),
                Line::raw(""),
                Line::styled("y: stop   n / Esc: keep it running", t.dim()),
            ],
        ),
        Dialog::RemoveFork(name) => (
            " Remove fork ".to_string(),
            vec![
                Line::styled(
                    format!("Remove {name}? This stops it and deletes its files."),
                    t.warn(),
                ),
                Line::raw(""),
                Line::styled("y: remove   n / Esc: keep it", t.dim()),
            ],
        ),
        Dialog::Quit(n) => (
            " Quit ".to_string(),
            vec![
                Line::styled(
                    format!(
                        "{n} session{} running: quit and roll {} back? y/n",
                        if *n == 1 { "" } else { "s" },
                        if *n == 1 { "it" } else { "them" }
                    ),
                    t.warn(),
                ),
                Line::raw(""),
                Line::styled("y: quit, roll back   n / Esc: stay", t.dim()),
            ],
        ),
        Dialog::CancelSession(_) => (
            " Cancel session ".to_string(),
            vec![
                Line::raw("Cancel this fork session? It rolls back."),
                Line::raw(""),
                Line::styled("y: cancel it   n / Esc: let it run", t.dim()),
            ],
        ),
    };
    let h = lines.len() as u16 + 4;
    let r = centered(area, 84, h);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus())
        .title(title);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        r,
    );
}
