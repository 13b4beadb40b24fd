//! The payload editor pane: the text area, the mailbox's fork settings in
//! the title, and live validation with the byte budget in the bottom border.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::pane_block;
use crate::mailbox::{FORK_MAX_PAYLOAD, PayloadCheck, PayloadProblem};
use crate::tui::app::{App, Mode, Pane};

/// The validation line: what is wrong, or the byte budget.
pub fn validation_line<'a>(app: &App, v: &PayloadCheck) -> Line<'a> {
    let t = &app.theme;
    let budget = if v.with_ack {
        format!("{} / {FORK_MAX_PAYLOAD} bytes incl. ack_port", v.sent_bytes)
    } else {
        format!("{} / {FORK_MAX_PAYLOAD} bytes", v.sent_bytes)
    };
    match &v.problem {
        None => Line::from(vec![
            Span::styled(" ✓ JSON object ", t.ok()),
            Span::styled(format!("· {budget} "), t.dim()),
        ]),
        Some(PayloadProblem::Syntax {
            line,
            column,
            message,
        }) => Line::from(Span::styled(
            format!(" ✗ syntax error at line {line}, column {column}: {message} "),
            t.error(),
        )),
        Some(PayloadProblem::NotObject(found)) => Line::from(Span::styled(
            format!(" ✗ must be a JSON object (found {found}) "),
            t.error(),
        )),
        Some(PayloadProblem::TooLarge {
            len,
            after_injection,
        }) => Line::from(Span::styled(
            format!(
                " ✗ over budget: {len} / {FORK_MAX_PAYLOAD} bytes {} ({} too many) ",
                if *after_injection {
                    "incl. ack_port"
                } else {
                    "as typed"
                },
                len.saturating_sub(FORK_MAX_PAYLOAD)
            ),
            t.error(),
        )),
    }
}

/// Draw the editor pane.
pub fn draw(f: &mut Frame, area: Rect, app: &App) {
    let Some(ed) = &app.editor else {
        let block = pane_block(app, Pane::Editor, "Payload".into());
        let on_rnet = app
            .selected_marker()
            .is_some_and(|m| m.kind == crate::mailbox::MailboxKind::ResumeNetwork);
        let text = if on_rnet {
            "Resume-network mailboxes carry the VMM's own network handoff; there is nothing to edit."
        } else {
            "Select a fork mailbox in the markers pane to edit its payload."
        };
        f.render_widget(
            Paragraph::new(Line::styled(text, app.theme.dim()))
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    };
    let draft = app.drafts.get(&(ed.snapshot.clone(), ed.mailbox.clone()));
    let excluded = app
        .catalog
        .cached(&ed.snapshot)
        .and_then(|r| crate::tui::session::exclusion(r, &ed.mailbox));
    let settings = match draft {
        Some(d) => format!(
            "{} · {}",
            match &excluded {
                Some(x) => format!("never forked: {}", x.short()),
                None if d.include => "included".into(),
                None => "excluded".into(),
            },
            if d.wait_for_ack {
                format!("ack {:.1} s", d.ack_timeout_ms as f64 / 1000.0)
            } else {
                "no ack".into()
            }
        ),
        None => String::new(),
    };
    let editing = app.mode == Mode::Editing;
    let zoom = if app.zoom { " · full screen" } else { "" };
    let title = format!(
        "Payload · {} · {settings}{zoom}{}",
        ed.mailbox,
        if editing {
            " · typing (Esc stops)"
        } else {
            " · i to type"
        }
    );
    let mut block =
        pane_block(app, Pane::Editor, title).title_bottom(validation_line(app, &ed.validation));
    if editing {
        block = block.border_style(app.theme.warn());
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    // What the mailbox's JSON Schema says, under the text.
    let notes = schema_lines(app, ed);
    let inner = if notes.is_empty() {
        inner
    } else {
        let n = (notes.len() as u16)
            .min(inner.height.saturating_sub(2) / 2)
            .max(1);
        let [text, below] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(n)]).areas(inner);
        f.render_widget(Paragraph::new(notes), below);
        text
    };
    let mut ta = ed.textarea.clone();
    ta.set_cursor_line_style(Style::default());
    if !editing {
        ta.set_cursor_style(Style::default());
    }
    f.render_widget(&ta, inner);
}

/// The schema's verdict, one line per error (`✗ line 3 /mtu: ...`), or a
/// line saying the schema cannot be used.
fn schema_lines<'a>(app: &App, ed: &crate::tui::editor::Editor) -> Vec<Line<'a>> {
    let t = &app.theme;
    match &ed.schema {
        None => Vec::new(),
        Some(Err(e)) => vec![Line::styled(format!("⚠ schema unusable: {e}"), t.warn())],
        Some(Ok(_)) if ed.schema_errors.is_empty() => {
            if ed.validation.problem.is_none() {
                vec![Line::styled("✓ matches the mailbox's JSON Schema", t.ok())]
            } else {
                Vec::new()
            }
        }
        Some(Ok(_)) => ed
            .schema_errors
            .iter()
            .map(|e| {
                Line::styled(
                    format!("✗ schema, line {} {}: {}", e.line, e.pointer, e.message),
                    t.error(),
                )
            })
            .collect(),
    }
}
