//! Everything the dashboard shows, and how it changes. No I/O and no clock
//! of its own: the runtime passes the time in (`now_ms`), which is what lets
//! the views be tested from a fixed state.

use std::collections::HashMap;

use herd_admin::client::{ClientError, ErrorKind};
use herd_admin::{AdminState, ConnectionState, Event, RecordsPage, Snapshot};

use super::feed::{Feed, FeedItem};
use super::records_table::{HerdRecords, SortBy};
use crate::send::SendError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Herd,
    Records,
    Flood,
    Console,
}

impl View {
    pub const ALL: [View; 4] = [View::Herd, View::Records, View::Flood, View::Console];

    pub fn title(self) -> &'static str {
        match self {
            View::Herd => "herd",
            View::Records => "records",
            View::Flood => "flood",
            View::Console => "console",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    pub fn next(self) -> View {
        View::ALL[(self.index() + 1) % View::ALL.len()]
    }

    pub fn previous(self) -> View {
        View::ALL[(self.index() + View::ALL.len() - 1) % View::ALL.len()]
    }
}

/// One node as the dashboard knows it.
#[derive(Debug, Clone, Default)]
pub struct NodeState {
    pub name: String,
    pub snapshot: Option<Snapshot>,
    /// What kind of failure the last snapshot met, and since when (ms) it
    /// has failed.
    pub error: Option<(ErrorKind, u64)>,
    /// Client lines per second and peer updates in per second.
    pub lines_per_s: f64,
    pub floods_per_s: f64,
    /// Updates per second sent to each peer.
    pub sent_per_s: HashMap<String, f64>,
    /// When `snapshot` was taken (ms): the rates compare the next one with it.
    snapshot_at: u64,
}

impl NodeState {
    pub fn reachable(&self) -> bool {
        self.error.is_none() && self.snapshot.is_some()
    }

    fn link(&self, peer: &str) -> Option<&herd_admin::LinkStatus> {
        self.snapshot
            .as_ref()?
            .links
            .iter()
            .find(|l| l.peer == peer)
    }
}

/// A configured link's state, from what both ends report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkView {
    /// Connected: updates flow.
    Up,
    /// Both ends want it, it is not connected yet.
    Connecting,
    /// Cut by the operator on at least one end.
    Cut,
    /// An end cannot be reached: nothing is known, it is not working.
    Broken,
}

impl LinkView {
    pub fn word(self) -> &'static str {
        match self {
            LinkView::Up => "up",
            LinkView::Connecting => "connecting",
            LinkView::Cut => "CUT",
            LinkView::Broken => "broken",
        }
    }
}

/// What the bottom line is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    /// Typing a `:` command.
    Command(String),
    /// Typing a `/` filter for the current view.
    Filter(String),
    /// A change waiting for y/n.
    Confirm {
        prompt: String,
        effect: Effect,
    },
    Help,
}

/// What the runtime must do for the state.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    SetLinks(Vec<(String, String, AdminState)>),
    Send { node: String, line: String },
}

/// The console: a client line editor with history, and what came back.
#[derive(Debug, Clone, Default)]
pub struct Console {
    pub node: usize,
    pub input: String,
    pub history: Vec<String>,
    /// Position while browsing history (None: editing a new line).
    pub browsing: Option<usize>,
    /// The last reply, pretty, line by line.
    pub reply: Vec<String>,
    pub reply_scroll: usize,
    /// Every line sent and received, oldest first (bounded).
    pub log: Vec<String>,
    pub waiting: bool,
}

pub const CONSOLE_LOG_LIMIT: usize = 500;

/// How long a link that carried an update stays lit on the graph. The
/// clock ticks each second, so it shows for one to two seconds.
pub const TRAFFIC_SHOWN_MS: u64 = 1_500;

/// How long an outcome stays on the bottom line.
pub const MESSAGE_FOR_MS: u64 = 10_000;

pub struct App {
    pub herd: String,
    pub nodes: Vec<NodeState>,
    pub links: Vec<(usize, usize)>,
    pub view: View,
    pub mode: Mode,
    pub readonly: bool,
    pub now_ms: u64,
    /// Converged or not, and since when (ms).
    pub verdict: Option<(bool, u64)>,
    pub feed: Feed,
    /// The Flood view's list while frozen.
    pub frozen: Option<Vec<FeedItem>>,
    pub flood_filter: String,
    /// Selected flood line, counted from the newest (0 = newest).
    pub flood_selected: Option<usize>,
    pub records: HerdRecords,
    pub records_filter: String,
    pub records_sort: SortBy,
    pub records_selected: usize,
    /// Selected link in the Herd view's table.
    pub link_selected: usize,
    /// The Herd view shows the adjacency matrix instead of the graph.
    pub adjacency: bool,
    /// Per link: until when (ms) it is shown as carrying traffic.
    traffic_until: Vec<u64>,
    pub console: Console,
    /// The last outcome to show on the bottom line: text, is it an error.
    pub message: Option<(String, bool)>,
    /// When it was said (ms); it fades after [`MESSAGE_FOR_MS`].
    message_at: u64,
    pub quit: bool,
    /// Something changed since the last draw.
    pub dirty: bool,
}

impl App {
    pub fn new(herd: &str, nodes: &[String], links: Vec<(usize, usize)>, readonly: bool) -> App {
        App {
            herd: herd.to_owned(),
            nodes: nodes
                .iter()
                .map(|name| NodeState {
                    name: name.clone(),
                    ..NodeState::default()
                })
                .collect(),
            links,
            view: View::Herd,
            mode: Mode::Normal,
            readonly,
            now_ms: 0,
            verdict: None,
            feed: Feed::default(),
            frozen: None,
            flood_filter: String::new(),
            flood_selected: None,
            records: HerdRecords::default(),
            records_filter: String::new(),
            records_sort: SortBy::default(),
            records_selected: 0,
            link_selected: 0,
            adjacency: false,
            traffic_until: Vec::new(),
            console: Console::default(),
            message: None,
            message_at: 0,
            quit: false,
            dirty: true,
        }
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    pub fn tick(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        self.feed.tick(now_ms);
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
        let now = self.now_ms;
        let Some(state) = self.nodes.get_mut(node) else {
            return;
        };
        match result {
            Ok(snapshot) => {
                if let Some(before) = &state.snapshot {
                    let seconds = now.saturating_sub(state.snapshot_at) as f64 / 1000.0;
                    if seconds > 0.0 {
                        let rate =
                            |now: u64, before: u64| now.saturating_sub(before) as f64 / seconds;
                        state.lines_per_s =
                            rate(snapshot.counters.client_lines, before.counters.client_lines);
                        state.floods_per_s =
                            rate(snapshot.counters.floods_in, before.counters.floods_in);
                        state.sent_per_s = snapshot
                            .links
                            .iter()
                            .map(|link| {
                                let was = before
                                    .links
                                    .iter()
                                    .find(|l| l.peer == link.peer)
                                    .map_or(link.msgs_out, |l| l.msgs_out);
                                (link.peer.clone(), rate(link.msgs_out, was))
                            })
                            .collect();
                    }
                }
                state.snapshot_at = now;
                state.snapshot = Some(snapshot);
                state.error = None;
            }
            Err(error) => {
                let since = state.error.as_ref().map_or(now, |(_, since)| *since);
                state.error = Some((error.kind(), since));
                state.lines_per_s = 0.0;
                state.floods_per_s = 0.0;
                state.sent_per_s.clear();
                let name = state.name.clone();
                self.records.forget(&name);
            }
        }
        self.update_verdict();
        self.dirty = true;
    }

    fn update_verdict(&mut self) {
        let converged = self.converged();
        match self.verdict {
            Some((was, _)) if was == converged => {}
            _ => self.verdict = Some((converged, self.now_ms)),
        }
    }

    /// Every node reachable and every digest equal.
    pub fn converged(&self) -> bool {
        let mut digests = self.nodes.iter().map(|n| match (&n.error, &n.snapshot) {
            (None, Some(s)) => Some(&s.digest),
            _ => None,
        });
        match digests.next() {
            Some(Some(first)) => digests.all(|d| d == Some(first)),
            _ => false,
        }
    }

    pub fn reachable(&self) -> usize {
        self.nodes.iter().filter(|n| n.reachable()).count()
    }

    pub fn link_view(&self, link: usize) -> LinkView {
        let Some(&(a, b)) = self.links.get(link) else {
            return LinkView::Broken;
        };
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        let ends = [na.link(&nb.name), nb.link(&na.name)];
        if ends.iter().flatten().any(|l| l.admin == AdminState::Down) {
            return LinkView::Cut;
        }
        if !na.reachable() || !nb.reachable() {
            return LinkView::Broken;
        }
        if ends
            .iter()
            .flatten()
            .any(|l| l.state == ConnectionState::Connected)
        {
            LinkView::Up
        } else {
            LinkView::Connecting
        }
    }

    pub fn links_up(&self) -> usize {
        (0..self.links.len())
            .filter(|&l| self.link_view(l) == LinkView::Up)
            .count()
    }

    /// Updates per second over a link, both directions together.
    pub fn link_rate(&self, link: usize) -> f64 {
        let Some(&(a, b)) = self.links.get(link) else {
            return 0.0;
        };
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        na.sent_per_s.get(&nb.name).copied().unwrap_or(0.0)
            + nb.sent_per_s.get(&na.name).copied().unwrap_or(0.0)
    }

    pub fn on_event(&mut self, node: &str, event: Event) {
        if let herd_admin::EventKind::FloodIn { peer, .. } = &event.kind {
            self.note_traffic(node, peer);
        }
        let item = FeedItem {
            node: node.to_owned(),
            event,
        };
        self.feed.push(item, self.now_ms);
        if self.view == View::Flood && self.frozen.is_none() {
            self.dirty = true;
        }
    }

    /// An update crossed the link between `node` and `peer`: the graph
    /// shows it for [`TRAFFIC_SHOWN_MS`], so a flood can be seen crossing.
    fn note_traffic(&mut self, node: &str, peer: &str) {
        let (Some(a), Some(b)) = (self.node_index(node), self.node_index(peer)) else {
            return;
        };
        let Some(link) = self.links.iter().position(|&l| l == (a, b) || l == (b, a)) else {
            return;
        };
        if self.traffic_until.len() < self.links.len() {
            self.traffic_until.resize(self.links.len(), 0);
        }
        let was_quiet = !self.carried_traffic(link);
        self.traffic_until[link] = self.now_ms + TRAFFIC_SHOWN_MS;
        if was_quiet && self.view == View::Herd {
            self.dirty = true;
        }
    }

    /// The link carried an update a moment ago.
    pub fn carried_traffic(&self, link: usize) -> bool {
        self.traffic_until
            .get(link)
            .is_some_and(|&until| until > self.now_ms)
    }

    pub fn on_records(&mut self, node: usize, page: Result<RecordsPage, ClientError>) {
        let Some(name) = self.nodes.get(node).map(|n| n.name.clone()) else {
            return;
        };
        match page {
            Ok(page) => self.records.update(&name, page),
            Err(_) => self.records.forget(&name),
        }
        if self.view == View::Records {
            self.dirty = true;
        }
    }

    /// The reply to a console line.
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
        let console = &mut self.console;
        console.waiting = false;
        console.log.push(format!("{node} ← {line}"));
        match reply {
            Ok(reply) => {
                for received in reply.lines() {
                    console.log.push(format!("{node} → {received}"));
                }
                let pretty = crate::send::pretty(reply.as_bytes());
                console.reply = String::from_utf8_lossy(&pretty)
                    .lines()
                    .map(str::to_owned)
                    .collect();
                if console.reply.is_empty() {
                    console
                        .reply
                        .push("(no reply: a blank line gets none)".to_owned());
                }
            }
            Err(error) => {
                console.log.push(format!("{node} !! {error}"));
                console.reply = vec![format!("no answer from {node}: {error}")];
            }
        }
        console.reply_scroll = 0;
        let overflow = console.log.len().saturating_sub(CONSOLE_LOG_LIMIT);
        console.log.drain(..overflow);
        self.dirty = true;
    }

    /// The flood lines the view shows: frozen or live, filtered, oldest first.
    pub fn flood_lines(&self) -> Vec<&FeedItem> {
        let filter = self.flood_filter.to_lowercase();
        self.flood_source().filter(|i| i.matches(&filter)).collect()
    }

    /// The events the Flood view works on: the frozen copy, or the live feed.
    pub fn flood_source(&self) -> Box<dyn Iterator<Item = &FeedItem> + '_> {
        match &self.frozen {
            Some(frozen) => Box::new(frozen.iter()),
            None => Box::new(self.feed.items().iter()),
        }
    }

    /// The update (its AT line) the selected flood line is about. A
    /// `records` line is about the update of its client that the node took
    /// last before it.
    pub fn selected_update(&self) -> Option<String> {
        let item = self.selected_flood_item()?;
        if let Some(update) = item.update() {
            return Some(update.to_owned());
        }
        let herd_admin::EventKind::Records { client, .. } = &item.event.kind else {
            return None;
        };
        let source: Vec<&FeedItem> = self.flood_source().collect();
        source
            .into_iter()
            .rev()
            .filter(|other| other.node == item.node && other.event.ts_us <= item.event.ts_us)
            .filter(|other| match &other.event.kind {
                herd_admin::EventKind::FloodIn {
                    client: c,
                    won: true,
                    ..
                } => c == client,
                herd_admin::EventKind::Request { .. } => other
                    .update()
                    .is_some_and(|at| at.split(' ').nth(3) == Some(client.as_str())),
                _ => false,
            })
            .find_map(|other| other.update().map(str::to_owned))
    }

    /// The flood item under the cursor, if any.
    pub fn selected_flood_item(&self) -> Option<&FeedItem> {
        let selected = self.flood_selected?;
        let lines = self.flood_lines();
        lines.len().checked_sub(selected + 1).map(|i| lines[i])
    }
}
