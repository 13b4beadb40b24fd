//! The app: it routes input to the focused component (the top overlay,
//! else the shown screen's focused pane), applies what components ask for
//! ([`Effect`]s), hands background messages to the component they are
//! for, and composes the frame. It holds only what all share ([`Shared`])
//! and the components themselves; it has no public fields.
//!
//! The components: the snapshots screen (snapshot list, markers, payload
//! editor), the sessions screen (list, detail), the forks screen (list,
//! detail), and the overlays (help, prompt, confirm, fork dialog, viewer,
//! payload library). A new screen is a component beside these three,
//! reached by a [`Screen`] and drawn in [`draw`].

mod draw;
mod effects;
mod inbox;
mod route;

use std::time::Instant;

use crossterm::event::KeyEvent;
use tokio::sync::mpsc::UnboundedSender;

use super::action::{Action, Exit, Level, Pane, Screen};
use super::clock::Clock;
use super::component::Component;
use super::effect::{Command, Effect, Open, Question};
use super::forks::ForksScreen;
use super::keymap::Place;
use super::msg::Msg;
use super::overlay::Overlay;
use super::sessions::SessionsScreen;
pub use super::shared::Options;
use super::shared::Shared;
use super::snapshots::SnapshotsScreen;
use super::theme::Theme;
use crate::source::SourceSet;
use crate::store::Store;

/// The TUI's state: shared things, three screens, the overlays open.
pub struct App {
    shared: Shared,
    screen: Screen,
    snapshots: SnapshotsScreen,
    sessions: SessionsScreen,
    forks: ForksScreen,
    overlays: Vec<Overlay>,
    chord: Option<KeyEvent>,
    exit: Option<Exit>,
    dirty: bool,
    reload_at: Option<Instant>,
    watch_note: String,
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
        let select = options.select.clone();
        let ack = options.ack_timeout_ms;
        let mut app = App {
            shared: Shared::new(store, tx, clock, theme, options),
            screen: Screen::Main,
            snapshots: SnapshotsScreen::new(ack),
            sessions: SessionsScreen::default(),
            forks: ForksScreen::default(),
            overlays: Vec::new(),
            chord: None,
            exit: None,
            dirty: true,
            reload_at: None,
            watch_note: String::new(),
        };
        app.sessions.load_history(&mut app.shared);
        app.reload_store();
        if let Some(name) = select {
            app.snapshots.select_named(&name, &mut app.shared);
        }
        app.apply_effects();
        app
    }

    /// Show the snapshots of these read-only sources under the store's.
    pub fn set_sources(&mut self, set: SourceSet) {
        self.snapshots.set_sources(set, &mut self.shared);
        self.apply_effects();
    }

    /// How the store is watched (the status line's right side).
    pub fn set_watch_note(&mut self, note: String) {
        self.watch_note = note;
        self.dirty = true;
    }

    /// What all components share (the store, the clock, the status line).
    pub fn shared(&self) -> &Shared {
        &self.shared
    }
    /// The store shown.
    pub fn store(&self) -> &Store {
        self.shared.store()
    }
    /// The screen shown.
    pub fn screen(&self) -> Screen {
        self.screen
    }
    /// The focused pane of the screen shown.
    pub fn focus(&self) -> Pane {
        match self.screen {
            Screen::Main => self.snapshots.focus(),
            Screen::Sessions => self.sessions.focus(),
            Screen::Forks => self.forks.focus(),
        }
    }
    /// The snapshots screen.
    pub fn snapshots(&self) -> &SnapshotsScreen {
        &self.snapshots
    }
    /// The sessions screen.
    pub fn sessions(&self) -> &SessionsScreen {
        &self.sessions
    }
    /// The forks screen.
    pub fn forks(&self) -> &ForksScreen {
        &self.forks
    }
    /// The overlays open, bottom first.
    pub fn overlays(&self) -> &[Overlay] {
        &self.overlays
    }
    /// The top overlay, if one is open.
    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlays.last()
    }
    /// Where keys go now.
    pub fn place(&self) -> Place {
        match self.overlays.last() {
            Some(o) => o.place(),
            None => self.screen_component().place(),
        }
    }
    /// The status line's message, if one is shown.
    pub fn status(&self) -> Option<(&str, Level)> {
        self.shared.status().current()
    }
    /// Say `text` in the status line (and the message log).
    pub fn say(&mut self, text: &str, level: Level) {
        self.shared.say(text, level);
        self.dirty = true;
    }

    /// Something changed since the last frame.
    pub fn dirty(&self) -> bool {
        self.dirty
    }
    /// How the loop ends, once asked (taken).
    pub fn take_exit(&mut self) -> Option<Exit> {
        self.exit.take()
    }
    /// Whether the loop is asked to end or hand the terminal over.
    pub fn exiting(&self) -> bool {
        self.exit.is_some()
    }

    fn screen_component(&self) -> &dyn Component {
        match self.screen {
            Screen::Main => &self.snapshots,
            Screen::Sessions => &self.sessions,
            Screen::Forks => &self.forks,
        }
    }

    /// The shown screen handles `action`; returns whether it took it.
    fn screen_handle(&mut self, action: Action) -> bool {
        let cx = &mut self.shared;
        match self.screen {
            Screen::Main => self.snapshots.handle(action, cx),
            Screen::Sessions => self.sessions.handle(action, cx),
            Screen::Forks => self.forks.handle(action, cx),
        }
    }

    /// The shown screen takes a paste; returns whether it did.
    fn screen_paste(&mut self, text: &str) -> bool {
        let cx = &mut self.shared;
        match self.screen {
            Screen::Main => self.snapshots.paste(text, cx),
            Screen::Sessions => self.sessions.paste(text, cx),
            Screen::Forks => self.forks.paste(text, cx),
        }
    }

    /// Switch to `screen`.
    pub fn show(&mut self, screen: Screen) {
        self.switch(screen, true);
    }

    /// Switch to `screen`; `clear`: what was said about the previous
    /// screen does not apply there.
    fn switch(&mut self, screen: Screen, clear: bool) {
        if self.screen == screen {
            return;
        }
        if self.screen == Screen::Main {
            self.snapshots.leave(&mut self.shared);
        }
        self.screen = screen;
        if clear {
            self.shared.status_mut().clear();
        }
        if screen == Screen::Forks {
            self.reload_store();
        }
        self.dirty = true;
    }

    /// Whether a spinner or countdown is on screen (the loop ticks only then).
    pub fn needs_tick(&self) -> bool {
        self.snapshots.busy() || self.sessions.busy() || self.forks.busy()
    }

    /// One tick of animation.
    pub fn on_tick(&mut self) {
        self.shared.spin();
        self.sessions.tick();
        for o in &mut self.overlays {
            if let Overlay::Viewer(v) = o {
                v.reload();
            }
        }
        self.dirty = true;
    }

    /// Reload snapshots (the store's and the sources') and forks from
    /// disk. Returns whether anything changed.
    pub fn reload_store(&mut self) -> bool {
        let mut changed = self.snapshots.reload(&mut self.shared);
        changed |= self.forks.reload(&self.shared);
        self.sessions.set_forks(self.forks.statuses());
        // A message about a fork that no longer runs is stale.
        if let Some(f) = self.shared.status().about_fork()
            && !self.forks.runs(f)
        {
            self.shared.status_mut().clear();
            changed = true;
        }
        changed
    }

    /// When the debounced store reload is due, if one is.
    pub fn reload_at(&self) -> Option<Instant> {
        self.reload_at
    }

    /// The debounced reload is due: the store, the history (new sessions,
    /// what became of forks), the logs shown.
    pub fn reload_due(&mut self) {
        self.reload_at = None;
        let mut changed = self.reload_store();
        changed |= self.sessions.refresh_history(&mut self.shared);
        for o in &mut self.overlays {
            if let Overlay::Viewer(v) = o {
                changed |= v.reload();
            }
        }
        self.apply_effects();
        self.dirty |= changed;
    }

    /// When the status message goes stale, if one is shown.
    pub fn status_deadline(&self) -> Option<Instant> {
        self.shared.status_deadline()
    }

    /// Drop the status message once it is stale.
    pub fn expire_status(&mut self) {
        if self
            .shared
            .status_deadline()
            .is_some_and(|d| Instant::now() >= d)
        {
            self.shared.status_mut().clear();
            self.dirty = true;
        }
    }

    /// When an age shown on screen next changes (`45s` → `46s`): the loop
    /// wakes then, and not otherwise while idle.
    pub fn next_age_change(&self) -> Option<Instant> {
        if self.shared.clock().is_frozen()
            || self.screen != Screen::Main
            || !self.overlays.is_empty()
        {
            return None;
        }
        let secs = self.snapshots.next_age_change(&self.shared)?;
        Some(Instant::now() + std::time::Duration::from_secs(secs))
    }

    /// The clock ran to an age change: draw again.
    pub fn age_changed(&mut self) {
        self.dirty = true;
    }

    /// Text copied and not yet sent to the terminal (OSC 52), taken.
    pub fn take_copied(&mut self) -> Option<String> {
        self.shared.take_copied()
    }

    /// `q` / `^c`: quit, asking first when sessions are running (quitting
    /// cancels them and they roll back). Asked twice (`^c` again), it quits.
    fn request_quit(&mut self) {
        let running = self.sessions.running();
        let asked = matches!(
            self.overlays.last(),
            Some(Overlay::Confirm(c)) if c.question.then == Command::Quit
        );
        if running == 0 || asked {
            self.quit();
            return;
        }
        self.snapshots.save(&mut self.shared);
        self.shared.emit(Effect::Open(Open::Confirm(Question {
            title: "Quit".into(),
            lines: vec![format!(
                "{running} session{} running: quit and roll {} back?",
                if running == 1 { "" } else { "s" },
                if running == 1 { "it" } else { "them" }
            )],
            yes: "quit, roll back".into(),
            no: "stay".into(),
            then: Command::Quit,
        })));
    }

    /// Quit now, without asking: running sessions are cancelled and rolled
    /// back by the caller of the event loop.
    pub fn quit(&mut self) {
        self.snapshots.save(&mut self.shared);
        self.overlays.clear();
        self.exit = Some(Exit::Quit);
    }

    /// A quit signal (SIGTERM, SIGHUP, SIGINT) arrived.
    pub fn quit_on_signal(&mut self, name: &str) {
        tracing::info!("{name}: quitting");
        self.shared.say(format!("{name}: quitting"), Level::Info);
        self.quit();
    }

    /// Cancel every running session (quitting): they roll back. Returns
    /// how many.
    pub fn cancel_running(&mut self) -> usize {
        let n = self.sessions.cancel_all();
        if n > 0 {
            self.shared.say(
                format!("cancelling {n} running session(s), rolling back…"),
                Level::Info,
            );
            self.dirty = true;
        }
        n
    }

    /// Whether work that must not be cut short still runs (sessions rolling
    /// back, stops and removes).
    pub fn finishing(&self) -> bool {
        self.sessions.running() > 0 || self.forks.pending() > 0
    }

    /// `$EDITOR` returned.
    pub fn editor_returned(&mut self, path: &std::path::Path, outcome: Result<(), String>) {
        self.dirty = true;
        self.snapshots
            .editor_returned(path, outcome, &mut self.shared);
        self.apply_effects();
    }

    /// `$PAGER` returned.
    pub fn pager_returned(&mut self, outcome: Result<(), String>) {
        self.dirty = true;
        if let Err(e) = outcome {
            self.shared.say(e, Level::Error);
        }
    }

    /// Follow a session run by the caller: its events and end arrive on
    /// this app's channel as [`Msg::Session`] and [`Msg::SessionEnd`] with
    /// the id returned; the flag returned is set when the person cancels
    /// it. The sessions screen shows and selects it.
    pub fn follow_session(
        &mut self,
        fork: &str,
        snapshot: &str,
        mailboxes: &[&str],
    ) -> (u64, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let r = self
            .sessions
            .follow(fork, snapshot, mailboxes, &mut self.shared);
        self.show(Screen::Sessions);
        r
    }

    /// Follow a fan-out run by the caller: forks `forks` of `snapshot`,
    /// `parallel` at a time, each a session as [`App::follow_session`]'s.
    /// Returns their ids (in order) and the flag that cancels them all.
    pub fn follow_fanout(
        &mut self,
        base: &str,
        snapshot: &str,
        parallel: usize,
        forks: &[&str],
        mailboxes: &[&str],
    ) -> (Vec<u64>, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let r = self.sessions.follow_fanout(
            base,
            snapshot,
            parallel,
            forks,
            mailboxes,
            &mut self.shared,
        );
        self.show(Screen::Sessions);
        r
    }

    /// Follow a conformance-suite run by the caller: its checks arrive as
    /// [`Msg::Check`] and its end as [`Msg::CheckEnd`] with the id returned.
    pub fn follow_check(&mut self, snapshot: &str) -> u64 {
        let id = self.sessions.follow_check(snapshot, &mut self.shared);
        self.show(Screen::Sessions);
        id
    }

    /// Apply an action where keys go now (tests drive the app with these).
    pub fn update(&mut self, action: Action) {
        self.dirty = true;
        self.route(action);
        self.apply_effects();
    }
}

#[cfg(test)]
mod tests {
    /// Shape point 1: the app holds what all share and the components;
    /// none of it is public.
    #[test]
    fn the_app_has_no_public_fields() {
        let src = include_str!("mod.rs");
        let start = src.find("pub struct App {").expect("the App struct");
        let body = &src[start..];
        let end = body.find("\n}").expect("its end");
        let fields: Vec<&str> = body[..end]
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .collect();
        assert!(fields.len() >= 5, "{fields:?}");
        for f in fields {
            assert!(!f.starts_with("pub"), "a public field: {f}");
        }
    }
}
