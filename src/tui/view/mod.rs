//! Drawing: one file per screen or pane, all pure functions of [`App`].

mod dialog;
mod editor;
mod fanout;
mod forks;
mod help;
mod library;
mod logview;
mod markers;
mod sessions;
mod snapshots;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};
use time::OffsetDateTime;

use super::app::{App, Mode, Pane, Screen};
use super::widget;

pub use help::help_lines;

/// Spinner frames.
pub const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

/// The smallest terminal the TUI draws in (columns, rows).
pub const MIN_SIZE: (u16, u16) = (60, 16);

/// Whether `area` is too small to draw the TUI in.
pub fn too_small(area: Rect) -> bool {
    area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1
}

struct Chrome {
    tabs: Rect,
    body: Rect,
    status: Rect,
    hints: Rect,
}

fn chrome(area: Rect) -> Chrome {
    let [tabs, body, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Chrome {
        tabs,
        body,
        status,
        hints,
    }
}

/// Where each pane of the current screen is drawn (also used for mouse hits).
pub fn pane_areas(app: &App, area: Rect) -> Vec<(Pane, Rect)> {
    let body = chrome(area).body;
    if too_small(area) || app.log_view.is_some() {
        return Vec::new();
    }
    match app.screen {
        Screen::Main if app.zoom => vec![(Pane::Editor, body)],
        Screen::Main => {
            let snaps = app.catalog.rows().len() as u16;
            let most = (body.height * 2 / 5).max(5);
            let snap_h = (snaps + 3).clamp(5, most);
            let markers = markers::wanted_height(app);
            let marker_h = markers.clamp(5, (body.height * 2 / 5).max(5));
            let [a, b, c] = Layout::vertical([
                Constraint::Length(snap_h),
                Constraint::Length(marker_h),
                Constraint::Min(5),
            ])
            .areas(body);
            vec![(Pane::Snapshots, a), (Pane::Markers, b), (Pane::Editor, c)]
        }
        Screen::Sessions => {
            let w = (body.width / 3).clamp(20, 34);
            let [a, b] =
                Layout::horizontal([Constraint::Length(w), Constraint::Min(0)]).areas(body);
            vec![(Pane::SessionList, a), (Pane::SessionDetail, b)]
        }
        Screen::Forks => {
            let rows = app.forks.visible().len() as u16;
            let h = (rows + 3).clamp(5, (body.height / 2).max(5));
            let [a, b] = Layout::vertical([Constraint::Length(h), Constraint::Min(0)]).areas(body);
            vec![(Pane::ForkList, a), (Pane::ForkDetail, b)]
        }
    }
}

/// A pane's bordered block, highlighted when focused.
pub fn pane_block<'a>(app: &App, pane: Pane, title: String) -> Block<'a> {
    let focused = app.focus == pane;
    let (style, border) = if focused {
        (app.theme.focus(), BorderType::Thick)
    } else {
        (app.theme.border(), BorderType::Plain)
    };
    let marker = if focused { "▸" } else { " " };
    Block::default()
        .borders(Borders::ALL)
        .border_type(border)
        .border_style(style)
        .title(format!("{marker}{title} "))
}

/// Draw the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if too_small(area) {
        let (w, h) = MIN_SIZE;
        let text = format!(
            "terminal too small (need {w}×{h}, have {}×{}): make it larger, or q quits",
            area.width, area.height
        );
        f.render_widget(
            Paragraph::new(Line::styled(text, app.theme.warn())).wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let c = chrome(area);
    widget::tabs::draw(f, c.tabs, app);
    if let Some(v) = &app.log_view {
        logview::draw(f, c.body, app, v);
    }
    for (pane, rect) in pane_areas(app, area) {
        match pane {
            Pane::Snapshots => snapshots::draw(f, rect, app),
            Pane::Markers => markers::draw(f, rect, app),
            Pane::Editor => editor::draw(f, rect, app),
            Pane::SessionList => sessions::draw_list(f, rect, app),
            Pane::SessionDetail => sessions::draw_detail(f, rect, app),
            Pane::ForkList => forks::draw_list(f, rect, app),
            Pane::ForkDetail => forks::draw_detail(f, rect, app),
        }
    }
    widget::status::draw(f, c.status, app);
    widget::hints::draw(f, c.hints, app);
    if let Some(l) = &app.library {
        library::draw(f, area, app, l);
    }
    if app.dialog.is_some() {
        dialog::draw(f, area, app);
    }
    if app.mode == Mode::Help {
        help::draw(f, area, app);
    }
}

/// The rows of a `len`-row table with a one-line header that are drawn in
/// `height` lines (borders excluded) when row `sel` is selected, as
/// `start..end`, and the selection within them: exactly what a ratatui
/// `Table` with a fresh state shows, without building the other rows (a list
/// of 10,000 snapshots must not cost 10,000 rows per frame).
pub fn window(len: usize, sel: usize, height: u16) -> (std::ops::Range<usize>, usize) {
    let shown = usize::from(height.saturating_sub(1)).max(1);
    let sel = sel.min(len.saturating_sub(1));
    let start = (sel + 1).saturating_sub(shown);
    (start..(start + shown).min(len), sel - start)
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
pub fn rate_eta(rate: f64, eta: Option<f64>) -> String {
    let r = format!("{}/s", crate::units::human_size(rate as u64));
    match eta {
        Some(s) if s >= 1.0 => format!("{r} · ETA {:.0} s", s.ceil()),
        Some(_) => format!("{r} · ETA <1 s"),
        None => r,
    }
}

/// Cut `s` to `max` characters, ending with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::widgets::{Block, Borders, Row, Table, TableState};

    use super::window;

    /// Draw `len` rows the way ratatui does (every row, a fresh state) and
    /// the windowed way; the screens must be the same.
    fn screens(len: usize, sel: usize, height: u16) -> (String, String) {
        let draw = |rows: Vec<Row<'static>>, selected: usize| {
            let mut t = Terminal::new(TestBackend::new(20, height + 2)).expect("terminal");
            t.draw(|f| {
                let table = Table::new(rows, [ratatui::layout::Constraint::Min(5)])
                    .header(Row::new(["H"]))
                    .block(Block::default().borders(Borders::ALL))
                    .highlight_symbol("> ");
                let mut state = TableState::default().with_selected(Some(selected));
                f.render_stateful_widget(table, f.area(), &mut state);
            })
            .expect("draw");
            format!("{:?}", t.backend().buffer())
        };
        let row = |i: usize| Row::new([format!("row {i}")]);
        let full = draw((0..len).map(row).collect(), sel);
        let (shown, at) = window(len, sel, height);
        let windowed = draw(shown.map(row).collect(), at);
        (full, windowed)
    }

    #[test]
    fn a_window_draws_what_the_whole_table_draws() {
        for len in [1usize, 2, 5, 57, 58, 200] {
            for height in [1, 2, 3, 10, 58] {
                for sel in [0, 1, len / 2, len.saturating_sub(2), len - 1] {
                    let (full, windowed) = screens(len, sel, height);
                    assert_eq!(full, windowed, "len {len} sel {sel} height {height}");
                }
            }
        }
    }
}
