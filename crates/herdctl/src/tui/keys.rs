//! The key table, and what each key does to the state. The same table
//! drives the keys, the footer and the help screen, so they cannot disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use herd_admin::AdminState;

use super::command::{self, Command, Topology};
use super::state::{App, Effect, LinkView, Mode, View};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
}

impl Key {
    fn matches(self, event: &KeyEvent) -> bool {
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

fn action_for(view: View, key: &KeyEvent) -> Option<Action> {
    bindings_for(view)
        .find(|b| b.keys.iter().any(|k| k.matches(key)))
        .map(|b| b.action)
}

impl App {
    /// Applies a key; returns what the runtime must do.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
        self.dirty = true;
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        if ctrl_c {
            return Some(Effect::Quit);
        }
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Help => None,
            Mode::Confirm { prompt, effect } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => Some(effect),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.say(("cancelled".to_owned(), false));
                    None
                }
                _ => {
                    self.mode = Mode::Confirm { prompt, effect };
                    None
                }
            },
            Mode::Command(mut text) => match edit(&mut text, &key) {
                Edit::Done => self.run_command(&text),
                Edit::Cancel => None,
                Edit::Editing => {
                    self.mode = Mode::Command(text);
                    None
                }
            },
            Mode::Filter(mut text) => {
                let outcome = edit(&mut text, &key);
                let applied = if outcome == Edit::Cancel {
                    String::new()
                } else {
                    text.clone()
                };
                match self.view {
                    View::Records => {
                        self.records_filter = applied;
                        self.records_selected = 0;
                    }
                    _ => {
                        self.flood_filter = applied;
                        self.flood_selected = None;
                    }
                }
                if outcome == Edit::Editing {
                    self.mode = Mode::Filter(text);
                }
                None
            }
            Mode::Normal => self.on_normal_key(&key),
        }
    }

    fn on_normal_key(&mut self, key: &KeyEvent) -> Option<Effect> {
        let plain_char = match key.code {
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                Some(c)
            }
            _ => None,
        };
        // The console takes typed characters as text.
        if self.view == View::Console {
            // A client line never starts with ':' or '?', so on an empty
            // line they open the command line and the help here too.
            if self.console.input.is_empty() {
                match plain_char {
                    Some(':') => return self.act(Action::CommandLine),
                    Some('?') => return self.act(Action::Help),
                    _ => {}
                }
            }
            if let Some(c) = plain_char {
                self.console.input.push(c);
                self.console.browsing = None;
                return None;
            }
            if key.code == KeyCode::Backspace {
                self.console.input.pop();
                return None;
            }
        }
        let action = action_for(self.view, key)?;
        self.act(action)
    }

    fn act(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::NextView => self.view = self.view.next(),
            Action::PreviousView => self.view = self.view.previous(),
            Action::Go(view) => self.view = view,
            Action::Help => self.mode = Mode::Help,
            Action::CommandLine => self.mode = Mode::Command(String::new()),
            Action::Filter => {
                let current = match self.view {
                    View::Records => self.records_filter.clone(),
                    _ => self.flood_filter.clone(),
                };
                self.mode = Mode::Filter(current);
            }
            Action::Back => self.back(),
            Action::Up => self.move_cursor(true),
            Action::Down => self.move_cursor(false),
            Action::Newest => self.follow(),
            Action::ToggleLink => return self.toggle_selected_link(),
            Action::Adjacency => self.adjacency = !self.adjacency,
            Action::Sort => self.records_sort = self.records_sort.next(),
            Action::Freeze => {
                if self.frozen.is_some() {
                    self.follow();
                } else {
                    self.freeze();
                }
            }
            Action::Send => return self.send_console_line(),
            Action::InsertTime => {
                let time = format!("{}.{:03}", self.now_ms / 1000, self.now_ms % 1000);
                if !self.console.input.is_empty() && !self.console.input.ends_with(' ') {
                    self.console.input.push(' ');
                }
                self.console.input.push_str(&time);
            }
            Action::NextNode => {
                self.console.node = (self.console.node + 1) % self.nodes.len().max(1);
            }
            Action::PreviousNode => {
                let count = self.nodes.len().max(1);
                self.console.node = (self.console.node + count - 1) % count;
            }
            Action::ScrollUp => {
                self.console.reply_scroll = self.console.reply_scroll.saturating_sub(10);
            }
            Action::ScrollDown => {
                let last = self.console.reply.len().saturating_sub(1);
                self.console.reply_scroll = (self.console.reply_scroll + 10).min(last);
            }
        }
        None
    }

    fn freeze(&mut self) {
        self.frozen = Some(self.feed.items().iter().cloned().collect());
    }

    /// Back to the live, newest-first Flood list.
    fn follow(&mut self) {
        self.frozen = None;
        self.flood_selected = None;
    }

    fn back(&mut self) {
        match self.view {
            View::Flood if self.flood_selected.is_some() || self.frozen.is_some() => self.follow(),
            View::Flood if !self.flood_filter.is_empty() => self.flood_filter.clear(),
            View::Records if !self.records_filter.is_empty() => self.records_filter.clear(),
            View::Console if !self.console.input.is_empty() => self.console.input.clear(),
            View::Herd => self.message = None,
            _ => self.view = View::Herd,
        }
    }

    fn move_cursor(&mut self, up: bool) {
        match self.view {
            View::Herd => {
                let count = self.links.len();
                if count > 0 {
                    self.link_selected = if up {
                        (self.link_selected + count - 1) % count
                    } else {
                        (self.link_selected + 1) % count
                    };
                }
            }
            View::Records => {
                let rows = self
                    .records
                    .rows(&self.records_filter, self.records_sort)
                    .len();
                self.records_selected = if up {
                    self.records_selected.saturating_sub(1)
                } else {
                    (self.records_selected + 1).min(rows.saturating_sub(1))
                };
            }
            View::Flood => {
                // Selecting freezes the list, so the selection stays on the
                // event chosen while new ones arrive.
                if up && self.frozen.is_none() {
                    self.freeze();
                }
                let count = self.flood_lines().len();
                self.flood_selected = match (self.flood_selected, up) {
                    (None, true) if count > 0 => Some(0),
                    (None, _) => None,
                    (Some(n), true) => Some((n + 1).min(count.saturating_sub(1))),
                    (Some(0), false) => None,
                    (Some(n), false) => Some(n - 1),
                };
            }
            View::Console => {
                let history = &self.console.history;
                if history.is_empty() {
                    return;
                }
                let at = match (self.console.browsing, up) {
                    (None, true) => Some(history.len() - 1),
                    (None, false) => None,
                    (Some(i), true) => Some(i.saturating_sub(1)),
                    (Some(i), false) if i + 1 < history.len() => Some(i + 1),
                    (Some(_), false) => None,
                };
                self.console.browsing = at;
                self.console.input = at.map(|i| history[i].clone()).unwrap_or_default();
            }
        }
    }

    fn toggle_selected_link(&mut self) -> Option<Effect> {
        let &(a, b) = self.links.get(self.link_selected)?;
        let (a, b) = (self.nodes[a].name.clone(), self.nodes[b].name.clone());
        let state = if self.link_view(self.link_selected) == LinkView::Cut {
            AdminState::Up
        } else {
            AdminState::Down
        };
        self.change(Effect::SetLinks(vec![(a, b, state)]))
    }

    fn send_console_line(&mut self) -> Option<Effect> {
        let line = self.console.input.trim().to_owned();
        if line.is_empty() || self.console.waiting {
            return None;
        }
        let node = self.nodes.get(self.console.node)?.name.clone();
        self.console.history.retain(|l| *l != line);
        self.console.history.push(line.clone());
        self.console.browsing = None;
        self.console.input.clear();
        self.send(node, line)
    }

    fn send(&mut self, node: String, line: String) -> Option<Effect> {
        if self.readonly && line.starts_with("IAMAT") {
            self.say((
                "read-only: IAMAT changes the herd; not sent".to_owned(),
                true,
            ));
            return None;
        }
        self.console.waiting = true;
        Some(Effect::Send { node, line })
    }

    fn run_command(&mut self, text: &str) -> Option<Effect> {
        let names = self.node_names();
        let topology = Topology {
            nodes: &names,
            links: &self.links,
        };
        match command::parse(text, &topology) {
            Ok(Command::Quit) => Some(Effect::Quit),
            // The reply shows on the bottom line (and in the console).
            Ok(Command::Send { node, line }) => self.send(node, line),
            Ok(Command::Links(links)) => self.change(Effect::SetLinks(links)),
            Err(error) => {
                self.say((error.to_string(), true));
                None
            }
        }
    }

    /// A change to the herd: refused when read-only; a cut asks first.
    fn change(&mut self, effect: Effect) -> Option<Effect> {
        let Effect::SetLinks(links) = &effect else {
            return Some(effect);
        };
        if self.readonly {
            self.say(("read-only: links are not changed".to_owned(), true));
            return None;
        }
        let cuts = links
            .iter()
            .filter(|(_, _, s)| *s == AdminState::Down)
            .count();
        if cuts == 0 {
            return Some(effect);
        }
        let names: Vec<String> = links.iter().map(|(a, b, _)| format!("{a}-{b}")).collect();
        let prompt = format!("cut {}? y/n", names.join(", "));
        self.mode = Mode::Confirm { prompt, effect };
        None
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Edit {
    Editing,
    Done,
    Cancel,
}

/// Line editing for the command and filter lines.
fn edit(text: &mut String, key: &KeyEvent) -> Edit {
    match key.code {
        KeyCode::Enter => Edit::Done,
        KeyCode::Esc => Edit::Cancel,
        KeyCode::Backspace => {
            if text.pop().is_none() {
                return Edit::Cancel;
            }
            Edit::Editing
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            text.push(c);
            Edit::Editing
        }
        _ => Edit::Editing,
    }
}
