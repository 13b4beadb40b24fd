//! Will N forks fit? Checked before the first copy, so a fan-out that
//! cannot finish never starts.
//!
//! - Disk: a copy fork copies the snapshot's data (its memory file's
//!   allocated bytes) and device state; a zero-copy fork copies only the
//!   state. Compared with the free space of the store's forks directory.
//! - Memory: a running simulator fork is one small process; a QEMU fork
//!   may touch all of its guest RAM (copy mode) — zero-copy forks share the
//!   template's pages, and only what each guest writes becomes private
//!   (see `forks` divergence). Compared with `MemAvailable`.

use std::path::Path;

use serde::Serialize;

use super::FanoutError;
use crate::store::SnapshotInfo;
use crate::units::human_size;
use crate::vmm::VmmKind;

/// What one simulated guest process costs (measured: ~3–4 MiB resident).
pub const SIM_GUEST_MEMORY: u64 = 8 << 20;
/// What a QEMU process costs besides guest RAM.
pub const QEMU_OVERHEAD: u64 = 64 << 20;

/// The capacity verdict's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capacity {
    /// Forks planned.
    pub forks: usize,
    /// Disk each fork needs.
    pub disk_per_fork: u64,
    /// Disk all forks need.
    pub disk_needed: u64,
    /// Free disk for the store's forks.
    pub disk_free: u64,
    /// Memory the running forks need.
    pub memory_needed: u64,
    /// `MemAvailable`.
    pub memory_available: u64,
}

impl Capacity {
    /// Why not, when the forks do not fit.
    pub fn refusal(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.disk_needed > self.disk_free {
            why.push(format!(
                "disk: {} forks × {} = {} needed, {} free",
                self.forks,
                human_size(self.disk_per_fork),
                human_size(self.disk_needed),
                human_size(self.disk_free)
            ));
        }
        if self.memory_needed > self.memory_available {
            why.push(format!(
                "memory: {} needed for {} running forks, {} available",
                human_size(self.memory_needed),
                self.forks,
                human_size(self.memory_available)
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// The numbers for `forks` forks of `snap` into `forks_dir`.
pub fn measure(
    snap: &SnapshotInfo,
    forks_dir: &Path,
    forks: usize,
    zero_copy: bool,
    restore: bool,
) -> Result<Capacity, FanoutError> {
    let n = forks as u64;
    let state = std::fs::metadata(snap.state_path())
        .map(|m| m.len())
        .unwrap_or(0);
    let disk_per_fork = if zero_copy {
        state
    } else {
        snap.allocated + state
    };
    let memory_needed = if !restore {
        0
    } else {
        match (snap.meta.vmm, zero_copy) {
            (VmmKind::Sim, _) => n * SIM_GUEST_MEMORY,
            (VmmKind::Qemu, false) => n * (snap.memory_size + QEMU_OVERHEAD),
            (VmmKind::Qemu, true) => snap.allocated + n * QEMU_OVERHEAD,
            // No driver: such forks never run here (validate refuses a
            // restore), so they take no memory.
            (VmmKind::Firecracker | VmmKind::CloudHypervisor, _) => 0,
        }
    };
    Ok(Capacity {
        forks,
        disk_per_fork,
        disk_needed: n.saturating_mul(disk_per_fork),
        disk_free: free_space(forks_dir)?,
        memory_needed,
        memory_available: mem_available()?,
    })
}

/// Bytes an unprivileged writer may still use under `dir`.
fn free_space(dir: &Path) -> Result<u64, FanoutError> {
    crate::store::free_space(dir)
        .map_err(|e| FanoutError::Capacity(format!("free space of {}: {e}", dir.display())))
}

/// `MemAvailable` from `/proc/meminfo`.
fn mem_available() -> Result<u64, FanoutError> {
    let text = crate::files::read_text_bounded(Path::new("/proc/meminfo"), 1 << 20, "meminfo")
        .map_err(|e| FanoutError::Capacity(format!("/proc/meminfo: {e}")))?;
    parse_mem_available(&text)
        .ok_or_else(|| FanoutError::Capacity("/proc/meminfo has no MemAvailable".into()))
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_numbers() {
        let c = Capacity {
            forks: 16,
            disk_per_fork: 1 << 30,
            disk_needed: 16 << 30,
            disk_free: 10 << 30,
            memory_needed: 1 << 20,
            memory_available: 1 << 30,
        };
        let why = c.refusal().unwrap();
        assert!(
            why.contains("16 forks × 1.0 GiB = 16.0 GiB needed, 10.0 GiB free"),
            "{why}"
        );
        assert!(!why.contains("memory"));
        let ok = Capacity {
            disk_free: 20 << 30,
            ..c
        };
        assert_eq!(ok.refusal(), None);
    }

    #[test]
    fn meminfo_is_read() {
        assert_eq!(
            parse_mem_available("MemTotal: 10 kB\nMemAvailable:    2048 kB\n"),
            Some(2 << 20)
        );
        assert!(mem_available().unwrap() > 0);
        assert!(free_space(Path::new("/")).unwrap() > 0);
    }
}
