//! Ctrl-C, SIGTERM and SIGHUP (a closed terminal) as a cancel flag: the
//! work in progress notices it and rolls back, leaving nothing half-made.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};

/// A flag set by SIGINT, SIGTERM or SIGHUP.
pub fn cancel_flag() -> Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&cancel)).context("install signal handler")?;
    }
    Ok(cancel)
}
