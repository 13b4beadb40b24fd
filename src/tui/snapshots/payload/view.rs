//! The payload editor pane: the text area, the mailbox's fork settings in
//! the title, and live validation with the byte budget in the bottom border.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Payload;
use super::editor::Editor;
use crate::mailbox::{FORK_MAX_PAYLOAD, PayloadCheck, PayloadProblem};
use crate::tui::shared::Shared;
use crate::tui::snapshots::drafts::Drafts;
use crate::tui::snapshots::exclusion::Exclusion;
use crate::tui::text::secs;
use crate::tui::theme::Theme;
use crate::tui::widget::pane_block;

/// The validation line: what is wrong, or the byte budget; a fan-out
/// template says it is valid once expanded (as the first fork gets it).
pub fn validation_line<'a>(
    t: &Theme,
    v: &PayloadCheck,
    template: Option<&Result<(), String>>,
) -> Line<'a> {
    if let Some(Err(e)) = template {
        return Line::from(Span::styled(format!(" ✗ template: {e} "), t.error()));
    }
    let budget = if v.with_ack {
        format!("{} / {FORK_MAX_PAYLOAD} bytes incl. ack_port", v.sent_bytes)
    } else {
        format!("{} / {FORK_MAX_PAYLOAD} bytes", v.sent_bytes)
    };
    let what = if template.is_some() {
        " ✓ template: valid after expansion "
    } else {
        " ✓ JSON object "
    };
    let after = if template.is_some() {
        " (expanded)"
    } else {
        ""
    };
    match &v.problem {
        None => Line::from(vec![
            Span::styled(what, t.ok()),
            Span::styled(format!("· {budget} "), t.dim()),
        ]),
        Some(PayloadProblem::Syntax {
            line,
            column,
            message,
        }) => Line::from(Span::styled(
            format!(" ✗ syntax error{after} at line {line}, column {column}: {message} "),
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

/// What the payload pane shows besides its editor.
pub struct Around<'a> {
    /// The drafts (the title says the mailbox's settings).
    pub drafts: &'a Drafts,
    /// Why the mailbox is never forked, if it is not.
    pub excluded: Option<&'a Exclusion>,
    /// What the pane says without an editor.
    pub empty: &'a str,
}

impl Payload {
    /// Draw the pane.
    pub fn draw(&self, f: &mut Frame, area: Rect, cx: &Shared, focused: bool, around: &Around) {
        let (drafts, excluded, empty) = (around.drafts, around.excluded, around.empty);
        let t = cx.theme();
        let Some(ed) = self.editor() else {
            let block = pane_block(t, focused, "Payload".into());
            f.render_widget(
                Paragraph::new(Line::styled(empty.to_string(), t.dim()))
                    .wrap(Wrap { trim: true })
                    .block(block),
                area,
            );
            return;
        };
        let settings = match drafts.peek(&ed.snapshot, &ed.mailbox) {
            Some(d) => format!(
                " · {} · {}",
                match excluded {
                    Some(x) => format!("never forked: {}", x.short()),
                    None if d.include => "included".into(),
                    None => "excluded".into(),
                },
                if d.wait_for_ack {
                    format!("ack {}", secs(d.ack_timeout_ms))
                } else {
                    "no ack".into()
                }
            ),
            None => String::new(),
        };
        let typing = self.typing();
        let zoom = if self.zoomed() { " · full screen" } else { "" };
        let i = cx.keymap().key_for(
            crate::tui::keymap::Scope::Editor,
            crate::tui::action::Action::StartEdit,
        );
        let title = format!(
            "Payload · {}{settings}{zoom}{}",
            crate::sanitize::safe(&ed.mailbox),
            if typing {
                " · typing (Esc stops)".to_string()
            } else {
                format!(" · {i} to type")
            }
        );
        let mut block = pane_block(t, focused, title).title_bottom(validation_line(
            t,
            &ed.validation,
            ed.template.as_ref(),
        ));
        if typing {
            block = block.border_style(t.warn());
        }
        let inner = block.inner(area);
        f.render_widget(block, area);
        // What the mailbox's JSON Schema says, under the text.
        let notes = schema_lines(t, ed);
        let inner = if notes.is_empty() {
            inner
        } else {
            let n = crate::tui::text::u16_of(notes.len())
                .min(inner.height.saturating_sub(2) / 2)
                .max(1);
            let [text, below] =
                Layout::vertical([Constraint::Min(1), Constraint::Length(n)]).areas(inner);
            f.render_widget(Paragraph::new(notes).wrap(Wrap { trim: false }), below);
            text
        };
        if typing {
            let mut ta = ed.textarea().clone();
            ta.set_cursor_line_style(Style::default());
            f.render_widget(&ta, inner);
        } else {
            // Not typing: the payload from its start, wrapped, whatever
            // column the cursor was left at.
            let lines: Vec<Line> = ed
                .textarea()
                .lines()
                .iter()
                .map(|l| Line::raw(crate::sanitize::safe_owned(l)))
                .collect();
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        }
    }
}

/// The schema's verdict, one line per error (`✗ line 3 /mtu: ...`), or a
/// line saying the schema cannot be used.
fn schema_lines<'a>(t: &Theme, ed: &Editor) -> Vec<Line<'a>> {
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
