//! Real templates: boot a guest under QEMU with its RAM in the snapshot's
//! raw `memory` file (`share=on`), wait until its mailboxes are armed, then
//! take a standby snapshot: `stop`, migrate only the device state
//! (`x-ignore-shared`) to `state`, `quit`.
//!
//! Two kinds of guest ([`QemuGuest`]): forkmail's own agent, told its
//! mailboxes on the kernel command line, which prints a line once they are
//! armed; or *any* guest, whose markers forkmail finds itself by scanning
//! the memory file while the guest boots ([`super::watch`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::TemplateError;
use super::common::{SnapshotDraft, attach_disk, check_mailboxes, link_or_copy};
use super::watch::{Sighting, WantedMarker, check_wanted, look};
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
pub use super::common::DISK_FILE;
/// Longest kernel command line on x86 (COMMAND_LINE_SIZE - 1).
const MAX_CMDLINE: usize = 2047;

/// Which guest boots, and how forkmail knows its mailboxes are armed.
#[derive(Debug, Clone)]
pub enum QemuGuest {
    /// forkmail's agent (`forkmail-guest vm`): arms these mailboxes (name,
    /// token; generated when `None`), named on the kernel command line, and
    /// prints [`ARMED_LINE`].
    Agent {
        /// Mailboxes to arm.
        mailboxes: Vec<(String, Option<String>)>,
    },
    /// Any guest: arms its own mailboxes; the snapshot is taken as soon as
    /// every one of these markers is in its memory.
    Markers {
        /// Markers to wait for.
        wait_for: Vec<WantedMarker>,
    },
}

/// What to create.
#[derive(Debug, Clone)]
pub struct QemuTemplateSpec {
    /// Snapshot name.
    pub name: String,
    /// Name of the guest image booted, "" for a kernel and initramfs given
    /// directly (recorded in `vmm_config`).
    pub image: String,
    /// The kernel to boot.
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: PathBuf,
    /// More kernel command line, after `console=ttyS0`.
    pub append: Option<String>,
    /// A raw disk image, attached read-only (template and forks alike).
    pub disk: Option<PathBuf>,
    /// The guest and how to know it is armed.
    pub guest: QemuGuest,
    /// Guest RAM in bytes (a multiple of 1 MiB).
    pub memory_size: u64,
    /// `--accel`.
    pub accel: AccelChoice,
    /// How long the boot may take until the mailboxes are armed.
    pub boot_timeout: Duration,
    /// Default address of forks' ack sockets, kept in `snapshot.json`.
    pub ack_bind: Option<std::net::IpAddr>,
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
    // The agent's mailboxes with their tokens; none yet for a guest whose
    // markers are waited for (their tokens come from its memory).
    let mailboxes = match &spec.guest {
        QemuGuest::Agent { mailboxes } if mailboxes.is_empty() => {
            return Err(TemplateError::Invalid(
                "a qemu template needs at least one --mailbox NAME[:TOKEN]".into(),
            ));
        }
        QemuGuest::Agent { mailboxes } => {
            check_mailboxes(mailboxes, MAX_MAILBOXES, &mut rand::rng())?
        }
        QemuGuest::Markers { wait_for } => {
            check_wanted(wait_for)?;
            Vec::new()
        }
    };
    if spec.memory_size < (64 << 20) || !spec.memory_size.is_multiple_of(1 << 20) {
        return Err(TemplateError::Invalid(format!(
            "--memory {}: a qemu guest needs at least 64 MiB, in whole MiB",
            spec.memory_size
        )));
    }
    for (what, p) in [("kernel", &spec.kernel), ("initramfs", &spec.initrd)]
        .into_iter()
        .chain(spec.disk.as_ref().map(|d| ("disk", d)))
    {
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
    let mut append = vec!["console=ttyS0".to_string()];
    if matches!(spec.guest, QemuGuest::Agent { .. }) {
        append.push("quiet".into());
    }
    if decision.accel == Accel::Tcg
        && let Some(khz) = host_tsc_khz()
    {
        append.push(format!("tsc_early_khz={khz}"));
    }
    for (name, token) in &mailboxes {
        append.push(encode_mailbox_param(name, token));
    }
    append.extend(spec.append.iter().filter(|a| !a.trim().is_empty()).cloned());
    let append = append.join(" ");
    if append.len() > MAX_CMDLINE {
        return Err(TemplateError::Invalid(format!(
            "the kernel command line would be {} bytes (limit {MAX_CMDLINE}); use fewer or shorter mailbox names and tokens",
            append.len()
        )));
    }
    let mut cfg = QemuConfig {
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
        disk: None,
    };
    let draft = SnapshotDraft::begin(store, &spec.name)?;
    if let Some(disk) = &spec.disk {
        cfg.disk = Some(attach_disk(disk, draft.dir())?);
    }
    match boot_and_snapshot(draft.dir(), &cfg, spec, cancel, say) {
        Ok((timings, armed)) => {
            let meta = SnapshotMeta {
                kind: "standby".into(),
                vmm: VmmKind::Qemu,
                created_at: now_rfc3339(),
                memory_size: spec.memory_size,
                vmm_config: serde_json::to_value(&cfg).unwrap_or_else(|_| json!({})),
                ack_bind: spec.ack_bind,
                description: spec.description.clone(),
            };
            Ok(QemuTemplate {
                snapshot: draft.commit(&meta)?,
                mailboxes: armed.unwrap_or(mailboxes),
                accel_reason: decision.reason,
                timings,
            })
        }
        Err(mut e) => {
            // Keep the serial log of a failed boot for diagnosis: the
            // half-made snapshot directory goes with the draft. A fresh file
            // in the temp dir (the error names it), never a guessable name
            // someone else could have put a symlink at.
            let kept = tempfile::Builder::new()
                .prefix(&format!("forkmail-{}-serial-", spec.name))
                .suffix(".log")
                .tempfile()
                .and_then(|mut kept| {
                    let mut serial = std::fs::File::open(draft.dir().join(SERIAL_LOG))?;
                    std::io::copy(&mut serial, &mut kept)?;
                    kept.keep().map(|(_, path)| path).map_err(|e| e.error)
                });
            if let Ok(keep) = kept
                && let TemplateError::Boot { log, .. } | TemplateError::MarkersNotArmed { log, .. } =
                    &mut e
            {
                *log = keep;
            }
            Err(e)
        }
    }
}

/// How often the memory of a booting guest is scanned at most; a slower
/// scan waits twice its own time, so scanning never takes more than a
/// third of the host from the booting guest.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// Every wanted marker was seen while the guest ran, but a token may still
/// have been half written: stop the guest and look again, since what counts
/// is memory at rest. `Some` with the markers when they are all there (the
/// guest stays stopped, `qmp` open); else the guest runs on. On an error
/// the caller shuts QEMU down.
fn stop_if_armed(
    proc: &mut QemuProcess,
    qmp: &mut Option<crate::vmm::qmp::Qmp>,
    memory: &Path,
    wait_for: &[WantedMarker],
    cancel: &AtomicBool,
    spec: &QemuTemplateSpec,
) -> Result<Option<Armed>, TemplateError> {
    let snapshot_err = |source| TemplateError::Snapshot {
        name: spec.name.clone(),
        source,
    };
    if qmp.is_none() {
        *qmp = Some(proc.qmp(Duration::from_secs(10))?);
    }
    let Some(q) = qmp.as_mut() else {
        return Ok(None);
    };
    q.execute("stop", None).map_err(snapshot_err)?;
    if let Ok(at_rest) = look(memory, wait_for, cancel)
        && at_rest.complete()
    {
        return Ok(Some(at_rest.armed));
    }
    q.execute("cont", None).map_err(snapshot_err)?;
    Ok(None)
}

/// Mailboxes found armed in a guest's memory: name and token.
type Armed = Vec<(String, String)>;

/// Boot, wait until armed, snapshot. Returns the timings and, for a guest
/// whose markers were waited for, the mailboxes found (name, token).
fn boot_and_snapshot(
    dir: &Path,
    cfg: &QemuConfig,
    spec: &QemuTemplateSpec,
    cancel: &AtomicBool,
    say: &mut dyn FnMut(String),
) -> Result<(QemuTemplateTimings, Option<Armed>), TemplateError> {
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
    let mut qmp = None;
    let mut sighting = Sighting::default();
    let mut next_look = Instant::now();
    // Wait for the armed line or the markers, a dead guest, a dead QEMU,
    // a timeout or a cancel. For markers, the VM is stopped before it counts
    // (see below), so `qmp` is open and the VM paused after the loop.
    let armed = loop {
        if cancel.load(Ordering::Relaxed) {
            proc.shutdown(qmp);
            return Err(TemplateError::Cancelled);
        }
        let text = crate::files::tail_text(&serial, 1 << 20);
        if let QemuGuest::Agent { .. } = spec.guest
            && text.contains(ARMED_LINE)
        {
            break None;
        }
        for fatal in [
            "forkmail-init: forkmail-guest exited",
            "forkmail-init: guest exited",
            "forkmail-guest: error",
            "Kernel panic",
        ] {
            if text.contains(fatal) {
                let err = boot_err(format!("the guest failed ({fatal:?})"), &serial);
                proc.shutdown(qmp);
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
            // One last look: a guest that armed since the previous one is in
            // time, and the error must say what is in memory now.
            if let QemuGuest::Markers { wait_for } = &spec.guest
                && let Ok(seen) = look(&memory, wait_for, cancel)
            {
                sighting = seen;
                if sighting.complete() {
                    match stop_if_armed(&mut proc, &mut qmp, &memory, wait_for, cancel, spec) {
                        Ok(Some(armed)) => break Some(armed),
                        Ok(None) => {}
                        Err(e) => {
                            proc.shutdown(qmp);
                            return Err(e);
                        }
                    }
                }
            }
            let err = match &spec.guest {
                QemuGuest::Agent { .. } => boot_err(
                    format!(
                        "the agent did not report armed within {:?}",
                        spec.boot_timeout
                    ),
                    &serial,
                ),
                QemuGuest::Markers { .. } => TemplateError::MarkersNotArmed {
                    name: spec.name.clone(),
                    timeout: spec.boot_timeout,
                    summary: sighting.summary(),
                    log: serial.clone(),
                    tail: log_tail(&serial, 6),
                },
            };
            proc.shutdown(qmp);
            return Err(err);
        }
        if let QemuGuest::Markers { wait_for } = &spec.guest
            && Instant::now() >= next_look
        {
            let t = Instant::now();
            match look(&memory, wait_for, cancel) {
                Ok(seen) => sighting = seen,
                Err(e) => {
                    proc.shutdown(qmp);
                    return Err(match e {
                        crate::scan::ScanError::Cancelled => TemplateError::Cancelled,
                        e => boot_err(format!("cannot read the guest's memory: {e}"), &serial),
                    });
                }
            }
            next_look = Instant::now() + LOOK_EVERY.max(t.elapsed() * 2);
            if sighting.complete() {
                match stop_if_armed(&mut proc, &mut qmp, &memory, wait_for, cancel, spec) {
                    Ok(Some(armed)) => break Some(armed),
                    Ok(None) => {}
                    Err(e) => {
                        proc.shutdown(qmp);
                        return Err(e);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let boot_to_armed = started.elapsed();
    match &armed {
        None => say(format!(
            "guest armed after {:.1} s: {}",
            boot_to_armed.as_secs_f64(),
            log_tail(&serial, 1)
        )),
        Some(found) => say(format!(
            "markers armed after {:.1} s: {}",
            boot_to_armed.as_secs_f64(),
            found
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    let mut qmp = match qmp {
        Some(q) => q,
        None => match proc.qmp(Duration::from_secs(10)) {
            Ok(q) => q,
            Err(e) => {
                proc.shutdown(None);
                return Err(e.into());
            }
        },
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
    Ok((
        QemuTemplateTimings {
            boot_to_armed,
            standby_snapshot,
        },
        armed,
    ))
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
