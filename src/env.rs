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
/// `/var/lib/hypeman` when it is a readable directory.
pub fn source_paths(explicit: &[PathBuf]) -> Vec<PathBuf> {
    crate::source::source_paths_from(
        explicit,
        var("FORKMAIL_SOURCES").as_deref(),
        Path::new(crate::source::set::HYPEMAN_DEFAULT_DIR),
    )
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
