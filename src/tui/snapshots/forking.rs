//! What the snapshots screen does towards a fork: the fork dialog from the
//! drafts (`f`) or from a past session (replay), a mailbox's fork settings
//! (include, ack, deadline), and `i` — typing the selected mailbox's
//! payload from any of its panes.

use super::SnapshotsScreen;
use super::exclusion::{exclusion, exclusions};
use super::payload::save_draft;
use super::sources::Entry;
use crate::fork::{MailboxSpec, generate_fork_name};
use crate::history::SessionHeader;
use crate::mailbox::{MAX_ACK_TIMEOUT_MS, MailboxKind, name_is_valid};
use crate::sanitize::safe;
use crate::tui::action::{Action, Level, Pane};
use crate::tui::effect::{Effect, Open};
use crate::tui::overlay::fork_dialog::form::{ForkForm, ReplayOf, form_mailbox};
use crate::tui::shared::Shared;
use crate::vmm::VmmKind;

impl SnapshotsScreen {
    /// Whether store snapshot `name` runs on QEMU (a prestart helps it).
    fn is_qemu(&self, name: &str) -> bool {
        self.list
            .catalog
            .snapshots
            .iter()
            .any(|s| s.name == name && s.meta.vmm == VmmKind::Qemu)
    }

    /// `i` (Enter on the markers pane): type the selected mailbox's
    /// payload. From the snapshots pane, the first mailbox that can be
    /// forked is selected first; when there is none, the one step needed
    /// is said instead.
    pub(super) fn start_edit(&mut self, cx: &mut Shared) {
        if self.focus == Pane::Snapshots && self.payload.editor().is_none() {
            let why = match self.list.catalog.selected_entry() {
                None => Some("no snapshot selected".to_string()),
                Some(Entry::Store(s)) => match self.list.catalog.cached(&s.name) {
                    None if self.list.catalog.failed.contains_key(&s.name) => {
                        Some(format!("{}: its scan failed (r scans again)", s.name))
                    }
                    None => Some(format!("{}: wait for the scan to finish", s.name)),
                    Some(r) => {
                        let bad = exclusions(r);
                        let visible = self.markers.visible(Some(r));
                        let first = visible.iter().position(|&i| {
                            let m = &r.markers[i];
                            m.kind == MailboxKind::Fork
                                && m.name
                                    .as_deref()
                                    .is_some_and(|n| name_is_valid(n) && !bad.contains_key(n))
                        });
                        match first {
                            Some(row) => {
                                self.markers.sel = row;
                                None
                            }
                            None => Some(format!(
                                "{} has no fork mailbox to edit (its markers pane says why)",
                                s.name
                            )),
                        }
                    }
                },
                Some(e) => e.fork_refusal(),
            };
            if let Some(why) = why {
                cx.say(why, Level::Info);
                return;
            }
            self.selection_changed(cx);
        }
        if self.payload.start_typing() {
            self.focus = Pane::Editor;
            if let Some((snap, _)) = self.payload.target() {
                let q = self.is_qemu(&snap);
                self.prestart.want(&snap, q, cx);
            }
        } else {
            cx.say(
                "select a fork mailbox in the markers pane first",
                Level::Info,
            );
        }
    }

    /// Include, ack and deadline of the selected mailbox.
    pub(super) fn toggle(&mut self, action: Action, cx: &mut Shared) {
        let Some((snap, mb)) = self.selected_mailbox() else {
            cx.say("select a fork mailbox first", Level::Info);
            return;
        };
        if action == Action::ToggleInclude
            && let Some(x) = self
                .list
                .catalog
                .cached(&snap)
                .and_then(|r| exclusion(r, &mb))
        {
            cx.say(
                format!("{} cannot be included: {}", safe(&mb), x.reason()),
                Level::Error,
            );
            return;
        }
        let d = self.drafts.edit(cx.store(), &snap, &mb);
        match action {
            Action::ToggleInclude => d.include = !d.include,
            Action::ToggleAck => d.wait_for_ack = !d.wait_for_ack,
            Action::TimeoutUp => {
                d.ack_timeout_ms = (d.ack_timeout_ms + 1000).min(MAX_ACK_TIMEOUT_MS)
            }
            Action::TimeoutDown => {
                d.ack_timeout_ms = d.ack_timeout_ms.saturating_sub(1000).max(1000)
            }
            _ => {}
        }
        let said = match action {
            Action::ToggleInclude if d.include => "included in the next fork".to_string(),
            Action::ToggleInclude => "left out of the next fork".to_string(),
            Action::ToggleAck if d.wait_for_ack => {
                format!(
                    "waits for its ack ({})",
                    crate::tui::text::secs(d.ack_timeout_ms)
                )
            }
            Action::ToggleAck => "does not wait for its ack".to_string(),
            _ => format!("ack deadline {}", crate::tui::text::secs(d.ack_timeout_ms)),
        };
        self.payload.settings_changed(&mut self.drafts, cx);
        save_draft(&mut self.drafts, cx, &snap, &mb);
        cx.say(format!("{}: {said}", safe(&mb)), Level::Info);
    }

    /// Mailbox specs of the included mailboxes of `snapshot`, in marker order.
    fn included_mailboxes(&mut self, snapshot: &str, cx: &Shared) -> Vec<MailboxSpec> {
        let Some(report) = self.list.catalog.cached(snapshot).cloned() else {
            return Vec::new();
        };
        // One pass each (a guest can arm tens of thousands of markers).
        let excluded = exclusions(&report);
        let mut seen = std::collections::HashSet::new();
        let mut specs = Vec::new();
        for m in &report.markers {
            let Some(n) = m.name.as_deref() else { continue };
            if m.kind != MailboxKind::Fork
                || !name_is_valid(n)
                || excluded.contains_key(n)
                || !seen.insert(n)
            {
                continue;
            }
            let d = self.drafts.get(cx.store(), snapshot, n).clone();
            if d.include {
                specs.push(MailboxSpec {
                    name: n.to_string(),
                    token: None,
                    payload: Some(d.payload),
                    wait_for_ack: d.wait_for_ack,
                    ack_timeout_ms: i64::try_from(d.ack_timeout_ms).ok(),
                });
            }
        }
        specs
    }

    /// Fork mailboxes of `snapshot` that cannot take part in a fork, each
    /// as "name: reason", in marker order.
    fn excluded_mailboxes(&self, snapshot: &str) -> Vec<String> {
        let Some(report) = self.list.catalog.cached(snapshot) else {
            return Vec::new();
        };
        let excluded = exclusions(report);
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for m in report
            .markers
            .iter()
            .filter(|m| m.kind == MailboxKind::Fork)
        {
            let Some(n) = m.name.as_deref() else { continue };
            if let Some(x) = excluded.get(n)
                && seen.insert(n)
            {
                out.push(format!("{}: {}", safe(n), x.reason()));
            }
        }
        out
    }

    /// `f`: the fork dialog for the selected snapshot, from its drafts.
    pub(super) fn open_fork_dialog(&mut self, cx: &mut Shared) {
        // Read-only snapshots are never forked here; say what to do instead.
        if let Some(why) = self
            .list
            .catalog
            .selected_entry()
            .and_then(|e| e.fork_refusal())
        {
            cx.say(why, Level::Error);
            return;
        }
        let Some(snapshot) = self.list.catalog.selected().map(|s| s.name.clone()) else {
            cx.say("no snapshot selected", Level::Info);
            return;
        };
        if self.list.catalog.cached(&snapshot).is_none() {
            cx.say(
                format!("{snapshot}: wait for the scan to finish"),
                Level::Info,
            );
            return;
        }
        self.payload.stop_typing(&mut self.drafts, cx);
        let q = self.is_qemu(&snapshot);
        self.prestart.want(&snapshot, q, cx);
        let mailboxes = self
            .included_mailboxes(&snapshot, cx)
            .iter()
            .map(form_mailbox)
            .collect();
        let form = ForkForm::new(
            &snapshot,
            generate_fork_name(&snapshot),
            mailboxes,
            self.excluded_mailboxes(&snapshot),
        );
        cx.emit(Effect::Open(Open::ForkDialog(Box::new(form))));
    }

    /// The fork dialog prefilled with what session `header` asked for
    /// (snapshot, payloads, tokens, ack settings, modes), a new fork name;
    /// `None` (said) when its snapshot is gone.
    pub fn replay_form(
        &self,
        header: &SessionHeader,
        fork: &str,
        cx: &mut Shared,
    ) -> Option<ForkForm> {
        if cx.store().snapshot(&header.snapshot).is_err() {
            cx.say(
                format!(
                    "cannot replay: snapshot {} is no longer in the store",
                    safe(&header.snapshot)
                ),
                Level::Error,
            );
            return None;
        }
        let mailboxes = header
            .request()
            .mailboxes
            .iter()
            .map(form_mailbox)
            .collect();
        let mut form = ForkForm::new(
            &header.snapshot,
            generate_fork_name(&header.snapshot),
            mailboxes,
            self.excluded_mailboxes(&header.snapshot),
        );
        form.no_restore = !header.restore;
        form.zero_copy = header.zero_copy;
        form.replay_of = Some(ReplayOf {
            fork: crate::sanitize::safe_owned(fork),
            started: cx.clock().human(&header.started_at),
        });
        Some(form)
    }
}
