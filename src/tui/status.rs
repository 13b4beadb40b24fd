//! The status line: what was last said, about which fork (it goes when
//! the fork is stopped or removed), and when it goes stale.

use std::time::Instant;

use super::app::{App, Level, STATUS_ERROR_TTL, STATUS_TTL};

impl App {
    /// Set the status line.
    pub fn say(&mut self, text: impl Into<String>, level: Level) {
        // Messages quote errors, which can quote guest or file contents.
        let text = crate::sanitize::safe_owned(&text.into());
        self.status = Some((text, level));
        self.status_at = Some(Instant::now());
        self.status_about = None;
    }

    /// Set the status line with a message about `fork`: it goes away when
    /// the fork is stopped or removed.
    pub fn say_about(&mut self, fork: &str, text: impl Into<String>, level: Level) {
        self.say(text, level);
        self.status_about = Some(fork.to_string());
    }

    /// When the status message goes stale: info after 5 s, errors after
    /// 15 s. `None` without a message, or with a frozen clock (tests).
    pub fn status_deadline(&self) -> Option<Instant> {
        let (_, level) = self.status.as_ref()?;
        if self.clock.is_frozen() {
            return None;
        }
        let ttl = match level {
            Level::Error => STATUS_ERROR_TTL,
            _ => STATUS_TTL,
        };
        Some(self.status_at? + ttl)
    }

    /// Drop the status message once it is stale.
    pub fn expire_status(&mut self) {
        if self.status_deadline().is_some_and(|d| Instant::now() >= d) {
            self.clear_status();
            self.dirty = true;
        }
    }

    /// Drop the status message.
    pub fn clear_status(&mut self) {
        self.status = None;
        self.status_at = None;
        self.status_about = None;
    }
}
