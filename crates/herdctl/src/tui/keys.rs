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
    /// In every text input while it has the focus (the line editor's keys).
    Line,
    /// In the `:` and `/` lines.
    Prompt,
}

/// What has the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The view: every key is a command.
    Keys,
    /// The console's line: typed characters are text.
    ConsoleLine,
    /// The `:` or `/` line.
    Prompt,
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
    /// Back to the console's line.
    Focus,
    /// Done by the line editor itself (listed for the footer and help).
    EditLine,
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
        keys: &[Char('i')],
        label: "i",
        help: "back to the line (Esc left it)",
        scope: In(View::Console),
        action: Action::Focus,
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
    Binding {
        keys: &[Code(KeyCode::Enter)],
        label: "Enter",
        help: "run / apply",
        scope: Scope::Prompt,
        action: Action::EditLine,
    },
    Binding {
        keys: &[Code(KeyCode::Esc)],
        label: "Esc",
        help: "leave the line",
        scope: Scope::Line,
        action: Action::Back,
    },
    Binding {
        keys: &[Code(KeyCode::Left), Code(KeyCode::Right)],
        label: "←/→",
        help: "cursor (C-←/C-→ or M-b/M-f: by word)",
        scope: Scope::Line,
        action: Action::EditLine,
    },
    Binding {
        keys: &[
            Code(KeyCode::Home),
            Code(KeyCode::End),
            Ctrl('a'),
            Ctrl('e'),
        ],
        label: "Home/End",
        help: "start / end of the line (also C-a/C-e)",
        scope: Scope::Line,
        action: Action::EditLine,
    },
    Binding {
        keys: &[Code(KeyCode::Delete), Ctrl('w'), Ctrl('u'), Ctrl('k')],
        label: "Del",
        help: "delete (C-w a word back, C-u to the start, C-k to the end)",
        scope: Scope::Line,
        action: Action::EditLine,
    },
];

/// The bindings that work with this focus in `view`, the most specific
/// first. While a text input has the focus, typed characters are text:
/// no single-character key is listed (or works), only the line's keys, the
/// view's other keys (in the console) and the global ones that are not
/// characters (Tab, C-c).
pub fn bindings_for(view: View, focus: Focus) -> impl Iterator<Item = &'static Binding> {
    let typing = focus != Focus::Keys;
    let not_a_character =
        move |b: &&Binding| !typing || b.keys.iter().any(|k| !matches!(k, Char(_)));
    let own = BINDINGS.iter().filter(move |b| match b.scope {
        In(v) => v == view && focus != Focus::Prompt,
        Scope::Prompt => focus == Focus::Prompt,
        _ => false,
    });
    let line = BINDINGS
        .iter()
        .filter(move |b| typing && b.scope == Scope::Line);
    // The line's Esc replaces the global one.
    let global = BINDINGS
        .iter()
        .filter(move |b| b.scope == Everywhere && !(typing && b.action == Action::Back));
    own.chain(line)
        .chain(global)
        .filter(not_a_character)
        .filter(move |b| !(typing && b.action == Action::Focus))
}

/// The action `key` stands for in `view` with this focus.
pub fn action_for(view: View, focus: Focus, key: &KeyEvent) -> Option<Action> {
    bindings_for(view, focus)
        .find(|b| b.keys.iter().any(|k| k.matches(key)))
        .map(|b| b.action)
}
