//! Event lines to stdout without the sessions ever waiting for the reader.
//!
//! A session emits its events from its own threads (an ack waiter among
//! them); if those threads wrote to stdout themselves, a reader that stops
//! reading (`forkmail fork --json | slow-consumer`, a full pipe) would stop
//! the ack wait, and the guest's ack would go unheard. So the sessions only
//! queue lines, and one writer thread writes them.
//!
//! The queue is unbounded for the lines that say what happened (a stage
//! began or ended, a frame, an ack, a failure: a few dozen per session, so
//! it stays small), and capped for the lines that can come in floods (a
//! datagram ignored, copy progress): past [`FLOOD_CAP`] queued lines those
//! are counted, not queued, and one line says how many were not written
//! when the writer gets to it. At the end the command waits for the writer
//! to write what is queued — the session is over by then.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Queued lines beyond which floodable lines are dropped (and counted).
pub const FLOOD_CAP: usize = 4096;

/// What the dropped lines were about, for the line that says so.
#[derive(Debug, Clone, Default)]
pub struct Dropped {
    /// How many lines were not written.
    pub count: u64,
    /// The last of them (its fork, stage and time make the note's).
    pub last: Option<crate::fork::SessionEvent>,
}

/// Makes the line that says `Dropped` lines were not written.
pub type DroppedNote = Box<dyn Fn(&Dropped) -> String + Send>;

#[derive(Default)]
struct State {
    lines: VecDeque<String>,
    dropped: Dropped,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

/// A writer thread for stdout and the queue in front of it.
pub struct LineWriter {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl LineWriter {
    /// Start writing queued lines to stdout; `note` makes the line that
    /// says how many floodable lines were dropped.
    pub fn stdout(note: DroppedNote) -> LineWriter {
        LineWriter::spawn(Box::new(std::io::stdout()), note)
    }

    /// Start writing queued lines to `out`.
    pub fn spawn(out: Box<dyn Write + Send>, note: DroppedNote) -> LineWriter {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("stdout-writer".into())
            .spawn(move || write_loop(&s, out, &note))
            .ok();
        LineWriter {
            shared,
            thread: Mutex::new(thread),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a line that must be written (never blocks on the reader).
    pub fn line(&self, text: String) {
        self.state().lines.push_back(text);
        self.shared.ready.notify_one();
    }

    /// Queue a line that may be dropped when the reader falls behind
    /// ([`FLOOD_CAP`] lines queued): then it is only counted, with the
    /// event it was about.
    pub fn floodable(&self, text: String, about: &crate::fork::SessionEvent) {
        let mut st = self.state();
        if st.lines.len() >= FLOOD_CAP {
            st.dropped.count += 1;
            st.dropped.last = Some(about.clone());
            return;
        }
        st.lines.push_back(text);
        drop(st);
        self.shared.ready.notify_one();
    }

    /// Write everything queued and stop (waits for the reader: call it once
    /// the sessions are over).
    pub fn finish(&self) {
        self.state().closed = true;
        self.shared.ready.notify_one();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

fn write_loop(shared: &Shared, mut out: Box<dyn Write + Send>, note: &DroppedNote) {
    // A closed stdout ends the writing, never the sessions: what is queued
    // later is discarded.
    let mut broken = false;
    loop {
        let (lines, dropped, closed) = {
            let mut st = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            while st.lines.is_empty() && st.dropped.count == 0 && !st.closed {
                st = shared
                    .ready
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            (
                std::mem::take(&mut st.lines),
                std::mem::take(&mut st.dropped),
                st.closed,
            )
        };
        if !broken {
            let mut write = |line: &str| -> std::io::Result<()> {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")
            };
            let mut res = Ok(());
            if dropped.count > 0 {
                res = write(&note(&dropped));
            }
            for line in &lines {
                if res.is_err() {
                    break;
                }
                res = write(line);
            }
            if res.and_then(|()| out.flush()).is_err() {
                broken = true;
            }
        }
        if closed {
            // Lines queued after the last batch was taken are written too.
            let st = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            if st.lines.is_empty() && st.dropped.count == 0 {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fork::{Happening, SessionEvent};

    /// A writer whose `write` waits until released: a reader that does not
    /// read.
    struct Stuck {
        gate: Arc<(Mutex<bool>, Condvar)>,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (open, cv) = &*self.gate;
            let mut o = open.lock().unwrap();
            while !*o {
                o = cv.wait(o).unwrap();
            }
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_reader_never_blocks_the_sender_and_floods_are_counted() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let got = Arc::new(Mutex::new(Vec::new()));
        let w = LineWriter::spawn(
            Box::new(Stuck {
                gate: Arc::clone(&gate),
                got: Arc::clone(&got),
            }),
            Box::new(|d| format!("dropped {}", d.count)),
        );
        let ev = SessionEvent {
            fork: "f".into(),
            elapsed_ms: 1,
            what: Happening::AcksDone { count: 0 },
        };
        // Far more than the cap, all sent while nothing can be written.
        for i in 0..FLOOD_CAP * 3 {
            w.floodable(format!("flood {i}"), &ev);
        }
        w.line("done".into());
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        w.finish();
        let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"done"), "what must be written is");
        let floods = lines.iter().filter(|l| l.starts_with("flood")).count();
        let dropped: u64 = lines
            .iter()
            .filter_map(|l| l.strip_prefix("dropped "))
            .map(|n| n.parse::<u64>().unwrap())
            .sum();
        // At most a batch taken before the writer blocked, plus the cap.
        assert!(floods <= 2 * FLOOD_CAP, "{floods}");
        assert!(dropped > 0);
        assert_eq!(floods as u64 + dropped, (FLOOD_CAP * 3) as u64);
    }
}
