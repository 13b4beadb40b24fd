//! What every component shares, and the one thing they talk through.
//!
//! [`Shared`] holds the store, the clock, the theme, the keymap in force,
//! the channel background jobs report on, the status line, and the
//! [`Effect`]s components ask the app for (open an overlay, start a fork,
//! switch screen): a component never reaches into another.

use std::time::Instant;

use ratatui::layout::Rect;
use tokio::sync::mpsc::UnboundedSender;

use super::action::Level;
use super::clock::Clock;
use super::effect::Effect;
use super::keymap::Keymap;
use super::msg::Msg;
use super::status::StatusLine;
use super::theme::Theme;
use crate::store::Store;

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

/// Spinner frames (braille: one cell, no ASCII slash dance).
pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// What all components share.
pub struct Shared {
    store: Store,
    clock: Clock,
    theme: Theme,
    keymap: Keymap,
    tx: UnboundedSender<Msg>,
    options: Options,
    status: StatusLine,
    effects: Vec<Effect>,
    spinner: usize,
    area: Rect,
    copied: Option<String>,
    next_id: u64,
}

impl Shared {
    /// Shared state for an app on `store`.
    pub fn new(
        store: Store,
        tx: UnboundedSender<Msg>,
        clock: Clock,
        theme: Theme,
        options: Options,
    ) -> Shared {
        Shared {
            store,
            clock,
            theme,
            keymap: options.keymap.clone(),
            tx,
            options,
            status: StatusLine::default(),
            effects: Vec::new(),
            spinner: 0,
            area: Rect::new(0, 0, 80, 24),
            copied: None,
            next_id: 1,
        }
    }

    /// The store shown.
    pub fn store(&self) -> &Store {
        &self.store
    }
    /// The time source (frozen in tests).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
    /// Styles.
    pub fn theme(&self) -> &Theme {
        &self.theme
    }
    /// The keymap in force.
    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }
    /// Where background jobs report.
    pub fn tx(&self) -> &UnboundedSender<Msg> {
        &self.tx
    }
    /// The config file's and command line's choices.
    pub fn options(&self) -> &Options {
        &self.options
    }
    /// The terminal area of the last frame.
    pub fn area(&self) -> Rect {
        self.area
    }
    /// Record the terminal area (each frame, and on resize).
    pub fn set_area(&mut self, area: Rect) {
        self.area = area;
    }
    /// A fresh id (sessions, jobs): unique within this run.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The spinner's current frame.
    pub fn spinner(&self) -> &'static str {
        SPINNER[self.spinner % SPINNER.len()]
    }
    /// Advance the spinner (a tick).
    pub fn spin(&mut self) {
        self.spinner = self.spinner.wrapping_add(1);
    }

    /// Say `text` in the status line (and the message log).
    pub fn say(&mut self, text: impl AsRef<str>, level: Level) {
        let at = self
            .clock
            .now()
            .to_offset(self.clock.local)
            .format(time::macros::format_description!(
                "[hour]:[minute]:[second]"
            ))
            .unwrap_or_default();
        self.status
            .say(text.as_ref(), level, at, self.clock.instant());
    }
    /// Show `text` in the status line, not in the message log (a passing
    /// hint).
    pub fn hint(&mut self, text: impl AsRef<str>) {
        let now = self.clock.instant();
        self.status.hint(text.as_ref(), now);
    }

    /// Say `text` about fork `fork`: it goes when the fork is stopped or
    /// removed.
    pub fn say_about(&mut self, fork: &str, text: impl AsRef<str>, level: Level) {
        self.say(text, level);
        self.status.about(fork);
    }
    /// The status line and message log.
    pub fn status(&self) -> &StatusLine {
        &self.status
    }
    /// The status line, to clear it.
    pub fn status_mut(&mut self) -> &mut StatusLine {
        &mut self.status
    }
    /// When the status message goes stale (`None` with a frozen clock).
    pub fn status_deadline(&self) -> Option<Instant> {
        if self.clock.is_frozen() {
            return None;
        }
        self.status.deadline()
    }

    /// Put `text` on the terminal's clipboard (OSC 52, sent after the next
    /// frame), and say what was sent — the terminal decides whether it
    /// reaches a clipboard.
    pub fn copy(&mut self, text: String, what: &str) {
        // No control character reaches the clipboard (a paste runs it).
        let clip = if what == "payload" {
            crate::sanitize::clipboard_json(&text)
        } else {
            crate::sanitize::clipboard_text(&text)
        };
        let note = clip.note();
        self.copied = Some(clip.text);
        self.say(
            format!("{what} sent to the terminal's clipboard (OSC 52){note}"),
            Level::Ok,
        );
    }
    /// The text to send to the clipboard, once.
    pub fn take_copied(&mut self) -> Option<String> {
        self.copied.take()
    }

    /// Ask the app for something beyond this component.
    pub fn emit(&mut self, effect: Effect) {
        self.effects.push(effect);
    }
    /// The effects asked for, in order (the app applies them).
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }
}
