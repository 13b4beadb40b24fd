//! The ack stage: every mailbox's ack awaited in parallel, each with its
//! own deadline; the first failure stops the other waits.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::vmm::Vmm;

use super::session::{Session, StageError};
use super::{AckOutcome, PlannedMailbox, Stage, Status};

/// Wait for every ack in parallel, each with its own deadline.
pub(super) fn ack_stage(
    s: &Session,
    planned: &[PlannedMailbox],
    driver: &dyn Vmm,
) -> Result<Vec<bool>, StageError> {
    let waiting: Vec<_> = planned.iter().filter(|p| p.ack.is_some()).collect();
    if waiting.is_empty() {
        s.start(Stage::Ack);
        s.ok(Stage::Ack, Some("no mailbox waits for an ack".into()));
        return Ok(vec![false; planned.len()]);
    }
    s.start(Stage::Ack);
    let sender: IpAddr = driver.ack_sender();
    let failed = AtomicBool::new(false);
    let results: Vec<Result<bool, StageError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = planned
            .iter()
            .map(|p| {
                let failed = &failed;
                scope.spawn(move || -> Result<bool, StageError> {
                    let Some((waiter, timeout)) = &p.ack else {
                        return Ok(false);
                    };
                    let mut e = s.event(Stage::Ack, Status::Started);
                    e.mailbox = Some(p.name.clone());
                    e.ack_port = Some(waiter.port());
                    e.deadline_ms = Some(*timeout);
                    s.emit(e);
                    let out = waiter
                        .wait(&p.name, sender, Duration::from_millis(*timeout), &|| {
                            s.cancel.load(Ordering::Relaxed) || failed.load(Ordering::Relaxed)
                        })
                        .map_err(|e| StageError::at(&p.name, format!("ack socket: {e}")))?;
                    match out {
                        AckOutcome::Acked(took) => {
                            let mut e = s.event(Stage::Ack, Status::Ok);
                            e.mailbox = Some(p.name.clone());
                            e.ack_port = Some(waiter.port());
                            e.detail = Some(format!("acked after {} ms", took.as_millis()));
                            s.emit(e);
                            Ok(true)
                        }
                        AckOutcome::TimedOut { ignored } => {
                            failed.store(true, Ordering::Relaxed);
                            Err(StageError::at(
                                &p.name,
                                format!(
                                    "no ack from the guest within {timeout} ms on port {}{}",
                                    waiter.port(),
                                    if ignored > 0 {
                                        format!(" ({ignored} datagram(s) ignored: not a valid ack)")
                                    } else {
                                        String::new()
                                    }
                                ),
                            ))
                        }
                        AckOutcome::Cancelled if s.cancel.load(Ordering::Relaxed) => {
                            Err(StageError::at(&p.name, "cancelled"))
                        }
                        AckOutcome::Cancelled => Err(StageError::at(
                            &p.name,
                            "stopped waiting: another mailbox's ack failed",
                        )),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(StageError::new("ack waiter panicked")))
            })
            .collect()
    });
    let mut acked = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(a) => acked.push(a),
            Err(e) => errors.push(e),
        }
    }
    // Report the ack that really failed, not the ones stopped because of it.
    if !errors.is_empty() {
        let i = errors
            .iter()
            .position(|e| !e.message.starts_with("stopped waiting"))
            .unwrap_or(0);
        return Err(errors.swap_remove(i));
    }
    s.ok(
        Stage::Ack,
        Some(format!("{} ack(s) received", waiting.len())),
    );
    Ok(acked)
}
