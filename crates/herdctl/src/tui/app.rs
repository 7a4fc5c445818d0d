//! The dashboard's state: the herd ([`Nodes`]), one state per view, and
//! what belongs to no view (the bottom line's mode and message, the
//! verdict). It changes only by messages; no I/O and no clock of its own:
//! the runtime passes the time in (`now_ms`), which is what lets the views
//! be tested from a fixed state.
//!
//! Keys: the key table ([`super::keys`]) names the action; the app does the
//! global ones (views, help, `:`, `/`, Esc) and hands the rest to the
//! current view. What a view asks of the herd (a link change, a line to
//! send) comes back as an [`Effect`] that the app checks (read-only, a y/n
//! for a cut) before the runtime does it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEventKind};
use herd_admin::client::ClientError;
use herd_admin::{AdminState, Event, EventKind, RecordsPage, Snapshot};

use super::command::{self, Command, Topology};
use super::effect::Effect;
use super::feed::FeedItem;
use super::hits::{Hits, Target};
use super::keys::{Action, Focus, action_for};
use super::line_edit::LineEdit;
use super::nodes::Nodes;
use super::view::View;
use super::views::console::Console;
use super::views::flood::FloodView;
use super::views::herd::HerdView;
use super::views::records::RecordsView;
use crate::health::{Health, Verdict};
use crate::send::SendError;

/// How long an outcome stays on the bottom line.
pub const MESSAGE_FOR_MS: u64 = 10_000;

/// What the bottom line is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    /// Typing a `:` command.
    Command(LineEdit),
    /// Typing a `/` filter for the current view.
    Filter(LineEdit),
    /// A change waiting for y/n.
    Confirm {
        prompt: String,
        effect: Effect,
    },
    Help,
}

pub struct App {
    pub herd: String,
    pub nodes: Nodes,
    pub view: View,
    pub mode: Mode,
    pub readonly: bool,
    pub now_ms: u64,
    /// The same clock in nanoseconds, for what a key stamps (C-t).
    pub now_ns: u64,
    /// The herd's verdict, and since when (ms).
    pub verdict: Option<(Verdict, u64)>,
    pub herd_view: HerdView,
    pub records: RecordsView,
    pub flood: FloodView,
    pub console: Console,
    /// The last outcome to show on the bottom line: text, is it an error.
    pub message: Option<(String, bool)>,
    /// When it was said (ms); it fades after [`MESSAGE_FOR_MS`].
    message_at: u64,
    /// The drill running, if one is.
    pub drill: Option<DrillRun>,
    /// Where the last frame put what a click selects.
    pub hits: Hits,
    /// Something changed since the last draw.
    pub dirty: bool,
}

/// A drill in progress, as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillRun {
    pub name: String,
    /// "step 2/4: load 2000 updates…", or what it does after the steps.
    pub doing: String,
}

/// What the runtime hears from a drill.
#[derive(Debug, Clone, PartialEq)]
pub enum DrillNews {
    Started(String),
    /// A line of progress ([`crate::drill::progress_line`]).
    Progress {
        line: String,
        doing: Option<String>,
    },
    /// The verdict line, and whether it passed.
    Done {
        verdict: String,
        passed: bool,
    },
}

impl App {
    pub fn new(herd: &str, nodes: &[String], links: Vec<(usize, usize)>, readonly: bool) -> App {
        App {
            herd: herd.to_owned(),
            nodes: Nodes::new(nodes, links),
            view: View::Herd,
            mode: Mode::Normal,
            readonly,
            now_ms: 0,
            now_ns: 0,
            verdict: None,
            herd_view: HerdView::default(),
            records: RecordsView::default(),
            flood: FloodView::default(),
            console: Console::default(),
            message: None,
            message_at: 0,
            drill: None,
            hits: Hits::default(),
            dirty: true,
        }
    }

    /// The config's graph changed (a reload): draw these nodes and links.
    pub fn regraph(&mut self, names: &[String], links: Vec<(usize, usize)>) {
        self.nodes.regraph(names, links);
        let count = self.nodes.links.len();
        self.herd_view.link_selected = self.herd_view.link_selected.min(count.saturating_sub(1));
        self.dirty = true;
    }

    /// What has the keys: a text input, or the view.
    pub fn focus(&self) -> Focus {
        match self.mode {
            Mode::Command(_) | Mode::Filter(_) => Focus::Prompt,
            Mode::Normal | Mode::Help if self.view == View::Console && self.console.focused => {
                Focus::ConsoleLine
            }
            _ => Focus::Keys,
        }
    }

    /// The herd's health ([`crate::health`]), as `herdctl status` computes it.
    pub fn health(&self) -> Health<'_> {
        self.nodes.health()
    }

    pub fn tick(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        self.flood.feed.tick(now_ms);
        if self.message.is_some() && now_ms.saturating_sub(self.message_at) >= MESSAGE_FOR_MS {
            self.message = None;
        }
        self.dirty = true;
    }

    /// Shows `text` on the bottom line for a while.
    pub fn say(&mut self, (text, failed): (String, bool)) {
        self.message = Some((text, failed));
        self.message_at = self.now_ms;
        self.dirty = true;
    }

    /// A snapshot (or the failure to get one) from a node.
    pub fn on_snapshot(&mut self, node: usize, result: Result<Snapshot, ClientError>) {
        if node >= self.nodes.len() {
            return;
        }
        if let Some(failed) = self.nodes.on_snapshot(node, result, self.now_ms) {
            // Unreachable: nothing is known of its records.
            self.records.table.forget(&failed);
        }
        let verdict = self.health().verdict();
        match self.verdict {
            Some((was, _)) if was == verdict => {}
            _ => self.verdict = Some((verdict, self.now_ms)),
        }
        self.dirty = true;
    }

    pub fn on_event(&mut self, node: &str, event: Event) {
        if let EventKind::FloodIn { peer, .. } = &event.kind
            && self
                .herd_view
                .note_traffic(&self.nodes, node, peer, self.now_ms)
            && self.view == View::Herd
        {
            self.dirty = true;
        }
        let item = FeedItem::event(node, event);
        if self.flood.push(item, self.now_ms) && self.view == View::Flood {
            self.dirty = true;
        }
    }

    pub fn on_records(&mut self, node: usize, page: Result<RecordsPage, ClientError>) {
        let Some(name) = self.nodes.list.get(node).map(|n| n.name.clone()) else {
            return;
        };
        self.records.on_records(&name, page);
        if self.view == View::Records {
            self.dirty = true;
        }
    }

    /// A line of herdctl's own in the flood feed, "drill: ..." or "up:
    /// ...", so that the filter `drill:` shows a drill's story among the
    /// traffic it caused.
    fn note(&mut self, text: String) {
        let item = FeedItem::note("herdctl", text, self.now_ms * 1000);
        self.flood.push(item, self.now_ms);
    }

    /// A drill's news: the header shows its step, the feed keeps its
    /// lines, the verdict stays on the bottom line.
    pub fn on_drill(&mut self, news: DrillNews) {
        match news {
            DrillNews::Started(name) => {
                self.note(format!("drill: started {name}"));
                self.drill = Some(DrillRun {
                    name,
                    doing: "starting".to_owned(),
                });
            }
            DrillNews::Progress { line, doing } => {
                if let (Some(drill), Some(doing)) = (&mut self.drill, doing) {
                    drill.doing = doing;
                }
                self.note(line);
            }
            DrillNews::Done { verdict, passed } => {
                self.drill = None;
                self.note(format!("drill: {verdict}"));
                self.say((verdict, !passed));
            }
        }
        self.dirty = true;
    }

    /// Something `herdctl up` says about its nodes (one died).
    pub fn on_up_notice(&mut self, text: String) {
        self.note(format!("up: {text}"));
        self.say((text, true));
    }

    /// The reply to a console line (or a `:send`).
    pub fn on_reply(&mut self, node: &str, line: &str, reply: Result<String, SendError>) {
        if self.view != View::Console {
            self.say(match &reply {
                Ok(text) => (
                    format!("{node}: {}", text.lines().next().unwrap_or("(no reply)")),
                    text.starts_with('?'),
                ),
                Err(error) => (format!("{node}: {error}"), true),
            });
        }
        self.console.on_reply(node, line, reply);
        self.dirty = true;
    }

    /// A click selects what is under it; the wheel moves the current
    /// view's selection (or scrolls the console's reply). Only while no
    /// line or prompt waits for keys.
    pub fn on_mouse(&mut self, kind: MouseEventKind, column: u16, row: u16) -> Option<Effect> {
        if !matches!(self.mode, Mode::Normal) {
            return None;
        }
        let wheel = |up: bool, view: View| match (view, up) {
            (View::Console, true) => Action::ScrollUp,
            (View::Console, false) => Action::ScrollDown,
            (_, true) => Action::Up,
            (_, false) => Action::Down,
        };
        match kind {
            MouseEventKind::ScrollUp => self.act(wheel(true, self.view)),
            MouseEventKind::ScrollDown => self.act(wheel(false, self.view)),
            MouseEventKind::Down(MouseButton::Left) => {
                let target = self.hits.at(column, row)?;
                self.select(target);
                None
            }
            _ => None,
        }
    }

    fn select(&mut self, target: Target) {
        self.dirty = true;
        match target {
            Target::View(view) => self.view = view,
            Target::Link(link) => self.herd_view.link_selected = link,
            Target::Node(node) => {
                self.herd_view.node_selected = Some(node);
                self.console.node = node;
                if let Some(name) = self.nodes.list.get(node).map(|n| n.name.clone()) {
                    self.say((format!("{name} selected: the console sends to it"), false));
                }
            }
            Target::Record(row) => self.records.selected = row,
            Target::Event(key) => self.flood.select(key),
        }
    }

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
            Mode::Command(mut line) => match edit(&mut line, &key) {
                Edit::Done => self.run_command(line.value()),
                Edit::Cancel => None,
                Edit::Editing => {
                    self.mode = Mode::Command(line);
                    None
                }
                // The command line stays open over the next view.
                Edit::View(action) => {
                    self.mode = Mode::Command(line);
                    self.act(action)
                }
            },
            Mode::Filter(mut line) => {
                let outcome = edit(&mut line, &key);
                let applied = if outcome == Edit::Cancel {
                    String::new()
                } else {
                    line.value().to_owned()
                };
                match self.view {
                    View::Records => self.records.set_filter(applied),
                    _ => self.flood.set_filter(applied),
                }
                match outcome {
                    Edit::Editing => self.mode = Mode::Filter(line),
                    // The filter is the view's: it stays, the line closes.
                    Edit::View(action) => return self.act(action),
                    Edit::Done | Edit::Cancel => {}
                }
                None
            }
            Mode::Normal => self.on_normal_key(&key),
        }
    }

    fn on_normal_key(&mut self, key: &KeyEvent) -> Option<Effect> {
        // The console's line takes typed characters as text, all of them
        // (`:` and `?` too: Esc leaves the line first).
        let focus = self.focus();
        if focus == Focus::ConsoleLine && self.console.type_key(key) {
            return None;
        }
        let action = action_for(self.view, focus, key)?;
        self.act(action)
    }

    fn act(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::NextView => self.view = self.view.next(),
            Action::PreviousView => self.view = self.view.previous(),
            Action::Go(view) => self.view = view,
            Action::Help => self.mode = Mode::Help,
            Action::CommandLine => self.mode = Mode::Command(LineEdit::default()),
            Action::Filter => {
                let current = match self.view {
                    View::Records => &self.records.filter,
                    _ => &self.flood.filter,
                };
                self.mode = Mode::Filter(LineEdit::with(current));
            }
            Action::EditLine => {}
            Action::Back => self.back(),
            // The rest is the current view's.
            other => {
                let effect = match self.view {
                    View::Herd => self.herd_view.act(other, &self.nodes),
                    View::Records => {
                        self.records.act(other);
                        None
                    }
                    View::Flood => {
                        self.flood.act(other);
                        None
                    }
                    View::Console => self.console.act(other, &self.nodes, self.now_ns),
                };
                return effect.and_then(|effect| self.submit(effect));
            }
        }
        None
    }

    /// Esc: the view undoes what it can (a selection, a filter, a line);
    /// otherwise back to the Herd view, where it clears the message.
    fn back(&mut self) {
        let undone = match self.view {
            View::Herd => false,
            View::Records => self.records.back(),
            View::Flood => self.flood.back(),
            View::Console => self.console.back(),
        };
        if undone {
            return;
        }
        match self.view {
            View::Herd => self.message = None,
            _ => self.view = View::Herd,
        }
    }

    /// What a view or a command asks for, past the checks.
    fn submit(&mut self, effect: Effect) -> Option<Effect> {
        match effect {
            Effect::Send { node, line } => self.send(node, line),
            other => self.change(other),
        }
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
        let names = self.nodes.names();
        let topology = Topology {
            nodes: &names,
            links: &self.nodes.links,
        };
        match command::parse(text, &topology) {
            Ok(Command::Quit) => Some(Effect::Quit),
            // The reply shows on the bottom line (and in the console).
            Ok(Command::Send { node, line }) => self.send(node, line),
            Ok(Command::Links(links)) => self.change(Effect::SetLinks(links)),
            Ok(Command::Drill(file)) => {
                if self.readonly {
                    self.say(("read-only: no drill".to_owned(), true));
                    return None;
                }
                if let Some(drill) = &self.drill {
                    self.say((format!("a drill is running: {}", drill.name), true));
                    return None;
                }
                let prompt = format!("run the drill {file} (it cuts links and sends updates)? y/n");
                self.mode = Mode::Confirm {
                    prompt,
                    effect: Effect::Drill(file),
                };
                None
            }
            Ok(Command::Restart(node)) => {
                if self.readonly {
                    self.say(("read-only: no restart".to_owned(), true));
                    return None;
                }
                self.mode = Mode::Confirm {
                    prompt: format!("restart {node} (kill -9, then start it again)? y/n"),
                    effect: Effect::Restart(node),
                };
                None
            }
            Ok(Command::Forget(client)) => {
                if self.readonly {
                    self.say(("read-only: nobody is forgotten".to_owned(), true));
                    return None;
                }
                self.mode = Mode::Confirm {
                    prompt: format!(
                        "forget {client} on every node (its records are deleted for good)? y/n"
                    ),
                    effect: Effect::Forget(client),
                };
                None
            }
            Ok(Command::Reload(nodes)) => {
                if self.readonly {
                    self.say(("read-only: no reload".to_owned(), true));
                    return None;
                }
                self.say(("reloading the config…".to_owned(), false));
                Some(Effect::Reload(nodes))
            }
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
    /// Tab or Shift-Tab: still switch views.
    View(Action),
}

/// The command and filter lines: Enter, Esc (or Backspace on an empty
/// line) and Tab are theirs; the rest is the line editor's.
fn edit(line: &mut LineEdit, key: &KeyEvent) -> Edit {
    match key.code {
        KeyCode::Enter => Edit::Done,
        KeyCode::Esc => Edit::Cancel,
        KeyCode::Backspace if line.is_empty() => Edit::Cancel,
        KeyCode::Tab => Edit::View(Action::NextView),
        KeyCode::BackTab => Edit::View(Action::PreviousView),
        _ => {
            line.edit(key);
            Edit::Editing
        }
    }
}
