//! The config file, `$XDG_CONFIG_HOME/forkmail/config.toml` (else
//! `~/.config/forkmail/config.toml`; `$FORKMAIL_CONFIG` names another):
//! the default store and sources, the default ack timeout, theme colours and
//! key overrides. It is read and validated once at start; an error names
//! the file and the line. `forkmail config --print-default` writes a
//! commented default.
//!
//! This module stores `[theme]` and `[keys]` as written; the TUI interprets
//! them (`tui::settings`), and the start-up check runs both
//! (`cli::load_config`), so a broken file is refused by every command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{ErrorKind, Kinded};
use crate::mailbox::MAX_ACK_TIMEOUT_MS;

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

    /// An error about the setting at byte `offset` of the file (its line
    /// named), for code that interprets a section of it.
    pub fn error_at(&self, offset: usize, message: String) -> ConfigError {
        ConfigError {
            path: self.path.clone().unwrap_or_default(),
            line: Some(line_of(&self.text, offset)),
            message,
        }
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
    String::from(
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
         ",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/c/config.toml"))
    }

    #[test]
    fn the_default_file_parses() {
        let c = parse(&default_text()).expect("default config");
        assert!(c.keys.is_empty() && c.theme.is_empty());
        assert_eq!(c.ack_timeout_ms(), None);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("stor = \"/x\"\n").expect_err("unknown key");
        assert_eq!(e.line, Some(1), "{e}");
        let e = parse("[fork]\nack_timeout_ms = 99\n").expect_err("range");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(
            e.to_string().contains("config file /c/config.toml, line 2"),
            "{e}"
        );
    }

    #[test]
    fn sources_merge_after_the_explicit_ones() {
        let c = parse("sources = [\"/b\", \"/a\"]\n").expect("config");
        assert_eq!(
            c.sources(&[PathBuf::from("/a")]),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
    }
}
