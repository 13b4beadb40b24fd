//! Time as the TUI shows it: a clock frozen in tests so screens are
//! stable, and local time for people.

use std::time::Instant;

use time::OffsetDateTime;

/// Wall and monotonic time, frozen in tests so screens are stable.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    frozen: Option<(Instant, OffsetDateTime)>,
    /// The local time zone's offset (UTC when unknown, and in tests).
    pub local: time::UtcOffset,
}

impl Clock {
    /// The real clock.
    pub fn system() -> Clock {
        Clock {
            frozen: None,
            local: time::UtcOffset::UTC,
        }
    }
    /// The real clock showing times in the `local` offset (found once, at
    /// start, while the process has one thread: [`local_offset`]).
    pub fn system_local(local: time::UtcOffset) -> Clock {
        Clock {
            frozen: None,
            local,
        }
    }
    /// A clock stopped at `at`.
    pub fn frozen(at: OffsetDateTime) -> Clock {
        Clock {
            frozen: Some((Instant::now(), at)),
            local: time::UtcOffset::UTC,
        }
    }
    /// Whether time stands still (tests).
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }
    /// Monotonic now.
    pub fn instant(&self) -> Instant {
        self.frozen.map(|f| f.0).unwrap_or_else(Instant::now)
    }
    /// Wall-clock now.
    pub fn now(&self) -> OffsetDateTime {
        self.frozen
            .map(|f| f.1)
            .unwrap_or_else(OffsetDateTime::now_utc)
    }
    /// An RFC 3339 time as people read it: local time to the second
    /// (`2026-01-01 00:05:00`); the text itself when it does not parse.
    pub fn human(&self, rfc3339: &str) -> String {
        let fmt =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .ok()
            .and_then(|t| t.to_offset(self.local).format(&fmt).ok())
            .unwrap_or_else(|| crate::sanitize::safe_owned(rfc3339))
    }
}

/// The local time zone's offset, UTC when it cannot be known. Call it
/// before any thread starts: `time` refuses to read the zone afterwards.
pub fn local_offset() -> time::UtcOffset {
    time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC)
}
