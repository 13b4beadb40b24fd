//! The fork dialog: a small form with what the CLI offers — the fork name,
//! `--no-restore`, `--zero-copy`, and per mailbox whether to wait for its
//! ack, the deadline, and an explicit token. It opens from the drafts (`f`)
//! or from a past session (`r`, replay), and refuses with the reason what
//! the engine would refuse.

use super::app::{Action, App, Dialog, Level, Mode};
use crate::fork::{MailboxSpec, generate_fork_name};
use crate::history::SessionHeader;
use crate::mailbox::{
    DEFAULT_ACK_TIMEOUT_MS, MAX_ACK_TIMEOUT_MS, MailboxRequest, check_payload, validate_request,
};
use crate::sanitize::safe_owned;
use crate::store::ValidName;

/// One mailbox of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormMailbox {
    /// Mailbox name.
    pub name: String,
    /// Payload text (from the draft, or the replayed session).
    pub payload: String,
    /// Wait for its ack.
    pub wait_for_ack: bool,
    /// Ack deadline in ms.
    pub timeout_ms: u64,
    /// Explicit token; empty: the one discovery finds.
    pub token: String,
}

impl FormMailbox {
    /// The mailbox as the engine takes it.
    pub fn spec(&self) -> MailboxSpec {
        MailboxSpec {
            name: self.name.clone(),
            token: (!self.token.is_empty()).then(|| self.token.clone()),
            payload: Some(self.payload.clone()),
            wait_for_ack: self.wait_for_ack,
            ack_timeout_ms: Some(self.timeout_ms as i64),
        }
    }
    /// What the engine would say of its payload, if it refuses it.
    pub fn payload_problem(&self) -> Option<String> {
        check_payload(&self.payload, self.wait_for_ack)
            .problem
            .map(|p| p.to_string())
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
    pub replay_of: Option<String>,
    /// Forks to make, as typed (a fan-out when more than 1).
    pub count: String,
    /// Fan-out sessions at a time, as typed.
    pub parallel: String,
    /// Fan-out: the payloads of the first and last fork, each with whether
    /// the engine would refuse it.
    pub preview: Vec<(String, bool)>,
}

impl ForkForm {
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
        f.get(self.focus.min(f.len() - 1))
            .copied()
            .unwrap_or(Field::Name)
    }

    fn focus_on(&mut self, field: Field) {
        if let Some(i) = self.fields().iter().position(|f| *f == field) {
            self.focus = i;
        }
    }

    /// The mailboxes as the engine takes them.
    pub fn specs(&self) -> Vec<MailboxSpec> {
        self.mailboxes.iter().map(FormMailbox::spec).collect()
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
            Field::Timeout(i) => {
                if let (Some(m), Some(d)) = (self.mailboxes.get_mut(i), c.to_digit(10)) {
                    m.timeout_ms = (m.timeout_ms * 10 + u64::from(d)).min(999_999);
                }
            }
            f @ (Field::NoRestore | Field::ZeroCopy | Field::Ack(_)) if c == ' ' => self.toggle(f),
            _ => return,
        }
        self.error = None;
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
                    m.timeout_ms /= 10;
                }
            }
            _ => {}
        }
        self.error = None;
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
    }

    /// Refresh the fan-out preview (the first and last fork's payloads).
    pub fn refresh_preview(&mut self) {
        let n = super::fanout::dialog_count(&self.count);
        self.preview = super::app::App::fanout_preview(&self.specs(), &self.name, n);
    }

    /// `+`/`-` on a deadline: a second more or less.
    pub fn adjust(&mut self, up: bool) {
        let i = match self.field() {
            Field::Timeout(i) | Field::Ack(i) | Field::Token(i) => i,
            _ => return,
        };
        if let Some(m) = self.mailboxes.get_mut(i) {
            m.timeout_ms = if up {
                (m.timeout_ms + 1000).min(MAX_ACK_TIMEOUT_MS)
            } else {
                m.timeout_ms.saturating_sub(1000).max(1000)
            };
        }
        self.error = None;
    }
}

impl App {
    /// Open the fork dialog for the selected snapshot, from its drafts.
    pub fn open_fork_dialog(&mut self) {
        // Read-only snapshots are never forked here; say what to do instead.
        if let Some(why) = self.catalog.selected_entry().and_then(|e| e.fork_refusal()) {
            self.say(why, Level::Error);
            return;
        }
        let Some(snap) = self.catalog.selected() else {
            self.say("no snapshot selected", Level::Info);
            return;
        };
        let snapshot = snap.name.clone();
        if self.catalog.cached(&snapshot).is_none() {
            self.say(
                format!("{snapshot}: wait for the scan to finish"),
                Level::Info,
            );
            return;
        }
        self.save_current_draft();
        self.want_prestart(&snapshot);
        let mailboxes = self
            .included_mailboxes(&snapshot)
            .into_iter()
            .map(|m| FormMailbox {
                name: m.name,
                payload: m.payload.unwrap_or_default(),
                wait_for_ack: m.wait_for_ack,
                timeout_ms: m.ack_timeout_ms.unwrap_or(0).max(0) as u64,
                token: String::new(),
            })
            .collect();
        self.open_form(ForkForm {
            name: generate_fork_name(&snapshot),
            mailboxes,
            excluded: self.excluded_mailboxes(&snapshot),
            snapshot,
            no_restore: false,
            zero_copy: false,
            focus: 0,
            error: None,
            replay_of: None,
            count: "1".into(),
            parallel: "4".into(),
            preview: Vec::new(),
        });
    }

    /// Open the fork dialog prefilled with what session `header` asked for
    /// (snapshot, payloads, tokens, ack settings, modes), a new fork name.
    pub fn open_replay(&mut self, header: &SessionHeader) {
        if self.store.snapshot(&header.snapshot).is_err() {
            self.say(
                format!(
                    "cannot replay: snapshot {} is no longer in the store",
                    safe_owned(&header.snapshot)
                ),
                Level::Error,
            );
            return;
        }
        let mailboxes = header
            .mailboxes
            .iter()
            .map(|m| FormMailbox {
                name: m.name.clone(),
                payload: m.payload.clone().unwrap_or_default(),
                wait_for_ack: m.wait_for_ack,
                timeout_ms: match m.ack_timeout_ms {
                    Some(ms) if ms > 0 => ms as u64,
                    _ => DEFAULT_ACK_TIMEOUT_MS,
                },
                token: m.token.clone().unwrap_or_default(),
            })
            .collect();
        self.open_form(ForkForm {
            name: generate_fork_name(&header.snapshot),
            mailboxes,
            excluded: self.excluded_mailboxes(&header.snapshot),
            snapshot: header.snapshot.clone(),
            no_restore: !header.restore,
            zero_copy: header.zero_copy,
            focus: 0,
            error: None,
            replay_of: Some(header.id.clone()),
            count: "1".into(),
            parallel: "4".into(),
            preview: Vec::new(),
        });
    }

    fn open_form(&mut self, form: ForkForm) {
        self.dialog = Some(Dialog::Fork(Box::new(form)));
        self.mode = Mode::ForkName;
    }

    /// `r` on a session: replay it.
    pub fn replay_selected(&mut self) {
        match self.selected_session().and_then(|s| s.request.clone()) {
            Some(h) => self.open_replay(&h),
            None => self.say(
                "this session cannot be replayed (nothing recorded)",
                Level::Info,
            ),
        }
    }

    /// Keys while the fork dialog is open.
    pub fn form_action(&mut self, action: Action) {
        let Some(Dialog::Fork(form)) = self.dialog.as_mut() else {
            return;
        };
        match action {
            Action::NextField | Action::PrevField => {
                let n = form.fields().len();
                form.focus = if action == Action::NextField {
                    (form.focus + 1) % n
                } else {
                    (form.focus + n - 1) % n
                };
            }
            Action::ToggleInclude => form.type_char(' '),
            Action::TimeoutUp | Action::TimeoutDown => match form.field() {
                // `+`, `-` and `=` can be part of a name or token.
                Field::Name | Field::Token(_) => {
                    let c = if action == Action::TimeoutUp {
                        '+'
                    } else {
                        '-'
                    };
                    form.type_char(c);
                }
                _ => form.adjust(action == Action::TimeoutUp),
            },
            Action::Text(key) => {
                match key.code {
                    crossterm::event::KeyCode::Char(c) => form.type_char(c),
                    crossterm::event::KeyCode::Backspace => form.backspace(),
                    _ => {}
                }
                form.refresh_preview();
            }
            Action::Confirm => {
                let form = (**form).clone();
                self.confirm_fork_dialog(&form);
            }
            Action::Cancel => {
                self.dialog = None;
                self.mode = Mode::Normal;
            }
            _ => {}
        }
    }

    /// A paste into the focused field of the fork dialog.
    pub fn form_paste(&mut self, text: &str) {
        if let Some(Dialog::Fork(form)) = self.dialog.as_mut() {
            for c in text.chars().filter(|c| !c.is_control()) {
                form.type_char(c);
            }
            form.refresh_preview();
        }
    }

    /// Why forking `form` would fail for what is known now: an invalid or
    /// used fork name, a rule of the contract, a payload the engine would
    /// refuse. `None` when it may start.
    pub fn form_refusal(&self, form: &ForkForm) -> Option<String> {
        let name = form.name.as_str();
        if let Err(e) = ValidName::new(name) {
            return Some(e.to_string());
        }
        let in_store = std::fs::symlink_metadata(self.store.forks_dir().join(name)).is_ok();
        let in_session = self
            .sessions
            .iter()
            .any(|s| s.fork == name && s.is_running());
        if in_store || in_session {
            return Some(format!("fork {name} already exists: choose another name"));
        }
        let all_tokens = form.mailboxes.iter().all(|m| !m.token.is_empty());
        if let Some(r) = self.catalog.cached(&form.snapshot)
            && r.truncated
            && !all_tokens
        {
            return Some(format!(
                "discovery stopped at {} markers, so a copy of any mailbox could be hidden: give every mailbox its token",
                r.markers.len()
            ));
        }
        // The contract's rules, by the one validator (a token from
        // discovery stands in as a placeholder).
        let reqs: Vec<MailboxRequest> = form
            .mailboxes
            .iter()
            .map(|m| MailboxRequest {
                name: m.name.clone(),
                token: if m.token.is_empty() {
                    "discovered".into()
                } else {
                    m.token.clone()
                },
                payload: Some(m.payload.clone()),
                wait_for_ack: m.wait_for_ack,
                ack_timeout_ms: Some(m.timeout_ms as i64),
            })
            .collect();
        if let Err(e) = validate_request(&reqs) {
            return Some(e.to_string());
        }
        for m in &form.mailboxes {
            if let Some(p) = m.payload_problem() {
                return Some(format!("mailbox {}: {p}", m.name));
            }
        }
        None
    }

    /// Mailbox specs of the included mailboxes of `snapshot`, in marker order.
    pub fn included_mailboxes(&mut self, snapshot: &str) -> Vec<MailboxSpec> {
        let Some(report) = self.catalog.cached(snapshot).cloned() else {
            return Vec::new();
        };
        // One pass each (a guest can arm tens of thousands of markers).
        let excluded = super::session::exclusions(&report);
        let mut seen = std::collections::HashSet::new();
        let mut names: Vec<String> = Vec::new();
        for m in &report.markers {
            if m.kind == crate::mailbox::MailboxKind::Fork
                && let Some(n) = &m.name
                && crate::mailbox::name_is_valid(n)
                && !excluded.contains_key(n.as_str())
                && seen.insert(n.as_str())
            {
                names.push(n.clone());
            }
        }
        let mut specs = Vec::new();
        for name in names {
            let d = self.draft(snapshot, &name).clone();
            if d.include {
                specs.push(MailboxSpec {
                    name,
                    token: None,
                    payload: Some(d.payload),
                    wait_for_ack: d.wait_for_ack,
                    ack_timeout_ms: Some(d.ack_timeout_ms as i64),
                });
            }
        }
        specs
    }

    /// Fork mailboxes of `snapshot` that cannot take part in a fork, each
    /// as "name: reason", in marker order.
    pub fn excluded_mailboxes(&self, snapshot: &str) -> Vec<String> {
        let Some(report) = self.catalog.cached(snapshot) else {
            return Vec::new();
        };
        let excluded = super::session::exclusions(report);
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for m in &report.markers {
            let Some(n) = m
                .name
                .as_deref()
                .filter(|_| m.kind == crate::mailbox::MailboxKind::Fork)
            else {
                continue;
            };
            if let Some(x) = excluded.get(n)
                && seen.insert(n)
            {
                out.push(format!("{}: {}", crate::sanitize::safe(n), x.reason()));
            }
        }
        out
    }
}
