//! The TUI's sections of the config file: `[theme]` (colours by role) and
//! `[keys]` (an action's keys). The config module stores them as written;
//! this module turns them into a [`Palette`] and a [`Keymap`], with errors
//! that name the file's line, and writes their commented defaults.

use super::keymap::{KEYMAP, Keymap, action_id};
use super::theme::{Palette, Theme};
use crate::config::{Config, ConfigError};

/// Check both sections (at start, for every command).
pub fn check(config: &Config) -> Result<(), ConfigError> {
    palette(config)?;
    keymap(config)?;
    Ok(())
}

/// The theme colours with `[theme]` applied.
pub fn palette(config: &Config) -> Result<Palette, ConfigError> {
    let mut p = Palette::default();
    for (role, value) in &config.theme {
        let color = value.get_ref().parse().map_err(|_| {
            config.error_at(
                value.span().start,
                format!(
                    "theme.{role}: {:?} is not a colour (a name like \"cyan\", \"#rrggbb\" or 0-255)",
                    value.get_ref()
                ),
            )
        })?;
        let slot = p.role_mut(role).ok_or_else(|| {
            config.error_at(
                value.span().start,
                format!(
                    "theme.{role}: no such role (roles: {})",
                    Palette::ROLES.join(", ")
                ),
            )
        })?;
        *slot = color;
    }
    Ok(p)
}

/// The TUI theme (colours off under `NO_COLOR`).
pub fn theme(config: &Config) -> Theme {
    Theme::with_palette(palette(config).unwrap_or_default())
}

/// The keymap with `[keys]` applied.
pub fn keymap(config: &Config) -> Result<Keymap, ConfigError> {
    let overrides: Vec<(String, Vec<String>)> = config
        .keys
        .iter()
        .map(|(a, k)| (a.clone(), k.get_ref().clone()))
        .collect();
    Keymap::with_overrides(&overrides).map_err(|e| {
        // Name the line of the setting the error is about.
        let offset = e
            .settings()
            .iter()
            .find_map(|s| config.keys.get(*s))
            .map(|k| k.span().start)
            .unwrap_or(0);
        config.error_at(offset, e.to_string())
    })
}

/// The commented `[theme]` and `[keys]` sections of the default file.
pub fn default_sections() -> String {
    let mut out = String::from(
        "[theme]\n\
         # Colours: a name (red, lightblue, darkgray, ...), \"#rrggbb\" or 0-255.\n\
         # NO_COLOR=1 in the environment turns all colour off.\n",
    );
    let p = Palette::default();
    for (role, c) in [
        ("focus", p.focus),
        ("border", p.border),
        ("header", p.header),
        ("ok", p.ok),
        ("warn", p.warn),
        ("error", p.error),
        ("dim", p.dim),
        ("key", p.key),
    ] {
        out.push_str(&format!("# {role} = \"{}\"\n", color_name(c)));
    }
    out.push_str(
        "\n[keys]\n\
         # An action's keys: `fork = [\"F\"]` wherever the action is bound,\n\
         # `\"main.fork\" = [\"F\"]` in one place only. The defaults, place by place:\n\
         # Keys: \"k\", \"G\", \"?\", \"ctrl-u\", \"enter\", \"esc\", \"tab\", \"backtab\",\n\
         # \"space\", \"up\", \"down\", \"left\", \"right\", \"home\", \"end\", \"pageup\",\n\
         # \"pagedown\", \"delete\". Clashes are refused at start.\n",
    );
    let mut seen = Vec::new();
    for b in KEYMAP {
        let Some(id) = action_id(b.action) else {
            continue;
        };
        let setting = format!("{}.{id}", b.scope.id());
        if seen.contains(&setting) {
            continue;
        }
        seen.push(setting.clone());
        let keys: Vec<String> = b.keys.iter().map(|k| format!("{k:?}")).collect();
        let line = format!("\"{setting}\" = [{}]", keys.join(", "));
        out.push_str(&format!("# {line:<46}  # {}\n", b.desc));
    }
    out
}

fn color_name(c: ratatui::style::Color) -> String {
    use ratatui::style::Color::*;
    match c {
        Cyan => "cyan".into(),
        DarkGray => "darkgray".into(),
        Yellow => "yellow".into(),
        Green => "green".into(),
        Red => "red".into(),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let c = Config::parse(text, Path::new("/c/config.toml"))?;
        check(&c)?;
        Ok(c)
    }

    #[test]
    fn the_default_file_parses_and_says_every_action() {
        let text = format!("{}{}", crate::config::default_text(), default_sections());
        let c = parse(&text).expect("default config");
        assert!(c.keys.is_empty() && c.theme.is_empty());
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = ") && !r.contains('`'))
                    .unwrap_or(l)
            })
            .map(|l| l.split("  #").next().unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let c = parse(&uncommented).expect("every default spelled out");
        assert_eq!(c.ack_timeout_ms(), Some(5000));
        assert_eq!(palette(&c).expect("palette"), Palette::default());
        assert!(c.keys.contains_key("main.fork") && c.keys.contains_key("sessions.replay"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("[fork]\nack_timeout_ms = 5000\n\n[theme]\nfocus = \"chartreuse-ish\"\n")
            .expect_err("bad colour");
        assert_eq!(e.line, Some(5), "{e}");
        let e = parse("[keys]\nfork = [\"f\"]\nnot-an-action = [\"z\"]\n").expect_err("unknown");
        assert_eq!(e.line, Some(3), "{e}");
        let e = parse("[keys]\nfork = [\"j\"]\n").expect_err("clash");
        assert!(e.to_string().contains("would mean both"), "{e}");
    }

    #[test]
    fn overrides_apply() {
        let c = parse("[keys]\nfork = [\"F\"]\n[theme]\nfocus = \"#102030\"\n").expect("config");
        let k = keymap(&c).expect("keymap");
        use crate::tui::action::Action;
        use crate::tui::keymap::Place;
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let f = KeyEvent::new(KeyCode::Char('F'), KeyModifiers::SHIFT);
        assert_eq!(k.action(Place::Markers, f), Some(Action::Fork));
        let f = KeyEvent::new(KeyCode::Char('f'), KeyModifiers::NONE);
        assert_eq!(k.action(Place::Markers, f), None);
        assert_eq!(
            palette(&c).expect("p").focus,
            ratatui::style::Color::Rgb(16, 32, 48)
        );
        let _ = PathBuf::new();
    }
}
