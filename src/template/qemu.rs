//! Real templates: boot a guest image under QEMU with its RAM in the
//! snapshot's raw `memory` file (`share=on`), wait until the agent reports
//! its mailboxes armed, then take a standby snapshot: `stop`, migrate only
//! the device state (`x-ignore-shared`) to `state`, `quit`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::guest::encode_mailbox_param;
use crate::image::{ImageError, load_image};
use crate::mailbox::{MAX_MAILBOXES, name_is_valid, token_problem};
use crate::store::{
    MEMORY_FILE, SNAPSHOT_META, STATE_FILE, SnapshotInfo, SnapshotMeta, Store, StoreError,
    ValidName, VmmKind, now_rfc3339, write_json_atomic,
};
use crate::vmm::VmmError;
use crate::vmm::qemu::{
    Accel, AccelChoice, INITRD_FILE, KERNEL_FILE, QemuConfig, QemuProcess, RunPaths, SERIAL_LOG,
    decide_accel, host_tsc_khz, qemu_binary, qemu_version, shell_quote,
};
use crate::vmm::qmp::QmpError;

/// The line prefix the agent prints once every mailbox is armed.
pub const ARMED_LINE: &str = "forkmail-guest: armed";
/// Longest kernel command line on x86 (COMMAND_LINE_SIZE - 1).
const MAX_CMDLINE: usize = 2047;

/// Errors of qemu template creation.
#[derive(Debug, thiserror::Error)]
pub enum QemuTemplateError {
    /// A request that cannot work.
    #[error("{0}")]
    Invalid(String),
    /// The image is missing or broken.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Store access.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// QEMU failed.
    #[error(transparent)]
    Vmm(#[from] VmmError),
    /// The guest did not arm in time or died.
    #[error("template {name}: {reason}; serial console ({log}) ends with: {tail}")]
    Boot {
        /// Template.
        name: String,
        /// What happened.
        reason: String,
        /// The serial log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// The standby snapshot failed.
    #[error("standby snapshot of {name}: {source}")]
    Snapshot {
        /// Template.
        name: String,
        /// Cause.
        source: QmpError,
    },
    /// Filesystem error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// What to create.
#[derive(Debug, Clone)]
pub struct QemuTemplateSpec {
    /// Snapshot name.
    pub name: String,
    /// Guest image name.
    pub image: String,
    /// Mailboxes: name and token (generated when `None`).
    pub mailboxes: Vec<(String, Option<String>)>,
    /// Guest RAM in bytes (a multiple of 1 MiB).
    pub memory_size: u64,
    /// `--accel`.
    pub accel: AccelChoice,
    /// How long the boot may take until the agent reports armed.
    pub boot_timeout: Duration,
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

fn random_token() -> String {
    let v: u64 = rand::random();
    format!("{v:016x}")
}

/// Check the mailbox list and fill in missing tokens.
pub fn resolve_template_mailboxes(
    wanted: &[(String, Option<String>)],
) -> Result<Vec<(String, String)>, QemuTemplateError> {
    if wanted.is_empty() {
        return Err(QemuTemplateError::Invalid(
            "a qemu template needs at least one --mailbox NAME[:TOKEN]".into(),
        ));
    }
    if wanted.len() > MAX_MAILBOXES {
        return Err(QemuTemplateError::Invalid(format!(
            "{} mailboxes requested; a fork can patch at most {MAX_MAILBOXES}",
            wanted.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (name, token) in wanted {
        if !name_is_valid(name) {
            return Err(QemuTemplateError::Invalid(format!(
                "mailbox name {name:?} must match ^[A-Za-z0-9._:-]{{1,64}}$"
            )));
        }
        if !seen.insert(name.clone()) {
            return Err(QemuTemplateError::Invalid(format!(
                "mailbox {name:?} is named twice"
            )));
        }
        let token = token.clone().unwrap_or_else(random_token);
        if let Some(p) = token_problem(&token) {
            return Err(QemuTemplateError::Invalid(format!("mailbox {name}: {p}")));
        }
        out.push((name.clone(), token));
    }
    Ok(out)
}

/// Hard-link (else copy) `from` to `to`.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), QemuTemplateError> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| QemuTemplateError::Io {
            context: format!("copy {} to {}", from.display(), to.display()),
            source,
        })
}

/// The last `n` lines of a log file, joined for an error message.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
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

/// Create a qemu template. `say` receives progress lines.
pub fn create_qemu_template(
    store: &Store,
    spec: &QemuTemplateSpec,
    say: &mut dyn FnMut(String),
) -> Result<QemuTemplate, QemuTemplateError> {
    let valid = ValidName::new(&spec.name)?;
    let mailboxes = resolve_template_mailboxes(&spec.mailboxes)?;
    if spec.memory_size < (64 << 20) || !spec.memory_size.is_multiple_of(1 << 20) {
        return Err(QemuTemplateError::Invalid(format!(
            "--memory {}: a qemu guest needs at least 64 MiB, in whole MiB",
            spec.memory_size
        )));
    }
    let image = load_image(store, &spec.image)?;
    let dir = store.snapshot_dir(&valid);
    if dir.exists() {
        return Err(StoreError::Exists {
            what: "snapshot",
            name: spec.name.clone(),
            path: dir,
        }
        .into());
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
        return Err(QemuTemplateError::Invalid(format!(
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
        image: image.name.clone(),
    };

    std::fs::create_dir_all(&dir).map_err(|source| QemuTemplateError::Io {
        context: format!("create {}", dir.display()),
        source,
    })?;
    let result = boot_and_snapshot(&dir, &cfg, &image, spec, say);
    match result {
        Ok(timings) => {
            let meta = SnapshotMeta {
                kind: "standby".into(),
                vmm: VmmKind::Qemu,
                created_at: now_rfc3339(),
                memory_size: spec.memory_size,
                vmm_config: serde_json::to_value(&cfg).unwrap_or_else(|_| json!({})),
            };
            write_json_atomic(&dir.join(SNAPSHOT_META), &meta)?;
            Ok(QemuTemplate {
                snapshot: SnapshotInfo::load(&dir)?,
                mailboxes,
                accel_reason: decision.reason,
                timings,
            })
        }
        Err(mut e) => {
            // Keep the serial log of a failed boot for diagnosis: the
            // half-made snapshot directory is removed.
            let keep = std::env::temp_dir().join(format!("forkmail-{}-serial.log", spec.name));
            if std::fs::copy(dir.join(SERIAL_LOG), &keep).is_ok()
                && let QemuTemplateError::Boot { log, .. } = &mut e
            {
                *log = keep;
            }
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

fn boot_and_snapshot(
    dir: &Path,
    cfg: &QemuConfig,
    image: &crate::image::ImageInfo,
    spec: &QemuTemplateSpec,
    say: &mut dyn FnMut(String),
) -> Result<QemuTemplateTimings, QemuTemplateError> {
    link_or_copy(&image.kernel(), &dir.join(KERNEL_FILE))?;
    link_or_copy(&image.initrd(), &dir.join(INITRD_FILE))?;
    let memory = dir.join(MEMORY_FILE);
    let f = std::fs::File::create(&memory).map_err(|source| QemuTemplateError::Io {
        context: format!("create {}", memory.display()),
        source,
    })?;
    f.set_len(spec.memory_size)
        .map_err(|source| QemuTemplateError::Io {
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
        "booting image {} ({} MiB, {})",
        image.name,
        spec.memory_size >> 20,
        cfg.accel.label()
    ));
    let started = Instant::now();
    let mut proc = QemuProcess::spawn(cfg, &paths)?;
    let serial = dir.join(SERIAL_LOG);
    let boot_err = |reason: String, serial: &Path| QemuTemplateError::Boot {
        name: spec.name.clone(),
        reason,
        log: serial.to_path_buf(),
        tail: log_tail(serial, 6),
    };
    // Wait for the armed line, a dead agent, or a dead QEMU.
    loop {
        let text = std::fs::read(&serial).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
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
        return Err(QemuTemplateError::Snapshot {
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
    fn mailboxes_are_checked_and_tokens_generated() {
        let ok =
            resolve_template_mailboxes(&[("app".into(), Some("tok".into())), ("a:b".into(), None)])
                .unwrap();
        assert_eq!(ok[0], ("app".to_string(), "tok".to_string()));
        assert_eq!(ok[1].1.len(), 16);
        for bad in [
            vec![],
            vec![("bad name".to_string(), None)],
            vec![("a".to_string(), None), ("a".to_string(), None)],
            vec![("a".to_string(), Some("   ".to_string()))],
        ] {
            assert!(resolve_template_mailboxes(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn log_tail_skips_blank_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("serial.log");
        std::fs::write(&p, "a\n\nb\r\nc\n").unwrap();
        assert_eq!(log_tail(&p, 2), "b | c");
        assert_eq!(log_tail(&d.path().join("none"), 2), "(nothing)");
    }
}
