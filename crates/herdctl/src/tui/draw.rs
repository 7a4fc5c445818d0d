//! The views: a pure function of the state. Colour only ever repeats what a
//! word or glyph already says, so the screen reads the same under NO_COLOR.

use herd_admin::client::ErrorKind;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as Segment};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState, Wrap};

use super::feed::path;
use super::keys::bindings_for;
use super::state::{App, LinkView, Mode, View};
use crate::event_text::{clock, describe, short_digest};

/// The smallest screen the dashboard draws on.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

/// Colours, or none (NO_COLOR).
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

#[derive(Clone, Copy)]
enum Role {
    Good,
    Warn,
    Bad,
    Cut,
    Dim,
    Accent,
}

impl Theme {
    fn style(self, role: Role) -> Style {
        if !self.color {
            return match role {
                Role::Bad => Style::default().add_modifier(Modifier::BOLD),
                _ => Style::default(),
            };
        }
        let color = match role {
            Role::Good => Color::Green,
            Role::Warn => Color::Yellow,
            Role::Bad => Color::Red,
            Role::Cut => Color::Magenta,
            Role::Dim => Color::DarkGray,
            Role::Accent => Color::Cyan,
        };
        let style = Style::default().fg(color);
        match role {
            Role::Bad => style.add_modifier(Modifier::BOLD),
            _ => style,
        }
    }

    fn color(self, role: Role) -> Color {
        self.style(role).fg.unwrap_or(Color::Reset)
    }
}

/// The colour role that says a link's state.
fn link_role(view: LinkView) -> Role {
    match view {
        LinkView::Up => Role::Good,
        LinkView::Connecting => Role::Warn,
        LinkView::Cut => Role::Cut,
        LinkView::Broken => Role::Bad,
    }
}

pub fn draw(app: &App, frame: &mut Frame, theme: Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "herd {}: {} — the dashboard needs {MIN_WIDTH}x{MIN_HEIGHT} (this is {}x{})",
            app.herd,
            verdict_word(app),
            area.width,
            area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(header(app, theme), top);
    match app.view {
        View::Herd => herd_view(app, frame, body, theme),
        View::Records => records_view(app, frame, body, theme),
        View::Flood => flood_view(app, frame, body, theme),
        View::Console => console_view(app, frame, body, theme),
    }
    frame.render_widget(footer(app, theme), bottom);
    if app.mode == Mode::Help {
        help(app, frame, body);
    }
}

fn verdict_word(app: &App) -> &'static str {
    if app.converged() {
        "CONVERGED"
    } else {
        "DIVERGED"
    }
}

fn header(app: &App, theme: Theme) -> Line<'static> {
    let converged = app.converged();
    let since = app
        .verdict
        .map(|(_, since)| format!(" {}", age(app.now_ms.saturating_sub(since))))
        .unwrap_or_default();
    let (glyph, role) = if converged {
        ("●", Role::Good)
    } else {
        ("✗", Role::Bad)
    };
    let sep = Span::styled(" │ ", theme.style(Role::Dim));
    Line::from(vec![
        Span::styled(
            format!(" herd {}", app.herd),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        sep.clone(),
        Span::raw(format!("{}/{} nodes", app.reachable(), app.nodes.len())),
        sep.clone(),
        Span::raw(format!("{}/{} links", app.links_up(), app.links.len())),
        sep.clone(),
        Span::styled(
            format!("{glyph} {}{since}", verdict_word(app)),
            theme.style(role),
        ),
        sep.clone(),
        Span::raw(format!("{} ev/s", count(app.feed.last_rate() as f64))),
        Span::styled(
            if app.readonly { "  read-only" } else { "" },
            theme.style(Role::Warn),
        ),
    ])
}

fn footer(app: &App, theme: Theme) -> Line<'static> {
    match &app.mode {
        Mode::Command(text) => Line::from(format!(":{text}▏")),
        Mode::Filter(text) => Line::from(format!("/{text}▏")),
        Mode::Confirm { prompt, .. } => {
            Line::from(Span::styled(prompt.clone(), theme.style(Role::Warn)))
        }
        Mode::Help => Line::from("any key: close help"),
        Mode::Normal => {
            if let Some((text, failed)) = &app.message {
                let role = if *failed { Role::Bad } else { Role::Accent };
                return Line::from(Span::styled(text.clone(), theme.style(role)));
            }
            let mut spans = Vec::new();
            for (i, view) in View::ALL.iter().enumerate() {
                let style = if *view == app.view {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                spans.push(Span::styled(format!("{} {}", i + 1, view.title()), style));
                spans.push(Span::raw(" "));
            }
            spans.push(Span::raw("  "));
            let hints: Vec<String> = bindings_for(app.view)
                .filter(|b| !matches!(b.label, "1" | "2" | "3" | "4" | "Tab" | "S-Tab"))
                .map(|b| {
                    format!(
                        "{} {}",
                        b.label,
                        b.help.split([' ', '(']).next().unwrap_or("")
                    )
                })
                .collect();
            spans.push(Span::styled(hints.join("  "), theme.style(Role::Dim)));
            Line::from(spans)
        }
    }
}

// ---------------------------------------------------------------- herd view

fn herd_view(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let table_height = (app.links.len() as u16 + 3).min(area.height / 3).max(4);
    let [upper, lower] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(table_height)]).areas(area);
    let [graph_area, nodes_area] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(upper);
    if app.adjacency {
        adjacency(app, frame, graph_area, theme);
    } else {
        graph(app, frame, graph_area, theme);
    }
    nodes_table(app, frame, nodes_area, theme);
    links_table(app, frame, lower, theme);
}

/// The graph as a matrix: one glyph per configured link, both ways.
fn adjacency(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    // Columns are numbered like the rows, three characters each, so thirty
    // nodes fit in 90 columns; with few nodes a column shows the name's
    // first letters.
    let count = app.nodes.len();
    let heading = |i: usize, name: &str| -> String {
        if count <= 9 {
            name.chars().take(2).collect()
        } else {
            (i + 1).to_string()
        }
    };
    let width = app.nodes.iter().map(|n| n.name.len()).max().unwrap_or(4) + 4;
    let mut lines = vec![Line::from(format!(
        "{:width$}{}",
        "",
        app.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{:<3}", heading(i, &n.name)))
            .collect::<String>()
    ))];
    for (row, node) in app.nodes.iter().enumerate() {
        let mut spans = vec![Span::raw(format!(
            "{:>2} {:<w$} ",
            row + 1,
            node.name,
            w = width - 4
        ))];
        for column in 0..count {
            let link = app
                .links
                .iter()
                .position(|&(a, b)| (a, b) == (row, column) || (a, b) == (column, row));
            let span = match link {
                Some(link) => {
                    let view = app.link_view(link);
                    let glyph = match view {
                        LinkView::Up => "━━",
                        LinkView::Connecting => "……",
                        LinkView::Cut => "╳╳",
                        LinkView::Broken => "✗✗",
                    };
                    Span::styled(format!("{glyph} "), theme.style(link_role(view)))
                }
                None if row == column => Span::raw("\\  "),
                None => Span::styled("·  ", theme.style(Role::Dim)),
            };
            spans.push(span);
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "━━ up  …… connecting  ╳╳ cut  ✗✗ broken  · no link",
        theme.style(Role::Dim),
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

fn graph(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let positions = layout_positions(app.nodes.len());
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
            for (link, &(a, b)) in app.links.iter().enumerate() {
                let ((x1, y1), (x2, y2)) = (positions[a], positions[b]);
                let view = app.link_view(link);
                let role = if view == LinkView::Up && app.carried_traffic(link) {
                    Role::Accent
                } else {
                    link_role(view)
                };
                ctx.draw(&Segment {
                    x1,
                    y1,
                    x2,
                    y2,
                    color: theme.color(role),
                });
            }
            ctx.layer();
            for (link, &(a, b)) in app.links.iter().enumerate() {
                let ((x1, y1), (x2, y2)) = (positions[a], positions[b]);
                let label = match app.link_view(link) {
                    LinkView::Up => {
                        let rate = app.link_rate(link);
                        let busy = if app.carried_traffic(link) { "↯" } else { "" };
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
                    let role = link_role(app.link_view(link));
                    ctx.print(x, (y1 + y2) / 2.0, Span::styled(label, theme.style(role)));
                }
            }
            for (node, &(x, y)) in app.nodes.iter().zip(&positions) {
                let (glyph, role) = if node.reachable() {
                    ("●", Role::Good)
                } else {
                    ("✗", Role::Bad)
                };
                // Many nodes: no space after the glyph, to save room.
                let gap = if app.nodes.len() > 12 { "" } else { " " };
                let label = format!("{glyph}{gap}{}", node.name);
                let x = x - label.chars().count() as f64 * per_column / 2.0;
                ctx.print(
                    x,
                    y,
                    Span::styled(label, theme.style(role).add_modifier(Modifier::BOLD)),
                );
            }
        });
    frame.render_widget(canvas, area);
}

fn nodes_table(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let majority = majority_digest(app);
    // Problems first (unreachable, then a digest off the majority), so they
    // stay on screen when there are more nodes than rows.
    let mut nodes: Vec<&super::state::NodeState> = app.nodes.iter().collect();
    nodes.sort_by_key(|node| match &node.snapshot {
        _ if !node.reachable() => 0,
        Some(s) if majority.as_deref().is_some_and(|m| m != s.digest) => 1,
        _ => 2,
    });
    let rows: Vec<Row> = nodes
        .into_iter()
        .map(|node| match (&node.snapshot, &node.error) {
            (Some(snapshot), None) => {
                let odd = majority.as_deref().is_some_and(|m| m != snapshot.digest);
                let digest = format!(
                    "{}{}",
                    short_digest(&snapshot.digest),
                    if odd { " ≠" } else { "" }
                );
                Row::new(vec![
                    Cell::from(Span::styled(
                        format!("● {}", node.name),
                        theme.style(Role::Good),
                    )),
                    Cell::from(snapshot.records.to_string()),
                    Cell::from(Span::styled(
                        digest,
                        if odd {
                            theme.style(Role::Bad)
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
                    .map(|(why, since)| (short_reason(*why), app.now_ms.saturating_sub(*since)))
                    .unwrap_or(("asking…", 0));
                Row::new(vec![
                    Cell::from(Span::styled(
                        format!("✗ {}", node.name),
                        theme.style(Role::Bad),
                    )),
                    Cell::from("-"),
                    Cell::from(Span::styled(why, theme.style(Role::Bad))),
                    Cell::from(Span::styled(age(since), theme.style(Role::Dim))),
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
    .header(Row::new(["node", "recs", "digest", "in/s"]).style(theme.style(Role::Dim)))
    .block(Block::bordered().title(" nodes "));
    frame.render_widget(table, area);
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

/// The digest most reachable nodes share (ties: the smallest).
fn majority_digest(app: &App) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for node in app.nodes.iter().filter(|n| n.reachable()) {
        if let Some(snapshot) = &node.snapshot {
            *counts.entry(snapshot.digest.as_str()).or_default() += 1;
        }
    }
    let best = counts.values().copied().max()?;
    counts
        .into_iter()
        .find(|&(_, n)| n == best)
        .map(|(d, _)| d.to_owned())
}

fn links_table(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let rows: Vec<Row> = app
        .links
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| {
            let view = app.link_view(i);
            let (na, nb) = (&app.nodes[a], &app.nodes[b]);
            let rate = |from: &super::state::NodeState, to: &str| {
                from.sent_per_s
                    .get(to)
                    .map_or("-".to_owned(), |r| format!("{}/s", count(*r)))
            };
            Row::new(vec![
                Cell::from(format!("{}-{}", na.name, nb.name)),
                Cell::from(Span::styled(view.word(), theme.style(link_role(view)))),
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
    .header(Row::new(["link", "state", "a → b", "b → a"]).style(theme.style(Role::Dim)))
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .highlight_symbol("▶ ")
    .block(Block::bordered().title(" links (↑↓ select, Enter cut/restore) "));
    let mut state = TableState::default().with_selected(Some(app.link_selected));
    frame.render_stateful_widget(table, area, &mut state);
}

// ------------------------------------------------------------- records view

fn records_view(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let rows = app.records.rows(&app.records_filter, app.records_sort);
    let disagreeing = rows.iter().filter(|r| !r.disagree.is_empty()).count();
    let title = format!(
        " records: {} clients{}, {} disagreeing, sorted by {}{} ",
        rows.len(),
        if app.records.most_matching() > super::records_table::RECORDS_PER_NODE {
            format!(
                " (first {} per node)",
                super::records_table::RECORDS_PER_NODE
            )
        } else {
            String::new()
        },
        disagreeing,
        app.records_sort.label(),
        if app.records_filter.is_empty() {
            String::new()
        } else {
            format!(", filter {:?}", app.records_filter)
        }
    );
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|row| {
            let nodes = if row.disagree.is_empty() {
                format!("{} agree", row.agree)
            } else {
                format!(
                    "≠ {} differ: {}",
                    row.disagree.len(),
                    row.disagree.join(",")
                )
            };
            let style = if row.disagree.is_empty() {
                Style::default()
            } else {
                theme.style(Role::Bad)
            };
            let received_ms = row.newest.received_us / 1000;
            Row::new(vec![
                Cell::from(row.client.clone()),
                Cell::from(nodes),
                Cell::from(row.newest.received_by.clone()),
                Cell::from(age(app.now_ms.saturating_sub(received_ms))),
                Cell::from(row.newest.client_time.clone()),
                Cell::from(row.newest.position.clone()),
            ])
            .style(style)
        })
        .collect();
    // The columns that matter most come first, so a narrow screen cuts the
    // least useful ones.
    let table = Table::new(
        table_rows,
        [
            Constraint::Length(14),
            Constraint::Length(24),
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Length(21),
            Constraint::Min(0),
        ],
    )
    .header(
        Row::new([
            "client",
            "nodes",
            "received",
            "age",
            "client time",
            "position",
        ])
        .style(theme.style(Role::Dim)),
    )
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .block(Block::bordered().title(title));
    let selected = app.records_selected.min(rows.len().saturating_sub(1));
    let mut state = TableState::default().with_selected((!rows.is_empty()).then_some(selected));
    frame.render_stateful_widget(table, area, &mut state);
}

// --------------------------------------------------------------- flood view

fn flood_view(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let hops = app
        .selected_update()
        .map(|update| path(app.feed.items().iter(), &update));
    let path_height = hops
        .as_ref()
        .map_or(0, |h| (h.len() as u16 + 2).min(area.height / 3));
    let [rate_area, list_area, path_area] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(3),
        Constraint::Length(path_height),
    ])
    .areas(area);

    let rates = app.feed.rates();
    let peak = rates.iter().copied().max().unwrap_or(0);
    let sparkline = Sparkline::default()
        .block(Block::bordered().title(format!(
            " events/s, last {}s: now {}, peak {} ",
            rates.len(),
            count(app.feed.last_rate() as f64),
            count(peak as f64)
        )))
        .data(&rates)
        .style(theme.style(Role::Accent));
    frame.render_widget(sparkline, rate_area);

    let lines = app.flood_lines();
    let height = list_area.height.saturating_sub(2) as usize;
    let selected = app
        .flood_selected
        .map(|s| s.min(lines.len().saturating_sub(1)));
    // The window ends at the newest line, or keeps the selection in view
    // (half a window of newer lines below it).
    let end = match selected {
        Some(s) => (lines.len() - s + height / 2).max(height).min(lines.len()),
        None => lines.len(),
    };
    let start = end.saturating_sub(height);
    let width = app.nodes.iter().map(|n| n.name.len()).max().unwrap_or(4);
    let shown: Vec<Line> = lines[start..end]
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let from_newest = lines.len() - 1 - (start + i);
            let role = match &item.event.kind {
                herd_admin::EventKind::FloodIn { won: false, .. } => Role::Dim,
                herd_admin::EventKind::Link { .. } => Role::Warn,
                herd_admin::EventKind::Lagged { .. } => Role::Bad,
                herd_admin::EventKind::Request { .. } => Role::Accent,
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
                Span::styled(describe(&item.event.kind), style),
            ])
        })
        .collect();
    let state = match (&app.frozen, selected) {
        (Some(_), _) => "FROZEN (f follows)",
        (None, Some(_)) => "selected (G follows)",
        (None, None) => "following",
    };
    let filter = if app.flood_filter.is_empty() {
        String::new()
    } else {
        format!(", filter {:?}", app.flood_filter)
    };
    let title = format!(" flood: {} events, {state}{filter} ", lines.len());
    frame.render_widget(
        Paragraph::new(shown).block(Block::bordered().title(title)),
        list_area,
    );

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

// ------------------------------------------------------------- console view

fn console_view(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let console = &app.console;
    let log_height = (area.height / 3).clamp(3, 10);
    let [input_area, reply_area, log_area] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(log_height),
    ])
    .areas(area);
    let node = app.nodes.get(console.node).map_or("-", |n| n.name.as_str());
    let waiting = if console.waiting {
        "  (waiting for the reply…)"
    } else {
        ""
    };
    let input = Paragraph::new(Line::from(vec![
        Span::styled("> ", theme.style(Role::Accent)),
        Span::raw(console.input.clone()),
        Span::raw("▏"),
        Span::styled(waiting, theme.style(Role::Dim)),
    ]))
    .block(Block::bordered().title(format!(
        " send to {node} (C-n/C-p node, C-t time, ↑↓ history, Enter send) "
    )));
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

// --------------------------------------------------------------------- help

fn help(app: &App, frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = bindings_for(app.view)
        .map(|b| Line::from(format!("{:>6}  {}", b.label, b.help)))
        .collect();
    if app.view == View::Console {
        lines.push(Line::from(
            "Typed keys go to the line; ':' on an empty line: command.",
        ));
    }
    let height = (lines.len() as u16 + 2).min(area.height);
    let width = area.width.min(84);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" keys: {} view ", app.view.title()))),
        popup,
    );
}

// -------------------------------------------------------------- formatting

/// `42`, `1.2k`, `3.4M`.
fn count(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

/// `5s`, `2m14s`, `3h05m`.
fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `+0.35 ms`, `+5.531 s` (a hop that waited, say, behind a cut link).
fn micros(us: u64) -> String {
    if us < 1_000_000 {
        format!("+{:.2} ms", us as f64 / 1000.0)
    } else {
        format!("+{:.3} s", us as f64 / 1e6)
    }
}
