//! Application state, the [`Action`]s keys turn into, and `update`.
//!
//! Event → [`Action`] → [`App::update`] → draw. Engine work (scans, fork
//! sessions, stop/remove) runs on threads started from here and reports back
//! as [`Msg`]s; nothing slow runs on the UI task.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{Event, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use time::OffsetDateTime;
use tokio::sync::mpsc::UnboundedSender;

pub use super::action::{Action, Dialog, Exit, Level, Msg};
use super::catalog::Catalog;
use super::editor::{Draft, Editor};
use super::forks::ForksState;
use super::keymap;
use super::session::SessionView;
use super::theme::Theme;
use crate::scan::ScanReport;
use crate::store::Store;

/// How long an info message stays in the status line.
pub const STATUS_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// How long an error stays in the status line.
pub const STATUS_ERROR_TTL: std::time::Duration = std::time::Duration::from_secs(15);

/// Top-level screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    /// Snapshots, markers and the payload editor.
    Main,
    /// Fork sessions, live.
    Sessions,
    /// Forks in the store.
    Forks,
}

/// Focusable panes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    /// Snapshot list.
    Snapshots,
    /// Markers of the selected snapshot.
    Markers,
    /// Payload editor.
    Editor,
    /// Session list.
    SessionList,
    /// Selected session's detail.
    SessionDetail,
    /// Fork list.
    ForkList,
    /// Selected fork's inspection.
    ForkDetail,
}

impl Pane {
    /// The screen a pane belongs to.
    pub fn screen(self) -> Screen {
        match self {
            Pane::Snapshots | Pane::Markers | Pane::Editor => Screen::Main,
            Pane::SessionList | Pane::SessionDetail => Screen::Sessions,
            Pane::ForkList | Pane::ForkDetail => Screen::Forks,
        }
    }
    fn cycle(screen: Screen) -> &'static [Pane] {
        match screen {
            Screen::Main => &[Pane::Snapshots, Pane::Markers, Pane::Editor],
            Screen::Sessions => &[Pane::SessionList, Pane::SessionDetail],
            Screen::Forks => &[Pane::ForkList, Pane::ForkDetail],
        }
    }
}

/// Input mode: which keys mean what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Navigation.
    Normal,
    /// Typing into the payload editor.
    Editing,
    /// Typing the snapshot name filter.
    Filter,
    /// A yes/no question is open.
    Confirm,
    /// The fork dialog is open (typing the fork name).
    ForkName,
    /// The help overlay is open.
    Help,
    /// Typing the path of a memory file to open read-only.
    OpenPath,
}

/// Wall and monotonic time, frozen in tests so screens are stable.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    frozen: Option<(Instant, OffsetDateTime)>,
}

impl Clock {
    /// The real clock.
    pub fn system() -> Clock {
        Clock { frozen: None }
    }
    /// A clock stopped at `at`.
    pub fn frozen(at: OffsetDateTime) -> Clock {
        Clock {
            frozen: Some((Instant::now(), at)),
        }
    }
    /// Whether time stands still (tests).
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }
    /// Monotonic now.
    pub fn instant(&self) -> Instant {
        self.frozen.map(|f| f.0).unwrap_or_else(Instant::now)
    }
    /// Wall-clock now.
    pub fn now(&self) -> OffsetDateTime {
        self.frozen
            .map(|f| f.1)
            .unwrap_or_else(OffsetDateTime::now_utc)
    }
}

/// The whole TUI state.
pub struct App {
    /// The store shown.
    pub store: Store,
    /// Styles.
    pub theme: Theme,
    /// Time source.
    pub clock: Clock,
    /// Current screen.
    pub screen: Screen,
    /// Focused pane.
    pub focus: Pane,
    /// Input mode.
    pub mode: Mode,
    /// Snapshots, filter and scan cache.
    pub catalog: Catalog,
    /// Selected marker row.
    pub marker_sel: usize,
    /// Show tokens in clear.
    pub reveal_tokens: bool,
    /// Per (snapshot, mailbox) settings and payload.
    pub drafts: HashMap<(String, String), Draft>,
    /// The editor of the selected mailbox.
    pub editor: Option<Editor>,
    /// Fork sessions, oldest first.
    pub sessions: Vec<SessionView>,
    /// Selected session.
    pub session_sel: usize,
    /// Forks screen.
    pub forks: ForksState,
    /// Fan-outs started here (their forks are in `sessions`).
    pub fanouts: Vec<super::fanout::FanoutView>,
    /// Conformance suite runs started here.
    pub checks: Vec<super::fanout::CheckView>,
    /// Open dialog.
    pub dialog: Option<Dialog>,
    /// Help overlay scroll.
    pub help_scroll: u16,
    /// Status line.
    pub status: Option<(String, Level)>,
    /// When the status line was set (it expires).
    pub status_at: Option<Instant>,
    /// How the store is watched ("watching store" or the fallback).
    pub watch_note: String,
    /// Background work reports here.
    pub tx: UnboundedSender<Msg>,
    /// Set when the loop must end or hand over the terminal.
    pub exit: Option<Exit>,
    /// Something changed since the last draw.
    pub dirty: bool,
    /// When to reload the store (debounced watcher events).
    pub reload_at: Option<Instant>,
    /// Terminal area of the last draw (for mouse hit tests).
    pub area: Rect,
    /// Animation frame of spinners.
    pub spinner: usize,
    /// A QEMU VMM started ahead of the next fork.
    pub prestart: super::prestart::PrestartSlot,
    pub(crate) next_prestart_id: u64,
    pub(crate) next_session_id: u64,
}

impl App {
    /// A new app on `store`; loads the listings and starts the first scan.
    pub fn new(store: Store, tx: UnboundedSender<Msg>, clock: Clock, theme: Theme) -> App {
        let mut app = App {
            catalog: Catalog::default(),
            store,
            theme,
            clock,
            screen: Screen::Main,
            focus: Pane::Snapshots,
            mode: Mode::Normal,
            marker_sel: 0,
            reveal_tokens: false,
            drafts: HashMap::new(),
            editor: None,
            sessions: Vec::new(),
            session_sel: 0,
            forks: ForksState::default(),
            fanouts: Vec::new(),
            checks: Vec::new(),
            dialog: None,
            help_scroll: 0,
            status: None,
            status_at: None,
            watch_note: String::new(),
            tx,
            exit: None,
            dirty: true,
            reload_at: None,
            area: Rect::new(0, 0, 80, 24),
            spinner: 0,
            prestart: Default::default(),
            next_prestart_id: 0,
            next_session_id: 1,
        };
        app.reload_store();
        app
    }

    /// Set the status line.
    pub fn say(&mut self, text: impl Into<String>, level: Level) {
        // Messages quote errors, which can quote guest or file contents.
        let text = crate::sanitize::safe_owned(&text.into());
        self.status = Some((text, level));
        self.status_at = Some(Instant::now());
    }

    /// When the status message goes stale: info after 5 s, errors after
    /// 15 s. `None` without a message, or with a frozen clock (tests).
    pub fn status_deadline(&self) -> Option<Instant> {
        let (_, level) = self.status.as_ref()?;
        if self.clock.is_frozen() {
            return None;
        }
        let ttl = match level {
            Level::Error => STATUS_ERROR_TTL,
            _ => STATUS_TTL,
        };
        Some(self.status_at? + ttl)
    }

    /// Drop the status message once it is stale.
    pub fn expire_status(&mut self) {
        if self.status_deadline().is_some_and(|d| Instant::now() >= d) {
            self.status = None;
            self.status_at = None;
            self.dirty = true;
        }
    }

    /// Whether the hint bar should offer `action` for the current selection
    /// (cancel only for a running session, dismiss only for a finished one).
    pub fn hint_applies(&self, action: Action) -> bool {
        use super::fanout::SessionRow;
        let running = match self.selected_row() {
            Some(SessionRow::Single(i) | SessionRow::Member(i)) => {
                Some(self.sessions[i].is_running())
            }
            Some(SessionRow::Group(gi)) => Some(self.members(gi).iter().any(|s| s.is_running())),
            Some(SessionRow::Check(ci)) => Some(self.checks[ci].outcome.is_none()),
            None => None,
        };
        match action {
            Action::CancelSession => running == Some(true),
            Action::DismissSession => {
                running == Some(false)
                    && !matches!(self.selected_row(), Some(SessionRow::Member(_)))
            }
            Action::ToggleExpand => matches!(
                self.selected_row(),
                Some(SessionRow::Group(_) | SessionRow::Member(_))
            ),
            Action::ExternalEditor | Action::StartEdit | Action::ToggleInclude
                if self.mode == Mode::Normal =>
            {
                self.editor.is_some()
            }
            _ => true,
        }
    }

    /// Whether a spinner or countdown is on screen (the loop ticks only then).
    pub fn needs_tick(&self) -> bool {
        self.catalog.scan_job.is_some()
            || self.sessions.iter().any(|s| s.is_running())
            || self.checks.iter().any(|c| c.outcome.is_none())
            || self.forks.busy()
    }

    /// One tick of animation.
    pub fn on_tick(&mut self) {
        self.spinner = self.spinner.wrapping_add(1);
        for s in self.sessions.iter_mut().filter(|s| s.is_running()) {
            s.refresh_log();
        }
        self.dirty = true;
    }

    /// Handle a terminal event.
    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::Key(key) => {
                if let Some(action) = keymap::map_key(self.mode, self.screen, self.focus, key) {
                    self.update(action);
                }
            }
            Event::Mouse(m) => self.on_mouse(m),
            Event::Resize(w, h) => {
                self.area = Rect::new(0, 0, w, h);
                self.dirty = true;
            }
            Event::Paste(text) if self.mode == Mode::Editing => {
                if let Some(ed) = self.editor.as_mut() {
                    ed.textarea.insert_str(text);
                }
                self.after_edit();
            }
            _ => {}
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        if self.mode != Mode::Normal {
            return;
        }
        let pos = Position::new(m.column, m.row);
        let hit = super::view::pane_areas(self, self.area)
            .into_iter()
            .find(|(_, r)| r.contains(pos))
            .map(|(p, _)| p);
        let Some(pane) = hit else { return };
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                self.dirty = true;
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let prev = self.focus;
                self.focus = pane;
                let down = matches!(m.kind, MouseEventKind::ScrollDown);
                self.update(if down { Action::Down } else { Action::Up });
                if pane == Pane::Editor {
                    self.focus = prev;
                }
            }
            _ => {}
        }
    }

    /// Apply an action.
    pub fn update(&mut self, action: Action) {
        self.dirty = true;
        match (self.mode, action) {
            (_, Action::Quit) => self.request_quit(),
            (Mode::Help, Action::ToggleHelp) | (Mode::Help, Action::Cancel) => {
                self.mode = Mode::Normal
            }
            (Mode::Help, a) => self.scroll_help(a),
            (_, Action::ToggleHelp) => {
                self.mode = Mode::Help;
                self.help_scroll = 0;
            }
            (Mode::Filter, a) => self.filter_action(a),
            (Mode::OpenPath, a) => self.path_action(a),
            (Mode::Confirm | Mode::ForkName, a) => self.dialog_action(a),
            (Mode::Editing, a) => self.editing_action(a),
            (Mode::Normal, a) => self.normal_action(a),
        }
    }

    fn scroll_help(&mut self, action: Action) {
        let lines = super::view::help_lines(self).len() as u16;
        // The overlay leaves a line above and below, plus its borders.
        let shown = self.area.height.saturating_sub(4);
        let max = lines.saturating_sub(shown);
        let page = shown.max(1);
        let s = self.help_scroll;
        self.help_scroll = match action {
            Action::Down => s.saturating_add(1),
            Action::Up => s.saturating_sub(1),
            Action::PageDown => s.saturating_add(page),
            Action::PageUp => s.saturating_sub(page),
            Action::Top => 0,
            Action::Bottom => max,
            _ => s,
        }
        .min(max);
    }

    /// `q` / `^c`: quit, asking first when sessions are running (quitting
    /// cancels them and they roll back). Asked twice (`^c` again), it quits.
    fn request_quit(&mut self) {
        let running = self.sessions.iter().filter(|s| s.is_running()).count();
        if running == 0 || matches!(self.dialog, Some(Dialog::Quit(_))) {
            self.quit();
            return;
        }
        if self.mode == Mode::Editing {
            self.save_current_draft();
        }
        self.dialog = Some(Dialog::Quit(running));
        self.mode = Mode::Confirm;
    }

    /// Quit now, without asking: running sessions are cancelled and rolled
    /// back by the caller of the event loop.
    pub fn quit(&mut self) {
        self.save_current_draft();
        self.dialog = None;
        self.mode = Mode::Normal;
        self.exit = Some(Exit::Quit);
    }

    /// A quit signal (SIGTERM, SIGHUP, SIGINT) arrived.
    pub fn quit_on_signal(&mut self, name: &str) {
        tracing::info!("{name}: quitting");
        self.say(format!("{name}: quitting"), Level::Info);
        self.quit();
    }

    fn normal_action(&mut self, action: Action) {
        match action {
            Action::NextPane | Action::PrevPane => {
                let cycle = Pane::cycle(self.screen);
                let i = cycle.iter().position(|p| *p == self.focus).unwrap_or(0);
                let n = cycle.len();
                let j = if action == Action::NextPane {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.focus = cycle[j];
            }
            Action::Show(screen) => self.show(screen),
            Action::Up | Action::Down | Action::Top | Action::Bottom => self.move_sel(action),
            Action::PageUp | Action::PageDown => self.move_sel(action),
            Action::Fork => self.open_fork_dialog(),
            Action::StartFilter => self.mode = Mode::Filter,
            Action::OpenPath => self.start_open_path(),
            Action::Rescan => self.rescan(),
            Action::RevealTokens => self.reveal_tokens = !self.reveal_tokens,
            Action::ToggleInclude | Action::ToggleAck => self.toggle(action),
            Action::TimeoutUp | Action::TimeoutDown => self.toggle(action),
            Action::StartEdit => self.start_edit(),
            Action::Pretty | Action::Compact => self.reformat(action == Action::Pretty),
            Action::ExternalEditor => self.external_editor(),
            Action::CancelSession => self.ask_cancel_session(),
            Action::DismissSession => self.dismiss_session(),
            Action::Inspect => self.inspect_selected_fork(),
            Action::StopFork => self.ask_fork_op(false),
            Action::RemoveFork => self.ask_fork_op(true),
            Action::ToggleExpand => self.toggle_expand(),
            Action::ToggleMark => self.forks.toggle_mark(),
            Action::MarkAllVisible => self.forks.mark_all_visible(),
            Action::RunCheck => self.run_check(),
            Action::Refresh => {
                self.reload_store();
                self.say("store reloaded", Level::Info);
            }
            _ => {}
        }
    }

    /// Switch to `screen`, focusing its first pane.
    pub fn show(&mut self, screen: Screen) {
        if self.screen == screen {
            return;
        }
        if self.screen == Screen::Main {
            self.save_current_draft();
        }
        self.screen = screen;
        self.focus = Pane::cycle(screen)[0];
        // What was said about the previous screen does not apply here.
        self.status = None;
        self.status_at = None;
        if screen == Screen::Forks {
            self.reload_store();
        }
    }

    fn move_sel(&mut self, action: Action) {
        let step = |sel: usize, len: usize, page: usize| -> usize {
            if len == 0 {
                return 0;
            }
            match action {
                Action::Up => sel.saturating_sub(1),
                Action::Down => (sel + 1).min(len - 1),
                Action::Top => 0,
                Action::Bottom => len - 1,
                Action::PageUp => sel.saturating_sub(page),
                Action::PageDown => (sel + page).min(len - 1),
                _ => sel,
            }
        };
        match self.focus {
            Pane::Snapshots => {
                let len = self.catalog.rows().len();
                let new = step(self.catalog.sel, len, 10);
                if new != self.catalog.sel {
                    self.save_current_draft();
                    self.catalog.sel = new;
                    self.marker_sel = 0;
                    self.selection_changed();
                }
            }
            Pane::Markers => {
                let len = self.markers().map(|r| r.markers.len()).unwrap_or(0);
                let new = step(self.marker_sel, len, 10);
                if new != self.marker_sel {
                    self.save_current_draft();
                    self.marker_sel = new;
                    self.sync_editor();
                }
            }
            Pane::Editor => {
                if let Some(ed) = self.editor.as_mut() {
                    use ratatui_textarea::CursorMove;
                    match action {
                        Action::Up => ed.textarea.move_cursor(CursorMove::Up),
                        Action::Down => ed.textarea.move_cursor(CursorMove::Down),
                        Action::Top => ed.textarea.move_cursor(CursorMove::Top),
                        Action::Bottom => ed.textarea.move_cursor(CursorMove::Bottom),
                        _ => {}
                    }
                }
            }
            Pane::SessionList => {
                self.session_sel = step(self.session_sel, self.session_rows().len(), 10)
            }
            Pane::SessionDetail => {
                let idx = match self.selected_row() {
                    Some(
                        super::fanout::SessionRow::Single(i) | super::fanout::SessionRow::Member(i),
                    ) => Some(i),
                    _ => None,
                };
                if let Some(s) = idx.and_then(|i| self.sessions.get_mut(i)) {
                    s.scroll = match action {
                        Action::Up => s.scroll.saturating_sub(1),
                        Action::Down => s.scroll.saturating_add(1),
                        Action::Top => 0,
                        _ => s.scroll,
                    };
                }
            }
            Pane::ForkList | Pane::ForkDetail => {
                self.forks.sel = step(self.forks.sel, self.forks.visible().len(), 10)
            }
        }
    }

    /// The scan report of the selected row (a store snapshot, or a
    /// read-only one), when cached.
    pub fn markers(&self) -> Option<&Arc<ScanReport>> {
        let key = self.catalog.selected_entry()?.key();
        self.catalog.cached(&key)
    }

    /// Handle a message from background work.
    pub fn on_msg(&mut self, msg: Msg) {
        self.dirty = true;
        match msg {
            Msg::ScanProgress {
                snapshot,
                done,
                total,
            } => self.catalog.progress(&snapshot, done, total),
            Msg::ScanDone {
                snapshot,
                key,
                result,
            } => {
                if let Err(e) = &result
                    && e.kind != crate::error::ErrorKind::Cancelled
                {
                    self.say(
                        format!("scan of {snapshot} failed: {}", e.message),
                        Level::Error,
                    );
                }
                self.catalog.finish_scan(&snapshot, key, result);
                self.selection_changed();
            }
            Msg::Session { id, event } => self.session_event(id, event),
            Msg::SessionEnd { id, result } => self.session_end(id, result),
            Msg::StoreChanged => {
                if self.reload_at.is_none() {
                    self.reload_at = Some(Instant::now() + std::time::Duration::from_millis(250));
                }
                self.dirty = false;
            }
            Msg::FanoutEnd { id, summary } => self.fanout_end(id, summary),
            Msg::Check { id, event } => self.check_event(id, event),
            Msg::CheckEnd { id, result } => self.check_end(id, result),
            Msg::Inspected { fork, result } => self.forks.inspected(&fork, result),
            Msg::Prestarted { id, result } => self.prestarted(id, result),
            Msg::ForkOp { fork, message, ok } => {
                // What was said about this fork no longer applies.
                self.forks.inspections.remove(&fork);
                self.forks.pending = self.forks.pending.saturating_sub(1);
                self.say(message, if ok { Level::Ok } else { Level::Error });
                self.reload_store();
            }
        }
    }

    /// The debounced reload is due.
    pub fn reload_due(&mut self) {
        self.reload_at = None;
        if self.reload_store() {
            self.dirty = true;
        }
        // The watcher also sees guest logs grow: a guest keeps writing after
        // its session is done (its last ack line, a later payload).
        for s in &mut self.sessions {
            let before = s.log_tail.len();
            let last = s.log_tail.last().cloned();
            s.refresh_log();
            if s.log_tail.len() != before || s.log_tail.last() != last.as_ref() {
                self.dirty = true;
            }
        }
    }
}
