//! Where Hypeman keeps its data, resolved as Hypeman resolves it
//! (`Load`, `cmd/api/config/config.go` @784e412; `CONFIG_PATH` from
//! `cmd/api/main.go`), highest precedence first:
//!
//! 1. the environment: any variable whose lower-cased name is `data_dir`
//!    (koanf's env provider lower-cases every name, `DATA_DIR` is the one
//!    people set), when not empty;
//! 2. one YAML file's top-level `data_dir`: `CONFIG_PATH` when set,
//!    otherwise the first of `/etc/hypeman/config.yaml` and
//!    `~/.config/hypeman/config.yaml` that exists (the first found wins,
//!    files are not merged);
//! 3. `/var/lib/hypeman`.
//!
//! Then a leading `~/` expands to the home directory (`expandHomePath`).
//!
//! The engine reads no environment: the app hands the values in
//! ([`HypemanEnv`]). Only the one key is read from the YAML file, by a
//! reader of plain and quoted scalars at the top level (what `data_dir`
//! holds); a file whose `data_dir` is written some other way counts as
//! not setting it. The file is read bounded and read-only.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::files::{MAX_METADATA_BYTES, read_text_bounded};

/// Hypeman's compiled-in default (`defaultConfig`).
pub const HYPEMAN_DEFAULT_DIR: &str = "/var/lib/hypeman";
/// Config files Hypeman looks for on Linux, in order (`GetDefaultConfigPaths`);
/// the second is relative to the home directory.
pub const SYSTEM_CONFIG: &str = "/etc/hypeman/config.yaml";
/// The per-user config file, relative to the home directory.
pub const USER_CONFIG: &str = ".config/hypeman/config.yaml";

/// What Hypeman's resolution reads from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HypemanEnv {
    /// `DATA_DIR` (or any variable whose lower-cased name is `data_dir`).
    pub data_dir: Option<OsString>,
    /// `CONFIG_PATH`: the one config file, when set.
    pub config_path: Option<OsString>,
    /// `HOME` (Go's `os.UserHomeDir` on Unix).
    pub home: Option<PathBuf>,
}

/// Where the data directory came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDirFrom {
    /// The environment (`DATA_DIR`).
    Environment,
    /// `data_dir` of this config file.
    ConfigFile(PathBuf),
    /// Hypeman's default.
    Default,
}

/// Hypeman's data directory and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HypemanDataDir {
    /// The directory.
    pub path: PathBuf,
    /// Why that one.
    pub from: DataDirFrom,
}

/// Resolve Hypeman's data directory from `env` and the config files.
pub fn hypeman_data_dir(env: &HypemanEnv) -> HypemanDataDir {
    let (raw, from) = if let Some(v) = env.data_dir.as_ref().filter(|v| !v.is_empty()) {
        (PathBuf::from(v), DataDirFrom::Environment)
    } else if let Some((file, dir)) = config_file(env).and_then(|f| {
        let dir = config_data_dir(&f)?;
        Some((f, dir))
    }) {
        (PathBuf::from(dir), DataDirFrom::ConfigFile(file))
    } else {
        (PathBuf::from(HYPEMAN_DEFAULT_DIR), DataDirFrom::Default)
    };
    HypemanDataDir {
        path: expand_home(&raw, env.home.as_deref()),
        from,
    }
}

/// The config file Hypeman would load: `CONFIG_PATH`, else the first
/// default that exists.
fn config_file(env: &HypemanEnv) -> Option<PathBuf> {
    if let Some(p) = env.config_path.as_ref().filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let mut candidates = vec![PathBuf::from(SYSTEM_CONFIG)];
    if let Some(home) = env.home.as_ref().filter(|h| !h.as_os_str().is_empty()) {
        candidates.push(home.join(USER_CONFIG));
    }
    candidates
        .into_iter()
        .find(|p| std::fs::metadata(p).is_ok())
}

/// The top-level `data_dir` of the YAML file at `path`, when it sets one.
fn config_data_dir(path: &Path) -> Option<String> {
    let text = read_text_bounded(path, MAX_METADATA_BYTES, "config").ok()?;
    yaml_data_dir(&text)
}

/// The top-level `data_dir:` scalar of a YAML document: plain, `"double"`
/// (with `\"` and `\\`) or `'single'` (with `''`) quoted, a trailing
/// ` # comment` dropped. Empty, `~` and `null` count as not set.
pub fn yaml_data_dir(text: &str) -> Option<String> {
    for line in text.lines() {
        let Some(rest) = ["data_dir:", "\"data_dir\":", "'data_dir':"]
            .iter()
            .find_map(|k| line.strip_prefix(k))
        else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
            continue;
        }
        let v = rest.trim();
        let value = if let Some(q) = v.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.chars();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => out.push(chars.next()?),
                    c => out.push(c),
                }
            }
            out
        } else if let Some(q) = v.strip_prefix('\'') {
            let mut out = String::new();
            let mut chars = q.chars().peekable();
            loop {
                match chars.next()? {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        out.push('\'');
                    }
                    '\'' => break,
                    c => out.push(c),
                }
            }
            out
        } else {
            let plain = match v.find(" #").or_else(|| v.find("\t#")) {
                Some(i) => &v[..i],
                None if v.starts_with('#') => "",
                None => v,
            };
            let plain = plain.trim();
            if plain.is_empty() || plain == "~" || plain == "null" {
                return None;
            }
            plain.to_string()
        };
        return (!value.is_empty()).then_some(value);
    }
    None
}

/// `expandHomePath`: only a leading `~/` expands, and only with a home.
fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) if !home.as_os_str().is_empty() && path.as_os_str().len() > 1 => {
            home.join(rest)
        }
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yaml_key_as_hypeman_reads_it() {
        let cases: [(&str, Option<&str>); 12] = [
            ("data_dir: /srv/hypeman\n", Some("/srv/hypeman")),
            ("port: 1\ndata_dir: /srv/h # where\n", Some("/srv/h")),
            ("data_dir: \"/srv/with space\"\n", Some("/srv/with space")),
            ("data_dir: '/srv/it''s'\n", Some("/srv/it's")),
            ("data_dir: \"/a\\\"b\"\n", Some("/a\"b")),
            ("data_dir: ~/Library/hypeman\n", Some("~/Library/hypeman")),
            ("data_dir:\n", None),
            ("data_dir: ~\n", None),
            ("caddy:\n  data_dir: /nested\n", None),
            ("# data_dir: /commented\n", None),
            ("data_dirs: /other\n", None),
            ("data_dir: \"unterminated\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(yaml_data_dir(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn environment_then_one_config_file_then_the_default() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home");
        std::fs::create_dir_all(home.join(".config/hypeman")).unwrap();
        let user = home.join(USER_CONFIG);
        std::fs::write(&user, "data_dir: ~/hm\n").unwrap();
        let explicit = d.path().join("explicit.yaml");
        std::fs::write(&explicit, "data_dir: /from/explicit\n").unwrap();
        let env = |data: Option<&str>, config: Option<&Path>| HypemanEnv {
            data_dir: data.map(OsString::from),
            config_path: config.map(|c| c.as_os_str().to_owned()),
            home: Some(home.clone()),
        };
        // DATA_DIR wins over any file.
        let r = hypeman_data_dir(&env(Some("/from/env"), Some(&explicit)));
        assert_eq!(
            (r.path, r.from),
            ("/from/env".into(), DataDirFrom::Environment)
        );
        // An empty value does not count.
        let r = hypeman_data_dir(&env(Some(""), Some(&explicit)));
        assert_eq!(r.path, PathBuf::from("/from/explicit"));
        assert_eq!(r.from, DataDirFrom::ConfigFile(explicit.clone()));
        // Without CONFIG_PATH: /etc's file if it exists (not on a test
        // machine, presumably), else the user's, `~/` expanded.
        if std::fs::metadata(SYSTEM_CONFIG).is_err() {
            let r = hypeman_data_dir(&env(None, None));
            assert_eq!(r.path, home.join("hm"));
            assert_eq!(r.from, DataDirFrom::ConfigFile(user.clone()));
        }
        // A config file without data_dir: the default.
        std::fs::write(&explicit, "port: 8080\n").unwrap();
        let r = hypeman_data_dir(&env(None, Some(&explicit)));
        assert_eq!(
            (r.path, r.from),
            (HYPEMAN_DEFAULT_DIR.into(), DataDirFrom::Default)
        );
        // No home: nothing expands, no user file.
        let r = hypeman_data_dir(&HypemanEnv {
            data_dir: Some("~/x".into()),
            ..HypemanEnv::default()
        });
        assert_eq!(r.path, PathBuf::from("~/x"));
    }
}
