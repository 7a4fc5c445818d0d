//! The Console view: a client line editor with history, sent to one node's
//! client port, with the reply (WHATSAT's JSON pretty) and a log.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::send::SendError;
use crate::tui::effect::Effect;
use crate::tui::keys::Action;
use crate::tui::line_edit::LineEdit;
use crate::tui::nodes::Nodes;
use crate::tui::theme::{Role, Theme};

pub const CONSOLE_LOG_LIMIT: usize = 500;

/// How many lines the history keeps (here and in its file).
pub const HISTORY_LIMIT: usize = 500;

#[derive(Debug, Clone)]
pub struct Console {
    /// The node lines go to.
    pub node: usize,
    pub input: LineEdit,
    /// The line has the focus: typed keys go to it (Esc leaves it, `i`
    /// or Enter comes back).
    pub focused: bool,
    /// Oldest first; loaded from the user's state directory at start.
    pub history: Vec<String>,
    /// Lines sent since the runtime last saved the history (it drains this).
    pub unsaved: Vec<String>,
    /// Position while browsing history (None: editing a new line).
    pub browsing: Option<usize>,
    /// The last reply, pretty, line by line.
    pub reply: Vec<String>,
    pub reply_scroll: usize,
    /// Every line sent and received, oldest first (bounded).
    pub log: Vec<String>,
    pub waiting: bool,
}

impl Default for Console {
    fn default() -> Console {
        Console {
            node: 0,
            input: LineEdit::default(),
            focused: true,
            history: Vec::new(),
            unsaved: Vec::new(),
            browsing: None,
            reply: Vec::new(),
            reply_scroll: 0,
            log: Vec::new(),
            waiting: false,
        }
    }
}

impl Console {
    /// An editing key goes to the line when it has the focus; false for
    /// other keys.
    pub fn type_key(&mut self, key: &KeyEvent) -> bool {
        if !self.focused {
            return false;
        }
        let typed = matches!(key.code, KeyCode::Char(_))
            && !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        let taken = self.input.edit(key);
        if typed {
            self.browsing = None;
        }
        taken
    }

    /// What the view's keys do. `now_ns` is for C-t. A line to send comes
    /// back as the effect (the app decides whether it may go).
    pub fn act(&mut self, action: Action, nodes: &Nodes, now_ns: u64) -> Option<Effect> {
        match action {
            Action::Up | Action::Down => self.browse(action == Action::Up),
            // Away from the line, Enter only goes back to it.
            Action::Send if !self.focused => self.focused = true,
            Action::Send => return self.take_line(nodes),
            Action::Focus => self.focused = true,
            Action::InsertTime => {
                // A client time as IAMAT takes it: nine decimals.
                let time = herd_proto::time::Nanos(now_ns).to_seconds_text();
                let before = self
                    .input
                    .cursor()
                    .checked_sub(1)
                    .and_then(|at| self.input.value().chars().nth(at));
                if before.is_some_and(|c| c != ' ') {
                    self.input.insert(" ");
                }
                self.input.insert(&time);
            }
            Action::NextNode => {
                self.node = (self.node + 1) % nodes.len().max(1);
            }
            Action::PreviousNode => {
                let count = nodes.len().max(1);
                self.node = (self.node + count - 1) % count;
            }
            Action::ScrollUp => {
                self.reply_scroll = self.reply_scroll.saturating_sub(10);
            }
            Action::ScrollDown => {
                let last = self.reply.len().saturating_sub(1);
                self.reply_scroll = (self.reply_scroll + 10).min(last);
            }
            _ => {}
        }
        None
    }

    /// Esc: leaves the line (its text stays); false when it had no focus.
    pub fn back(&mut self) -> bool {
        std::mem::replace(&mut self.focused, false)
    }

    /// The history read back from its file (oldest first).
    pub fn remember(&mut self, lines: Vec<String>) {
        self.history = lines;
        let overflow = self.history.len().saturating_sub(HISTORY_LIMIT);
        self.history.drain(..overflow);
    }

    fn browse(&mut self, up: bool) {
        let history = &self.history;
        if history.is_empty() {
            return;
        }
        let at = match (self.browsing, up) {
            (None, true) => Some(history.len() - 1),
            (None, false) => None,
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < history.len() => Some(i + 1),
            (Some(_), false) => None,
        };
        self.browsing = at;
        let line = at.map(|i| history[i].clone()).unwrap_or_default();
        self.input.set(&line);
    }

    /// The typed line, into the history, to be sent (one at a time).
    fn take_line(&mut self, nodes: &Nodes) -> Option<Effect> {
        let line = self.input.value().trim().to_owned();
        if line.is_empty() || self.waiting {
            return None;
        }
        let node = nodes.list.get(self.node)?.name.clone();
        self.history.retain(|l| *l != line);
        self.history.push(line.clone());
        self.unsaved.push(line.clone());
        let overflow = self.history.len().saturating_sub(HISTORY_LIMIT);
        self.history.drain(..overflow);
        self.browsing = None;
        self.input.clear();
        Some(Effect::Send { node, line })
    }

    /// The reply to a line sent to `node`.
    pub fn on_reply(&mut self, node: &str, line: &str, reply: Result<String, SendError>) {
        self.waiting = false;
        self.log.push(format!("{node} ← {line}"));
        match reply {
            Ok(reply) => {
                for received in reply.lines() {
                    self.log.push(format!("{node} → {received}"));
                }
                let pretty = crate::send::pretty(reply.as_bytes());
                self.reply = String::from_utf8_lossy(&pretty)
                    .lines()
                    .map(str::to_owned)
                    .collect();
                if self.reply.is_empty() {
                    self.reply
                        .push("(no reply: a blank line gets none)".to_owned());
                }
            }
            Err(error) => {
                self.log.push(format!("{node} !! {error}"));
                self.reply = vec![format!("no answer from {node}: {error}")];
            }
        }
        self.reply_scroll = 0;
        let overflow = self.log.len().saturating_sub(CONSOLE_LOG_LIMIT);
        self.log.drain(..overflow);
    }

    /// `has_keys`: the line has the focus and no prompt or help is over
    /// it (then it draws its cursor; one cursor on the screen at a time).
    pub fn draw(&self, nodes: &Nodes, has_keys: bool, frame: &mut Frame, area: Rect, theme: Theme) {
        let console = self;
        let log_height = (area.height / 3).clamp(3, 10);
        let [input_area, reply_area, log_area] = Layout::vertical([
            Constraint::Length(3),
            Constraint::Min(3),
            Constraint::Length(log_height),
        ])
        .areas(area);
        let node = nodes
            .list
            .get(console.node)
            .map_or("-", |n| n.name.as_str());
        let waiting = if console.waiting {
            "  (waiting for the reply…)"
        } else {
            ""
        };
        let width = usize::from(input_area.width.saturating_sub(4 + waiting.len() as u16));
        let mut spans = vec![Span::styled("> ", theme.style(Role::Accent))];
        spans.extend(console.input.spans(width, has_keys));
        spans.push(Span::styled(waiting, theme.style(Role::Dim)));
        let title = if console.focused {
            format!(" send to {node} (C-n/C-p node, C-t time, ↑↓ history, Enter send, Esc leave) ")
        } else {
            format!(" send to {node} (i or Enter: back to the line) ")
        };
        let input = Paragraph::new(Line::from(spans)).block(Block::bordered().title(title));
        frame.render_widget(input, input_area);

        let reply: Vec<Line> = console
            .reply
            .iter()
            .skip(console.reply_scroll)
            .map(|l| Line::from(l.clone()))
            .collect();
        let title = if console.reply.is_empty() {
            " reply ".to_owned()
        } else {
            format!(
                " reply: {} lines (PgUp/PgDn, at {}) ",
                console.reply.len(),
                console.reply_scroll + 1
            )
        };
        frame.render_widget(
            Paragraph::new(reply).block(Block::bordered().title(title)),
            reply_area,
        );

        let visible = log_area.height.saturating_sub(2) as usize;
        let log: Vec<Line> = console
            .log
            .iter()
            .skip(console.log.len().saturating_sub(visible))
            .map(|l| Line::from(Span::styled(l.clone(), theme.style(Role::Dim))))
            .collect();
        frame.render_widget(
            Paragraph::new(log).block(Block::bordered().title(" log ")),
            log_area,
        );
    }
}
