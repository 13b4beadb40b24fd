//! Progress of long work in the CLI (a scan, a fork's copy): a progress bar
//! with throughput and ETA (`indicatif`) when stderr is a terminal, plain
//! lines at most once a second otherwise. `--json` output never carries it.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::units::human_size;

/// Plain progress lines are written at most this often.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

/// A progress display for one piece of byte-counted work.
pub struct Progress {
    what: &'static str,
    bar: Option<ProgressBar>,
    plain: Mutex<(Instant, Instant)>,
    quiet: bool,
}

impl Progress {
    /// Progress of `what` ("copy", "scan"): a bar on a terminal, plain
    /// lines otherwise, nothing when `quiet` (`--json`).
    pub fn new(what: &'static str, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::hidden();
            b.set_style(
                ProgressStyle::with_template(
                    "{msg:>9} [{bar:30}] {bytes} / {total_bytes}  {binary_bytes_per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▉▊▋▌▍▎▏ "),
            );
            b.set_message(what);
            b
        });
        let now = Instant::now();
        Progress {
            what,
            bar,
            plain: Mutex::new((now, now)),
            quiet,
        }
    }

    /// `done` of `total` bytes.
    pub fn update(&self, done: u64, total: u64) {
        if self.quiet {
            return;
        }
        if let Some(b) = &self.bar {
            if b.is_hidden() {
                b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            b.set_length(total);
            b.set_position(done);
            return;
        }
        let Ok(mut t) = self.plain.lock() else { return };
        let (started, last) = *t;
        if last.elapsed() < PLAIN_EVERY || done >= total {
            return;
        }
        *t = (started, Instant::now());
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let eta = (total.saturating_sub(done)) as f64 / rate.max(1.0);
        crate::errln!(
            "{:>9} {} / {} ({:.0} %, {}/s, ETA {:.0} s)",
            self.what,
            human_size(done),
            human_size(total),
            done as f64 * 100.0 / total.max(1) as f64,
            human_size(rate as u64),
            eta.ceil()
        );
    }

    /// The work is over: the bar goes.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
