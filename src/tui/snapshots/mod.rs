//! The snapshots screen: three panes — the snapshot list, the selected
//! snapshot's markers, the selected mailbox's payload — over one catalog
//! and the store's drafts. The screen routes keys to the focused pane and
//! keeps the three in step (a new selection scans, points the editor).
//!
//! A new pane of this screen goes beside these: a struct owning its
//! state, drawn in [`SnapshotsScreen::pane_areas`] (`component.rs`),
//! reached in [`ORDER`], with its keys under a
//! [`Place`](crate::tui::keymap::Place).

mod catalog;
mod component;
mod drafts;
pub mod exclusion;
mod forking;
mod list;
mod markers;
pub mod payload;
mod prestart;
pub mod sources;

use std::path::PathBuf;
use std::sync::Arc;

use crate::mailbox::{MailboxKind, name_is_valid};
use crate::scan::{FileIdentity, ScanReport};
use crate::source::SourceSet;
use crate::tui::action::{Action, Level, Pane};
use crate::tui::effect::{PromptKind, PromptState, Prompted};
use crate::tui::msg::ScanFailure;
use crate::tui::shared::Shared;
pub use catalog::Catalog;
use drafts::Drafts;
use list::SnapshotList;
use markers::Markers;
use payload::{Payload, Target};
use prestart::PrestartSlot;
use sources::Entry;

/// The panes, left to right (top to bottom).
pub const ORDER: [Pane; 3] = [Pane::Snapshots, Pane::Markers, Pane::Editor];

/// The snapshots screen.
pub struct SnapshotsScreen {
    list: SnapshotList,
    markers: Markers,
    payload: Payload,
    drafts: Drafts,
    prestart: PrestartSlot,
    focus: Pane,
}

impl SnapshotsScreen {
    /// The screen; mailboxes without a draft wait `ack_timeout_ms` for an
    /// ack (0: the contract's default).
    pub fn new(ack_timeout_ms: u64) -> SnapshotsScreen {
        SnapshotsScreen {
            list: SnapshotList::default(),
            markers: Markers::default(),
            payload: Payload::default(),
            drafts: Drafts::new(ack_timeout_ms),
            prestart: PrestartSlot::default(),
            focus: Pane::Snapshots,
        }
    }

    /// The focused pane.
    pub fn focus(&self) -> Pane {
        self.focus
    }
    /// The catalog (the list and what is known of discoveries).
    pub fn catalog(&self) -> &Catalog {
        &self.list.catalog
    }
    /// The discovery of the selected row.
    fn report(&self) -> Option<&Arc<ScanReport>> {
        self.list.catalog.report()
    }
    /// The selected marker.
    pub fn selected_marker(&self) -> Option<&crate::scan::Marker> {
        self.markers.selected(self.report().map(|r| r.as_ref()))
    }
    /// The payload pane (its editor).
    pub fn payload(&self) -> &Payload {
        &self.payload
    }
    /// Typing a payload.
    pub fn typing(&self) -> bool {
        self.payload.typing()
    }
    /// Whether a scan runs (a gauge moves) or the cache is being read.
    pub fn busy(&self) -> bool {
        self.list.catalog.scan_job.is_some() || self.list.catalog.peeking > 0
    }

    /// The cache was looked in.
    pub fn peek_done(&mut self) {
        self.list.catalog.peeking = self.list.catalog.peeking.saturating_sub(1);
    }
    /// The discovery of store snapshot `name`, when known.
    pub fn discovery(&self, name: &str) -> Option<Arc<ScanReport>> {
        self.list.catalog.cached(name).cloned()
    }
    /// A VMM started ahead for a fork of `snapshot`, if one is ready.
    pub fn take_prestart(&mut self, snapshot: &str) -> Option<crate::fork::Prestart> {
        self.prestart.take(snapshot)
    }

    /// The mailbox of the selected marker (fork markers with a name that
    /// may name a draft file only).
    pub fn selected_mailbox(&self) -> Option<Target> {
        let snap = self.list.catalog.selected()?;
        let m = self.selected_marker()?;
        let name = m.name.as_deref()?;
        (m.kind == MailboxKind::Fork && name_is_valid(name))
            .then(|| (snap.name.clone(), name.to_string()))
    }

    /// Select snapshot `name` (at start: `forkmail demo`'s first).
    pub fn select_named(&mut self, name: &str, cx: &mut Shared) {
        if let Some(i) = self
            .list
            .catalog
            .visible()
            .iter()
            .position(|s| s.name == name)
        {
            self.list.catalog.sel = i;
            self.selection_changed(cx);
        }
    }

    /// Show these read-only sources under the store's snapshots.
    pub fn set_sources(&mut self, set: SourceSet, cx: &mut Shared) {
        self.list.catalog.source_set = set;
        self.reload(cx);
    }

    /// Reload the store's snapshots and the sources. Returns whether
    /// anything shown changed.
    pub fn reload(&mut self, cx: &mut Shared) -> bool {
        let (changed, note) = self.list.catalog.reload(cx);
        if let Some(note) = note {
            cx.say(note, Level::Error);
        }
        // Drafts another window changed meanwhile.
        let taken = self.drafts.refresh(cx.store());
        if self.payload.target().is_some_and(|t| taken.contains(&t)) {
            self.payload.reload(&mut self.drafts, cx);
        }
        self.selection_changed(cx);
        changed || !taken.is_empty()
    }

    /// The selected snapshot changed (or may have): scan it if needed,
    /// read its drafts, point the editor at the selected mailbox.
    fn selection_changed(&mut self, cx: &mut Shared) {
        let selected = self.list.catalog.selected().map(|s| s.name.clone());
        self.prestart.keep_only_for(selected.as_deref());
        self.list.catalog.ensure_scan(cx);
        // Every mailbox's draft, so the markers pane shows the saved
        // include/ack settings before each row is visited.
        if let Some(snap) = &selected
            && let Some(report) = self.list.catalog.cached(snap).cloned()
        {
            let names = report.markers.iter().filter_map(|m| m.name.as_deref());
            // Names come from guest memory: only well-formed ones name files.
            for name in names.filter(|n| name_is_valid(n)) {
                self.drafts.get(cx.store(), snap, name);
            }
        }
        let report = self.report().cloned();
        self.markers.clamp(report.as_deref());
        let target = self.selected_mailbox();
        self.payload.point_at(target, &mut self.drafts, cx);
        if !self.payload.typing() && self.focus == Pane::Editor && self.payload.editor().is_none() {
            self.payload.unzoom();
        }
    }

    /// A scan advanced.
    pub fn scan_progress(&mut self, snapshot: &str, done: u64, total: u64) {
        self.list.catalog.progress(snapshot, done, total);
    }

    /// A scan finished.
    pub fn scan_done(
        &mut self,
        snapshot: &str,
        key: FileIdentity,
        result: Result<Arc<ScanReport>, ScanFailure>,
        cx: &mut Shared,
    ) {
        if let Err(e) = &result
            && e.kind != crate::error::ErrorKind::Cancelled
        {
            cx.say(
                format!("scan of {snapshot} failed: {}", e.message),
                Level::Error,
            );
        }
        self.list.catalog.finish_scan(snapshot, key, result);
        self.selection_changed(cx);
    }

    /// A discovery was found in the cache.
    pub fn peeked(
        &mut self,
        snapshot: &str,
        key: FileIdentity,
        report: Arc<ScanReport>,
        cx: &mut Shared,
    ) {
        self.list.catalog.peeked(snapshot, key, report);
        if self
            .list
            .catalog
            .selected_entry()
            .is_some_and(|e| e.key() == snapshot)
        {
            self.selection_changed(cx);
        }
    }

    /// A prestart job finished.
    pub fn prestarted(&mut self, id: u64, result: Result<Option<crate::fork::Prestart>, String>) {
        self.prestart.prestarted(id, result);
    }

    /// The screen is left: what is typed is saved, full screen ends.
    pub fn leave(&mut self, cx: &mut Shared) {
        self.payload.stop_typing(&mut self.drafts, cx);
        self.payload.unzoom();
    }

    /// Save what is typed (quitting, switching screens).
    pub fn save(&mut self, cx: &mut Shared) {
        self.payload.save(&mut self.drafts, cx);
    }

    fn focus_on(&mut self, pane: Pane, cx: &mut Shared) {
        if pane != Pane::Editor && self.payload.typing() {
            self.payload.stop_typing(&mut self.drafts, cx);
        }
        self.focus = pane;
    }

    /// Tab/S-tab (wrapping), `l`/`h` (not wrapping), Esc (back out).
    fn move_focus(&mut self, action: Action, cx: &mut Shared) {
        if action == Action::Back {
            // Back out one level: an applied filter, then full screen,
            // then a pane back.
            match self.focus {
                Pane::Snapshots if !self.list.catalog.filter.is_empty() => {
                    self.set_filter(Pane::Snapshots, String::new(), cx);
                    cx.say("filter cleared", Level::Info);
                    return;
                }
                Pane::Markers if !self.markers.filter.is_empty() => {
                    self.set_filter(Pane::Markers, String::new(), cx);
                    cx.say("filter cleared", Level::Info);
                    return;
                }
                _ if self.payload.unzoom() => return,
                _ => {}
            }
        }
        if self.payload.zoomed() {
            return; // the editor fills the screen: `z` or Esc leaves it
        }
        let i = ORDER.iter().position(|p| *p == self.focus).unwrap_or(0);
        let n = ORDER.len();
        let j = match action {
            Action::NextPane => (i + 1) % n,
            Action::PrevPane => (i + n - 1) % n,
            Action::Right => (i + 1).min(n - 1),
            _ => i.saturating_sub(1),
        };
        self.focus_on(ORDER[j], cx);
    }

    /// Set a list's filter (applies as typed).
    fn set_filter(&mut self, pane: Pane, text: String, cx: &mut Shared) {
        match pane {
            Pane::Snapshots => {
                self.list.set_filter(text);
                self.markers.sel = 0;
            }
            Pane::Markers => {
                let report = self.report().cloned();
                self.markers.set_filter(text, report.as_deref());
            }
            _ => return,
        }
        self.selection_changed(cx);
    }

    /// What the prompt says, for the lists here and `o` (open a file).
    pub fn prompted(&mut self, p: &Prompted, cx: &mut Shared) {
        match (p.kind, p.state) {
            (PromptKind::Filter(pane), PromptState::Cancelled) => {
                self.set_filter(pane, String::new(), cx)
            }
            (PromptKind::Filter(pane), _) => self.set_filter(pane, p.text.clone(), cx),
            (PromptKind::OpenFile, PromptState::Done) => {
                let text = p.text.trim();
                if !text.is_empty() {
                    self.open_path(crate::tui::edge::typed_path(text), cx);
                }
            }
            _ => {}
        }
    }

    /// The filter of the focused list, when one is set.
    pub fn filter(&self) -> Option<&str> {
        let f = match self.focus {
            Pane::Snapshots => &self.list.catalog.filter,
            Pane::Markers => &self.markers.filter,
            _ => return None,
        };
        (!f.is_empty()).then_some(f.as_str())
    }

    /// Move the focused pane's selection (or the editor's cursor).
    fn move_sel(&mut self, action: Action, cx: &mut Shared) {
        let moved = match self.focus {
            Pane::Snapshots => {
                self.payload.save(&mut self.drafts, cx);
                if self.list.move_sel(action, 10) {
                    self.markers.sel = 0;
                    true
                } else {
                    false
                }
            }
            Pane::Markers => {
                let report = self.report().cloned();
                self.markers.move_sel(action, report.as_deref(), 10)
            }
            _ => {
                let page = usize::from(cx.area().height.saturating_sub(8).max(1));
                self.payload.page(action, page);
                false
            }
        };
        if moved {
            self.selection_changed(cx);
        }
    }

    /// `o`: open the memory file (or snapshot directory) at `path`
    /// read-only, list it under `opened`, select it and scan it. The
    /// store's own snapshots are selected where they are listed instead.
    pub fn open_path(&mut self, path: PathBuf, cx: &mut Shared) {
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Ok(snaps) = std::fs::canonicalize(cx.store().snapshots_dir())
            && let Ok(rest) = canonical.strip_prefix(&snaps)
            && let Some(name) = rest.iter().next().and_then(|n| n.to_str())
        {
            let name = name.to_string();
            self.list.catalog.filter.clear();
            self.select_named(&name, cx);
            cx.say(
                format!("{name} is this store's own snapshot: selected it"),
                Level::Info,
            );
            return;
        }
        match crate::source::snapshot_at(&path) {
            None => {
                cx.say(format!("{}: no such file", path.display()), Level::Error);
                return;
            }
            Some(Err(e)) => {
                cx.say(format!("cannot open {}: {e}", path.display()), Level::Error);
                return;
            }
            Some(Ok(_)) => {}
        }
        if !self.list.catalog.opened.contains(&canonical) {
            self.list.catalog.opened.push(canonical.clone());
        }
        self.payload.save(&mut self.drafts, cx);
        self.list.catalog.filter.clear();
        self.reload(cx);
        let rows = self.list.catalog.rows();
        let at = rows.iter().rposition(|r| {
            matches!(r, Entry::Source { label, snap } if *label == sources::OPENED
                && (snap.memory.as_ref() == Some(&canonical) || snap.dir == canonical || snap.source == canonical))
        });
        drop(rows);
        if let Some(i) = at {
            self.list.catalog.sel = i;
            self.markers.sel = 0;
            self.selection_changed(cx);
        }
        cx.say(format!("opened {} read-only", path.display()), Level::Info);
    }

    /// When an age shown next changes (`45s` → `46s`): the loop wakes then.
    pub fn next_age_change(&self, cx: &Shared) -> Option<u64> {
        let now = cx.clock().now();
        self.list
            .catalog
            .visible()
            .iter()
            .filter_map(|s| crate::tui::text::age_seconds(&s.meta.created_at, now))
            .map(|age| {
                let unit = match age {
                    0..60 => 1,
                    60..3600 => 60,
                    3600..86400 => 3600,
                    _ => 86400,
                };
                u64::try_from(unit - age % unit).unwrap_or(1)
            })
            .min()
    }

    /// `$EDITOR` returned.
    pub fn editor_returned(
        &mut self,
        path: &std::path::Path,
        outcome: Result<(), String>,
        cx: &mut Shared,
    ) {
        self.payload
            .editor_returned(path, outcome, &mut self.drafts, cx);
    }

    /// Put a payload from the library into the editor.
    pub fn load_payload(&mut self, payload: &str, from: &str, cx: &mut Shared) {
        self.payload.load(payload, from, &mut self.drafts, cx);
    }

    /// What `y` copies here.
    fn copy_target(&self) -> Option<(String, &'static str)> {
        match self.focus {
            Pane::Snapshots => self.list.copy_target(),
            Pane::Markers => self.selected_marker().map(|m| (m.token.clone(), "token")),
            _ => self.payload.editor().map(|e| (e.text(), "payload")),
        }
    }

    /// Why there is no payload to edit, or how to get one.
    fn no_payload_note(&self) -> String {
        match self.list.catalog.selected_entry() {
            Some(Entry::Source { label, snap }) => format!(
                "{}/{} is read-only: its markers show, its payloads are not edited here. `forkmail import {}/{}` copies it into the store; fork it there.",
                label, snap.id, label, snap.id
            ),
            _ if self
                .selected_marker()
                .is_some_and(|m| m.kind == MailboxKind::ResumeNetwork) =>
            {
                "Resume-network mailboxes carry the VMM's own network handoff; there is nothing to edit.".into()
            }
            _ => "Select a fork mailbox in the markers pane to edit its payload (i types it).".into(),
        }
    }
}
