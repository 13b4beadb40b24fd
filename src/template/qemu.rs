//! Real templates: boot a guest image under QEMU with its RAM in the
//! snapshot's raw `memory` file (`share=on`), wait until the agent reports
//! its mailboxes armed, then take a standby snapshot: `stop`, migrate only
//! the device state (`x-ignore-shared`) to `state`, `quit`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::TemplateError;
use super::common::{SnapshotDraft, check_mailboxes};
use crate::guest::encode_mailbox_param;
use crate::mailbox::MAX_MAILBOXES;
use crate::store::{MEMORY_FILE, STATE_FILE, SnapshotInfo, SnapshotMeta, Store, now_rfc3339};
use crate::vmm::qemu::{
    Accel, AccelChoice, INITRD_FILE, KERNEL_FILE, QemuConfig, QemuProcess, RunPaths, SERIAL_LOG,
    decide_accel, host_tsc_khz, qemu_binary, qemu_version, shell_quote,
};
use crate::vmm::{VmmError, VmmKind};

/// The line prefix the agent prints once every mailbox is armed.
pub const ARMED_LINE: &str = "forkmail-guest: armed";
/// Longest kernel command line on x86 (COMMAND_LINE_SIZE - 1).
const MAX_CMDLINE: usize = 2047;

/// What to create.
#[derive(Debug, Clone)]
pub struct QemuTemplateSpec {
    /// Snapshot name.
    pub name: String,
    /// Name of the guest image booted (recorded in `vmm_config`).
    pub image: String,
    /// The kernel to boot.
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: PathBuf,
    /// Mailboxes: name and token (generated when `None`).
    pub mailboxes: Vec<(String, Option<String>)>,
    /// Guest RAM in bytes (a multiple of 1 MiB).
    pub memory_size: u64,
    /// `--accel`.
    pub accel: AccelChoice,
    /// How long the boot may take until the agent reports armed.
    pub boot_timeout: Duration,
    /// What the template is for, in one line.
    pub description: Option<String>,
}

/// Timings of a template creation.
#[derive(Debug, Clone, Copy, Default)]
pub struct QemuTemplateTimings {
    /// QEMU start until the agent printed its armed line.
    pub boot_to_armed: Duration,
    /// `stop` until the device state migration completed.
    pub standby_snapshot: Duration,
}

/// A created template.
#[derive(Debug, Clone)]
pub struct QemuTemplate {
    /// The snapshot.
    pub snapshot: SnapshotInfo,
    /// Mailboxes armed (name, token).
    pub mailboxes: Vec<(String, String)>,
    /// Acceleration used and why.
    pub accel_reason: String,
    /// Timings.
    pub timings: QemuTemplateTimings,
}

/// Hard-link (else copy) `from` to `to`.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), TemplateError> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| TemplateError::Io {
            context: format!("copy {} to {}", from.display(), to.display()),
            source,
        })
}

/// The last `n` lines of a log file, joined for an error message.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = crate::files::tail_text(path, 16 << 10);
    let mut lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rev()
        .take(n)
        .collect();
    lines.reverse();
    if lines.is_empty() {
        "(nothing)".into()
    } else {
        lines.join(" | ")
    }
}

/// Create a qemu template. `say` receives progress lines; `cancel` stops
/// the boot (QEMU is shut down and nothing is kept).
pub fn create_qemu_template(
    store: &Store,
    spec: &QemuTemplateSpec,
    cancel: &AtomicBool,
    say: &mut dyn FnMut(String),
) -> Result<QemuTemplate, TemplateError> {
    if spec.mailboxes.is_empty() {
        return Err(TemplateError::Invalid(
            "a qemu template needs at least one --mailbox NAME[:TOKEN]".into(),
        ));
    }
    let mailboxes = check_mailboxes(&spec.mailboxes, MAX_MAILBOXES, &mut rand::rng())?;
    if spec.memory_size < (64 << 20) || !spec.memory_size.is_multiple_of(1 << 20) {
        return Err(TemplateError::Invalid(format!(
            "--memory {}: a qemu guest needs at least 64 MiB, in whole MiB",
            spec.memory_size
        )));
    }
    for (what, p) in [("kernel", &spec.kernel), ("initramfs", &spec.initrd)] {
        crate::files::open_regular(p)
            .map_err(|e| TemplateError::Invalid(format!("{what}: {e}")))?;
    }
    let decision = decide_accel(spec.accel);
    say(format!(
        "acceleration: {} ({})",
        decision.accel.label(),
        decision.reason
    ));
    let binary = qemu_binary();
    let version = qemu_version(&binary).map_err(|reason| VmmError::Start {
        what: "QEMU".into(),
        reason: format!(
            "{reason}; install it (Debian: apt-get install qemu-system-x86) or set FORKMAIL_QEMU"
        ),
    })?;
    let mut append = vec!["console=ttyS0".to_string(), "quiet".to_string()];
    if decision.accel == Accel::Tcg
        && let Some(khz) = host_tsc_khz()
    {
        append.push(format!("tsc_early_khz={khz}"));
    }
    for (name, token) in &mailboxes {
        append.push(encode_mailbox_param(name, token));
    }
    let append = append.join(" ");
    if append.len() > MAX_CMDLINE {
        return Err(TemplateError::Invalid(format!(
            "the kernel command line would be {} bytes (limit {MAX_CMDLINE}); use fewer or shorter mailbox names and tokens",
            append.len()
        )));
    }
    let cfg = QemuConfig {
        binary,
        qemu_version: version,
        accel: decision.accel,
        cpu: match decision.accel {
            Accel::Kvm => "host".into(),
            Accel::Tcg => "max".into(),
        },
        machine: "microvm".into(),
        smp: 1,
        memory_size: spec.memory_size,
        kernel: KERNEL_FILE.into(),
        initrd: INITRD_FILE.into(),
        append,
        image: spec.image.clone(),
    };
    let draft = SnapshotDraft::begin(store, &spec.name)?;
    match boot_and_snapshot(draft.dir(), &cfg, spec, cancel, say) {
        Ok(timings) => {
            let meta = SnapshotMeta {
                kind: "standby".into(),
                vmm: VmmKind::Qemu,
                created_at: now_rfc3339(),
                memory_size: spec.memory_size,
                vmm_config: serde_json::to_value(&cfg).unwrap_or_else(|_| json!({})),
                description: spec.description.clone(),
            };
            Ok(QemuTemplate {
                snapshot: draft.commit(&meta)?,
                mailboxes,
                accel_reason: decision.reason,
                timings,
            })
        }
        Err(mut e) => {
            // Keep the serial log of a failed boot for diagnosis: the
            // half-made snapshot directory goes with the draft.
            let keep = std::env::temp_dir().join(format!("forkmail-{}-serial.log", spec.name));
            if std::fs::copy(draft.dir().join(SERIAL_LOG), &keep).is_ok()
                && let TemplateError::Boot { log, .. } = &mut e
            {
                *log = keep;
            }
            Err(e)
        }
    }
}

fn boot_and_snapshot(
    dir: &Path,
    cfg: &QemuConfig,
    spec: &QemuTemplateSpec,
    cancel: &AtomicBool,
    say: &mut dyn FnMut(String),
) -> Result<QemuTemplateTimings, TemplateError> {
    link_or_copy(&spec.kernel, &dir.join(KERNEL_FILE))?;
    link_or_copy(&spec.initrd, &dir.join(INITRD_FILE))?;
    let memory = dir.join(MEMORY_FILE);
    let f = crate::store::private_file(&memory).map_err(|source| TemplateError::Io {
        context: format!("create {}", memory.display()),
        source,
    })?;
    f.set_len(spec.memory_size)
        .map_err(|source| TemplateError::Io {
            context: format!("size {}", memory.display()),
            source,
        })?;
    drop(f);
    let paths = RunPaths {
        run_dir: dir,
        base_dir: dir,
        memory: &memory,
        share: true,
        incoming: false,
    };
    say(format!(
        "booting {} ({} MiB, {})",
        spec.kernel.display(),
        spec.memory_size >> 20,
        cfg.accel.label()
    ));
    let started = Instant::now();
    let mut proc = QemuProcess::spawn(cfg, &paths, &dir.join(crate::store::GUEST_LOG))?;
    let serial = dir.join(SERIAL_LOG);
    let boot_err = |reason: String, serial: &Path| TemplateError::Boot {
        name: spec.name.clone(),
        reason,
        log: serial.to_path_buf(),
        tail: log_tail(serial, 6),
    };
    // Wait for the armed line, a dead agent, a dead QEMU, or a cancel.
    loop {
        if cancel.load(Ordering::Relaxed) {
            proc.shutdown(None);
            return Err(TemplateError::Cancelled);
        }
        let text = crate::files::tail_text(&serial, 1 << 20);
        if text.contains(ARMED_LINE) {
            break;
        }
        for fatal in [
            "forkmail-init: forkmail-guest exited",
            "forkmail-guest: error",
            "Kernel panic",
        ] {
            if text.contains(fatal) {
                let err = boot_err(format!("the guest failed ({fatal:?})"), &serial);
                proc.shutdown(None);
                return Err(err);
            }
        }
        if let Some(status) = proc.exited() {
            return Err(boot_err(
                format!("QEMU exited during boot ({status}){}", proc.log_tail()),
                &serial,
            ));
        }
        if started.elapsed() > spec.boot_timeout {
            let err = boot_err(
                format!(
                    "the agent did not report armed within {:?}",
                    spec.boot_timeout
                ),
                &serial,
            );
            proc.shutdown(None);
            return Err(err);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let boot_to_armed = started.elapsed();
    say(format!(
        "guest armed after {:.1} s: {}",
        boot_to_armed.as_secs_f64(),
        log_tail(&serial, 1)
    ));
    let mut qmp = match proc.qmp(Duration::from_secs(10)) {
        Ok(q) => q,
        Err(e) => {
            proc.shutdown(None);
            return Err(e.into());
        }
    };
    let state = dir.join(STATE_FILE);
    let t0 = Instant::now();
    let snap = (|| {
        qmp.execute("stop", None)?;
        qmp.set_ignore_shared()?;
        qmp.execute(
            "migrate",
            Some(json!({"uri": format!("exec:cat > {}", shell_quote(&state))})),
        )?;
        qmp.wait_migration(Duration::from_secs(60))
    })();
    let standby_snapshot = t0.elapsed();
    if let Err(source) = snap {
        proc.shutdown(Some(qmp));
        return Err(TemplateError::Snapshot {
            name: spec.name.clone(),
            source,
        });
    }
    let _ = qmp.execute("quit", None);
    drop(qmp);
    if !proc.wait_exit(Duration::from_secs(5)) {
        proc.shutdown(None);
    }
    let _ = std::fs::remove_file(dir.join(crate::vmm::qemu::QMP_SOCKET));
    say(format!(
        "standby snapshot in {:.1} ms (device state {} bytes)",
        standby_snapshot.as_secs_f64() * 1000.0,
        std::fs::metadata(&state).map(|m| m.len()).unwrap_or(0)
    ));
    Ok(QemuTemplateTimings {
        boot_to_armed,
        standby_snapshot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_skips_blank_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("serial.log");
        std::fs::write(&p, "a\n\nb\r\nc\n").unwrap();
        assert_eq!(log_tail(&p, 2), "b | c");
        assert_eq!(log_tail(&d.path().join("none"), 2), "(nothing)");
    }
}
