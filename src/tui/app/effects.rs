//! What components asked for, carried out: overlays opened (and closed
//! when done), a prompt's text delivered to whoever opened it, questions'
//! answers to the component they are for, forks started from the dialog
//! (its refusal back into it), replays, checks, exits.

use super::App;
use crate::tui::action::{Level, Screen};
use crate::tui::effect::{Command, Effect, Open, PromptKind, PromptState, Prompted, ViewerSeed};
use crate::tui::overlay::Overlay;
use crate::tui::overlay::confirm::Confirm;
use crate::tui::overlay::fork_dialog::ForkDialog;
use crate::tui::overlay::fork_dialog::form::ForkForm;
use crate::tui::overlay::help::Help;
use crate::tui::overlay::library::LibraryView;
use crate::tui::overlay::prompt::Prompt;
use crate::tui::overlay::viewer::Viewer;

impl App {
    /// Apply every effect asked for (and those they ask for in turn), then
    /// close the overlays that are done.
    pub(super) fn apply_effects(&mut self) {
        loop {
            let effects = self.shared.take_effects();
            if effects.is_empty() {
                break;
            }
            self.dirty = true;
            for e in effects {
                self.apply(e);
            }
        }
        self.overlays.retain(|o| !o.finished());
    }

    fn apply(&mut self, e: Effect) {
        match e {
            Effect::Show(s) => self.show(s),
            Effect::Open(o) => self.open(o),
            Effect::Command(c) => self.command(c),
            Effect::Prompted(p) => self.prompted(p),
            Effect::StartFork(form) => self.start_fork(*form),
            Effect::Replay { header, fork } => {
                if let Some(form) = self.snapshots.replay_form(&header, &fork, &mut self.shared) {
                    self.open(Open::ForkDialog(Box::new(form)));
                }
            }
            Effect::RunCheck(snapshot) => {
                self.sessions.start_check(&snapshot, &mut self.shared);
                self.switch(Screen::Sessions, false);
            }
            Effect::Exit(x) => self.exit = Some(x),
            Effect::ReloadStore => {
                self.reload_store();
            }
        }
    }

    fn open(&mut self, o: Open) {
        let page = usize::from(self.shared.area().height.saturating_sub(5));
        let overlay = match o {
            Open::ForkDialog(form) => Overlay::ForkDialog(Box::new(ForkDialog::new(*form))),
            Open::Prompt { kind, text } => Overlay::Prompt(Prompt::new(kind, text)),
            Open::Confirm(q) => Overlay::Confirm(Confirm::new(q)),
            Open::Viewer(seed) => Overlay::Viewer(Box::new(Viewer::open(seed, page))),
            Open::Library { mailbox, payload } => {
                Overlay::Library(Box::new(LibraryView::open(mailbox, payload, &self.shared)))
            }
            Open::Messages => {
                let log = self.shared.status().log();
                let n = log.len();
                let head: Vec<String> = log
                    .map(|m| {
                        let mark = match m.level {
                            Level::Error => "✗",
                            Level::Ok => "✓",
                            Level::Info => "·",
                        };
                        format!("{} {mark} {}", m.at, m.text)
                    })
                    .collect();
                let head = if head.is_empty() {
                    vec!["(nothing was said yet)".to_string()]
                } else {
                    head
                };
                Overlay::Viewer(Box::new(Viewer::open(
                    ViewerSeed {
                        title: format!("messages · {n} (newest last)"),
                        head,
                        file: None,
                        at_end: false,
                    },
                    page,
                )))
            }
            Open::Help(place) => Overlay::Help(Help::new(place)),
        };
        // The viewer opens at the end of the message log.
        self.overlays.push(overlay);
        if let Some(Overlay::Viewer(v)) = self.overlays.last_mut()
            && v.title.starts_with("messages ·")
        {
            v.act(crate::tui::action::Action::Bottom);
        }
    }

    fn command(&mut self, c: Command) {
        match &c {
            Command::CancelSessions(_) | Command::DismissSessions(_) => {
                self.sessions.command(&c, &mut self.shared)
            }
            Command::ForkOp { .. } => self.forks.command(&c, &mut self.shared),
            Command::DeletePreset { .. } | Command::Overwrite { .. } => {
                // The library that asked is under the question just answered.
                let lib = self.overlays.iter_mut().rev().find_map(|o| match o {
                    Overlay::Library(l) => Some(l),
                    _ => None,
                });
                if let Some(l) = lib {
                    l.command(&c, &mut self.shared);
                }
            }
            Command::LoadPayload { text, from } => {
                self.snapshots.load_payload(text, from, &mut self.shared)
            }
            Command::Quit => self.quit(),
        }
    }

    /// The prompt's text: to the list it filters (as typed), the viewer it
    /// searches, the library or the snapshots screen it asks a path for.
    fn prompted(&mut self, p: Prompted) {
        if p.state != PromptState::Typing
            && matches!(self.overlays.last(), Some(Overlay::Prompt(_)))
        {
            self.overlays.pop();
        }
        match p.kind {
            PromptKind::Filter(pane) => match pane.screen() {
                Screen::Main => self.snapshots.prompted(&p, &mut self.shared),
                Screen::Sessions => self.sessions.prompted(&p),
                Screen::Forks => self.forks.prompted(&p),
            },
            PromptKind::OpenFile => self.snapshots.prompted(&p, &mut self.shared),
            PromptKind::Search => {
                let text = match p.state {
                    PromptState::Cancelled => String::new(),
                    _ => p.text.clone(),
                };
                if let Some(v) = self.overlays.iter_mut().rev().find_map(|o| match o {
                    Overlay::Viewer(v) => Some(v),
                    _ => None,
                }) {
                    v.set_search(text);
                }
            }
            PromptKind::PresetName | PromptKind::SaveFile | PromptKind::LoadFile => {
                if let Some(l) = self.overlays.iter_mut().rev().find_map(|o| match o {
                    Overlay::Library(l) => Some(l),
                    _ => None,
                }) {
                    l.prompted(&p, &mut self.shared);
                }
            }
        }
        if p.state == PromptState::Cancelled
            && let PromptKind::Filter(_) = p.kind
        {
            self.shared.say("filter cleared", Level::Info);
        }
    }

    /// The fork dialog's Enter: a fork (or fan-out) starts and the sessions
    /// screen shows it, or the dialog says why not.
    fn start_fork(&mut self, form: ForkForm) {
        let discovery = self.snapshots.discovery(&form.snapshot);
        let prestart = if form.count() < 2 {
            self.snapshots.take_prestart(&form.snapshot)
        } else {
            None
        };
        match self
            .sessions
            .start(&form, discovery, prestart, &mut self.shared)
        {
            Ok(()) => {
                for o in &mut self.overlays {
                    if let Overlay::ForkDialog(d) = o {
                        d.closed = true;
                    }
                }
                // What was said about starting stays.
                self.switch(Screen::Sessions, false);
            }
            Err(why) => {
                if let Some(Overlay::ForkDialog(d)) = self.overlays.last_mut() {
                    d.refused(why, &mut self.shared);
                } else {
                    self.shared.say(format!("not forked: {why}"), Level::Error);
                }
            }
        }
    }
}
