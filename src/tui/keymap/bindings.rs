//! The keymap in force: the table of [`super::keymap`] with a config
//! file's overrides applied and checked (no key may mean two things where
//! it can be pressed). Key handling, the hint bar and help all read it.

use crossterm::event::{KeyEvent, KeyEventKind};

use super::keys::{display_key, ends_chord, matches, parse_key, starts_chord};
use super::{Binding, KEYMAP, Place, SCOPE_ORDER, Scope, Unbound, action_id, hint_rank};
use crate::tui::action::Action;

/// What a key means in a place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapped {
    /// This action.
    Action(Action),
    /// The first key of a chord: the next key completes it.
    Prefix,
    /// Nothing.
    Unbound,
}

/// One binding as in force: the table's row with its keys, which a config
/// file may have changed.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The table's row.
    pub base: &'static Binding,
    /// Its keys now.
    pub keys: Vec<String>,
}

impl std::ops::Deref for Bound {
    type Target = Binding;
    fn deref(&self) -> &Binding {
        self.base
    }
}

/// Why a key override of a config file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    /// No action of that name.
    #[error("unknown action {0:?} (the actions are listed by `forkmail config --print-default`)")]
    UnknownAction(String),
    /// A key name that does not parse.
    #[error(
        "action {action}: unknown key {key:?} (keys look like \"k\", \"ctrl-u\", \"enter\", \"space\", \"pagedown\")"
    )]
    BadKey {
        /// The action.
        action: String,
        /// The key.
        key: String,
    },
    /// An action given no key at all.
    #[error("action {0}: give at least one key")]
    NoKeys(String),
    /// Two actions of one place given the same key.
    #[error("key {key:?} would mean both {first} and {second} in the {scope}")]
    Clash {
        /// The key.
        key: String,
        /// One action.
        first: String,
        /// The other.
        second: String,
        /// Where.
        scope: &'static str,
    },
}

impl KeymapError {
    /// The settings the error may be about (`scope.action`, or the action).
    pub fn settings(&self) -> Vec<&str> {
        let full = match self {
            KeymapError::UnknownAction(a) | KeymapError::NoKeys(a) => vec![a.as_str()],
            KeymapError::BadKey { action, .. } => vec![action.as_str()],
            KeymapError::Clash { first, second, .. } => vec![second.as_str(), first.as_str()],
        };
        let mut out = full.clone();
        out.extend(
            full.iter()
                .filter_map(|s| s.split_once('.').map(|(_, a)| a)),
        );
        out
    }
}

impl crate::error::Kinded for KeymapError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::BadRequest
    }
}

/// The keymap in force: the table, with a config file's overrides applied.
/// It drives key handling, the hint bar and the help overlay alike.
#[derive(Debug, Clone)]
pub struct Keymap {
    binds: Vec<Bound>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap {
            binds: KEYMAP
                .iter()
                .map(|b| Bound {
                    base: b,
                    keys: b.keys.iter().map(|k| k.to_string()).collect(),
                })
                .collect(),
        }
    }
}

impl Keymap {
    /// The default keymap with `overrides` applied. A setting is an action
    /// (`"fork"`: its keys wherever it is bound) or a scope and an action
    /// (`"sessions.replay"`: there only, applied after the others).
    /// Unknown actions, unknown keys and clashes are refused.
    pub fn with_overrides(overrides: &[(String, Vec<String>)]) -> Result<Keymap, KeymapError> {
        let mut map = Keymap::default();
        let mut ordered: Vec<&(String, Vec<String>)> = overrides.iter().collect();
        ordered.sort_by_key(|(setting, _)| setting.contains('.'));
        for (setting, keys) in ordered {
            let action = setting.clone();
            let (scope, name) = match setting.split_once('.') {
                Some((s, a)) => (SCOPE_ORDER.iter().copied().find(|x| x.id() == s), a),
                None => (None, setting.as_str()),
            };
            let applies = |b: &Binding| {
                action_id(b.action) == Some(name)
                    && (!setting.contains('.') || Some(b.scope) == scope)
            };
            if !KEYMAP.iter().any(applies) {
                return Err(KeymapError::UnknownAction(action.clone()));
            }
            if keys.is_empty() {
                return Err(KeymapError::NoKeys(action.clone()));
            }
            if let Some(k) = keys.iter().find(|k| parse_key(k).is_none()) {
                return Err(KeymapError::BadKey {
                    action: action.clone(),
                    key: k.clone(),
                });
            }
            for bound in &mut map.binds {
                if applies(bound.base) {
                    bound.keys = keys.clone();
                }
            }
        }
        map.check_clashes()?;
        Ok(map)
    }

    /// Refuse a key that means two actions anywhere: where the scopes of a
    /// place are searched together, the second could never run.
    fn check_clashes(&self) -> Result<(), KeymapError> {
        for place in Place::ALL {
            let active = place.scopes();
            let binds: Vec<&Bound> = self
                .binds
                .iter()
                .filter(|b| active.contains(&b.scope))
                .collect();
            for (i, a) in binds.iter().enumerate() {
                for b in &binds[i + 1..] {
                    if a.action == b.action {
                        continue;
                    }
                    if let Some(k) = a.keys.iter().find(|k| b.keys.contains(k)) {
                        let name = |x: &Bound| {
                            action_id(x.action)
                                .map(|id| format!("{}.{id}", x.scope.id()))
                                .unwrap_or_else(|| format!("{} ({})", x.desc, x.scope.id()))
                        };
                        return Err(KeymapError::Clash {
                            key: k.clone(),
                            first: name(a),
                            second: name(b),
                            scope: b.scope.title(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Every binding, in table order.
    pub fn all(&self) -> &[Bound] {
        &self.binds
    }

    /// The bindings of one scope, in table order.
    pub fn in_scope(&self, scope: Scope) -> impl Iterator<Item = &Bound> {
        self.binds.iter().filter(move |b| b.scope == scope)
    }

    /// The first key of `action` in `scope` (for hints in the UI's text).
    pub fn key_for(&self, scope: Scope, action: Action) -> String {
        self.in_scope(scope)
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first())
            .map(|k| display_key(k))
            .unwrap_or_else(|| "?".into())
    }

    /// Map a key pressed in `place` to what it means: a pure function of
    /// the place, the first key of a chord when one was pressed, and the
    /// key. Where text is typed, unbound keys are text; in help, they close.
    pub fn map(&self, place: Place, pending: Option<&KeyEvent>, key: KeyEvent) -> Mapped {
        if key.kind == KeyEventKind::Release {
            return Mapped::Unbound;
        }
        if matches("ctrl-c", &key) {
            return Mapped::Action(Action::Quit);
        }
        let binds = || {
            place
                .scopes()
                .iter()
                .flat_map(move |scope| self.in_scope(*scope))
        };
        if let Some(first) = pending
            && let Some(b) = binds().find(|b| b.keys.iter().any(|k| ends_chord(k, first, &key)))
        {
            return Mapped::Action(b.action);
        }
        if let Some(b) = binds().find(|b| b.keys.iter().any(|k| matches(k, &key))) {
            return Mapped::Action(b.action);
        }
        if binds().any(|b| b.keys.iter().any(|k| starts_chord(k, &key))) {
            return Mapped::Prefix;
        }
        match place.unbound() {
            Unbound::Text => Mapped::Action(Action::Text(key)),
            Unbound::Closes => Mapped::Action(Action::ToggleHelp),
            Unbound::Nothing => Mapped::Unbound,
        }
    }

    /// [`Keymap::map`] without a chord pending, as an action.
    pub fn action(&self, place: Place, key: KeyEvent) -> Option<Action> {
        match self.map(place, None, key) {
            Mapped::Action(a) => Some(a),
            _ => None,
        }
    }

    /// Bindings shown in the hint bar in `place`, most important first;
    /// `?` always leads.
    pub fn hints(&self, place: Place) -> Vec<&Bound> {
        let mut v: Vec<&Bound> = place
            .scopes()
            .iter()
            .flat_map(|s| self.in_scope(*s).filter(|b| b.hint))
            .collect();
        // Fork comes right after include: the two keys the markers pane is for.
        v.sort_by_key(|b| match (b.scope, b.action) {
            (Scope::Main, Action::Fork) => (1, 1),
            (_, Action::ToggleInclude) => (1, 0),
            _ => (hint_rank(b), 2),
        });
        v
    }
}

/// The default keymap, for code without an app (tests, docs).
static DEFAULT: std::sync::LazyLock<Keymap> = std::sync::LazyLock::new(Keymap::default);

/// The meaning of `key` in `place` by the default keymap (tests, docs).
pub fn default_action(place: Place, key: KeyEvent) -> Option<Action> {
    DEFAULT.action(place, key)
}

/// [`Keymap::hints`] of the default keymap.
pub fn default_hints(place: Place) -> Vec<&'static Bound> {
    DEFAULT.hints(place)
}
