//! The status line and the message log behind it: what was last said,
//! about which fork (the message goes when the fork stops or is removed),
//! when it goes stale — and every message said, kept whole (the status
//! line cuts long ones; the log, opened with `m`, does not).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::action::Level;

/// How long an info message stays in the status line.
pub const STATUS_TTL: Duration = Duration::from_secs(5);
/// How long an error stays in the status line.
pub const STATUS_ERROR_TTL: Duration = Duration::from_secs(15);
/// Messages the log keeps (the oldest go).
pub const LOG_LEN: usize = 500;

/// One message as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// When it was said (local time, `HH:MM:SS`).
    pub at: String,
    /// How it was said.
    pub level: Level,
    /// What (sanitized, whole).
    pub text: String,
}

/// The status line's message and the log of every message.
#[derive(Debug, Default)]
pub struct StatusLine {
    current: Option<(String, Level)>,
    said_at: Option<Instant>,
    about: Option<String>,
    log: VecDeque<Logged>,
}

impl StatusLine {
    /// Say `text` (sanitized here: messages quote errors, which can quote
    /// guest or file contents), logged at wall-clock time `at`.
    pub fn say(&mut self, text: &str, level: Level, at: String, now: Instant) {
        let text = crate::sanitize::safe_owned(text);
        self.log.push_back(Logged {
            at,
            level,
            text: text.clone(),
        });
        while self.log.len() > LOG_LEN {
            self.log.pop_front();
        }
        self.current = Some((text, level));
        self.said_at = Some(now);
        self.about = None;
    }

    /// Show `text` in the status line without logging it (a passing hint:
    /// a chord's first key).
    pub fn hint(&mut self, text: &str, now: Instant) {
        self.current = Some((crate::sanitize::safe_owned(text), Level::Info));
        self.said_at = Some(now);
        self.about = None;
    }

    /// The message is about fork `fork`: it goes when the fork does.
    pub fn about(&mut self, fork: &str) {
        self.about = Some(fork.to_string());
    }

    /// The fork the message is about.
    pub fn about_fork(&self) -> Option<&str> {
        self.about.as_deref()
    }

    /// The message shown, if any.
    pub fn current(&self) -> Option<(&str, Level)> {
        self.current.as_ref().map(|(t, l)| (t.as_str(), *l))
    }

    /// When the message goes stale: info after 5 s, errors after 15 s.
    pub fn deadline(&self) -> Option<Instant> {
        let (_, level) = self.current.as_ref()?;
        let ttl = match level {
            Level::Error => STATUS_ERROR_TTL,
            _ => STATUS_TTL,
        };
        Some(self.said_at? + ttl)
    }

    /// Drop the message (the log keeps it).
    pub fn clear(&mut self) {
        self.current = None;
        self.said_at = None;
        self.about = None;
    }

    /// Every message said, oldest first.
    pub fn log(&self) -> impl DoubleEndedIterator<Item = &Logged> + ExactSizeIterator {
        self.log.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_whole_messages_after_the_line_clears() {
        let mut s = StatusLine::default();
        let long = "x".repeat(400);
        s.say(&long, Level::Error, "00:00:01".into(), Instant::now());
        s.say(
            "next\x1b[2J",
            Level::Info,
            "00:00:02".into(),
            Instant::now(),
        );
        s.clear();
        assert!(s.current().is_none());
        let log: Vec<&Logged> = s.log().collect();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].text, long);
        assert!(!log[1].text.contains('\x1b'), "sanitized");
        for _ in 0..LOG_LEN + 3 {
            s.say("n", Level::Info, String::new(), Instant::now());
        }
        assert_eq!(s.log().len(), LOG_LEN);
    }
}
