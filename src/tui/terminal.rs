//! Taking the terminal over and giving it back — on quit, on error, on
//! panic, and around `$EDITOR`.

use std::io::{self, Stdout, stdout};
use std::path::Path;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The real terminal type.
pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Raw mode, alternate screen, mouse and paste capture.
/// On failure, whatever was already switched is switched back.
pub fn enter() -> io::Result<Term> {
    enable_raw_mode()?;
    let rest = execute!(
        stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste
    )
    .and_then(|_| Terminal::new(CrosstermBackend::new(stdout())));
    if rest.is_err() {
        let _ = leave();
    }
    rest
}

/// Undo [`enter`]. Safe to call more than once.
pub fn leave() -> io::Result<()> {
    let raw = disable_raw_mode();
    execute!(
        stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    )?;
    raw
}

/// Restores the terminal when dropped (error returns included).
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = leave();
    }
}

/// Restore the terminal before the default hook prints a panic.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = leave();
        tracing::error!("panic: {info}");
        previous(info);
    }));
}

/// Run `$VISUAL`/`$EDITOR` (else `vi`) on `path` with the terminal handed
/// over, then take it back.
pub fn run_editor(term: &mut Term, path: &Path) -> Result<(), String> {
    hand_over(term, &super::edge::editor(), path)
}

/// Run `$PAGER` (else `less`) on `path` with the terminal handed over,
/// then take it back. A pager shows control characters safely by default
/// (`less` without `-R`); a `$PAGER` that does not is the person's choice.
pub fn run_pager(term: &mut Term, path: &Path) -> Result<(), String> {
    hand_over(term, &super::edge::pager(), path)
}

/// The OSC 52 sequence that puts `text` on the terminal's clipboard.
pub fn osc52(text: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("\x1b]52;c;{b64}\x07")
}

/// Write an OSC 52 sequence (a copy to the terminal's clipboard).
pub fn write_clipboard(text: &str) {
    use std::io::Write;
    let mut out = stdout();
    let _ = out.write_all(osc52(text).as_bytes());
    let _ = out.flush();
}

fn hand_over(term: &mut Term, editor: &str, path: &Path) -> Result<(), String> {
    leave().map_err(|e| format!("cannot release the terminal: {e}"))?;
    // Through the shell so `EDITOR="code --wait"` works; the path is an
    // argument, never part of the script.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("forkmail-editor")
        .arg(path)
        .status();
    let back = enable_raw_mode().and_then(|_| {
        execute!(
            stdout(),
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste,
            Clear(ClearType::All)
        )
    });
    // `Terminal::clear` asks the terminal for the cursor position first and
    // gives up when that query fails; drawing one blank frame instead makes
    // ratatui's previous buffer match the blank screen, so the next frame is
    // drawn in full.
    let _ = term.draw(|f| f.render_widget(ratatui::widgets::Clear, f.area()));
    back.map_err(|e| format!("cannot take the terminal back: {e}"))?;
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{editor} exited with {s}")),
        Err(e) => Err(format!("cannot run {editor}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn osc52_carries_base64() {
        assert_eq!(super::osc52("hi"), "\x1b]52;c;aGk=\x07");
    }
}
