//! The ack stage: every mailbox's ack awaited in parallel, each with its
//! own deadline; the first failure stops the other waits, and so does the
//! guest's VMM exiting (the session fails at once with its status).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::ack::{AckOutcome, Ignored};
use super::session::Session;
use super::{ForkError, Happening, PlannedMailbox};
use crate::error::ErrorKind;
use crate::vmm::{AckSender, ProcessRecord};

/// How one mailbox's wait ended, before the stage decides what to report.
enum Waited {
    NotAwaited,
    Acked,
    Failed(ForkError),
    /// Stopped because something else ended the stage.
    Stopped,
}

/// Wait for every ack in parallel. Returns, per planned mailbox, whether it
/// acked. With `linger`, each mailbox's socket stays open that long after
/// its ack and whatever else arrives on it (a duplicate ack too) is
/// reported as ignored, never fatal ([`ForkRequest::ack_linger_ms`]).
///
/// [`ForkRequest::ack_linger_ms`]: super::ForkRequest::ack_linger_ms
pub(super) fn ack_stage(
    s: &Session,
    planned: &[PlannedMailbox],
    sender: &AckSender,
    guest: Option<&ProcessRecord>,
    linger: Option<Duration>,
) -> Result<Vec<bool>, ForkError> {
    let waiting = planned.iter().filter(|p| p.ack.is_some()).count();
    if waiting == 0 {
        s.emit(Happening::AcksDone { count: 0 });
        return Ok(vec![false; planned.len()]);
    }
    let failed = AtomicBool::new(false);
    let guest_gone: Mutex<Option<String>> = Mutex::new(None);
    let stop = || {
        if s.cancelled() || failed.load(Ordering::Relaxed) {
            return true;
        }
        if let Some(g) = guest
            && !g.is_alive()
        {
            if let Ok(mut gone) = guest_gone.lock()
                && gone.is_none()
            {
                *gone = Some(g.exit_status().unwrap_or_else(|| "status unknown".into()));
            }
            return true;
        }
        false
    };
    let results: Vec<Waited> = std::thread::scope(|scope| {
        let handles: Vec<_> = planned
            .iter()
            .map(|p| {
                let (failed, stop) = (&failed, &stop);
                scope.spawn(move || -> Waited {
                    let Some((waiter, timeout)) = &p.ack else {
                        return Waited::NotAwaited;
                    };
                    s.emit(Happening::AckWaiting {
                        mailbox: p.name.clone(),
                        port: waiter.port(),
                        deadline_ms: *timeout,
                    });
                    // The guest's own datagrams one by one; anyone else's,
                    // and floods, counted (bounded by the waiter).
                    let ignored = |what: Ignored| {
                        let (mailbox, port) = (p.name.clone(), waiter.port());
                        s.emit(match what {
                            Ignored::One {
                                from,
                                reason,
                                foreign: false,
                            } => Happening::DatagramIgnored {
                                mailbox,
                                port,
                                from,
                                reason,
                            },
                            Ignored::One { from, reason, .. } => Happening::DatagramsIgnored {
                                mailbox,
                                port,
                                count: 1,
                                foreign: 1,
                                from,
                                reason,
                            },
                            Ignored::Many {
                                count,
                                foreign,
                                from,
                                reason,
                            } => Happening::DatagramsIgnored {
                                mailbox,
                                port,
                                count,
                                foreign,
                                from,
                                reason,
                            },
                        })
                    };
                    let out = waiter.wait(
                        &p.name,
                        sender,
                        Duration::from_millis(*timeout),
                        stop,
                        &ignored,
                    );
                    match out {
                        Ok(AckOutcome::Acked(took)) => {
                            s.emit(Happening::Acked {
                                mailbox: p.name.clone(),
                                port: waiter.port(),
                                after_ms: crate::units::millis(took),
                            });
                            if let Some(linger) = linger
                                && let Err(e) =
                                    waiter.linger(&p.name, sender, linger, &|| s.cancelled(), &ignored)
                            {
                                tracing::warn!(mailbox = p.name, "ack socket after the ack: {e}");
                            }
                            Waited::Acked
                        }
                        Ok(AckOutcome::TimedOut { ignored, foreign }) => {
                            failed.store(true, Ordering::Relaxed);
                            let note = match (ignored, foreign) {
                                (0, _) => String::new(),
                                (n, 0) => format!(" ({n} datagram(s) ignored: not a valid ack from the fork's guest)"),
                                (n, f) => format!(
                                    " ({n} datagram(s) ignored: {f} not from the fork's guest, {} from it not a valid ack)",
                                    n - f
                                ),
                            };
                            Waited::Failed(ForkError::mailbox(
                                ErrorKind::AckTimeout,
                                &p.name,
                                format!(
                                    "no ack from the guest within {} on port {}{note}",
                                    crate::units::human_secs(*timeout),
                                    waiter.port()
                                ),
                            ))
                        }
                        Ok(AckOutcome::Stopped) => Waited::Stopped,
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            Waited::Failed(
                                ForkError::io("ack socket", e).with_mailbox(&p.name),
                            )
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Waited::Failed(ForkError::new(ErrorKind::Internal, "ack waiter panicked"))
                })
            })
            .collect()
    });
    // What ended the stage, in order of precedence: a real failure of one
    // mailbox, then the guest exiting, then a cancel.
    let mut acked = Vec::with_capacity(results.len());
    let mut first_failure = None;
    let mut stopped = false;
    for r in results {
        match r {
            Waited::Acked => acked.push(true),
            Waited::NotAwaited => acked.push(false),
            Waited::Failed(e) => {
                first_failure.get_or_insert(e);
            }
            Waited::Stopped => stopped = true,
        }
    }
    if let Some(e) = first_failure {
        return Err(e);
    }
    if stopped {
        if let Some(status) = guest_gone.lock().ok().and_then(|g| g.clone()) {
            return Err(ForkError::new(
                ErrorKind::GuestExited,
                format!("guest exited ({status}) before it acked"),
            ));
        }
        return Err(ForkError::cancelled());
    }
    s.emit(Happening::AcksDone { count: waiting });
    Ok(acked)
}
