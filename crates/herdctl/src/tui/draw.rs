//! The frame: the header (the herd's health), the current view (each
//! view draws itself, see [`super::views`]), the footer and the help, all
//! built from the key table. A pure function of the state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::app::{App, Mode};
use super::format::{age, count};
use super::hits::Target;
use super::keys::{Focus, bindings_for};
use super::theme::Role;
pub use super::theme::Theme;
use super::view::View;
use crate::health::Verdict;

/// The smallest screen the dashboard draws on.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

pub fn draw(app: &App, frame: &mut Frame, theme: Theme) {
    app.hits.clear();
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
    let hits = &app.hits;
    match app.view {
        View::Herd => app
            .herd_view
            .draw(&app.nodes, app.now_ms, frame, body, theme, hits),
        View::Records => app.records.draw(app.now_ms, frame, body, theme, hits),
        View::Flood => app.flood.draw(&app.nodes, frame, body, theme, hits),
        View::Console => {
            let has_keys = app.mode == Mode::Normal && app.focus() == Focus::ConsoleLine;
            app.console.draw(&app.nodes, has_keys, frame, body, theme)
        }
    }
    frame.render_widget(footer(app, theme), bottom);
    if app.mode == Mode::Normal && app.message.is_none() && app.focus() == Focus::Keys {
        // The view tabs at the start of the footer, as footer() lays them.
        let mut x = bottom.x;
        for (i, view) in View::ALL.iter().enumerate() {
            let width = format!("{} {}", i + 1, view.title()).chars().count() as u16;
            hits.add(Rect::new(x, bottom.y, width, 1), Target::View(*view));
            x += width + 1;
        }
    }
    if app.mode == Mode::Help {
        help(app, frame, body);
    }
}

fn verdict_word(app: &App) -> &'static str {
    match app.health().verdict() {
        Verdict::Converged => "CONVERGED",
        Verdict::Degraded => "DEGRADED",
        Verdict::Diverged => "DIVERGED",
    }
}

fn header(app: &App, theme: Theme) -> Line<'static> {
    let health = app.health();
    let verdict = health.verdict();
    let since = app
        .verdict
        .map(|(_, since)| format!(" {}", age(app.now_ms.saturating_sub(since))))
        .unwrap_or_default();
    let (glyph, role) = match verdict {
        Verdict::Converged => ("●", Role::Good),
        Verdict::Degraded => ("◐", Role::Warn),
        Verdict::Diverged => ("✗", Role::Bad),
    };
    let sep = Span::styled(" │ ", theme.style(Role::Dim));
    Line::from(vec![
        Span::styled(
            format!(" herd {}", app.herd),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        sep.clone(),
        Span::raw(format!("{}/{} nodes", health.reachable(), app.nodes.len())),
        sep.clone(),
        Span::raw(format!(
            "{}/{} links",
            health.links_up(),
            app.nodes.links.len()
        )),
        sep.clone(),
        Span::styled(
            format!("{glyph} {}{since}", verdict_word(app)),
            theme.style(role),
        ),
        sep.clone(),
        Span::raw(format!("{} ev/s", count(app.flood.feed.last_rate() as f64))),
        Span::styled(
            app.drill
                .as_ref()
                .map(|drill| format!(" │ DRILL {}", drill.doing))
                .unwrap_or_default(),
            theme.style(Role::Warn),
        ),
        Span::styled(
            if app.readonly { "  read-only" } else { "" },
            theme.style(Role::Warn),
        ),
    ])
}

fn footer(app: &App, theme: Theme) -> Line<'static> {
    match &app.mode {
        Mode::Command(line) => prompt(':', line, app, theme),
        Mode::Filter(line) => prompt('/', line, app, theme),
        Mode::Confirm { prompt, .. } => {
            Line::from(Span::styled(prompt.clone(), theme.style(Role::Warn)))
        }
        Mode::Help => Line::from("any key: close help"),
        Mode::Normal => {
            if let Some((text, failed)) = &app.message {
                let role = if *failed { Role::Bad } else { Role::Accent };
                return Line::from(Span::styled(text.clone(), theme.style(role)));
            }
            let focus = app.focus();
            let mut spans = Vec::new();
            if focus != Focus::Keys {
                // Typed keys are text: no view digits, only what works.
                spans.push(Span::styled("typing: ", theme.style(Role::Accent)));
                spans.push(Span::styled(hints(app, focus), theme.style(Role::Dim)));
                return Line::from(spans);
            }
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
            spans.push(Span::styled(hints(app, focus), theme.style(Role::Dim)));
            Line::from(spans)
        }
    }
}

/// The keys that work now, a word each, from the key table.
fn hints(app: &App, focus: Focus) -> String {
    let mut bindings: Vec<_> = bindings_for(app.view, focus)
        .filter(|b| !matches!(b.label, "1" | "2" | "3" | "4" | "S-Tab"))
        .filter(|b| focus != Focus::Keys || b.label != "Tab")
        .collect();
    if focus != Focus::Keys {
        // In a line, how to get out of it comes first.
        bindings.sort_by_key(|b| match b.label {
            "Enter" => 0,
            "Esc" => 1,
            "Tab" => 2,
            _ => 3,
        });
    }
    let hints: Vec<String> = bindings
        .into_iter()
        .map(|b| {
            format!(
                "{} {}",
                b.label,
                b.help.split([' ', '(']).next().unwrap_or("")
            )
        })
        .collect();
    hints.join("  ")
}

/// The `:` or `/` line with its cursor, then the keys that work in it.
fn prompt(
    sigil: char,
    line: &super::line_edit::LineEdit,
    app: &App,
    theme: Theme,
) -> Line<'static> {
    let mut spans = vec![Span::raw(sigil.to_string())];
    spans.extend(line.spans(60, true));
    spans.push(Span::raw("   "));
    spans.push(Span::styled(
        hints(app, Focus::Prompt),
        theme.style(Role::Dim),
    ));
    Line::from(spans)
}

fn help(app: &App, frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = bindings_for(app.view, app.focus())
        .map(|b| Line::from(format!("{:>8}  {}", b.label, b.help)))
        .collect();
    if app.view == View::Console {
        lines.push(Line::from(
            "Typed keys go to the line; Esc leaves it (then : for a command), i returns.",
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
