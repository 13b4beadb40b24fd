//! The config file, `$XDG_CONFIG_HOME/forkmail/config.toml` (else
//! `~/.config/forkmail/config.toml`; `$FORKMAIL_CONFIG` names another):
//! the default store and sources, the default ack timeout, theme colours and
//! key overrides. It is read and validated once at start; an error names
//! the file and the line. `forkmail config --print-default` writes a
//! commented default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{ErrorKind, Kinded};
use crate::mailbox::MAX_ACK_TIMEOUT_MS;
use crate::tui::keymap::{KEYMAP, Keymap, action_id};
use crate::tui::theme::{Palette, Theme};

/// The largest config file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config file {path}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// The line it is about, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Kinded for ConfigError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
}

/// `[fork]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkSection {
    /// Ack deadline of a mailbox without a saved draft or `--ack NAME=MS`.
    #[serde(default)]
    pub ack_timeout_ms: Option<Spanned<u64>>,
}

/// The parsed config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The store (after `--store` and `$FORKMAIL_STORE`).
    #[serde(default)]
    pub store: Option<PathBuf>,
    /// Read-only snapshot places, merged after `--source`.
    #[serde(default)]
    pub sources: Vec<PathBuf>,
    /// Fork defaults.
    #[serde(default)]
    pub fork: ForkSection,
    /// Colours by role (`focus = "cyan"`).
    #[serde(default)]
    pub theme: BTreeMap<String, Spanned<String>>,
    /// Keys by action (`fork = ["f"]`).
    #[serde(default)]
    pub keys: BTreeMap<String, Spanned<Vec<String>>>,
    /// Where it was read from (none: defaults).
    #[serde(skip)]
    pub path: Option<PathBuf>,
    /// Its text, to name lines.
    #[serde(skip)]
    text: String,
}

/// Where the config file is looked for.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FORKMAIL_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("forkmail").join("config.toml"))
}

fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

impl Config {
    /// Read the config file (defaults when there is none) and validate it.
    pub fn load() -> Result<Config, ConfigError> {
        match config_path() {
            Some(p) if p.exists() => Config::load_from(&p),
            _ => Ok(Config::default()),
        }
    }

    /// Read and validate the config file at `path`.
    pub fn load_from(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::files::read_text_bounded(path, MAX_CONFIG_BYTES, "a config file")
            .map_err(|e| ConfigError {
                path: path.into(),
                line: None,
                message: e.to_string(),
            })?;
        Config::parse(&text, path)
    }

    /// Parse and validate `text` (read from `path`).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(text).map_err(|e| ConfigError {
            path: path.into(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_string(),
        })?;
        c.path = Some(path.into());
        c.text = text.into();
        c.store = c.store.as_deref().map(expand_home);
        c.sources = c.sources.iter().map(|p| expand_home(p)).collect();
        c.palette()?;
        c.keymap()?;
        if let Some(ms) = &c.fork.ack_timeout_ms
            && !(1000..=MAX_ACK_TIMEOUT_MS).contains(ms.get_ref())
        {
            return Err(c.error_at(
                ms.span().start,
                format!("fork.ack_timeout_ms must be 1000..={MAX_ACK_TIMEOUT_MS}"),
            ));
        }
        Ok(c)
    }

    fn error_at(&self, offset: usize, message: String) -> ConfigError {
        ConfigError {
            path: self.path.clone().unwrap_or_default(),
            line: Some(line_of(&self.text, offset)),
            message,
        }
    }

    /// The theme colours.
    pub fn palette(&self) -> Result<Palette, ConfigError> {
        let mut p = Palette::default();
        for (role, value) in &self.theme {
            let color = value.get_ref().parse().map_err(|_| {
                self.error_at(value.span().start, format!(
                    "theme.{role}: {:?} is not a colour (a name like \"cyan\", \"#rrggbb\" or 0-255)",
                    value.get_ref()
                ))
            })?;
            let slot = p.role_mut(role).ok_or_else(|| {
                self.error_at(
                    value.span().start,
                    format!(
                        "theme.{role}: no such role (roles: {})",
                        Palette::ROLES.join(", ")
                    ),
                )
            })?;
            *slot = color;
        }
        Ok(p)
    }

    /// The TUI theme (colours off under `NO_COLOR`).
    pub fn theme(&self) -> Theme {
        Theme::with_palette(self.palette().unwrap_or_default())
    }

    /// The keymap with `[keys]` applied.
    pub fn keymap(&self) -> Result<Keymap, ConfigError> {
        let overrides: Vec<(String, Vec<String>)> = self
            .keys
            .iter()
            .map(|(a, k)| (a.clone(), k.get_ref().clone()))
            .collect();
        Keymap::with_overrides(&overrides).map_err(|e| {
            // Name the line of the setting the error is about.
            let offset = e
                .settings()
                .iter()
                .find_map(|s| self.keys.get(*s))
                .map(|k| k.span().start)
                .unwrap_or(0);
            self.error_at(offset, e.to_string())
        })
    }

    /// The default ack timeout (ms), when set.
    pub fn ack_timeout_ms(&self) -> Option<u64> {
        self.fork.ack_timeout_ms.as_ref().map(|s| *s.get_ref())
    }

    /// Sources: those given on the command line first, then the config
    /// file's, each once.
    pub fn sources(&self, explicit: &[PathBuf]) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = explicit.to_vec();
        for s in &self.sources {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

static CURRENT: OnceLock<Config> = OnceLock::new();

/// Make `config` the one in force (once, at start).
pub fn install(config: Config) {
    let _ = CURRENT.set(config);
}

/// The config in force (defaults when none was installed).
pub fn current() -> &'static Config {
    CURRENT.get_or_init(Config::default)
}

/// The commented default config file.
pub fn default_text() -> String {
    let mut out = String::from(
        "# forkmail configuration: $XDG_CONFIG_HOME/forkmail/config.toml\n\
         # (else ~/.config/forkmail/config.toml; $FORKMAIL_CONFIG names another).\n\
         # Every setting is optional; the values shown are the defaults.\n\
         \n\
         # The store, when neither --store nor $FORKMAIL_STORE names one.\n\
         # store = \"~/.local/share/forkmail\"\n\
         \n\
         # Read-only places with snapshots, listed after those given with --source.\n\
         # sources = [\"/var/lib/hypeman\"]\n\
         \n\
         [fork]\n\
         # Ack deadline (ms) of a mailbox without a saved draft, and of\n\
         # `forkmail fork --ack NAME` without =MS. 1000..=30000.\n\
         # ack_timeout_ms = 5000\n\
         \n\
         [theme]\n\
         # Colours: a name (red, lightblue, darkgray, ...), \"#rrggbb\" or 0-255.\n\
         # NO_COLOR=1 in the environment turns all colour off.\n",
    );
    let p = Palette::default();
    for (role, c) in [
        ("focus", p.focus),
        ("border", p.border),
        ("header", p.header),
        ("ok", p.ok),
        ("warn", p.warn),
        ("error", p.error),
        ("dim", p.dim),
        ("key", p.key),
    ] {
        out.push_str(&format!("# {role} = \"{}\"\n", color_name(c)));
    }
    out.push_str(
        "\n[keys]\n\
         # An action's keys: `fork = [\"F\"]` wherever the action is bound,\n\
         # `\"main.fork\" = [\"F\"]` in one place only. The defaults, place by place:\n\
         # Keys: \"k\", \"G\", \"?\", \"ctrl-u\", \"enter\", \"esc\", \"tab\", \"backtab\",\n\
         # \"space\", \"up\", \"down\", \"left\", \"right\", \"home\", \"end\", \"pageup\",\n\
         # \"pagedown\", \"delete\". Clashes are refused at start.\n",
    );
    let mut seen = Vec::new();
    for b in KEYMAP {
        let Some(id) = action_id(b.action) else {
            continue;
        };
        let setting = format!("{}.{id}", b.scope.id());
        if seen.contains(&setting) {
            continue;
        }
        seen.push(setting.clone());
        let keys: Vec<String> = b.keys.iter().map(|k| format!("{k:?}")).collect();
        let line = format!("\"{setting}\" = [{}]", keys.join(", "));
        out.push_str(&format!("# {line:<46}  # {}\n", b.desc));
    }
    out
}

fn color_name(c: ratatui::style::Color) -> String {
    use ratatui::style::Color::*;
    match c {
        Cyan => "cyan".into(),
        DarkGray => "darkgray".into(),
        Yellow => "yellow".into(),
        Green => "green".into(),
        Red => "red".into(),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/c/config.toml"))
    }

    #[test]
    fn the_default_file_parses_and_says_every_action() {
        let text = default_text();
        let c = parse(&text).expect("default config");
        assert!(c.keys.is_empty() && c.theme.is_empty());
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = ") && !r.contains('`'))
                    .unwrap_or(l)
            })
            .map(|l| l.split("  #").next().unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let c = parse(&uncommented).expect("every default spelled out");
        assert_eq!(c.ack_timeout_ms(), Some(5000));
        assert_eq!(c.palette().expect("palette"), Palette::default());
        assert!(c.keys.contains_key("main.fork") && c.keys.contains_key("sessions.replay"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("[fork]\nack_timeout_ms = 5000\n\n[theme]\nfocus = \"chartreuse-ish\"\n")
            .expect_err("bad colour");
        assert_eq!(e.line, Some(5), "{e}");
        assert!(
            e.to_string().contains("config file /c/config.toml, line 5"),
            "{e}"
        );
        let e = parse("[keys]\nfork = [\"f\"]\nnot-an-action = [\"z\"]\n").expect_err("unknown");
        assert_eq!(e.line, Some(3), "{e}");
        let e = parse("[keys]\nfork = [\"j\"]\n").expect_err("clash");
        assert!(e.to_string().contains("would mean both"), "{e}");
        let e = parse("stor = \"/x\"\n").expect_err("unknown key");
        assert_eq!(e.line, Some(1), "{e}");
        let e = parse("[fork]\nack_timeout_ms = 99\n").expect_err("range");
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn overrides_apply_and_sources_merge() {
        let c = parse(
            "sources = [\"/b\", \"/a\"]\n[keys]\nfork = [\"F\"]\n[theme]\nfocus = \"#102030\"\n",
        )
        .expect("config");
        let k = c.keymap().expect("keymap");
        use crate::tui::app::{Action, Mode, Pane, Screen};
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let f = KeyEvent::new(KeyCode::Char('F'), KeyModifiers::SHIFT);
        assert_eq!(
            k.map_key(Mode::Normal, Screen::Main, Pane::Markers, f),
            Some(Action::Fork)
        );
        let f = KeyEvent::new(KeyCode::Char('f'), KeyModifiers::NONE);
        assert_eq!(
            k.map_key(Mode::Normal, Screen::Main, Pane::Markers, f),
            None
        );
        assert_eq!(
            c.sources(&[PathBuf::from("/a")]),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(
            c.palette().expect("p").focus,
            ratatui::style::Color::Rgb(16, 32, 48)
        );
    }
}
