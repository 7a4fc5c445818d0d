//! The Herd view: the graph (or the adjacency matrix), the nodes and the
//! links; the selected link is cut or restored with Enter.

use herd_admin::AdminState;
use herd_admin::client::ErrorKind;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as Segment};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use crate::event_text::short_digest;
use crate::health::{Health, LinkView};
use crate::tui::effect::Effect;
use crate::tui::format::{age, count};
use crate::tui::hits::{Hits, Target};
use crate::tui::keys::Action;
use crate::tui::nodes::{NodeState, Nodes};
use crate::tui::theme::{Role, Theme, link_role};

/// How long a link that carried an update stays lit on the graph. The
/// clock ticks each second, so it shows for one to two seconds.
pub const TRAFFIC_SHOWN_MS: u64 = 1_500;

#[derive(Debug, Default)]
pub struct HerdView {
    /// Selected link in the links table.
    pub link_selected: usize,
    /// The adjacency matrix instead of the graph.
    pub adjacency: bool,
    /// The node clicked in the nodes table (also the console's node).
    pub node_selected: Option<usize>,
    /// Per link: until when (ms) it is shown as carrying traffic.
    traffic_until: Vec<u64>,
}

impl HerdView {
    /// What the view's keys do.
    pub fn act(&mut self, action: Action, nodes: &Nodes) -> Option<Effect> {
        match action {
            Action::Up | Action::Down => {
                let count = nodes.links.len();
                if count > 0 {
                    self.link_selected = if action == Action::Up {
                        (self.link_selected + count - 1) % count
                    } else {
                        (self.link_selected + 1) % count
                    };
                }
                None
            }
            Action::ToggleLink => self.toggle_selected_link(nodes),
            Action::Adjacency => {
                self.adjacency = !self.adjacency;
                None
            }
            _ => None,
        }
    }

    /// Cuts the selected link, or restores it when it is cut.
    fn toggle_selected_link(&self, nodes: &Nodes) -> Option<Effect> {
        let &(a, b) = nodes.links.get(self.link_selected)?;
        let (a, b) = (nodes.list[a].name.clone(), nodes.list[b].name.clone());
        let state = if nodes.health().link_view(self.link_selected) == LinkView::Cut {
            AdminState::Up
        } else {
            AdminState::Down
        };
        Some(Effect::SetLinks(vec![(a, b, state)]))
    }

    /// An update crossed the link between `node` and `peer`: the graph
    /// shows it for [`TRAFFIC_SHOWN_MS`], so a flood can be seen crossing.
    /// True when the link was quiet until now (the graph changes).
    pub fn note_traffic(&mut self, nodes: &Nodes, node: &str, peer: &str, now: u64) -> bool {
        let Some(link) = nodes.link_between(node, peer) else {
            return false;
        };
        if self.traffic_until.len() < nodes.links.len() {
            self.traffic_until.resize(nodes.links.len(), 0);
        }
        let was_quiet = !self.carried_traffic(link, now);
        self.traffic_until[link] = now + TRAFFIC_SHOWN_MS;
        was_quiet
    }

    /// The link carried an update a moment ago.
    pub fn carried_traffic(&self, link: usize, now: u64) -> bool {
        self.traffic_until
            .get(link)
            .is_some_and(|&until| until > now)
    }

    pub fn draw(
        &self,
        nodes: &Nodes,
        now: u64,
        frame: &mut Frame,
        area: Rect,
        theme: Theme,
        hits: &Hits,
    ) {
        let cx = Ctx {
            view: self,
            nodes,
            health: nodes.health(),
            now,
            theme,
            hits,
        };
        body(&cx, frame, area);
    }
}

/// What the view's parts draw from.
struct Ctx<'a> {
    view: &'a HerdView,
    nodes: &'a Nodes,
    health: Health<'a>,
    now: u64,
    theme: Theme,
    hits: &'a Hits,
}

fn body(cx: &Ctx, frame: &mut Frame, area: Rect) {
    let table_height = (cx.nodes.links.len() as u16 + 3)
        .min(area.height / 3)
        .max(4);
    let [upper, lower] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(table_height)]).areas(area);
    let [graph_area, nodes_area] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(upper);
    if cx.view.adjacency {
        adjacency(cx, frame, graph_area);
    } else {
        graph(cx, frame, graph_area);
    }
    nodes_table(cx, frame, nodes_area);
    links_table(cx, frame, lower);
}

/// The graph as a matrix: one glyph per configured link, both ways.
fn adjacency(cx: &Ctx, frame: &mut Frame, area: Rect) {
    // Columns are numbered like the rows, three characters each, so thirty
    // nodes fit in 90 columns; with few nodes a column shows the name's
    // first letters.
    let count = cx.nodes.list.len();
    let heading = |i: usize, name: &str| -> String {
        if count <= 9 {
            name.chars().take(2).collect()
        } else {
            (i + 1).to_string()
        }
    };
    let width = cx
        .nodes
        .list
        .iter()
        .map(|n| n.name.len())
        .max()
        .unwrap_or(4)
        + 4;
    let mut lines = vec![Line::from(format!(
        "{:width$}{}",
        "",
        cx.nodes
            .list
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{:<3}", heading(i, &n.name)))
            .collect::<String>()
    ))];
    for (row, node) in cx.nodes.list.iter().enumerate() {
        let mut spans = vec![Span::raw(format!(
            "{:>2} {:<w$} ",
            row + 1,
            node.name,
            w = width - 4
        ))];
        for column in 0..count {
            let link = cx
                .nodes
                .links
                .iter()
                .position(|&(a, b)| (a, b) == (row, column) || (a, b) == (column, row));
            let span = match link {
                Some(link) => {
                    let view = cx.health.link_view(link);
                    let glyph = match view {
                        LinkView::Up => "━━",
                        LinkView::Connecting => "……",
                        LinkView::Cut => "╳╳",
                        LinkView::Broken => "✗✗",
                    };
                    Span::styled(format!("{glyph} "), cx.theme.style(link_role(view)))
                }
                None if row == column => Span::raw("\\  "),
                None => Span::styled("·  ", cx.theme.style(Role::Dim)),
            };
            spans.push(span);
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "━━ up  …… connecting  ╳╳ cut  ✗✗ broken  · no link",
        cx.theme.style(Role::Dim),
    )));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" adjacency (a: graph) ")),
        area,
    );
}

/// Node positions on a circle (unit coordinates), the first at the top.
/// Past a dozen nodes every other one sits on an inner ring, so that
/// neighbours' labels do not share a row of the terminal.
pub fn layout_positions(count: usize) -> Vec<(f64, f64)> {
    (0..count)
        .map(|i| {
            let angle =
                std::f64::consts::FRAC_PI_2 - std::f64::consts::TAU * i as f64 / count as f64;
            let radius = if count > 12 && i % 2 == 1 { 0.62 } else { 1.0 };
            (radius * angle.cos(), radius * angle.sin())
        })
        .collect()
}

fn graph(cx: &Ctx, frame: &mut Frame, area: Rect) {
    let positions = layout_positions(cx.nodes.list.len());
    let inner_width = f64::from(area.width.saturating_sub(2).max(1));
    // Canvas units per terminal column, to centre labels.
    let x_bound = 1.6;
    let per_column = 2.0 * x_bound / inner_width;
    let canvas = Canvas::default()
        .block(Block::bordered().title(" graph "))
        .marker(Marker::Braille)
        .x_bounds([-x_bound, x_bound])
        .y_bounds([-1.3, 1.3])
        .paint(|ctx| {
            for (link, &(a, b)) in cx.nodes.links.iter().enumerate() {
                let ((x1, y1), (x2, y2)) = (positions[a], positions[b]);
                let view = cx.health.link_view(link);
                let role = if view == LinkView::Up && cx.view.carried_traffic(link, cx.now) {
                    Role::Accent
                } else {
                    link_role(view)
                };
                ctx.draw(&Segment {
                    x1,
                    y1,
                    x2,
                    y2,
                    color: cx.theme.color(role),
                });
            }
            ctx.layer();
            for (link, &(a, b)) in cx.nodes.links.iter().enumerate() {
                let ((x1, y1), (x2, y2)) = (positions[a], positions[b]);
                let label = match cx.health.link_view(link) {
                    LinkView::Up => {
                        let rate = cx.nodes.link_rate(link);
                        let busy = if cx.view.carried_traffic(link, cx.now) {
                            "↯"
                        } else {
                            ""
                        };
                        if rate >= 0.5 {
                            format!("{busy}{}/s", count(rate))
                        } else {
                            busy.to_owned()
                        }
                    }
                    LinkView::Connecting => "…".to_owned(),
                    LinkView::Cut => "╳ cut".to_owned(),
                    LinkView::Broken => "✗".to_owned(),
                };
                if !label.is_empty() {
                    let x = (x1 + x2) / 2.0 - label.chars().count() as f64 * per_column / 2.0;
                    let role = link_role(cx.health.link_view(link));
                    ctx.print(
                        x,
                        (y1 + y2) / 2.0,
                        Span::styled(label, cx.theme.style(role)),
                    );
                }
            }
            for (node, &(x, y)) in cx.nodes.list.iter().zip(&positions) {
                let (glyph, role) = if node.reachable() {
                    ("●", Role::Good)
                } else {
                    ("✗", Role::Bad)
                };
                // Many nodes: no space after the glyph, to save room.
                let gap = if cx.nodes.list.len() > 12 { "" } else { " " };
                let label = format!("{glyph}{gap}{}", node.name);
                let x = x - label.chars().count() as f64 * per_column / 2.0;
                ctx.print(
                    x,
                    y,
                    Span::styled(label, cx.theme.style(role).add_modifier(Modifier::BOLD)),
                );
            }
        });
    frame.render_widget(canvas, area);
}

fn nodes_table(cx: &Ctx, frame: &mut Frame, area: Rect) {
    let majority = cx.health.majority_digest();
    // Problems first (unreachable, then a digest off the majority), so they
    // stay on screen when there are more nodes than rows.
    let mut nodes: Vec<(usize, &NodeState)> = cx.nodes.list.iter().enumerate().collect();
    nodes.sort_by_key(|(_, node)| match &node.snapshot {
        _ if !node.reachable() => 0,
        Some(s) if majority.is_some_and(|m| m != s.digest) => 1,
        _ => 2,
    });
    let order: Vec<usize> = nodes.iter().map(|(index, _)| *index).collect();
    let selected = cx
        .view
        .node_selected
        .and_then(|node| order.iter().position(|&i| i == node));
    let rows: Vec<Row> = nodes
        .into_iter()
        .map(|(_, node)| match (&node.snapshot, &node.error) {
            (Some(snapshot), None) => {
                let odd = majority.is_some_and(|m| m != snapshot.digest);
                let digest = format!(
                    "{}{}",
                    short_digest(&snapshot.digest),
                    if odd { " ≠" } else { "" }
                );
                Row::new(vec![
                    Cell::from(Span::styled(
                        format!("● {}", node.name),
                        cx.theme.style(Role::Good),
                    )),
                    Cell::from(snapshot.records.to_string()),
                    Cell::from(Span::styled(
                        digest,
                        if odd {
                            cx.theme.style(Role::Bad)
                        } else {
                            Style::default()
                        },
                    )),
                    Cell::from(count(node.lines_per_s + node.floods_per_s)),
                ])
            }
            (_, error) => {
                let (why, since) = error
                    .as_ref()
                    .map(|(why, since)| (short_reason(*why), cx.now.saturating_sub(*since)))
                    .unwrap_or(("asking…", 0));
                Row::new(vec![
                    Cell::from(Span::styled(
                        format!("✗ {}", node.name),
                        cx.theme.style(Role::Bad),
                    )),
                    Cell::from("-"),
                    Cell::from(Span::styled(why, cx.theme.style(Role::Bad))),
                    Cell::from(Span::styled(age(since), cx.theme.style(Role::Dim))),
                ])
            }
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Length(11),
            Constraint::Min(5),
        ],
    )
    .header(Row::new(["node", "recs", "digest", "in/s"]).style(cx.theme.style(Role::Dim)))
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .block(Block::bordered().title(" nodes "));
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
    cx.hits
        .table_rows(area, state.offset(), order.len(), |row| {
            Target::Node(order[row])
        });
}

/// Why a node cannot be reached, in a word (the sketch's "refused",
/// "timeout", "token rejected").
fn short_reason(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Token => "token",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Refused => "refused",
        ErrorKind::WrongNode => "wrong node",
        ErrorKind::Unreachable | ErrorKind::Node | ErrorKind::Protocol => "unreachable",
    }
}

fn links_table(cx: &Ctx, frame: &mut Frame, area: Rect) {
    let rows: Vec<Row> = cx
        .nodes
        .links
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| {
            let view = cx.health.link_view(i);
            let (na, nb) = (&cx.nodes.list[a], &cx.nodes.list[b]);
            let rate = |from: &NodeState, to: &str| {
                from.sent_per_s
                    .get(to)
                    .map_or("-".to_owned(), |r| format!("{}/s", count(*r)))
            };
            Row::new(vec![
                Cell::from(format!("{}-{}", na.name, nb.name)),
                Cell::from(Span::styled(view.word(), cx.theme.style(link_role(view)))),
                Cell::from(format!("→ {}", rate(na, &nb.name))),
                Cell::from(format!("← {}", rate(nb, &na.name))),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(20),
            Constraint::Length(11),
            Constraint::Length(12),
            Constraint::Min(8),
        ],
    )
    .header(Row::new(["link", "state", "a → b", "b → a"]).style(cx.theme.style(Role::Dim)))
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .highlight_symbol("▶ ")
    .block(Block::bordered().title(" links (↑↓ select, Enter cut/restore) "));
    let mut state = TableState::default().with_selected(Some(cx.view.link_selected));
    frame.render_stateful_widget(table, area, &mut state);
    cx.hits
        .table_rows(area, state.offset(), cx.nodes.links.len(), Target::Link);
}
