//! Key handling as plain functions: key → action, no terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::tui::app::{Action, Mode, Pane, Screen};

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}
fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}
fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}
fn normal(screen: Screen, pane: Pane, k: KeyEvent) -> Option<Action> {
    map_key(Mode::Normal, screen, pane, k)
}

const MAIN_PANES: [Pane; 3] = [Pane::Snapshots, Pane::Markers, Pane::Editor];

#[test]
fn vim_keys_and_arrows_both_move() {
    for pane in [
        Pane::Snapshots,
        Pane::Markers,
        Pane::SessionList,
        Pane::ForkList,
    ] {
        let s = pane.screen();
        assert_eq!(normal(s, pane, key('j')), Some(Action::Down));
        assert_eq!(normal(s, pane, code(KeyCode::Down)), Some(Action::Down));
        assert_eq!(normal(s, pane, key('k')), Some(Action::Up));
        assert_eq!(normal(s, pane, code(KeyCode::Up)), Some(Action::Up));
        assert_eq!(normal(s, pane, key('g')), Some(Action::Top));
        assert_eq!(
            normal(
                s,
                pane,
                KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)
            ),
            Some(Action::Bottom)
        );
    }
}

#[test]
fn tab_moves_between_panes() {
    assert_eq!(
        normal(Screen::Main, Pane::Snapshots, code(KeyCode::Tab)),
        Some(Action::NextPane)
    );
    assert_eq!(
        normal(Screen::Forks, Pane::ForkList, code(KeyCode::BackTab)),
        Some(Action::PrevPane)
    );
}

#[test]
fn question_mark_opens_help_and_any_key_closes_it() {
    assert_eq!(
        normal(Screen::Main, Pane::Markers, key('?')),
        Some(Action::ToggleHelp)
    );
    let m = |k| map_key(Mode::Help, Screen::Main, Pane::Snapshots, k);
    assert_eq!(m(key('?')), Some(Action::ToggleHelp));
    assert_eq!(m(code(KeyCode::Esc)), Some(Action::ToggleHelp));
    assert_eq!(m(key('z')), Some(Action::ToggleHelp));
    assert_eq!(m(key('j')), Some(Action::Down));
}

#[test]
fn q_quits_in_normal_mode_but_types_in_text_fields() {
    assert_eq!(
        normal(Screen::Main, Pane::Snapshots, key('q')),
        Some(Action::Quit)
    );
    for mode in [Mode::Editing, Mode::Filter, Mode::ForkName] {
        assert_eq!(
            map_key(mode, Screen::Main, Pane::Editor, key('q')),
            Some(Action::Text(key('q')))
        );
    }
}

#[test]
fn ctrl_c_quits_in_every_mode() {
    for mode in [
        Mode::Normal,
        Mode::Editing,
        Mode::Filter,
        Mode::Confirm,
        Mode::ForkName,
        Mode::Help,
    ] {
        assert_eq!(
            map_key(mode, Screen::Main, Pane::Editor, ctrl('c')),
            Some(Action::Quit)
        );
    }
}

#[test]
fn slash_filters_snapshots_and_filter_prompt_takes_text() {
    assert_eq!(
        normal(Screen::Main, Pane::Snapshots, key('/')),
        Some(Action::StartFilter)
    );
    let f = |k| map_key(Mode::Filter, Screen::Main, Pane::Snapshots, k);
    assert_eq!(f(key('w')), Some(Action::Text(key('w'))));
    assert_eq!(f(code(KeyCode::Enter)), Some(Action::FilterDone));
    assert_eq!(f(code(KeyCode::Esc)), Some(Action::FilterCancel));
}

#[test]
fn o_opens_a_memory_file_by_path_in_the_snapshots_pane() {
    assert_eq!(
        normal(Screen::Main, Pane::Snapshots, key('o')),
        Some(Action::OpenPath)
    );
    assert_eq!(normal(Screen::Main, Pane::Markers, key('o')), None);
    assert_eq!(normal(Screen::Forks, Pane::ForkList, key('o')), None);
}

#[test]
fn marker_keys_reveal_tokens_and_toggle_mailbox_settings() {
    let m = |c| normal(Screen::Main, Pane::Markers, key(c));
    assert_eq!(m('t'), Some(Action::RevealTokens));
    assert_eq!(m(' '), Some(Action::ToggleInclude));
    assert_eq!(m('a'), Some(Action::ToggleAck));
    assert_eq!(m('+'), Some(Action::TimeoutUp));
    assert_eq!(m('-'), Some(Action::TimeoutDown));
    assert_eq!(m('i'), Some(Action::StartEdit));
}

#[test]
fn editor_keys_format_and_hand_off_to_editor() {
    let e = |c| normal(Screen::Main, Pane::Editor, key(c));
    assert_eq!(e('p'), Some(Action::Pretty));
    assert_eq!(e('c'), Some(Action::Compact));
    assert_eq!(e('e'), Some(Action::ExternalEditor));
    let typing = |k| map_key(Mode::Editing, Screen::Main, Pane::Editor, k);
    assert_eq!(typing(code(KeyCode::Esc)), Some(Action::StopEdit));
    assert_eq!(typing(ctrl('p')), Some(Action::Pretty));
    assert_eq!(typing(key('p')), Some(Action::Text(key('p'))));
    assert_eq!(
        typing(code(KeyCode::Tab)),
        Some(Action::Text(code(KeyCode::Tab)))
    );
}

#[test]
fn f_forks_from_any_main_pane_only() {
    for pane in MAIN_PANES {
        assert_eq!(normal(Screen::Main, pane, key('f')), Some(Action::Fork));
    }
    assert_eq!(normal(Screen::Sessions, Pane::SessionList, key('f')), None);
}

#[test]
fn dangerous_keys_are_flagged_and_confirmed() {
    assert_eq!(
        normal(Screen::Forks, Pane::ForkList, key('d')),
        Some(Action::RemoveFork)
    );
    assert_eq!(
        normal(Screen::Forks, Pane::ForkList, key('s')),
        Some(Action::StopFork)
    );
    assert_eq!(
        normal(Screen::Sessions, Pane::SessionList, key('x')),
        Some(Action::CancelSession)
    );
    for a in [Action::RemoveFork, Action::StopFork, Action::CancelSession] {
        assert!(KEYMAP.iter().filter(|b| b.action == a).all(|b| b.dangerous));
    }
    let c = |k| map_key(Mode::Confirm, Screen::Forks, Pane::ForkList, k);
    assert_eq!(c(key('y')), Some(Action::Confirm));
    assert_eq!(c(key('n')), Some(Action::Cancel));
    assert_eq!(c(key('d')), None);
}

#[test]
fn fork_dialog_types_the_name_and_enter_starts() {
    let d = |k| map_key(Mode::ForkName, Screen::Main, Pane::Snapshots, k);
    assert_eq!(d(key('y')), Some(Action::Text(key('y'))));
    assert_eq!(d(code(KeyCode::Enter)), Some(Action::Confirm));
    assert_eq!(d(code(KeyCode::Esc)), Some(Action::Cancel));
}

#[test]
fn every_key_name_in_the_table_parses() {
    for b in KEYMAP {
        for k in b.keys {
            assert!(parse_key(k).is_some(), "{k:?} in {:?}", b.scope);
        }
    }
}

#[test]
fn no_key_is_bound_twice_in_one_scope() {
    for (i, a) in KEYMAP.iter().enumerate() {
        for b in &KEYMAP[i + 1..] {
            if a.scope != b.scope {
                continue;
            }
            for k in a.keys {
                assert!(
                    !b.keys.contains(k),
                    "{k:?} bound to {:?} and {:?} in {:?}",
                    a.action,
                    b.action,
                    a.scope
                );
            }
        }
    }
}

#[test]
fn hint_bar_starts_with_help() {
    let h = hints(Mode::Normal, Screen::Main, Pane::Markers);
    assert_eq!(h.first().map(|b| b.action), Some(Action::ToggleHelp));
    assert!(h.iter().any(|b| b.action == Action::RevealTokens));
}

/// docs/tui.md's key list is generated from the table: between its
/// `keys:begin` and `keys:end` markers it must be `markdown()`. Run with
/// `FORKMAIL_BLESS_DOCS=1` to regenerate it.
#[test]
fn docs_list_every_key_of_the_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tui.md");
    let docs = std::fs::read_to_string(path).unwrap_or_default();
    let (begin, end) = ("<!-- keys:begin -->\n", "<!-- keys:end -->");
    let (Some(a), Some(b)) = (docs.find(begin), docs.find(end)) else {
        panic!("docs/tui.md lacks the {begin:?} and {end:?} markers");
    };
    let want = markdown();
    let have = &docs[a + begin.len()..b];
    if have == want {
        return;
    }
    if std::env::var_os("FORKMAIL_BLESS_DOCS").is_some() {
        let new = format!("{}{want}{}", &docs[..a + begin.len()], &docs[b..]);
        std::fs::write(path, new).expect("write docs/tui.md");
        return;
    }
    panic!(
        "docs/tui.md's key list is out of date: run FORKMAIL_BLESS_DOCS=1 cargo test --lib docs_list"
    );
}

#[test]
fn undo_redo_and_paging_do_not_share_keys_while_typing() {
    let typing = |k| map_key(Mode::Editing, Screen::Main, Pane::Editor, k);
    assert_eq!(typing(ctrl('z')), Some(Action::Undo));
    assert_eq!(typing(ctrl('y')), Some(Action::Redo));
    assert_eq!(typing(ctrl('u')), Some(Action::PageUp));
    assert_eq!(typing(ctrl('d')), Some(Action::PageDown));
    assert_eq!(typing(ctrl('f')), Some(Action::Zoom));
    // Help lists undo and redo where typing is described.
    let md = markdown();
    assert!(
        md.contains("| `^z` | undo |") && md.contains("| `^y` | redo |"),
        "{md}"
    );
}

#[test]
fn sessions_replay_and_open_the_log_and_every_list_filters() {
    assert_eq!(
        normal(Screen::Sessions, Pane::SessionList, key('r')),
        Some(Action::Replay)
    );
    assert_eq!(
        normal(Screen::Sessions, Pane::SessionList, code(KeyCode::Enter)),
        Some(Action::OpenLog)
    );
    assert_eq!(
        normal(Screen::Forks, Pane::ForkList, key('l')),
        Some(Action::OpenLog)
    );
    for pane in [
        Pane::Snapshots,
        Pane::Markers,
        Pane::SessionList,
        Pane::ForkList,
    ] {
        assert_eq!(
            normal(pane.screen(), pane, key('/')),
            Some(Action::StartFilter)
        );
        assert_eq!(normal(pane.screen(), pane, key('y')), Some(Action::Copy));
    }
    assert_eq!(
        normal(Screen::Main, Pane::Editor, key('z')),
        Some(Action::Zoom)
    );
}

#[test]
fn the_log_viewer_has_its_own_keys() {
    let v = |k| map_key(Mode::LogView, Screen::Sessions, Pane::SessionDetail, k);
    assert_eq!(
        v(key('q')),
        Some(Action::Cancel),
        "q closes the log, not the app"
    );
    assert_eq!(v(key('/')), Some(Action::StartFilter));
    assert_eq!(v(key('n')), Some(Action::NextMatch));
    assert_eq!(v(key('w')), Some(Action::ToggleWrap));
    assert_eq!(v(key('o')), Some(Action::Pager));
    assert_eq!(v(key('z')), None);
}

#[test]
fn the_fork_dialog_moves_between_fields_and_types_elsewhere() {
    let d = |k| map_key(Mode::ForkName, Screen::Main, Pane::Markers, k);
    assert_eq!(d(code(KeyCode::Tab)), Some(Action::NextField));
    assert_eq!(d(code(KeyCode::Down)), Some(Action::NextField));
    assert_eq!(d(key(' ')), Some(Action::ToggleInclude));
    assert_eq!(d(key('x')), Some(Action::Text(key('x'))));
}

#[test]
fn scoped_overrides_change_one_place_and_clashes_are_refused() {
    let k =
        Keymap::with_overrides(&[("sessions.open-log".into(), vec!["v".into()])]).expect("keymap");
    assert_eq!(
        k.map_key(Mode::Normal, Screen::Sessions, Pane::SessionList, key('v')),
        Some(Action::OpenLog)
    );
    assert_eq!(
        k.map_key(Mode::Normal, Screen::Forks, Pane::ForkList, key('l')),
        Some(Action::OpenLog)
    );
    let e = Keymap::with_overrides(&[("forks.open-log".into(), vec!["s".into()])])
        .expect_err("clash with stop");
    assert!(matches!(e, KeymapError::Clash { .. }), "{e}");
    let e = Keymap::with_overrides(&[("fork".into(), vec!["ctrl-".into()])]).expect_err("bad key");
    assert!(matches!(e, KeymapError::BadKey { .. }), "{e}");
}

#[test]
fn markers_hints_lead_with_include_and_fork() {
    let h: Vec<Action> = hints(Mode::Normal, Screen::Main, Pane::Markers)
        .iter()
        .map(|b| b.action)
        .collect();
    assert_eq!(
        &h[..4],
        &[
            Action::ToggleHelp,
            Action::ToggleInclude,
            Action::Fork,
            Action::StartEdit
        ]
    );
}

#[test]
fn e_opens_the_editor_from_the_markers_pane_too() {
    assert_eq!(
        normal(Screen::Main, Pane::Markers, key('e')),
        Some(Action::ExternalEditor)
    );
}

#[test]
fn fan_out_and_bulk_keys() {
    let d = |k| map_key(Mode::ForkName, Screen::Main, Pane::Snapshots, k);
    assert_eq!(d(code(KeyCode::Tab)), Some(Action::NextField));
    assert_eq!(d(code(KeyCode::BackTab)), Some(Action::PrevField));
    assert_eq!(d(key('7')), Some(Action::Text(key('7'))));
    let forks = |k| normal(Screen::Forks, Pane::ForkList, k);
    assert_eq!(forks(key(' ')), Some(Action::ToggleMark));
    assert_eq!(forks(key('v')), Some(Action::MarkAllVisible));
    assert_eq!(forks(key('/')), Some(Action::StartFilter));
    // Space expands a fan-out; Enter opens a session's log, and on a
    // fan-out's row expands it (App::open_log).
    assert_eq!(
        normal(Screen::Sessions, Pane::SessionList, key(' ')),
        Some(Action::ToggleExpand)
    );
    assert_eq!(
        normal(Screen::Sessions, Pane::SessionList, code(KeyCode::Enter)),
        Some(Action::OpenLog)
    );
    assert_eq!(
        normal(Screen::Main, Pane::Markers, key('C')),
        Some(Action::RunCheck)
    );
}
