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
        } => {
            let mut lines = vec![
                Line::from(vec![
                    Span::styled("fork name: ", t.dim()),
                    Span::styled(format!("{name}█"), t.key()),
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
                    let style = if *bad { t.error() } else { t.key() };
                    lines.push(Line::styled(format!("  • {m}"), style));
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
            lines.push(Line::styled("Enter: fork   Esc: cancel", t.dim()));
            (format!(" Fork {snapshot} "), lines)
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
