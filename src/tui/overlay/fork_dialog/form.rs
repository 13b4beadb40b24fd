//! The fork dialog's model: what the CLI offers — the fork name (a
//! fan-out's base name), a count and a parallelism, `--no-restore`,
//! `--zero-copy`, and per mailbox whether to wait for its ack, the
//! deadline (in seconds, as shown everywhere) and an explicit token — with
//! the payloads about to be sent, placeholders (`{{i}}`, `{{fork}}`,
//! `{{uuid}}`) expanded, and the reason the engine would refuse it.

use crate::fanout::member_name;
use crate::fanout::template::{Vars, expand};
use crate::fork::MailboxSpec;
use crate::mailbox::{
    DEFAULT_ACK_TIMEOUT_MS, MAX_ACK_TIMEOUT_MS, MailboxRequest, check_payload, validate_request,
};
use crate::sanitize::safe_owned;
use crate::scan::ScanReport;
use crate::store::{Store, ValidName};
use crate::tui::text::secs;

/// One mailbox of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormMailbox {
    /// Mailbox name.
    pub name: String,
    /// Payload text (from the draft, or the replayed session); may hold
    /// placeholders.
    pub payload: String,
    /// Wait for its ack.
    pub wait_for_ack: bool,
    /// Ack deadline in seconds, as typed (`5`, `2.5`).
    pub timeout: String,
    /// Explicit token; empty: the one discovery finds.
    pub token: String,
}

/// Seconds as typed (`5`, `2.5`) in milliseconds; `None` when it does not
/// read as a number of seconds.
pub fn parse_secs(text: &str) -> Option<u64> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac = frac.get(..frac.len().min(3)).unwrap_or("");
    let frac_ms: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()? * 10u64.pow(3 - u32::try_from(frac.len()).unwrap_or(3))
    };
    whole.checked_mul(1000)?.checked_add(frac_ms)
}

/// `ms` as the dialog shows it (`5.0`).
pub fn secs_text(ms: u64) -> String {
    secs(ms).trim_end_matches(" s").to_string()
}

impl FormMailbox {
    /// The deadline in ms (0 when it does not read as seconds).
    pub fn timeout_ms(&self) -> u64 {
        parse_secs(&self.timeout).unwrap_or(0)
    }

    /// The mailbox as fork `fork` (index `index`) gets it: placeholders
    /// expanded.
    pub fn spec(&self, index: usize, fork: &str) -> Result<MailboxSpec, String> {
        let payload = expand(&self.payload, &Vars::new(index, fork)).map_err(|e| e.to_string())?;
        Ok(MailboxSpec {
            name: self.name.clone(),
            token: (!self.token.is_empty()).then(|| self.token.clone()),
            payload: Some(payload),
            wait_for_ack: self.wait_for_ack,
            ack_timeout_ms: i64::try_from(self.timeout_ms()).ok(),
        })
    }

    /// The mailbox as a fan-out takes it (placeholders left for each fork).
    pub fn template(&self) -> MailboxSpec {
        MailboxSpec {
            name: self.name.clone(),
            token: (!self.token.is_empty()).then(|| self.token.clone()),
            payload: Some(self.payload.clone()),
            wait_for_ack: self.wait_for_ack,
            ack_timeout_ms: i64::try_from(self.timeout_ms()).ok(),
        }
    }
}

/// A field of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The fork name (a fan-out's base name).
    Name,
    /// Forks to make (a fan-out when more than 1).
    Count,
    /// Fan-out sessions at a time.
    Parallel,
    /// Stop after patch.
    NoRestore,
    /// Map the template privately.
    ZeroCopy,
    /// Wait for mailbox `i`'s ack.
    Ack(usize),
    /// Mailbox `i`'s deadline.
    Timeout(usize),
    /// Mailbox `i`'s token.
    Token(usize),
}

/// The session a form replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayOf {
    /// The fork it made.
    pub fork: String,
    /// When it started, as people read it.
    pub started: String,
}

/// One payload about to be sent, as the dialog previews it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The fork.
    pub fork: String,
    /// The mailbox.
    pub mailbox: String,
    /// The payload (expanded), or why it cannot be.
    pub text: String,
    /// What the engine would refuse in it.
    pub problem: Option<String>,
}

/// The fork dialog's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkForm {
    /// Source snapshot.
    pub snapshot: String,
    /// Fork name being typed.
    pub name: String,
    /// Mailboxes sent, in marker (or recorded) order.
    pub mailboxes: Vec<FormMailbox>,
    /// Mailboxes that cannot be forked, one "name: reason" line each.
    pub excluded: Vec<String>,
    /// Stop after patch (`--no-restore`).
    pub no_restore: bool,
    /// Zero-copy (`--zero-copy`).
    pub zero_copy: bool,
    /// The focused field (index into [`ForkForm::fields`]).
    pub focus: usize,
    /// Why the last attempt was refused.
    pub error: Option<String>,
    /// The session this replays, if any.
    pub replay_of: Option<ReplayOf>,
    /// Forks to make, as typed (a fan-out when more than 1).
    pub count: String,
    /// Fan-out sessions at a time, as typed.
    pub parallel: String,
    /// The payloads about to be sent: a single fork's, or a fan-out's first
    /// and last fork's.
    pub preview: Vec<Preview>,
}

/// What a form's refusal is judged against besides the form.
pub struct Judge<'a> {
    /// The store (a fork of that name may exist).
    pub store: &'a Store,
    /// Forks being made by running sessions.
    pub running: &'a [String],
    /// The snapshot's discovery, when known.
    pub report: Option<&'a ScanReport>,
}

impl ForkForm {
    /// A form forking `snapshot` as `name` with `mailboxes`.
    pub fn new(
        snapshot: &str,
        name: String,
        mailboxes: Vec<FormMailbox>,
        excluded: Vec<String>,
    ) -> ForkForm {
        let mut f = ForkForm {
            snapshot: snapshot.to_string(),
            name,
            mailboxes,
            excluded,
            no_restore: false,
            zero_copy: false,
            focus: 0,
            error: None,
            replay_of: None,
            count: "1".into(),
            parallel: "4".into(),
            preview: Vec::new(),
        };
        f.refresh_preview();
        f
    }

    /// Forks to make (1 when empty or not a number).
    pub fn count(&self) -> usize {
        self.count.trim().parse().unwrap_or(1).max(1)
    }

    /// Sessions at a time (4 when empty or not a number).
    pub fn parallel(&self) -> usize {
        self.parallel.trim().parse().unwrap_or(4).max(1)
    }

    /// Every field, in tab order.
    pub fn fields(&self) -> Vec<Field> {
        let mut v = vec![
            Field::Name,
            Field::Count,
            Field::Parallel,
            Field::NoRestore,
            Field::ZeroCopy,
        ];
        for (i, m) in self.mailboxes.iter().enumerate() {
            v.push(Field::Ack(i));
            if m.wait_for_ack {
                v.push(Field::Timeout(i));
            }
            v.push(Field::Token(i));
        }
        v
    }

    /// The focused field.
    pub fn field(&self) -> Field {
        let f = self.fields();
        f.get(self.focus.min(f.len().saturating_sub(1)))
            .copied()
            .unwrap_or(Field::Name)
    }

    fn focus_on(&mut self, field: Field) {
        if let Some(i) = self.fields().iter().position(|f| *f == field) {
            self.focus = i;
        }
    }

    /// Move to the next (or previous) field.
    pub fn next_field(&mut self, forward: bool) {
        let n = self.fields().len();
        self.focus = if forward {
            (self.focus + 1) % n
        } else {
            (self.focus + n - 1) % n
        };
    }

    /// The mailboxes as a single fork named as the form says gets them.
    pub fn specs(&self) -> Result<Vec<MailboxSpec>, String> {
        self.mailboxes
            .iter()
            .map(|m| {
                m.spec(0, &self.name)
                    .map_err(|e| format!("mailbox {}: {e}", m.name))
            })
            .collect()
    }

    /// The mailboxes as a fan-out takes them (placeholders kept).
    pub fn templates(&self) -> Vec<MailboxSpec> {
        self.mailboxes.iter().map(FormMailbox::template).collect()
    }

    /// Type a character into the focused field; space toggles a switch.
    pub fn type_char(&mut self, c: char) {
        match self.field() {
            Field::Name if self.name.len() < 63 && !c.is_control() => self.name.push(c),
            Field::Count if c.is_ascii_digit() && self.count.len() < 4 => self.count.push(c),
            Field::Parallel if c.is_ascii_digit() && self.parallel.len() < 4 => {
                self.parallel.push(c)
            }
            Field::Token(i) if !c.is_control() => {
                if let Some(m) = self.mailboxes.get_mut(i)
                    && m.token.len() < 256
                {
                    m.token.push(c);
                }
            }
            Field::Timeout(i) if c.is_ascii_digit() || c == '.' => {
                if let Some(m) = self.mailboxes.get_mut(i)
                    && m.timeout.len() < 8
                    && !(c == '.' && m.timeout.contains('.'))
                {
                    m.timeout.push(c);
                }
            }
            f @ (Field::NoRestore | Field::ZeroCopy | Field::Ack(_)) if c == ' ' => self.toggle(f),
            _ => return,
        }
        self.error = None;
        self.refresh_preview();
    }

    /// Delete the last character of the focused field.
    pub fn backspace(&mut self) {
        match self.field() {
            Field::Name => {
                self.name.pop();
            }
            Field::Count => {
                self.count.pop();
            }
            Field::Parallel => {
                self.parallel.pop();
            }
            Field::Token(i) => {
                if let Some(m) = self.mailboxes.get_mut(i) {
                    m.token.pop();
                }
            }
            Field::Timeout(i) => {
                if let Some(m) = self.mailboxes.get_mut(i) {
                    m.timeout.pop();
                }
            }
            _ => {}
        }
        self.error = None;
        self.refresh_preview();
    }

    /// Flip a switch.
    pub fn toggle(&mut self, f: Field) {
        match f {
            Field::NoRestore => self.no_restore = !self.no_restore,
            Field::ZeroCopy => self.zero_copy = !self.zero_copy,
            Field::Ack(i) => {
                if let Some(m) = self.mailboxes.get_mut(i) {
                    m.wait_for_ack = !m.wait_for_ack;
                }
                self.focus_on(Field::Ack(i));
            }
            _ => {}
        }
        self.error = None;
        self.refresh_preview();
    }

    /// `+`/`-` on a deadline: a second more or less.
    pub fn adjust(&mut self, up: bool) {
        let i = match self.field() {
            Field::Timeout(i) | Field::Ack(i) | Field::Token(i) => i,
            _ => return,
        };
        if let Some(m) = self.mailboxes.get_mut(i) {
            let ms = m.timeout_ms();
            let ms = if up {
                (ms + 1000).min(MAX_ACK_TIMEOUT_MS)
            } else {
                ms.saturating_sub(1000).max(1000)
            };
            m.timeout = secs_text(ms);
        }
        self.error = None;
        self.refresh_preview();
    }

    /// The payloads about to be sent: the single fork's, or the first and
    /// last fork's of a fan-out, each expanded and judged as the engine
    /// will.
    pub fn refresh_preview(&mut self) {
        let n = self.count();
        let forks: Vec<(usize, String)> = if n < 2 {
            vec![(0, self.name.clone())]
        } else {
            vec![
                (0, member_name(&self.name, 0)),
                (n - 1, member_name(&self.name, n - 1)),
            ]
        };
        self.preview = forks
            .into_iter()
            .flat_map(|(i, fork)| {
                self.mailboxes.iter().map(move |m| {
                    let (text, problem) = match expand(&m.payload, &Vars::new(i, &fork)) {
                        Ok(t) => {
                            let p = check_payload(&t, m.wait_for_ack).problem;
                            (t, p.map(|p| p.to_string()))
                        }
                        Err(e) => (m.payload.clone(), Some(e.to_string())),
                    };
                    Preview {
                        fork: safe_owned(&fork),
                        mailbox: safe_owned(&m.name),
                        text: safe_owned(&text),
                        problem: problem.map(|p| safe_owned(&p)),
                    }
                })
            })
            .collect();
    }

    /// Why a single fork of this form would fail for what is known now: an
    /// invalid or used fork name, a rule of the contract, a payload the
    /// engine would refuse. `None` when it may start. (A fan-out is judged
    /// by its plan.)
    pub fn refusal(&self, judge: &Judge) -> Option<String> {
        let name = self.name.as_str();
        if let Err(e) = ValidName::new(name) {
            return Some(e.to_string());
        }
        let in_store = std::fs::symlink_metadata(judge.store.forks_dir().join(name)).is_ok();
        if in_store || judge.running.iter().any(|r| r == name) {
            return Some(format!("fork {name} already exists: choose another name"));
        }
        let all_tokens = self.mailboxes.iter().all(|m| !m.token.is_empty());
        if let Some(r) = judge.report
            && r.truncated
            && !all_tokens
        {
            return Some(format!(
                "discovery stopped at {} markers, so a copy of any mailbox could be hidden: give every mailbox its token",
                r.markers.len()
            ));
        }
        if let Some(m) = self
            .mailboxes
            .iter()
            .find(|m| m.wait_for_ack && parse_secs(&m.timeout).is_none_or(|ms| ms == 0))
        {
            return Some(format!(
                "mailbox {}: the ack deadline {:?} is not a number of seconds",
                m.name, m.timeout
            ));
        }
        let specs = match self.specs() {
            Ok(s) => s,
            Err(e) => return Some(e),
        };
        // The contract's rules, by the one validator (a token from
        // discovery stands in as a placeholder).
        let reqs: Vec<MailboxRequest> = specs
            .iter()
            .map(|m| MailboxRequest {
                name: m.name.clone(),
                token: m.token.clone().unwrap_or_else(|| "discovered".into()),
                payload: m.payload.clone(),
                wait_for_ack: m.wait_for_ack,
                ack_timeout_ms: m.ack_timeout_ms,
            })
            .collect();
        if let Err(e) = validate_request(&reqs) {
            return Some(e.to_string());
        }
        specs.iter().find_map(|m| {
            let p = check_payload(m.payload.as_deref().unwrap_or(""), m.wait_for_ack).problem?;
            Some(format!("mailbox {}: {p}", m.name))
        })
    }
}

/// A form mailbox from a recorded or drafted one.
pub fn form_mailbox(spec: &MailboxSpec) -> FormMailbox {
    let ms = match spec.ack_timeout_ms {
        Some(ms) if ms > 0 => u64::try_from(ms).unwrap_or(DEFAULT_ACK_TIMEOUT_MS),
        _ => DEFAULT_ACK_TIMEOUT_MS,
    };
    FormMailbox {
        name: spec.name.clone(),
        payload: spec.payload.clone().unwrap_or_default(),
        wait_for_ack: spec.wait_for_ack,
        timeout: secs_text(ms),
        token: spec.token.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_typed_in_seconds() {
        assert_eq!(parse_secs("5"), Some(5000));
        assert_eq!(parse_secs("2.5"), Some(2500));
        assert_eq!(parse_secs("0.25"), Some(250));
        assert_eq!(parse_secs("x"), None);
        assert_eq!(secs_text(5000), "5.0");
    }

    /// Item 6: one placeholder syntax; a single fork expands it too, and
    /// the preview shows the payload about to be sent.
    #[test]
    fn a_single_fork_expands_placeholders_and_previews_its_payloads() {
        let m = FormMailbox {
            name: "app".into(),
            payload: r#"{"replica":{{i}},"fork":"{{fork}}"}"#.into(),
            wait_for_ack: true,
            timeout: "5.0".into(),
            token: String::new(),
        };
        let mut f = ForkForm::new("web", "web-one".into(), vec![m], Vec::new());
        assert_eq!(f.preview.len(), 1);
        assert_eq!(f.preview[0].text, r#"{"replica":0,"fork":"web-one"}"#);
        assert_eq!(f.preview[0].problem, None);
        let specs = f.specs().expect("specs");
        assert_eq!(
            specs[0].payload.as_deref(),
            Some(r#"{"replica":0,"fork":"web-one"}"#)
        );
        f.count = "3".into();
        f.refresh_preview();
        let forks: Vec<&str> = f.preview.iter().map(|p| p.fork.as_str()).collect();
        assert_eq!(forks, ["web-one-0", "web-one-2"]);
    }
}
