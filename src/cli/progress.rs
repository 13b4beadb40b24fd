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

/// The bar's look: what, bar, bytes, throughput and ETA.
const BAR_TEMPLATE: &str =
    "{msg:>9} [{bar:30}] {bytes} / {total_bytes}  {binary_bytes_per_sec}  ETA {eta}";

/// A hidden bar for `what` (drawn once work is reported).
fn bar(what: &'static str) -> ProgressBar {
    let b = ProgressBar::hidden();
    b.set_style(
        ProgressStyle::with_template(BAR_TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("█▉▊▋▌▍▎▏ "),
    );
    b.set_message(what);
    b
}

/// One plain progress line: `done` of `total` bytes `elapsed` into the
/// work, with the throughput so far and the time left at that rate.
fn plain_line(what: &str, done: u64, total: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = done as f64 / secs;
    let eta = (total.saturating_sub(done)) as f64 / rate.max(1.0);
    // Display only; a float-to-integer `as` saturates and drops the fraction.
    #[allow(clippy::cast_possible_truncation)]
    let per_second = rate as u64;
    format!(
        "{:>9} {} / {} ({:.0} %, {}/s, ETA {:.0} s)",
        what,
        human_size(done),
        human_size(total),
        done as f64 * 100.0 / total.max(1) as f64,
        human_size(per_second),
        eta.ceil()
    )
}

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
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| bar(what));
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
        crate::errln!("{}", plain_line(self.what, done, total, started.elapsed()));
    }

    /// The work is over: the bar goes.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_says_how_far_how_fast_and_how_long_still() {
        let line = plain_line("copy", 256 << 20, 1 << 30, Duration::from_secs(2));
        assert_eq!(
            line.trim_start(),
            "copy 256.0 MiB / 1.0 GiB (25 %, 128.0 MiB/s, ETA 6 s)"
        );
        // Nothing done yet: no division by zero, an ETA that is a number.
        let line = plain_line("scan", 0, 1 << 20, Duration::ZERO);
        assert!(line.contains("(0 %, 0 B/s, ETA "), "{line}");
    }

    /// A terminal in memory: what indicatif draws, line by line.
    #[derive(Debug, Default)]
    struct Screen(std::sync::Mutex<Vec<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if let Ok(mut v) = self.0.lock()
                && !s.is_empty()
            {
                v.push(s.to_string());
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_terminal_bar_shows_bytes_throughput_and_eta() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
        let screen = std::sync::Arc::new(Screen::default());
        let b = bar("copy");
        b.set_draw_target(indicatif::ProgressDrawTarget::term_like(Box::new(
            SharedScreen(std::sync::Arc::clone(&screen)),
        )));
        b.set_length(1 << 30);
        b.set_position(256 << 20);
        b.tick();
        let drawn = screen.0.lock().map(|v| v.join("\n")).unwrap_or_default();
        let last = drawn
            .lines()
            .rfind(|l| l.trim_start().starts_with("copy ["))
            .unwrap_or_else(|| panic!("no bar drawn: {drawn:?}"));
        for want in ["256.00 MiB / 1.00 GiB", "/s", "ETA "] {
            assert!(last.contains(want), "{want:?} in {last:?}");
        }
    }

    /// The screen, shared with the test that reads it.
    #[derive(Debug)]
    struct SharedScreen(std::sync::Arc<Screen>);

    impl indicatif::TermLike for SharedScreen {
        fn width(&self) -> u16 {
            self.0.width()
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.0.move_cursor_up(n)
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.0.move_cursor_down(n)
        }
        fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
            self.0.move_cursor_right(n)
        }
        fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
            self.0.move_cursor_left(n)
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.0.write_line(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.write_str(s)
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.0.clear_line()
        }
        fn flush(&self) -> std::io::Result<()> {
            self.0.flush()
        }
    }
}
