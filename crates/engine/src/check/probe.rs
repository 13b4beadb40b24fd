//! What the checks share: running forks (as a fan-out), and observing them
//! — their events, the seq of a frame in their memory, their console.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fanout::{FanoutPlan, Permits, PlannedFork, run_fanout};
use crate::fork::{
    ForkError, ForkInfo, ForkOutcome, Forks, Happening, LifecycleError, LiveStatus, MailboxSpec,
    SessionEvent,
};
use crate::mailbox::{MailboxKind, MemoryAt};
use crate::scan::ScanReport;

/// How often a frame's seq is read while waiting for it.
const POLL: Duration = Duration::from_millis(20);

/// The suite's state, shared by its checks.
pub(super) struct Ctx<'a> {
    pub forks: &'a Forks<'a>,
    pub snapshot: String,
    /// Fork names are `<base>-<case>`.
    pub base: String,
    /// Mailboxes under test.
    pub selected: Vec<String>,
    /// Every patchable fork mailbox of the template, with its offset.
    pub usable: Vec<(String, u64)>,
    pub deadline_ms: u64,
    pub zero_copy: bool,
    pub permits: Arc<Permits>,
    pub discovery: Arc<ScanReport>,
    pub cancel: &'a AtomicBool,
    /// Forks made and not yet removed.
    pub made: Mutex<Vec<String>>,
}

/// One fork a check asks for.
pub(super) struct Probe {
    pub case: String,
    pub mailboxes: Vec<MailboxSpec>,
}

/// A mailbox spec for a check's fork.
pub(super) fn spec(name: &str, payload: String, ack_ms: Option<u64>) -> MailboxSpec {
    MailboxSpec {
        name: name.to_string(),
        token: None,
        payload: Some(payload),
        wait_for_ack: ack_ms.is_some(),
        ack_timeout_ms: ack_ms.map(|m| m as i64),
    }
}

/// A fork a check ran.
pub(super) struct Ran {
    pub name: String,
    pub result: Result<ForkOutcome, ForkError>,
    pub events: Vec<SessionEvent>,
}

impl Ran {
    /// (mailbox, port, ms after the wait began) of every ack.
    pub fn acks(&self) -> Vec<(String, u16, u64)> {
        self.events
            .iter()
            .filter_map(|e| match &e.what {
                Happening::Acked {
                    mailbox,
                    port,
                    after_ms,
                } => Some((mailbox.clone(), *port, *after_ms)),
                _ => None,
            })
            .collect()
    }
    /// (mailbox, sender, why) of every datagram from the fork's own guest
    /// that did not count — evidence against the guest. Datagrams counted
    /// rather than reported one by one come as one line; what anyone else
    /// sent is [`Ran::noise`].
    pub fn ignored(&self) -> Vec<(String, SocketAddr, String)> {
        self.events
            .iter()
            .filter_map(|e| match &e.what {
                Happening::DatagramIgnored {
                    mailbox,
                    from,
                    reason,
                    ..
                } => Some((mailbox.clone(), *from, reason.clone())),
                Happening::DatagramsIgnored {
                    mailbox,
                    count,
                    foreign,
                    from,
                    reason,
                    ..
                } if count > foreign => Some((
                    mailbox.clone(),
                    *from,
                    format!(
                        "{} more datagram(s) from the guest did not count (the last: {reason})",
                        count - foreign
                    ),
                )),
                _ => None,
            })
            .collect()
    }

    /// (mailbox, sender, how many, why) of the datagrams from someone other
    /// than the fork's guest (another local process, another address):
    /// noise, never held against the guest.
    pub fn noise(&self) -> Vec<(String, SocketAddr, u64, String)> {
        self.events
            .iter()
            .filter_map(|e| match &e.what {
                Happening::DatagramsIgnored {
                    mailbox,
                    foreign,
                    from,
                    reason,
                    ..
                } if *foreign > 0 => Some((mailbox.clone(), *from, *foreign, reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// (mailbox, port) of every ack wait.
    pub fn ports(&self) -> Vec<(String, u16)> {
        self.events
            .iter()
            .filter_map(|e| match &e.what {
                Happening::AckWaiting { mailbox, port, .. } => Some((mailbox.clone(), *port)),
                _ => None,
            })
            .collect()
    }
    /// Payload bytes written for `mailbox`.
    pub fn written(&self, mailbox: &str) -> Option<usize> {
        self.events.iter().find_map(|e| match &e.what {
            Happening::FrameWritten {
                mailbox: m, bytes, ..
            } if m == mailbox => Some(*bytes),
            _ => None,
        })
    }
    /// The fork's record, while it exists.
    pub fn info(&self, ctx: &Ctx) -> Option<ForkInfo> {
        ctx.forks.get(&self.name).ok()?.info
    }
    /// One line on why the session failed.
    pub fn failure(&self) -> Option<String> {
        let e = self.result.as_ref().err()?;
        Some(format!(
            "fork {}: the session failed at {} ({}): {}",
            self.name,
            e.stage().label(),
            e.kind(),
            e
        ))
    }
}

impl Ctx<'_> {
    /// The name of the fork of `case`.
    pub fn name(&self, case: &str) -> String {
        format!("{}-{case}", self.base)
    }

    /// The offset of a usable mailbox.
    pub fn offset(&self, mailbox: &str) -> Option<u64> {
        self.usable
            .iter()
            .find(|(n, _)| n == mailbox)
            .map(|(_, o)| *o)
    }

    /// Grace period without an ack, and the ack wait of a guest that acks.
    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// Run `probes` side by side (each its own session, the suite's session
    /// limit shared); every fork made is remembered for removal.
    pub fn run(&self, probes: Vec<Probe>) -> Vec<Ran> {
        self.run_lingering(probes, None)
    }

    /// [`Ctx::run`], each ack socket kept open `linger_ms` after its ack so
    /// a second datagram (a duplicate ack) is seen and reported.
    pub fn run_lingering(&self, probes: Vec<Probe>, linger_ms: Option<u64>) -> Vec<Ran> {
        let forks: Vec<PlannedFork> = probes
            .into_iter()
            .enumerate()
            .map(|(index, p)| PlannedFork {
                index,
                name: self.name(&p.case),
                mailboxes: p.mailboxes,
            })
            .collect();
        let plan = FanoutPlan {
            snapshot: self.snapshot.clone(),
            base: self.base.clone(),
            parallel: forks.len().max(1),
            forks,
            keep_going: true,
            zero_copy: self.zero_copy,
            restore: true,
            discovery: Some(Arc::clone(&self.discovery)),
            permits: Some(Arc::clone(&self.permits)),
            ack_bind: None,
            ack_linger_ms: linger_ms,
            hold: true,
        };
        let report = run_fanout(self.forks, &plan, &|_| {}, self.cancel);
        if let Ok(mut made) = self.made.lock() {
            made.extend(
                report
                    .forks
                    .iter()
                    .filter(|f| f.result.is_ok())
                    .map(|f| f.name.clone()),
            );
        }
        report
            .forks
            .into_iter()
            .map(|f| Ran {
                name: f.name,
                result: f.result,
                events: f.events,
            })
            .collect()
    }

    /// Remove the forks of `ran` (a check is done with them: they were
    /// held busy while it observed them).
    pub fn remove(&self, ran: &[Ran]) {
        for r in ran.iter().filter(|r| r.result.is_ok()) {
            let removed = match r.result.as_ref().ok().and_then(|o| o.held.as_ref()) {
                Some(h) => self.forks.remove_held(h),
                None => self.forks.remove(&r.name),
            };
            if let Err(e) = removed {
                tracing::warn!(fork = r.name, "check: cannot remove its fork: {e}");
            }
            if let Ok(mut made) = self.made.lock() {
                made.retain(|m| m != &r.name);
            }
        }
    }

    /// Remove every fork still made (the end of the suite).
    pub fn remove_all(&self) {
        let names: Vec<String> = self.made.lock().map(|m| m.clone()).unwrap_or_default();
        for n in names {
            // Its lock went with its last reference; a child being spawned
            // elsewhere in this program may share it for a moment more.
            let mut tries = 0;
            let removed = loop {
                match self.forks.remove(&n) {
                    Err(LifecycleError::InUse(_) | LifecycleError::Busy(_)) if tries < 100 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    other => break other,
                }
            };
            if let Err(e) = removed {
                tracing::warn!(fork = n, "check: cannot remove its fork: {e}");
            }
        }
    }

    /// Whether the fork's VMM still runs.
    pub fn alive(&self, name: &str) -> bool {
        self.forks
            .get(name)
            .is_ok_and(|e| e.status == LiveStatus::Running)
    }

    /// The seq of each mailbox's frame in the fork's memory now.
    pub fn seqs(&self, info: &ForkInfo, mailboxes: &[String]) -> Result<Vec<u32>, String> {
        let mem = self.forks.memory(info).map_err(|e| e.to_string())?;
        mailboxes
            .iter()
            .map(|m| {
                let off = self
                    .offset(m)
                    .ok_or_else(|| format!("mailbox {m}: no offset"))?;
                read_seq(&*mem, off).map_err(|e| format!("read the frame of {m}: {e}"))
            })
            .collect()
    }

    /// Wait (up to the grace period) until every mailbox's seq is 0; per
    /// mailbox, how long after the session ended it was seen at 0 (`Ok`),
    /// or its last seq (`Err`).
    pub fn wait_consumed(
        &self,
        ran: &Ran,
        mailboxes: &[String],
    ) -> Result<Vec<Result<u64, u32>>, String> {
        let info = ran
            .info(self)
            .ok_or_else(|| format!("fork {} is gone", ran.name))?;
        let start = Instant::now();
        let mut seen: Vec<Option<u64>> = vec![None; mailboxes.len()];
        loop {
            let seqs = self.seqs(&info, mailboxes)?;
            let ms = crate::units::millis(start.elapsed());
            for (s, q) in seen.iter_mut().zip(&seqs) {
                if s.is_none() && *q == 0 {
                    *s = Some(ms);
                }
            }
            if seen.iter().all(Option::is_some)
                || start.elapsed() >= self.grace()
                || self.cancel.load(Ordering::Relaxed)
            {
                return Ok(seen.iter().zip(seqs).map(|(s, q)| s.ok_or(q)).collect());
            }
            std::thread::sleep(POLL);
        }
    }

    /// Watch `mailboxes` for `window`: the first (mailbox, seq) seen non-zero.
    pub fn watch_untouched(
        &self,
        ran: &Ran,
        mailboxes: &[String],
        window: Duration,
    ) -> Result<Option<(String, u32)>, String> {
        let info = ran
            .info(self)
            .ok_or_else(|| format!("fork {} is gone", ran.name))?;
        let start = Instant::now();
        loop {
            let seqs = self.seqs(&info, mailboxes)?;
            if let Some((m, q)) = mailboxes.iter().zip(seqs).find(|(_, q)| *q != 0) {
                return Ok(Some((m.clone(), q)));
            }
            if start.elapsed() >= window || self.cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }
}

fn read_seq(mem: &dyn MemoryAt, marker: u64) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    mem.read_exact_at(&mut b, marker + MailboxKind::Fork.seq_offset())?;
    Ok(u32::from_le_bytes(b))
}

/// Payloads the guest echoed to its console: `forkmail-guest:
/// mailbox=<name> payload=<json>` lines of the fork's guest log, in order.
pub(super) fn echoes(info: &ForkInfo) -> Vec<(String, String)> {
    let text = crate::files::tail_text(&info.guest_log(), 1 << 20);
    text.lines()
        .filter_map(|line| {
            let at = line.find("forkmail-guest: mailbox=")?;
            let rest = &line[at + "forkmail-guest: mailbox=".len()..];
            let (name, payload) = rest.split_once(" payload=")?;
            Some((name.to_string(), payload.trim_end_matches('\r').to_string()))
        })
        .collect()
}

/// The last lines of the fork's guest log, for evidence.
pub(super) fn log_tail(info: &ForkInfo) -> String {
    let tail = crate::files::tail_text(&info.guest_log(), 2048);
    let lines: Vec<&str> = tail.lines().rev().take(2).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// A check's payload: `{"forkmail_check":<check>,"fork":<name>,...extra}`.
pub(super) fn payload(check: &str, fork: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(",{extra}")
    };
    format!(r#"{{"forkmail_check":"{check}","fork":"{fork}"{extra}}}"#)
}

/// One line of evidence on the noise the forks of `ran` saw, if any: how
/// many datagrams came from others than the forks' guests, and one
/// example.
pub(super) fn noise_evidence(ran: &[Ran]) -> Option<String> {
    let all: Vec<(String, SocketAddr, u64, String)> = ran.iter().flat_map(Ran::noise).collect();
    let total: u64 = all.iter().map(|n| n.2).sum();
    let (m, from, _, why) = all.first()?;
    Some(format!(
        "noise: {total} datagram(s) on the ack ports came from others than the forks' guests (e.g. from {from} on {m}'s port: {why}); not held against the guest"
    ))
}
