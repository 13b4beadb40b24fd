//! The edge: everything forkmail reads from its environment, in one place.
//! The engine reads none; it is handed what this module finds.
//!
//! | variable | what |
//! |---|---|
//! | `FORKMAIL_STORE` | the store (after `--store`) |
//! | `FORKMAIL_SOURCES` | more read-only sources, `:`-separated |
//! | `FORKMAIL_QEMU` | the QEMU program |
//! | `FORKMAIL_SIM_GUEST` | the program that runs the simulated guest |
//! | `FORKMAIL_CONFIG` | the config file (see [`crate::config`]) |
//! | `XDG_DATA_HOME`, `XDG_STATE_HOME`, `HOME` | default store and log places |
//! | `DATA_DIR`, `CONFIG_PATH`, `HOME` | Hypeman's data directory, as Hypeman resolves it ([`crate::source::datadir`]) |

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// A variable's value, when set and not empty.
fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Tell the engine's VMM drivers which programs to run.
pub fn configure_engine() {
    let defaults = crate::vmm::programs::Programs::default();
    crate::vmm::programs::configure(crate::vmm::programs::Programs {
        qemu: var("FORKMAIL_QEMU")
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or(defaults.qemu),
        sim_guest: var("FORKMAIL_SIM_GUEST").map(PathBuf::from),
    });
}

/// Whether `$FORKMAIL_STORE` names a store.
pub fn store_from_env() -> Option<PathBuf> {
    var("FORKMAIL_STORE").map(PathBuf::from)
}

/// The store: `explicit` (`--store`), else `$FORKMAIL_STORE`, else
/// `configured` (the config file's `store`), else
/// `$XDG_DATA_HOME/forkmail` (`~/.local/share/forkmail`).
pub fn store_root(
    explicit: Option<&Path>,
    configured: Option<&Path>,
) -> Result<PathBuf, StoreError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = store_from_env().or_else(|| configured.map(Path::to_path_buf)) {
        return Ok(p);
    }
    Ok(data_dir()?.join("forkmail"))
}

/// The demo store: `explicit`, else `$FORKMAIL_STORE`, else
/// `<data dir>/forkmail-demo` — so demo templates never mix into a
/// person's own store.
pub fn demo_store_root(explicit: Option<&Path>) -> Result<PathBuf, StoreError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = store_from_env() {
        return Ok(p);
    }
    Ok(data_dir()?.join("forkmail-demo"))
}

/// The run's source paths: `explicit`, then `$FORKMAIL_SOURCES`, then
/// Hypeman's data directory ([`hypeman_data_dir`]) when it is a readable
/// directory.
pub fn source_paths(explicit: &[PathBuf]) -> Vec<PathBuf> {
    crate::source::source_paths_from(
        explicit,
        var("FORKMAIL_SOURCES").as_deref(),
        &hypeman_data_dir().path,
    )
}

/// Hypeman's data directory as Hypeman resolves it: `DATA_DIR` (koanf
/// takes any variable whose lower-cased name is `data_dir`; `DATA_DIR`
/// first), else the `data_dir` of `$CONFIG_PATH`, `/etc/hypeman/config.yaml`
/// or `~/.config/hypeman/config.yaml`, else `/var/lib/hypeman`.
pub fn hypeman_data_dir() -> crate::source::HypemanDataDir {
    let data_dir = var("DATA_DIR").or_else(|| {
        std::env::vars_os()
            .find(|(k, v)| k.to_string_lossy().to_ascii_lowercase() == "data_dir" && !v.is_empty())
            .map(|(_, v)| v)
    });
    crate::source::hypeman_data_dir(&crate::source::HypemanEnv {
        data_dir,
        config_path: var("CONFIG_PATH"),
        home: var("HOME").map(PathBuf::from),
    })
}

/// `$XDG_DATA_HOME`, else `~/.local/share`.
pub fn data_dir() -> Result<PathBuf, StoreError> {
    xdg_dir("XDG_DATA_HOME", ".local/share")
}

/// `$XDG_STATE_HOME`, else `~/.local/state`.
pub fn state_dir() -> Result<PathBuf, StoreError> {
    xdg_dir("XDG_STATE_HOME", ".local/state")
}

fn xdg_dir(name: &str, fallback: &str) -> Result<PathBuf, StoreError> {
    if let Some(p) = var(name).map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(p);
    }
    let home = var("HOME").ok_or(StoreError::NoHome)?;
    Ok(PathBuf::from(home).join(fallback))
}
