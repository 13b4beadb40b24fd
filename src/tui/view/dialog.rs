//! Dialogs: the fork dialog (editable fork name) and yes/no confirmations.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::tui::app::{App, Dialog};
use crate::tui::widget::popup::centered;

/// Draw the open dialog.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(d) = &app.dialog else { return };
    let t = &app.theme;
    let (title, lines) = match d {
        Dialog::Fork {
            snapshot,
            name,
            mailboxes,
            excluded,
            error,
            count,
            parallel,
            field,
            preview,
        } => {
            let n = crate::tui::fanout::dialog_count(count);
            let cursor = |i: usize| if *field == i { "█" } else { "" };
            let style = |i: usize| if *field == i { t.key() } else { t.dim() };
            let label = if n > 1 { "base name: " } else { "fork name: " };
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(label, t.dim()),
                    Span::styled(format!("{name}{}", cursor(0)), style(0)),
                ]),
                Line::from(vec![
                    Span::styled("count: ", t.dim()),
                    Span::styled(format!("{count}{}", cursor(1)), style(1)),
                    Span::styled("   parallel: ", t.dim()),
                    Span::styled(format!("{parallel}{}", cursor(2)), style(2)),
                    Span::styled(
                        if n > 1 {
                            format!("   fan-out: {name}-0 … {name}-{}", n - 1)
                        } else {
                            "   (count > 1: a fan-out)".to_string()
                        },
                        t.dim(),
                    ),
                ]),
                Line::raw(""),
            ];
            if mailboxes.is_empty() {
                lines.push(Line::styled(
                    "no mailbox included (space in the markers pane includes one)",
                    t.dim(),
                ));
            } else {
                lines.push(Line::styled("mailboxes:", t.dim()));
                for (m, bad) in mailboxes {
                    // A fan-out's payloads are judged once expanded (the preview).
                    if *bad && n < 2 {
                        lines.push(Line::styled(
                            format!("  • {m} ✗ invalid payload"),
                            t.error(),
                        ));
                    } else {
                        lines.push(Line::styled(format!("  • {m}"), t.key()));
                    }
                }
            }
            if !preview.is_empty() {
                lines.push(Line::styled(
                    "payloads ({{i}}, {{fork}}, {{uuid}} expanded), first and last fork:",
                    t.dim(),
                ));
                for (p, bad) in preview {
                    let mark = if *bad { "✗" } else { "✓" };
                    lines.push(Line::styled(
                        format!("  {mark} {}", super::clip(p, 64)),
                        if *bad { t.error() } else { t.ok() },
                    ));
                }
            }
            if !excluded.is_empty() {
                lines.push(Line::styled("not forked (cannot be patched):", t.error()));
                for x in excluded {
                    lines.push(Line::styled(format!("  ✗ {x}"), t.error()));
                }
            }
            if let Some(e) = error {
                lines.push(Line::styled(e.clone(), t.error()));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "Enter: fork   Tab: next field   Esc: cancel",
                t.dim(),
            ));
            (format!(" Fork {snapshot} "), lines)
        }
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
    let r = centered(area, 72, h);
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
