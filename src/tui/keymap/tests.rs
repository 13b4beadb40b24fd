//! Key handling as plain functions: key → action in a place, no terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::tui::action::{Action, Screen};

fn key(c: char) -> KeyEvent {
    let m = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(KeyCode::Char(c), m)
}
fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}
fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}
fn at(place: Place, k: KeyEvent) -> Option<Action> {
    default_action(place, k)
}

const MAIN_PANES: [Place; 3] = [Place::Snapshots, Place::Markers, Place::Editor];
const LISTS: [Place; 4] = [
    Place::Snapshots,
    Place::Markers,
    Place::SessionList,
    Place::ForkList,
];

#[test]
fn vim_keys_and_arrows_both_move() {
    for place in LISTS.into_iter().chain([Place::SessionDetail]) {
        assert_eq!(at(place, key('j')), Some(Action::Down));
        assert_eq!(at(place, code(KeyCode::Down)), Some(Action::Down));
        assert_eq!(at(place, key('k')), Some(Action::Up));
        assert_eq!(at(place, code(KeyCode::Up)), Some(Action::Up));
        assert_eq!(at(place, key('g')), Some(Action::Top));
        assert_eq!(at(place, key('G')), Some(Action::Bottom));
        assert_eq!(at(place, code(KeyCode::PageDown)), Some(Action::PageDown));
    }
}

/// Item 3: `l`/→ go right, `h`/← go back, Esc backs out, on every pane.
#[test]
fn h_l_and_arrows_move_between_panes_and_esc_backs_out() {
    for place in [
        Place::Snapshots,
        Place::Markers,
        Place::Editor,
        Place::SessionList,
        Place::SessionDetail,
        Place::ForkList,
        Place::ForkDetail,
    ] {
        assert_eq!(at(place, key('l')), Some(Action::Right), "{place:?}");
        assert_eq!(at(place, code(KeyCode::Right)), Some(Action::Right));
        assert_eq!(at(place, key('h')), Some(Action::Left), "{place:?}");
        assert_eq!(at(place, code(KeyCode::Left)), Some(Action::Left));
        assert_eq!(at(place, code(KeyCode::Esc)), Some(Action::Back));
        assert_eq!(at(place, code(KeyCode::Tab)), Some(Action::NextPane));
    }
    // Typing: Esc stops typing; in the viewer h/l scroll sideways.
    assert_eq!(
        at(Place::Typing, code(KeyCode::Esc)),
        Some(Action::StopEdit)
    );
    assert_eq!(at(Place::Viewer, key('h')), Some(Action::PrevField));
    assert_eq!(at(Place::Viewer, key('l')), Some(Action::NextField));
}

/// Item 2: `i` types the payload from the snapshots pane too.
#[test]
fn i_starts_typing_from_every_pane_of_the_snapshots_screen() {
    for place in MAIN_PANES {
        assert_eq!(at(place, key('i')), Some(Action::StartEdit), "{place:?}");
    }
}

#[test]
fn question_mark_opens_help_everywhere_but_in_text_and_any_key_closes_it() {
    for place in [Place::Markers, Place::Viewer, Place::Library] {
        assert_eq!(at(place, key('?')), Some(Action::ToggleHelp), "{place:?}");
    }
    assert_eq!(at(Place::Help, key('?')), Some(Action::ToggleHelp));
    assert_eq!(
        at(Place::Help, code(KeyCode::Esc)),
        Some(Action::ToggleHelp)
    );
    assert_eq!(at(Place::Help, key('z')), Some(Action::ToggleHelp));
    assert_eq!(at(Place::Help, key('j')), Some(Action::Down));
}

#[test]
fn q_quits_on_panes_but_types_in_text_fields() {
    assert_eq!(at(Place::Snapshots, key('q')), Some(Action::Quit));
    for place in [Place::Typing, Place::Prompt, Place::ForkDialog] {
        assert_eq!(at(place, key('q')), Some(Action::Text(key('q'))));
    }
    assert_eq!(at(Place::Viewer, key('q')), Some(Action::Cancel));
}

#[test]
fn ctrl_c_quits_everywhere() {
    for place in Place::ALL {
        assert_eq!(at(place, ctrl('c')), Some(Action::Quit), "{place:?}");
    }
}

#[test]
fn slash_filters_and_the_prompt_takes_text_and_completes_paths() {
    for place in LISTS {
        assert_eq!(at(place, key('/')), Some(Action::StartFilter));
        assert_eq!(at(place, key('y')), Some(Action::Copy));
    }
    assert_eq!(at(Place::Prompt, key('w')), Some(Action::Text(key('w'))));
    assert_eq!(
        at(Place::Prompt, code(KeyCode::Enter)),
        Some(Action::FilterDone)
    );
    assert_eq!(
        at(Place::Prompt, code(KeyCode::Esc)),
        Some(Action::FilterCancel)
    );
    assert_eq!(
        at(Place::Prompt, code(KeyCode::Tab)),
        Some(Action::Complete)
    );
}

#[test]
fn o_opens_a_memory_file_on_snapshots_and_a_guest_log_on_forks() {
    assert_eq!(at(Place::Snapshots, key('o')), Some(Action::OpenPath));
    assert_eq!(at(Place::Markers, key('o')), None);
    assert_eq!(at(Place::ForkList, key('o')), Some(Action::OpenLog));
}

#[test]
fn marker_keys_reveal_tokens_and_toggle_mailbox_settings() {
    let m = |c| at(Place::Markers, key(c));
    assert_eq!(m('t'), Some(Action::RevealTokens));
    assert_eq!(m(' '), Some(Action::ToggleInclude));
    assert_eq!(m('a'), Some(Action::ToggleAck));
    assert_eq!(m('+'), Some(Action::TimeoutUp));
    assert_eq!(m('-'), Some(Action::TimeoutDown));
    assert_eq!(m('e'), Some(Action::ExternalEditor));
    assert_eq!(m('C'), Some(Action::RunCheck));
}

#[test]
fn editor_keys_format_and_typing_takes_text() {
    let e = |c| at(Place::Editor, key(c));
    assert_eq!(e('p'), Some(Action::Pretty));
    assert_eq!(e('c'), Some(Action::Compact));
    assert_eq!(e('e'), Some(Action::ExternalEditor));
    assert_eq!(e('z'), Some(Action::Zoom));
    let typing = |k| at(Place::Typing, k);
    assert_eq!(typing(ctrl('p')), Some(Action::Pretty));
    assert_eq!(typing(key('p')), Some(Action::Text(key('p'))));
    assert_eq!(
        typing(code(KeyCode::Tab)),
        Some(Action::Text(code(KeyCode::Tab)))
    );
}

/// Item 10: `$EDITOR` while typing is `^x ^e` (as in bash), never a
/// reflex `^e`; `^e` alone is a key of the text area (end of line).
#[test]
fn the_external_editor_while_typing_is_a_chord() {
    let k = Keymap::default();
    assert_eq!(
        k.map(Place::Typing, None, ctrl('e')),
        Mapped::Action(Action::Text(ctrl('e')))
    );
    assert_eq!(k.map(Place::Typing, None, ctrl('x')), Mapped::Prefix);
    assert_eq!(
        k.map(Place::Typing, Some(&ctrl('x')), ctrl('e')),
        Mapped::Action(Action::ExternalEditor)
    );
    assert!(markdown().contains("| `^x ^e` | open in $EDITOR |"));
}

#[test]
fn undo_redo_and_paging_do_not_share_keys_while_typing() {
    let typing = |k| at(Place::Typing, k);
    assert_eq!(typing(ctrl('z')), Some(Action::Undo));
    assert_eq!(typing(ctrl('y')), Some(Action::Redo));
    assert_eq!(typing(ctrl('u')), Some(Action::PageUp));
    assert_eq!(typing(ctrl('d')), Some(Action::PageDown));
    assert_eq!(typing(ctrl('f')), Some(Action::Zoom));
}

#[test]
fn f_forks_from_any_main_pane_only() {
    for place in MAIN_PANES {
        assert_eq!(at(place, key('f')), Some(Action::Fork));
    }
    assert_eq!(at(Place::SessionList, key('f')), None);
}

/// Item 8: what cannot be undone asks first — stop, remove, cancel, a
/// session's history, a preset.
#[test]
fn what_cannot_be_undone_is_flagged_and_asks() {
    assert_eq!(at(Place::ForkList, key('d')), Some(Action::RemoveFork));
    assert_eq!(at(Place::ForkList, key('s')), Some(Action::StopFork));
    assert_eq!(
        at(Place::SessionList, key('x')),
        Some(Action::CancelSession)
    );
    assert_eq!(
        at(Place::SessionList, key('d')),
        Some(Action::DismissSession)
    );
    assert_eq!(at(Place::Library, key('d')), Some(Action::DeletePreset));
    for a in [
        Action::RemoveFork,
        Action::StopFork,
        Action::CancelSession,
        Action::DismissSession,
        Action::DeletePreset,
    ] {
        assert!(
            KEYMAP.iter().filter(|b| b.action == a).all(|b| b.dangerous),
            "{a:?}"
        );
    }
    let c = |k| at(Place::Confirm, k);
    assert_eq!(c(key('y')), Some(Action::Confirm));
    assert_eq!(c(key('n')), Some(Action::Cancel));
    assert_eq!(c(key('d')), None);
}

#[test]
fn the_fork_dialog_moves_between_fields_and_types_elsewhere() {
    let d = |k| at(Place::ForkDialog, k);
    assert_eq!(d(key('y')), Some(Action::Text(key('y'))));
    assert_eq!(d(code(KeyCode::Enter)), Some(Action::Confirm));
    assert_eq!(d(code(KeyCode::Esc)), Some(Action::Cancel));
    assert_eq!(d(code(KeyCode::Tab)), Some(Action::NextField));
    assert_eq!(d(code(KeyCode::Down)), Some(Action::NextField));
    assert_eq!(d(code(KeyCode::BackTab)), Some(Action::PrevField));
    assert_eq!(d(key(' ')), Some(Action::ToggleInclude));
    assert_eq!(d(key('7')), Some(Action::Text(key('7'))));
    assert_eq!(d(code(KeyCode::PageDown)), Some(Action::PageDown));
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
fn no_key_means_two_things_in_any_place() {
    // The default table is what a config file is checked against too.
    Keymap::with_overrides(&[]).expect("the default keymap has no clash");
}

#[test]
fn hint_bar_starts_with_help() {
    let h = default_hints(Place::Markers);
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

/// Item 1: Enter on a session opens its detail in the viewer; its detail
/// pane scrolls with the list keys.
#[test]
fn sessions_replay_open_the_detail_and_every_list_filters() {
    assert_eq!(at(Place::SessionList, key('r')), Some(Action::Replay));
    assert_eq!(
        at(Place::SessionList, code(KeyCode::Enter)),
        Some(Action::OpenDetail)
    );
    assert_eq!(
        at(Place::SessionDetail, code(KeyCode::Enter)),
        Some(Action::OpenDetail)
    );
    assert_eq!(at(Place::SessionList, key(' ')), Some(Action::ToggleExpand));
    assert_eq!(at(Place::SessionDetail, key('G')), Some(Action::Bottom));
}

/// Item 13: the viewer has its own keys, `?` among them.
#[test]
fn the_viewer_has_its_own_keys() {
    let v = |k| at(Place::Viewer, k);
    assert_eq!(
        v(key('q')),
        Some(Action::Cancel),
        "q closes the viewer, not the app"
    );
    assert_eq!(v(key('/')), Some(Action::StartFilter));
    assert_eq!(v(key('n')), Some(Action::NextMatch));
    assert_eq!(v(key('w')), Some(Action::ToggleWrap));
    assert_eq!(v(key('o')), Some(Action::Pager));
    assert_eq!(v(key('?')), Some(Action::ToggleHelp));
    assert_eq!(v(key('y')), Some(Action::Copy));
    assert_eq!(v(key('z')), None);
}

/// Item 5: a key opens the message log from every pane.
#[test]
fn m_opens_the_message_log_from_every_pane() {
    for place in LISTS
        .into_iter()
        .chain([Place::Editor, Place::SessionDetail])
    {
        assert_eq!(at(place, key('m')), Some(Action::Messages), "{place:?}");
    }
}

#[test]
fn scoped_overrides_change_one_place_and_clashes_are_refused() {
    let k = Keymap::with_overrides(&[("sessions.open-detail".into(), vec!["v".into()])])
        .expect("keymap");
    assert_eq!(
        k.action(Place::SessionList, key('v')),
        Some(Action::OpenDetail)
    );
    assert_eq!(k.action(Place::ForkList, key('o')), Some(Action::OpenLog));
    let e = Keymap::with_overrides(&[("forks.open-log".into(), vec!["s".into()])])
        .expect_err("clash with stop");
    assert!(matches!(e, KeymapError::Clash { .. }), "{e}");
    let e = Keymap::with_overrides(&[("fork".into(), vec!["ctrl-".into()])]).expect_err("bad key");
    assert!(matches!(e, KeymapError::BadKey { .. }), "{e}");
}

#[test]
fn markers_hints_lead_with_include_and_fork() {
    let h: Vec<Action> = default_hints(Place::Markers)
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
fn fan_out_and_bulk_keys() {
    let forks = |k| at(Place::ForkList, k);
    assert_eq!(forks(key(' ')), Some(Action::ToggleMark));
    assert_eq!(forks(key('v')), Some(Action::MarkAllVisible));
    assert_eq!(forks(key('/')), Some(Action::StartFilter));
    assert_eq!(
        at(Place::Snapshots, key('2')),
        Some(Action::Show(Screen::Sessions))
    );
}

/// Shape point 1: the keymap is the components' sections: every scope is
/// where some component takes keys, and every component has keys.
#[test]
fn every_scope_belongs_to_a_component_and_every_component_has_keys() {
    for b in KEYMAP {
        assert!(
            Place::ALL.iter().any(|p| p.scopes().contains(&b.scope)),
            "{:?} of {:?} is no component's",
            b.action,
            b.scope
        );
    }
    for place in Place::ALL {
        assert!(
            KEYMAP.iter().any(|b| place.scopes().contains(&b.scope)),
            "{place:?} has no keys"
        );
    }
}
