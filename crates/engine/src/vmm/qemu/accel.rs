//! Which QEMU, and which acceleration: KVM only where the CPU really
//! virtualizes (vmx/svm), else TCG; plus the host TSC rate TCG guests need.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The QEMU program ([`crate::vmm::programs`]: the app's `$FORKMAIL_QEMU`,
/// else `qemu-system-x86_64` on PATH).
pub fn qemu_binary() -> String {
    crate::vmm::programs::programs().qemu.clone()
}

/// `qemu-system-x86_64 --version`'s first line, or why it cannot run.
pub fn qemu_version(binary: &str) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {binary}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{binary} --version failed: {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_owned())
}

/// Hardware acceleration actually used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM (needs vmx/svm and /dev/kvm).
    Kvm,
    /// TCG, QEMU's emulator: works everywhere, slower.
    Tcg,
}

impl Accel {
    /// Lowercase label, as QEMU spells it.
    pub fn label(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// What the user asked for with `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM only when /dev/kvm opens and the CPU has vmx or svm.
    Auto,
    /// Force KVM.
    Kvm,
    /// Force TCG.
    Tcg,
}

impl std::str::FromStr for AccelChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            _ => Err(format!("--accel {s:?}: expected auto, kvm or tcg")),
        }
    }
}

/// The acceleration chosen and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelDecision {
    /// Chosen.
    pub accel: Accel,
    /// Human-readable reason.
    pub reason: String,
}

/// Decide the acceleration: `auto` picks KVM only when `/dev/kvm` opens
/// read-write **and** `/proc/cpuinfo` lists `vmx` or `svm` (a KVM without
/// them, such as PVM, cannot run a stock kernel).
pub fn decide_accel(choice: AccelChoice) -> AccelDecision {
    let kvm_open = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm");
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let virt_flag = cpu_virt_flag(&cpuinfo);
    match choice {
        AccelChoice::Tcg => AccelDecision {
            accel: Accel::Tcg,
            reason: "--accel tcg".into(),
        },
        AccelChoice::Kvm => AccelDecision {
            accel: Accel::Kvm,
            reason: "--accel kvm".into(),
        },
        AccelChoice::Auto => match (kvm_open, virt_flag) {
            (Ok(_), Some(flag)) => AccelDecision {
                accel: Accel::Kvm,
                reason: format!("/dev/kvm opens and the CPU has {flag}"),
            },
            (Ok(_), None) => AccelDecision {
                accel: Accel::Tcg,
                reason: "/dev/kvm opens but the CPU has neither vmx nor svm (e.g. PVM): a stock kernel would not run under it".into(),
            },
            (Err(e), _) => AccelDecision {
                accel: Accel::Tcg,
                reason: format!("/dev/kvm cannot be opened: {e}"),
            },
        },
    }
}

/// `vmx` or `svm` when a `flags` line of `/proc/cpuinfo` has it.
pub fn cpu_virt_flag(cpuinfo: &str) -> Option<&'static str> {
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim() != "flags" {
            continue;
        }
        for flag in value.split_whitespace() {
            match flag {
                "vmx" => return Some("vmx"),
                "svm" => return Some("svm"),
                _ => {}
            }
        }
    }
    None
}

/// The host TSC frequency in kHz, measured against the monotonic clock.
///
/// Under TCG the guest's TSC is the host's; telling the guest kernel its
/// frequency (`tsc_early_khz=`) skips the PIT calibration, which fails now and
/// then on a busy host and leaves the boot hanging.
pub fn host_tsc_khz() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        let t0 = Instant::now();
        // SAFETY: rdtsc has no preconditions on x86_64.
        let c0 = unsafe { core::arch::x86_64::_rdtsc() };
        std::thread::sleep(Duration::from_millis(20));
        // SAFETY: as above.
        let c1 = unsafe { core::arch::x86_64::_rdtsc() };
        let ns = u64::try_from(t0.elapsed().as_nanos()).ok()?;
        let ticks = c1.checked_sub(c0)?;
        if ns == 0 {
            return None;
        }
        let khz = u64::try_from(u128::from(ticks) * 1_000_000 / u128::from(ns)).ok()?;
        // Round to 1 MHz: the measurement is not better than that.
        Some((khz + 500) / 1000 * 1000)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_flags_decide_kvm() {
        assert_eq!(cpu_virt_flag("flags\t\t: fpu vme svm sse\n"), Some("svm"));
        assert_eq!(cpu_virt_flag("flags\t\t: fpu vmx\n"), Some("vmx"));
        assert_eq!(cpu_virt_flag("flags\t\t: fpu sse hypervisor\n"), None);
        assert_eq!(
            decide_accel(AccelChoice::Tcg).accel,
            Accel::Tcg,
            "forced choice wins"
        );
    }
}
