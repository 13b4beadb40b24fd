//! Text for narrow terminals: cutting at the end or in the middle (so what
//! tells rows apart survives), ages, rates, durations in one format, and
//! the rows of a long table actually drawn.

use time::OffsetDateTime;

/// `n` as a terminal dimension (saturating: a terminal is never that big).
pub fn u16_of(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// The number of characters of `s` (what a cell count is, for the text
/// the TUI draws: sanitized, no wide characters but the glyphs it uses).
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// Cut `s` to `max` characters, ending with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Cut `s` to `max` characters in the middle, keeping its start and its
/// end (a fork's index, `web-c6…-7`): the last `-part` stays whole when it
/// is short, else a third of the room goes to the end.
pub fn clip_middle(s: &str, max: usize) -> String {
    let n = width(s);
    if n <= max {
        return s.to_string();
    }
    if max < 4 {
        return clip(s, max);
    }
    let room = max - 1;
    let last = s.rfind('-').map(|i| width(&s[i..])).unwrap_or(usize::MAX);
    let tail = if last <= room / 2 {
        last
    } else {
        (room / 3).max(1)
    };
    let head = room - tail;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// `text` wrapped at word boundaries into lines of at most `width`
/// characters (a word longer than a line is cut into pieces).
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let n = width(&line);
            let w = width(&word);
            let sep = usize::from(n > 0);
            if n + sep + w <= max {
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if n > 0 {
                out.push(std::mem::take(&mut line));
                continue;
            }
            let head: String = word.chars().take(max).collect();
            word = word.chars().skip(max).collect();
            out.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// A deadline or a timeout as people read it, one format everywhere:
/// `5.0 s`.
pub fn secs(ms: u64) -> String {
    format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
}

/// Seconds from an RFC 3339 timestamp to `now` (0 for the future).
pub fn age_seconds(created_at: &str, now: OffsetDateTime) -> Option<i64> {
    let t =
        OffsetDateTime::parse(created_at, &time::format_description::well_known::Rfc3339).ok()?;
    Some((now - t).whole_seconds().max(0))
}

/// Age of an RFC 3339 timestamp relative to `now`: `45s`, `12m`, `3h`, `2d`.
pub fn age(created_at: &str, now: OffsetDateTime) -> String {
    let Some(s) = age_seconds(created_at, now) else {
        return "?".into();
    };
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Bytes per second and the time left, for people: `512.0 MiB/s · ETA 3 s`.
pub fn rate_eta(bytes_per_s: u64, eta_s: Option<u64>) -> String {
    let r = format!("{}/s", crate::units::human_size(bytes_per_s));
    match eta_s {
        Some(0) => format!("{r} · ETA <1 s"),
        Some(s) => format!("{r} · ETA {s} s"),
        None => r,
    }
}

/// Rate and time left of `done` of `total` bytes after `ms` milliseconds
/// (`None` before anything was done).
pub fn progress_rate(done: u64, total: u64, ms: u64) -> Option<(u64, Option<u64>)> {
    if ms == 0 || done == 0 {
        return None;
    }
    let rate = done.saturating_mul(1000) / ms;
    let eta = (done < total).then(|| (total - done).div_ceil(rate.max(1)));
    Some((rate, eta))
}

/// The rows of a `len`-row table with a one-line header that are drawn in
/// `height` lines (borders excluded) when row `sel` is selected, as
/// `start..end`, and the selection within them: exactly what a ratatui
/// `Table` with a fresh state shows, without building the other rows (a
/// list of 10,000 snapshots must not cost 10,000 rows per frame).
pub fn window(len: usize, sel: usize, height: u16) -> (std::ops::Range<usize>, usize) {
    let shown = usize::from(height.saturating_sub(1)).max(1);
    let sel = sel.min(len.saturating_sub(1));
    let start = (sel + 1).saturating_sub(shown);
    (start..(start + shown).min(len), sel - start)
}

/// A selection of `len` rows moved by `action` (`page` rows a page).
pub fn step(action: crate::tui::action::Action, sel: usize, len: usize, page: usize) -> usize {
    use crate::tui::action::Action;
    if len == 0 {
        return 0;
    }
    match action {
        Action::Up => sel.saturating_sub(1),
        Action::Down => (sel + 1).min(len - 1),
        Action::Top => 0,
        Action::Bottom => len - 1,
        Action::PageUp => sel.saturating_sub(page),
        Action::PageDown => (sel + page).min(len - 1),
        _ => sel,
    }
}

/// Whether `names` pass `filter` (case-insensitive substring; empty passes).
pub fn passes(filter: &str, names: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    names.iter().any(|n| n.to_lowercase().contains(&f))
}

/// Natural order of names: `fan-2` before `fan-10`.
pub fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    alphanumeric_sort::compare_str(a, b)
}

/// A list's title with its count, the same shape on every pane: `Forks
/// (12)`, filtered `Forks (3 of 12, filter "web")`.
pub fn counted(name: &str, shown: usize, all: usize, filter: &str) -> String {
    if filter.is_empty() {
        format!("{name} ({all})")
    } else {
        format!(
            "{name} ({shown} of {all}, filter \"{}\")",
            crate::sanitize::safe(filter)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_cut_in_the_middle_keeps_what_tells_it_apart() {
        assert_eq!(clip_middle("web-c63961-7", 9), "web-c6…-7");
        assert_eq!(clip_middle("web-c63961-17", 9), "web-c…-17");
        assert_eq!(clip_middle("short", 9), "short");
        assert_eq!(clip_middle("averyveryverylongname", 10), "averyv…ame");
        for max in 4..14 {
            assert_eq!(width(&clip_middle("web-c63961-7", max)), max.min(12));
        }
    }

    #[test]
    fn text_wraps_at_words_and_cuts_long_ones() {
        assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("", 3), vec![""]);
    }

    #[test]
    fn deadlines_read_the_same_everywhere() {
        assert_eq!(secs(5000), "5.0 s");
        assert_eq!(secs(2500), "2.5 s");
        assert_eq!(secs(30_000), "30.0 s");
    }

    #[test]
    fn names_sort_naturally() {
        let mut v = vec!["fan-10", "fan-2", "fan-1", "alpha"];
        v.sort_by(|a, b| natural(a, b));
        assert_eq!(v, ["alpha", "fan-1", "fan-2", "fan-10"]);
    }

    #[test]
    fn filters_are_case_insensitive_substrings() {
        assert!(passes("", &["x"]));
        assert!(passes("WE", &["web"]));
        assert!(!passes("zz", &["web", "edge"]));
    }

    #[test]
    fn rates_need_time_and_bytes() {
        assert_eq!(progress_rate(0, 10, 5), None);
        assert_eq!(progress_rate(500, 1000, 1000), Some((500, Some(1))));
        assert_eq!(progress_rate(1000, 1000, 1000), Some((1000, None)));
        // 1 GiB of 4 GiB in 4 s: 256 MiB/s, 12 s to go.
        let (rate, eta) = progress_rate(1 << 30, 4 << 30, 4000).expect("a rate");
        assert_eq!(rate_eta(rate, eta), "256.0 MiB/s · ETA 12 s");
    }
}
