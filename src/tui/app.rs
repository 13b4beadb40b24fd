//! Application state, the [`Action`]s keys turn into, and `update`.
//!
//! Event → [`Action`] → [`App::update`] → draw. Engine work (scans, fork
//! sessions, stop/remove) runs on threads started from here and reports back
//! as [`Msg`]s; nothing slow runs on the UI task.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ratatui::layout::Rect;
use tokio::sync::mpsc::UnboundedSender;

pub use super::action::{Action, Dialog, Exit, Level, Msg};
use super::catalog::Catalog;
pub use super::clock::{Clock, local_offset};
use super::editor::{Draft, Editor};
use super::forks::ForksState;
use super::keymap::Keymap;
use super::library::LibraryView;
use super::logview::LogViewer;
use super::prompt::Prompt;
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
    /// Typing into the one-line prompt (a list filter, a log search, a
    /// preset name, a file path).
    Filter,
    /// A yes/no question is open.
    Confirm,
    /// The fork dialog is open (typing the fork name).
    ForkName,
    /// The help overlay is open.
    Help,
    /// The full-screen guest log viewer is open.
    LogView,
    /// The payload library popup is open.
    Library,
}

/// What the TUI starts with besides the store (the config file's choices,
/// `forkmail demo`'s first snapshot).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The keymap in force.
    pub keymap: Keymap,
    /// Ack timeout of a mailbox without a saved draft (ms); 0: the contract's default.
    pub ack_timeout_ms: u64,
    /// The snapshot selected at start.
    pub select: Option<String>,
    /// Write copies to the terminal as OSC 52 (off in tests).
    pub osc52: bool,
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
    /// The keymap in force (the table plus the config file's overrides).
    pub keymap: Keymap,
    /// The payload editor fills the screen.
    pub zoom: bool,
    /// The full-screen guest log viewer, when open.
    pub log_view: Option<LogViewer>,
    /// The payload library popup, when open.
    pub library: Option<LibraryView>,
    /// The one-line prompt being typed, when open.
    pub prompt: Option<Prompt>,
    /// Filters of the markers, sessions and forks lists (the snapshots
    /// list's is `catalog.filter`).
    pub filters: ListFilters,
    /// Where help was opened (its keys are listed first).
    pub help_context: (Mode, Screen, Pane),
    /// Text copied and not yet sent to the terminal (OSC 52).
    pub copied: Option<String>,
    /// Settings from the config file and the command line.
    pub options: Options,
    /// The fork the status message is about: it goes when the fork stops
    /// or is removed.
    pub status_about: Option<String>,
    /// A QEMU VMM started ahead of the next fork.
    pub prestart: super::prestart::PrestartSlot,
    pub(crate) next_prestart_id: u64,
    pub(crate) next_session_id: u64,
}

/// Filters of the lists other than the snapshots list.
#[derive(Debug, Clone, Default)]
pub struct ListFilters {
    /// Markers pane (mailbox name).
    pub markers: String,
    /// Sessions list (fork or snapshot name).
    pub sessions: String,
    /// Forks list (fork or source name).
    pub forks: String,
}

impl App {
    /// A new app on `store`; loads the listings and starts the first scan.
    pub fn new(store: Store, tx: UnboundedSender<Msg>, clock: Clock, theme: Theme) -> App {
        App::with_options(store, tx, clock, theme, Options::default())
    }

    /// [`App::new`] with the config file's choices.
    pub fn with_options(
        store: Store,
        tx: UnboundedSender<Msg>,
        clock: Clock,
        theme: Theme,
        options: Options,
    ) -> App {
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
            keymap: options.keymap.clone(),
            zoom: false,
            log_view: None,
            library: None,
            prompt: None,
            filters: ListFilters::default(),
            help_context: (Mode::Normal, Screen::Main, Pane::Snapshots),
            copied: None,
            options,
            status_about: None,
            prestart: Default::default(),
            next_prestart_id: 0,
            next_session_id: 1,
        };
        app.load_history();
        app.reload_store();
        if let Some(name) = app.options.select.clone()
            && let Some(i) = app.catalog.visible().iter().position(|s| s.name == name)
        {
            app.catalog.sel = i;
            app.selection_changed();
        }
        app
    }

    /// Whether the hint bar should offer `action` now: only what would do
    /// something for the current selection.
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
        let selected = self.selected_session();
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
            Action::Replay => selected.is_some_and(|s| s.request.is_some()),
            Action::OpenLog if self.screen == Screen::Sessions => {
                selected.is_some_and(|s| s.log_path.is_some())
            }
            Action::OpenLog | Action::Inspect | Action::StopFork | Action::RemoveFork => {
                self.forks.selected().is_some()
            }
            Action::ExternalEditor
            | Action::StartEdit
            | Action::ToggleInclude
            | Action::ToggleAck
            | Action::Library
            | Action::Pretty
                if self.mode == Mode::Normal =>
            {
                self.editor.is_some()
            }
            Action::RevealTokens => self.markers().is_some_and(|r| !r.markers.is_empty()),
            Action::Fork => self.catalog.selected().is_some(),
            Action::StartFilter if self.mode == Mode::Normal => self.focus != Pane::Editor,
            Action::Copy => self.copy_target().is_some(),
            Action::NextPane => !self.zoom,
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
        if let Some(v) = self.log_view.as_mut() {
            v.reload();
        }
        self.dirty = true;
    }

    /// Apply an action.
    pub fn update(&mut self, action: Action) {
        self.dirty = true;
        match (self.mode, action) {
            (_, Action::Quit) => self.request_quit(),
            (Mode::Help, Action::ToggleHelp) | (Mode::Help, Action::Cancel) => {
                self.mode = self.help_context.0;
            }
            (Mode::Help, a) => self.scroll_help(a),
            (Mode::Filter, a) => self.prompt_action(a),
            (_, Action::ToggleHelp) => {
                self.help_context = (self.mode, self.screen, self.focus);
                self.mode = Mode::Help;
                self.help_scroll = 0;
            }
            (Mode::Confirm | Mode::ForkName, a) => self.dialog_action(a),
            (Mode::Editing, a) => self.editing_action(a),
            (Mode::LogView, a) => self.log_action(a),
            (Mode::Library, a) => self.library_action(a),
            (Mode::Normal, a) => self.normal_action(a),
        }
    }

    /// Scroll the help overlay.
    pub fn scroll_help(&mut self, action: Action) {
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
        self.log_view = None;
        self.library = None;
        self.prompt = None;
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
                if self.zoom {
                    return; // the editor fills the screen: `z` leaves it
                }
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
            Action::StartFilter => self.start_filter(),
            Action::OpenPath => self.start_open_path(),
            Action::Rescan => self.rescan(),
            Action::RevealTokens => {
                self.reveal_tokens = !self.reveal_tokens;
                let t = self.keymap.key_for(super::keymap::Scope::Markers, action);
                self.say(
                    if self.reveal_tokens {
                        format!("tokens revealed ({t} masks them)")
                    } else {
                        format!("tokens masked ({t} reveals them)")
                    },
                    Level::Info,
                );
            }
            Action::ToggleInclude | Action::ToggleAck => self.toggle(action),
            Action::TimeoutUp | Action::TimeoutDown => self.toggle(action),
            Action::StartEdit => self.start_edit(),
            Action::Pretty | Action::Compact => self.reformat(action == Action::Pretty),
            Action::ExternalEditor => self.external_editor(),
            Action::Zoom => self.toggle_zoom(),
            Action::Library => self.open_library(),
            Action::Copy => self.copy_selected(),
            Action::CancelSession => self.ask_cancel_session(),
            Action::DismissSession => self.dismiss_session(),
            Action::Replay => self.replay_selected(),
            Action::OpenLog => self.open_log(),
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

    /// The payload editor fills the screen, or no longer does.
    pub fn toggle_zoom(&mut self) {
        if self.editor.is_none() && !self.zoom {
            self.say(
                "select a fork mailbox in the markers pane first",
                Level::Info,
            );
            return;
        }
        self.zoom = !self.zoom;
        if self.zoom {
            self.focus = Pane::Editor;
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
        self.zoom = false;
        self.focus = Pane::cycle(screen)[0];
        // What was said about the previous screen does not apply here.
        self.clear_status();
        if screen == Screen::Forks {
            self.reload_store();
        }
    }

    /// The scan report of the selected snapshot, when cached.
    pub fn markers(&self) -> Option<&Arc<ScanReport>> {
        // The selected row: a store snapshot, or a read-only one.
        let key = self.catalog.selected_entry()?.key();
        self.catalog.cached(&key)
    }
}
