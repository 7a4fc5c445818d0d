//! The Flood view: the merged event stream of every node, its rate, and
//! the path of the selected event's update across the herd.

use herd_admin::EventKind;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline};

use crate::event_text::clock;
use crate::tui::feed::{Feed, FeedItem, path};
use crate::tui::format::{count, micros};
use crate::tui::hits::{EventKey, Hits, Target};
use crate::tui::keys::Action;
use crate::tui::nodes::Nodes;
use crate::tui::theme::{Role, Theme};

#[derive(Default)]
pub struct FloodView {
    pub feed: Feed,
    /// The list while frozen.
    pub frozen: Option<Vec<FeedItem>>,
    pub filter: String,
    /// Selected line, counted from the newest (0 = newest).
    pub selected: Option<usize>,
}

impl FloodView {
    /// An event arrived; true when the view shows it (not frozen).
    pub fn push(&mut self, item: FeedItem, now: u64) -> bool {
        self.feed.push(item, now);
        self.frozen.is_none()
    }

    pub fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.selected = None;
    }

    /// What the view's keys do.
    pub fn act(&mut self, action: Action) {
        match action {
            Action::Up | Action::Down => self.move_cursor(action == Action::Up),
            Action::Newest => self.follow(),
            Action::Freeze => {
                if self.frozen.is_some() {
                    self.follow();
                } else {
                    self.freeze();
                }
            }
            _ => {}
        }
    }

    /// Esc: back to following, then clears the filter; false when there
    /// was nothing to undo.
    pub fn back(&mut self) -> bool {
        if self.selected.is_some() || self.frozen.is_some() {
            self.follow();
        } else if !self.filter.is_empty() {
            self.filter.clear();
        } else {
            return false;
        }
        true
    }

    /// Selects the line clicked: the list freezes, as when selecting by
    /// keys, and the line is found in it by what it shows.
    pub fn select(&mut self, key: EventKey) {
        if self.frozen.is_none() {
            self.freeze();
        }
        let lines = self.lines();
        if let Some(at) = lines.iter().rposition(|item| EventKey::of(item) == key) {
            self.selected = Some(lines.len() - 1 - at);
        }
    }

    fn freeze(&mut self) {
        self.frozen = Some(self.feed.items().cloned().collect());
    }

    /// Back to the live, newest-first list.
    fn follow(&mut self) {
        self.frozen = None;
        self.selected = None;
    }

    fn move_cursor(&mut self, up: bool) {
        // Selecting freezes the list, so the selection stays on the event
        // chosen while new ones arrive.
        if up && self.frozen.is_none() {
            self.freeze();
        }
        let count = self.lines().len();
        self.selected = match (self.selected, up) {
            (None, true) if count > 0 => Some(0),
            (None, _) => None,
            (Some(n), true) => Some((n + 1).min(count.saturating_sub(1))),
            (Some(0), false) => None,
            (Some(n), false) => Some(n - 1),
        };
    }

    /// The flood lines the view shows: frozen or live, filtered, oldest first.
    pub fn lines(&self) -> Vec<&FeedItem> {
        let filter = self.filter.to_lowercase();
        self.source().filter(|i| i.matches(&filter)).collect()
    }

    /// The events the Flood view works on: the frozen copy, or the live feed.
    pub fn source(&self) -> Box<dyn Iterator<Item = &FeedItem> + '_> {
        match &self.frozen {
            Some(frozen) => Box::new(frozen.iter()),
            None => Box::new(self.feed.items()),
        }
    }

    /// The update (its AT line) the selected flood line is about. A
    /// `records` line is about the update of its client that the node took
    /// last before it.
    pub fn selected_update(&self) -> Option<String> {
        let item = self.selected_item()?;
        if let Some(update) = item.update() {
            return Some(update.to_owned());
        }
        let EventKind::Records { client, .. } = &item.event.kind else {
            return None;
        };
        let source: Vec<&FeedItem> = self.source().collect();
        source
            .into_iter()
            .rev()
            .filter(|other| other.node == item.node && other.event.ts_us <= item.event.ts_us)
            .filter(|other| match &other.event.kind {
                EventKind::FloodIn {
                    client: c,
                    won: true,
                    ..
                } => c == client,
                EventKind::Request { .. } => other
                    .update()
                    .is_some_and(|at| at.split(' ').nth(3) == Some(client.as_str())),
                _ => false,
            })
            .find_map(|other| other.update().map(str::to_owned))
    }

    /// The flood item under the cursor, if any.
    pub fn selected_item(&self) -> Option<&FeedItem> {
        let selected = self.selected?;
        let lines = self.lines();
        lines.len().checked_sub(selected + 1).map(|i| lines[i])
    }

    pub fn draw(&self, nodes: &Nodes, frame: &mut Frame, area: Rect, theme: Theme, hits: &Hits) {
        let hops = self
            .selected_update()
            .map(|update| path(self.feed.items(), &update));
        let path_height = hops
            .as_ref()
            .map_or(0, |h| (h.len() as u16 + 2).min(area.height / 3));
        let [rate_area, list_area, path_area] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Min(3),
            Constraint::Length(path_height),
        ])
        .areas(area);

        let rates = self.feed.rates();
        let peak = rates.iter().copied().max().unwrap_or(0);
        let sparkline = Sparkline::default()
            .block(Block::bordered().title(format!(
                " events/s, last {}s: now {}, peak {} ",
                rates.len(),
                count(self.feed.last_rate() as f64),
                count(peak as f64)
            )))
            .data(&rates)
            .style(theme.style(Role::Accent));
        frame.render_widget(sparkline, rate_area);

        let lines = self.lines();
        let height = list_area.height.saturating_sub(2) as usize;
        let selected = self.selected.map(|s| s.min(lines.len().saturating_sub(1)));
        // The window ends at the newest line, or keeps the selection in view
        // (half a window of newer lines below it).
        let end = match selected {
            Some(s) => (lines.len() - s + height / 2).max(height).min(lines.len()),
            None => lines.len(),
        };
        let start = end.saturating_sub(height);
        let width = nodes.name_width();
        let shown: Vec<Line> = lines[start..end]
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let from_newest = lines.len() - 1 - (start + i);
                let role = match &item.event.kind {
                    _ if item.note.is_some() => Role::Warn,
                    EventKind::FloodIn { won: false, .. } => Role::Dim,
                    EventKind::Link { .. } => Role::Warn,
                    EventKind::Lagged { .. } => Role::Bad,
                    EventKind::Request { .. } => Role::Accent,
                    _ => Role::Good,
                };
                let mut style = theme.style(role);
                let chosen = selected == Some(from_newest);
                if chosen {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                Line::from(vec![
                    Span::raw(if chosen { "▶ " } else { "  " }),
                    Span::styled(
                        format!("{} ", clock(item.event.ts_us)),
                        theme.style(Role::Dim),
                    ),
                    Span::raw(format!("{:<width$} ", item.node)),
                    Span::styled(item.text(), style),
                ])
            })
            .collect();
        let state = match (&self.frozen, selected) {
            (Some(_), _) => "FROZEN (f follows)",
            (None, Some(_)) => "selected (G follows)",
            (None, None) => "following",
        };
        let filter = if self.filter.is_empty() {
            String::new()
        } else {
            format!(", filter {:?}", self.filter)
        };
        let title = format!(" flood: {} events, {state}{filter} ", lines.len());
        frame.render_widget(
            Paragraph::new(shown).block(Block::bordered().title(title)),
            list_area,
        );
        for (row, index) in (start..end).enumerate() {
            let y = list_area.y + 1 + row as u16;
            let line = Rect::new(list_area.x + 1, y, list_area.width.saturating_sub(2), 1);
            hits.add(line, Target::Event(EventKey::of(lines[index])));
        }

        if let Some(hops) = hops {
            let lines: Vec<Line> = hops
                .iter()
                .map(|hop| {
                    Line::from(vec![
                        Span::styled(
                            format!("{:>10} ", micros(hop.after_us)),
                            theme.style(Role::Accent),
                        ),
                        Span::raw(format!("{:<width$} ", hop.node)),
                        Span::raw(hop.what.clone()),
                    ])
                })
                .collect();
            let title = format!(" path of this update: {} hops ", hops.len());
            frame.render_widget(
                Paragraph::new(lines).block(Block::bordered().title(title)),
                path_area,
            );
        }
    }
}
