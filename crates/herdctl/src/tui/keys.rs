//! The key table: the one source of the keys, the footer and the help
//! screen, so they cannot disagree. What an action does is the app's
//! (global actions) or the current view's business.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::view::View;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
}

impl Key {
    pub fn matches(self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        match (self, event.code) {
            (Key::Char(c), KeyCode::Char(got)) => !ctrl && got == c,
            (Key::Ctrl(c), KeyCode::Char(got)) => ctrl && got.eq_ignore_ascii_case(&c),
            (Key::Code(code), got) => code == got,
            _ => false,
        }
    }
}

/// Where a binding works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Everywhere,
    In(View),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    NextView,
    PreviousView,
    Go(View),
    Help,
    CommandLine,
    Filter,
    Back,
    Up,
    Down,
    Newest,
    ToggleLink,
    Adjacency,
    Sort,
    Freeze,
    Send,
    InsertTime,
    NextNode,
    PreviousNode,
    ScrollUp,
    ScrollDown,
}

pub struct Binding {
    pub keys: &'static [Key],
    pub label: &'static str,
    pub help: &'static str,
    pub scope: Scope,
    pub action: Action,
}

use Key::{Char, Code, Ctrl};
use Scope::{Everywhere, In};

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[Char('?')],
        label: "?",
        help: "help",
        scope: Everywhere,
        action: Action::Help,
    },
    Binding {
        keys: &[Char('q')],
        label: "q",
        help: "quit",
        scope: Everywhere,
        action: Action::Quit,
    },
    Binding {
        keys: &[Ctrl('c')],
        label: "C-c",
        help: "quit",
        scope: Everywhere,
        action: Action::Quit,
    },
    Binding {
        keys: &[Code(KeyCode::Tab)],
        label: "Tab",
        help: "next view",
        scope: Everywhere,
        action: Action::NextView,
    },
    Binding {
        keys: &[Code(KeyCode::BackTab)],
        label: "S-Tab",
        help: "previous view",
        scope: Everywhere,
        action: Action::PreviousView,
    },
    Binding {
        keys: &[Char('1')],
        label: "1",
        help: "herd",
        scope: Everywhere,
        action: Action::Go(View::Herd),
    },
    Binding {
        keys: &[Char('2')],
        label: "2",
        help: "records",
        scope: Everywhere,
        action: Action::Go(View::Records),
    },
    Binding {
        keys: &[Char('3')],
        label: "3",
        help: "flood",
        scope: Everywhere,
        action: Action::Go(View::Flood),
    },
    Binding {
        keys: &[Char('4')],
        label: "4",
        help: "console",
        scope: Everywhere,
        action: Action::Go(View::Console),
    },
    Binding {
        keys: &[Char(':')],
        label: ":",
        help: "command (link A B up|down, partition A,B | C,D, heal, send NODE LINE, quit)",
        scope: Everywhere,
        action: Action::CommandLine,
    },
    Binding {
        keys: &[Code(KeyCode::Esc)],
        label: "Esc",
        help: "back",
        scope: Everywhere,
        action: Action::Back,
    },
    Binding {
        keys: &[Code(KeyCode::Up), Char('k')],
        label: "↑/k",
        help: "previous link",
        scope: In(View::Herd),
        action: Action::Up,
    },
    Binding {
        keys: &[Code(KeyCode::Down), Char('j')],
        label: "↓/j",
        help: "next link",
        scope: In(View::Herd),
        action: Action::Down,
    },
    Binding {
        keys: &[Code(KeyCode::Enter), Char(' ')],
        label: "Enter",
        help: "cut / restore the selected link",
        scope: In(View::Herd),
        action: Action::ToggleLink,
    },
    Binding {
        keys: &[Char('a')],
        label: "a",
        help: "adjacency matrix / graph",
        scope: In(View::Herd),
        action: Action::Adjacency,
    },
    Binding {
        keys: &[Char('/')],
        label: "/",
        help: "filter clients",
        scope: In(View::Records),
        action: Action::Filter,
    },
    Binding {
        keys: &[Char('s')],
        label: "s",
        help: "sort",
        scope: In(View::Records),
        action: Action::Sort,
    },
    Binding {
        keys: &[Code(KeyCode::Up), Char('k')],
        label: "↑/k",
        help: "previous client",
        scope: In(View::Records),
        action: Action::Up,
    },
    Binding {
        keys: &[Code(KeyCode::Down), Char('j')],
        label: "↓/j",
        help: "next client",
        scope: In(View::Records),
        action: Action::Down,
    },
    Binding {
        keys: &[Char('f')],
        label: "f",
        help: "freeze / follow",
        scope: In(View::Flood),
        action: Action::Freeze,
    },
    Binding {
        keys: &[Char('/')],
        label: "/",
        help: "filter events",
        scope: In(View::Flood),
        action: Action::Filter,
    },
    Binding {
        keys: &[Code(KeyCode::Up), Char('k')],
        label: "↑/k",
        help: "older event (its update's path shows)",
        scope: In(View::Flood),
        action: Action::Up,
    },
    Binding {
        keys: &[Code(KeyCode::Down), Char('j')],
        label: "↓/j",
        help: "newer event",
        scope: In(View::Flood),
        action: Action::Down,
    },
    Binding {
        keys: &[Code(KeyCode::End), Char('G')],
        label: "G",
        help: "newest, following",
        scope: In(View::Flood),
        action: Action::Newest,
    },
    Binding {
        keys: &[Code(KeyCode::Enter)],
        label: "Enter",
        help: "send the line",
        scope: In(View::Console),
        action: Action::Send,
    },
    Binding {
        keys: &[Code(KeyCode::Up)],
        label: "↑",
        help: "older line from history",
        scope: In(View::Console),
        action: Action::Up,
    },
    Binding {
        keys: &[Code(KeyCode::Down)],
        label: "↓",
        help: "newer line from history",
        scope: In(View::Console),
        action: Action::Down,
    },
    Binding {
        keys: &[Ctrl('t')],
        label: "C-t",
        help: "insert the current time",
        scope: In(View::Console),
        action: Action::InsertTime,
    },
    Binding {
        keys: &[Ctrl('n')],
        label: "C-n",
        help: "next node",
        scope: In(View::Console),
        action: Action::NextNode,
    },
    Binding {
        keys: &[Ctrl('p')],
        label: "C-p",
        help: "previous node",
        scope: In(View::Console),
        action: Action::PreviousNode,
    },
    Binding {
        keys: &[Code(KeyCode::PageUp)],
        label: "PgUp",
        help: "scroll the reply up",
        scope: In(View::Console),
        action: Action::ScrollUp,
    },
    Binding {
        keys: &[Code(KeyCode::PageDown)],
        label: "PgDn",
        help: "scroll the reply down",
        scope: In(View::Console),
        action: Action::ScrollDown,
    },
];

/// The bindings that work in `view`, its own first. In the console typed
/// characters are text, so the global single-character keys do not apply.
pub fn bindings_for(view: View) -> impl Iterator<Item = &'static Binding> {
    let own = BINDINGS.iter().filter(move |b| b.scope == In(view));
    let global = BINDINGS
        .iter()
        .filter(|b| b.scope == Everywhere)
        .filter(move |b| view != View::Console || b.keys.iter().any(|k| !matches!(k, Char(_))));
    own.chain(global)
}

/// The action `key` stands for in `view`.
pub fn action_for(view: View, key: &KeyEvent) -> Option<Action> {
    bindings_for(view)
        .find(|b| b.keys.iter().any(|k| k.matches(key)))
        .map(|b| b.action)
}
