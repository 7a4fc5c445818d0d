//! The dashboard from a fixed state: every view drawn (insta snapshots),
//! link colours on the cells, and every key and command's effect on the
//! state.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::Duration;

use herd_admin::client::ClientError;
use herd_admin::{
    AdminState, ConnectionState, Counters, Event, EventKind, LinkChange, LinkStatus, RecordEntry,
    RecordsPage, Snapshot,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use super::app::{App, DrillNews, Mode};
use super::draw::{Theme, draw};
use super::effect::Effect;
use super::line_edit::LineEdit;
use super::view::View;
use crate::health::{LinkView, Verdict};
use crate::send::SendError;

/// 2026-11-29 18:00:00 UTC.
const NOW_MS: u64 = 1_795_975_200_000;
const NAMES: [&str; 5] = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];
/// Clark-Jaquez, Clark-Bona, Campbell-Bailey, Campbell-Bona,
/// Campbell-Jaquez, Bona-Bailey.
const LINKS: [(usize, usize); 6] = [(3, 4), (3, 1), (2, 0), (2, 1), (2, 4), (1, 0)];

fn link(peer: &str, admin: AdminState, state: ConnectionState, msgs_out: u64) -> LinkStatus {
    LinkStatus {
        peer: peer.to_owned(),
        admin,
        state,
        connected: state == ConnectionState::Connected,
        msgs_out,
        ..LinkStatus::default()
    }
}

fn snapshot(
    node: &str,
    records: usize,
    digest: &str,
    links: Vec<LinkStatus>,
    lines: u64,
) -> Snapshot {
    Snapshot {
        schema: 1,
        node: node.to_owned(),
        herd: "demo".to_owned(),
        records,
        digest: digest.to_owned(),
        links,
        counters: Counters {
            client_lines: lines,
            ..Counters::default()
        },
        ..Snapshot::default()
    }
}

fn event(ts_ms_after: u64, kind: EventKind) -> Event {
    Event {
        seq: 1,
        ts_us: (NOW_MS - 5_000 + ts_ms_after) * 1000,
        kind,
    }
}

const AT: &str = "AT Clark +0.000211 kiwi +34.068930-118.445127 1795975195.5";

fn record(client: &str, time: &str, by: &str) -> RecordEntry {
    RecordEntry {
        client: client.to_owned(),
        position: "+34.068930-118.445127".to_owned(),
        client_time: time.to_owned(),
        received_by: by.to_owned(),
        received_us: (NOW_MS - 4_000) * 1000,
        at: format!("AT {by} +0.000211 {client} +34.068930-118.445127 {time}"),
        ..RecordEntry::default()
    }
}

/// What a node that is not running answers.
fn refused() -> ClientError {
    ClientError::Connect {
        addr: "127.0.0.1:12202".to_owned(),
        source: std::io::ErrorKind::ConnectionRefused.into(),
    }
}

/// The herd after an operator cut Clark-Jaquez: Jaquez missed the update
/// of kiwi, Campbell cannot be reached.
fn fixture() -> App {
    let names: Vec<String> = NAMES.map(str::to_owned).to_vec();
    let mut app = App::new("demo", &names, LINKS.to_vec(), false);
    app.tick(NOW_MS - 1_000);
    let up = |peer, sent| link(peer, AdminState::Up, ConnectionState::Connected, sent);
    let cut = |peer| link(peer, AdminState::Down, ConnectionState::Down, 0);
    let snapshots = [
        (
            0,
            snapshot(
                "Bailey",
                2,
                "aaaaaaaaaaaaaaaa",
                vec![up("Campbell", 0), up("Bona", 0)],
                0,
            ),
        ),
        (
            1,
            snapshot(
                "Bona",
                2,
                "aaaaaaaaaaaaaaaa",
                vec![up("Clark", 0), up("Campbell", 0), up("Bailey", 0)],
                0,
            ),
        ),
        (
            3,
            snapshot(
                "Clark",
                2,
                "aaaaaaaaaaaaaaaa",
                vec![cut("Jaquez"), up("Bona", 0)],
                0,
            ),
        ),
        (
            4,
            snapshot(
                "Jaquez",
                1,
                "bbbbbbbbbbbbbbbb",
                vec![cut("Clark"), up("Campbell", 0)],
                0,
            ),
        ),
    ];
    for (index, snapshot) in snapshots.clone() {
        app.on_snapshot(index, Ok(snapshot));
    }
    app.on_snapshot(2, Err(refused()));
    // A second round a second later gives rates: Clark sent 12 updates to Bona.
    app.tick(NOW_MS);
    for (index, mut snapshot) in snapshots {
        if index == 3 {
            snapshot.links[1].msgs_out = 12;
            snapshot.counters.client_lines = 12;
        }
        app.on_snapshot(index, Ok(snapshot));
    }
    app.on_snapshot(2, Err(refused()));
    let events = [
        (
            "Clark",
            event(
                0,
                EventKind::FloodOut {
                    peers: vec!["Bona".to_owned()],
                    client: "kiwi".to_owned(),
                    at: AT.to_owned(),
                },
            ),
        ),
        (
            "Clark",
            event(
                1,
                EventKind::Request {
                    conn: 7,
                    line: "IAMAT kiwi +34.068930-118.445127 1795975195.5".to_owned(),
                    reply: AT.to_owned(),
                    json_bytes: 0,
                },
            ),
        ),
        (
            "Bona",
            event(
                2,
                EventKind::FloodIn {
                    peer: "Clark".to_owned(),
                    client: "kiwi".to_owned(),
                    at: AT.to_owned(),
                    won: true,
                },
            ),
        ),
        (
            "Bona",
            event(
                2,
                EventKind::FloodOut {
                    peers: vec!["Bailey".to_owned()],
                    client: "kiwi".to_owned(),
                    at: AT.to_owned(),
                },
            ),
        ),
        (
            "Bailey",
            event(
                3,
                EventKind::FloodIn {
                    peer: "Bona".to_owned(),
                    client: "kiwi".to_owned(),
                    at: AT.to_owned(),
                    won: true,
                },
            ),
        ),
        (
            "Clark",
            event(
                4,
                EventKind::Link {
                    peer: "Jaquez".to_owned(),
                    change: LinkChange::Cut,
                    reason: Some("operator".to_owned()),
                },
            ),
        ),
    ];
    for (node, event) in events {
        app.on_event(node, event);
    }
    let newer = record("kiwi", "1795975195.5", "Clark");
    let older = record("kiwi", "1795975100.25", "Bailey");
    let page = |records: Vec<RecordEntry>| RecordsPage {
        matching: records.len(),
        records,
        next: None,
    };
    for index in [0, 1, 3] {
        app.on_records(
            index,
            Ok(page(vec![
                newer.clone(),
                record("wombat", "1795975000", "Bona"),
            ])),
        );
    }
    app.on_records(
        4,
        Ok(page(vec![older, record("wombat", "1795975000", "Bona")])),
    );
    app
}

fn render(app: &App, width: u16, height: u16, color: bool) -> Buffer {
    let mut terminal =
        Terminal::new(TestBackend::new(width, height)).unwrap_or_else(|e| panic!("{e}"));
    terminal
        .draw(|frame| {
            draw(
                app,
                frame,
                Theme {
                    color,
                    light: false,
                },
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
    terminal.backend().buffer().clone()
}

fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn screen(app: &App, width: u16, height: u16) -> String {
    text(&render(app, width, height, false))
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn type_text(app: &mut App, text: &str) -> Option<Effect> {
    let mut last = None;
    for c in text.chars() {
        last = app.on_key(key(KeyCode::Char(c)));
    }
    last
}

// ------------------------------------------------------------------ views

#[test]
fn herd_view() {
    let app = fixture();
    insta::assert_snapshot!("herd_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("herd_120x40", screen(&app, 120, 40));
}

#[test]
fn adjacency_matrix() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char('a')));
    assert!(app.herd_view.adjacency);
    insta::assert_snapshot!("adjacency_80x24", screen(&app, 80, 24));
    app.on_key(key(KeyCode::Char('a')));
    assert!(!app.herd_view.adjacency);
}

#[test]
fn a_flood_lights_the_links_it_crosses_for_a_moment() {
    let mut app = fixture();
    // The fixture's flood went Clark → Bona → Bailey.
    let clark_bona = 1;
    let bona_bailey = 5;
    assert!(app.herd_view.carried_traffic(clark_bona, app.now_ms));
    assert!(app.herd_view.carried_traffic(bona_bailey, app.now_ms));
    assert!(!app.herd_view.carried_traffic(0, app.now_ms));
    let shown = screen(&app, 120, 40);
    assert!(shown.contains("↯12/s"), "{shown}");
    app.tick(NOW_MS + 2_000);
    assert!(!app.herd_view.carried_traffic(clark_bona, app.now_ms));
}

#[test]
fn messages_fade() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "bogus");
    app.on_key(key(KeyCode::Enter));
    assert!(app.message.is_some());
    app.tick(NOW_MS + 9_000);
    assert!(app.message.is_some());
    app.tick(NOW_MS + 10_000);
    assert!(app.message.is_none());
}

#[test]
fn records_view() {
    let mut app = fixture();
    app.view = View::Records;
    insta::assert_snapshot!("records_80x24", screen(&app, 80, 24));
}

#[test]
fn flood_view_with_the_path_of_an_update() {
    let mut app = fixture();
    app.view = View::Flood;
    insta::assert_snapshot!("flood_following_80x24", screen(&app, 80, 24));
    // Select Bailey's flood_in (third from the newest): its path shows.
    for _ in 0..3 {
        app.on_key(key(KeyCode::Up));
    }
    insta::assert_snapshot!("flood_path_80x24", screen(&app, 80, 24));
}

#[test]
fn console_view() {
    let mut app = fixture();
    app.view = View::Console;
    app.console.node = 1;
    app.on_reply(
        "Bona",
        "WHATSAT kiwi 10 1",
        Ok(format!(
            "{AT}\n{{\"results\":[{{\"name\":\"Bel Air\"}}],\"status\":\"OK\"}}\n\n"
        )),
    );
    type_text(&mut app, "WHATSAT kiwi 10 ");
    insta::assert_snapshot!("console_80x24", screen(&app, 80, 24));
}

#[test]
fn help_and_a_small_terminal() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char('?')));
    insta::assert_snapshot!("help_80x24", screen(&app, 80, 24));
    let small = screen(&fixture(), 30, 8);
    assert!(small.contains("needs 40x10"), "{small}");
    assert!(small.contains("DIVERGED"), "{small}");
}

#[test]
fn links_are_coloured_by_state_and_no_color_has_none() {
    let app = fixture();
    assert_eq!(app.health().link_view(0), LinkView::Cut);
    assert_eq!(app.health().link_view(1), LinkView::Up);
    assert_eq!(app.health().link_view(2), LinkView::Broken);
    let buffer = render(&app, 120, 40, true);
    let fg_of = |needle: &str| -> Option<Color> {
        let screen = text(&buffer);
        let (y, line) = screen
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(needle))?;
        let x = line.find(needle).map(|byte| line[..byte].chars().count())?;
        Some(buffer[(x as u16, y as u16)].fg)
    };
    // The cut link's label in the graph, the state words in the link table.
    assert_eq!(fg_of("╳ cut"), Some(Color::Magenta));
    assert_eq!(fg_of("12/s"), Some(Color::Green));
    assert_eq!(fg_of("broken"), Some(Color::Red));
    assert_eq!(fg_of("CUT"), Some(Color::Magenta));
    assert_eq!(fg_of("✗ DIVERGED"), Some(Color::Red));
    let plain = render(&app, 120, 40, false);
    let coloured = plain
        .content()
        .iter()
        .filter(|cell| cell.fg != Color::Reset)
        .count();
    assert_eq!(coloured, 0, "NO_COLOR: no colour at all");
}

// ------------------------------------------------------------------ keys

#[test]
fn views_switch_with_tab_and_numbers() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.view, View::Records);
    app.on_key(key(KeyCode::BackTab));
    app.on_key(key(KeyCode::BackTab));
    assert_eq!(app.view, View::Console);
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.view, View::Herd, "Tab leaves the console");
    for (c, view) in [('2', View::Records), ('3', View::Flood), ('1', View::Herd)] {
        app.on_key(key(KeyCode::Char(c)));
        assert_eq!(app.view, view);
    }
    app.on_key(key(KeyCode::Char('4')));
    assert_eq!(app.view, View::Console);
    // In the console typed keys are text; Esc leaves an empty line.
    app.on_key(key(KeyCode::Char('1')));
    assert_eq!((app.view, app.console.input.value()), (View::Console, "1"));
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.view, View::Herd);
}

#[test]
fn quit_keys_and_help() {
    let mut app = fixture();
    assert_eq!(app.on_key(key(KeyCode::Char('q'))), Some(Effect::Quit));
    app.view = View::Console;
    assert_eq!(
        app.on_key(key(KeyCode::Char('q'))),
        None,
        "q is text in the console"
    );
    assert_eq!(app.on_key(ctrl('c')), Some(Effect::Quit));
    app.view = View::Herd;
    app.on_key(key(KeyCode::Char('?')));
    assert_eq!(app.mode, Mode::Help);
    assert_eq!(
        app.on_key(key(KeyCode::Char('q'))),
        None,
        "any key closes help"
    );
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn a_selected_link_is_cut_after_confirmation_and_restored_without() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Down));
    assert_eq!(app.herd_view.link_selected, 1);
    assert_eq!(app.on_key(key(KeyCode::Enter)), None);
    assert!(matches!(&app.mode, Mode::Confirm { prompt, .. } if prompt.contains("Clark-Bona")));
    assert_eq!(
        app.on_key(key(KeyCode::Char('y'))),
        Some(Effect::SetLinks(vec![(
            "Clark".to_owned(),
            "Bona".to_owned(),
            AdminState::Down
        )]))
    );
    // The cut link (the first) is restored at once.
    app.on_key(key(KeyCode::Up));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Effect::SetLinks(vec![(
            "Clark".to_owned(),
            "Jaquez".to_owned(),
            AdminState::Up
        )]))
    );
    // n cancels.
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.on_key(key(KeyCode::Char('n'))), None);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn commands_are_typed_after_a_colon() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "partition Clark | Bailey,Bona,Campbell,Jaquez");
    assert_eq!(app.on_key(key(KeyCode::Enter)), None, "asks first");
    let Some(Effect::SetLinks(cut)) = app.on_key(key(KeyCode::Char('y'))) else {
        panic!("no effect");
    };
    assert_eq!(cut.len(), 2);
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "heal");
    let Some(Effect::SetLinks(all)) = app.on_key(key(KeyCode::Enter)) else {
        panic!("heal asks nothing");
    };
    assert_eq!(all.len(), 6);
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "send Bona WHATSAT kiwi 10 1");
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Effect::Send {
            node: "Bona".to_owned(),
            line: "WHATSAT kiwi 10 1".to_owned()
        })
    );
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "reload Clark Bona");
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Effect::Reload(vec!["Clark".to_owned(), "Bona".to_owned()]))
    );
    app.readonly = true;
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "reload");
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        None,
        "read-only: no reload"
    );
    app.readonly = false;
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "link Clark Bailey down");
    assert_eq!(app.on_key(key(KeyCode::Enter)), None);
    assert!(
        app.message
            .as_ref()
            .is_some_and(|(m, failed)| *failed && m.contains("not linked"))
    );
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "qu");
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal, "Esc abandons the line");
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "quit");
    assert_eq!(app.on_key(key(KeyCode::Enter)), Some(Effect::Quit));
}

#[test]
fn read_only_refuses_changes() {
    let names: Vec<String> = NAMES.map(str::to_owned).to_vec();
    let mut app = App::new("demo", &names, LINKS.to_vec(), true);
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "link Clark Jaquez down");
    assert_eq!(app.on_key(key(KeyCode::Enter)), None);
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.message
            .as_ref()
            .is_some_and(|(m, _)| m.contains("read-only"))
    );
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "send Clark IAMAT a +1+1 1");
    assert_eq!(app.on_key(key(KeyCode::Enter)), None);
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "send Clark WHATSAT a 1 1");
    assert!(app.on_key(key(KeyCode::Enter)).is_some(), "reading is fine");
}

#[test]
fn the_console_edits_sends_and_remembers() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char('4')));
    app.on_key(ctrl('n'));
    assert_eq!(app.console.node, 1);
    app.on_key(ctrl('p'));
    app.on_key(ctrl('p'));
    assert_eq!(app.console.node, 4, "wraps round");
    type_text(&mut app, "IAMAT kiwi +1+1");
    app.now_ns = 1_795_975_200_123_456_789;
    app.on_key(ctrl('t'));
    assert_eq!(
        app.console.input.value(),
        "IAMAT kiwi +1+1 1795975200.123456789",
        "C-t: the time as IAMAT takes it, nine decimals"
    );
    app.on_key(key(KeyCode::Backspace));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Effect::Send {
            node: "Jaquez".to_owned(),
            line: "IAMAT kiwi +1+1 1795975200.12345678".to_owned()
        })
    );
    assert!(app.console.input.is_empty());
    assert_eq!(app.on_key(key(KeyCode::Enter)), None, "one line at a time");
    app.on_reply(
        "Jaquez",
        "IAMAT kiwi +1+1 1795975200.12345678",
        Ok("AT Jaquez +0.1 kiwi +1+1 1795975200.12345678\n".to_owned()),
    );
    type_text(&mut app, "WHATSAT kiwi 1 1");
    app.on_key(key(KeyCode::Enter));
    app.on_reply(
        "Jaquez",
        "WHATSAT kiwi 1 1",
        Err(SendError::NoReply(Duration::from_secs(15))),
    );
    assert_eq!(
        app.console.reply[0],
        "no answer from Jaquez: no reply within 15 s"
    );
    // History: newest first going up, back to an empty line going down.
    app.on_key(key(KeyCode::Up));
    assert_eq!(app.console.input.value(), "WHATSAT kiwi 1 1");
    app.on_key(key(KeyCode::Up));
    assert_eq!(
        app.console.input.value(),
        "IAMAT kiwi +1+1 1795975200.12345678"
    );
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Down));
    assert_eq!(app.console.input.value(), "");
    assert!(
        app.console
            .log
            .iter()
            .any(|l| l == "Jaquez → AT Jaquez +0.1 kiwi +1+1 1795975200.12345678")
    );
    // ':' is text in the line; after Esc it opens the command line.
    app.on_key(key(KeyCode::Char(':')));
    assert_eq!((app.console.input.value(), &app.mode), (":", &Mode::Normal));
    app.on_key(key(KeyCode::Backspace));
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char(':')));
    assert_eq!(app.mode, Mode::Command(LineEdit::default()));
    app.on_key(key(KeyCode::Esc));
    // Away from the line, Enter goes back to it and sends nothing.
    type_text(&mut app, "i");
    type_text(&mut app, "WHATSAT kiwi 1 1");
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.on_key(key(KeyCode::Enter)), None);
    assert!(app.console.focused);
    assert_eq!(app.console.input.value(), "WHATSAT kiwi 1 1");
}

#[test]
fn a_long_reply_scrolls() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char('4')));
    let long: String = (0..30).map(|i| format!("line {i}\n")).collect();
    app.on_reply("Bona", "WHATSAT kiwi 50 20", Ok(long));
    assert_eq!(app.console.reply.len(), 30);
    app.on_key(key(KeyCode::PageDown));
    assert_eq!(app.console.reply_scroll, 10);
    for _ in 0..5 {
        app.on_key(key(KeyCode::PageDown));
    }
    assert_eq!(app.console.reply_scroll, 29, "stops at the last line");
    app.on_key(key(KeyCode::PageUp));
    assert_eq!(app.console.reply_scroll, 19);
    let shown = screen(&app, 80, 24);
    assert!(
        shown.contains("line 19") && !shown.contains("line 18"),
        "{shown}"
    );
}

#[test]
fn flood_freezes_filters_and_selects() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char('3')));
    app.on_key(key(KeyCode::Char('f')));
    assert!(app.flood.frozen.is_some());
    app.on_event("Bona", event(9, EventKind::Lagged { missed: 3 }));
    assert_eq!(
        app.flood.lines().len(),
        6,
        "frozen: the new event is not shown"
    );
    app.on_key(key(KeyCode::Char('f')));
    assert_eq!(app.flood.lines().len(), 7, "following again");
    app.on_key(key(KeyCode::Char('/')));
    type_text(&mut app, "bailey");
    assert_eq!(app.flood.lines().len(), 2, "live filter while typing");
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.flood.filter, "bailey");
    app.on_key(key(KeyCode::Up));
    let selected = app.flood.selected_item().map(|i| i.node.clone());
    assert_eq!(selected.as_deref(), Some("Bailey"));
    app.on_key(key(KeyCode::Char('G')));
    assert_eq!(app.flood.selected, None);
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.flood.filter, "");
    // In the console's line '?' is text; away from the line, help.
    app.on_key(key(KeyCode::Char('4')));
    app.on_key(key(KeyCode::Char('?')));
    assert_eq!((app.console.input.value(), &app.mode), ("?", &Mode::Normal));
    app.on_key(key(KeyCode::Esc));
    app.on_key(key(KeyCode::Char('?')));
    assert_eq!(app.mode, Mode::Help);
}

#[test]
fn a_records_line_leads_to_the_update_it_took() {
    let mut app = fixture();
    app.on_event(
        "Bona",
        event(
            3,
            EventKind::Records {
                client: "kiwi".to_owned(),
                count: 2,
                digest: "aaaaaaaaaaaaaaaa".to_owned(),
            },
        ),
    );
    app.on_key(key(KeyCode::Char('3')));
    app.on_key(key(KeyCode::Up));
    assert!(matches!(
        app.flood.selected_item().map(|i| &i.event.kind),
        Some(EventKind::Records { .. })
    ));
    assert_eq!(app.flood.selected_update().as_deref(), Some(AT));
}

#[test]
fn a_selected_event_stays_selected_while_events_arrive() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char('3')));
    for _ in 0..3 {
        app.on_key(key(KeyCode::Up));
    }
    let chosen = app.flood.selected_item().cloned();
    assert!(chosen.is_some());
    for ms in 10..20 {
        app.on_event("Bona", event(ms, EventKind::Lagged { missed: 1 }));
    }
    assert_eq!(
        app.flood.selected_item().cloned(),
        chosen,
        "selecting froze the list"
    );
    assert_eq!(app.flood.selected_update().as_deref(), Some(AT));
    app.on_key(key(KeyCode::Char('G')));
    assert!(app.flood.frozen.is_none() && app.flood.selected.is_none());
    assert_eq!(
        app.flood.lines().len(),
        16,
        "following again, with what arrived"
    );
}

#[test]
fn records_filter_and_sort() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char('2')));
    app.on_key(key(KeyCode::Char('/')));
    type_text(&mut app, "wom");
    app.on_key(key(KeyCode::Enter));
    let rows = app.records.rows();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].disagree.is_empty());
    assert_eq!(app.records.sort.label(), "disagreement");
    app.on_key(key(KeyCode::Char('s')));
    app.on_key(key(KeyCode::Char('s')));
    assert_eq!(app.records.sort.label(), "newest first");
    app.on_key(key(KeyCode::Esc));
    let rows = app.records.rows();
    let kiwi = rows.iter().find(|r| r.client == "kiwi").cloned();
    assert_eq!(kiwi.map(|r| r.disagree), Some(vec!["Jaquez".to_owned()]));
}

#[test]
fn the_verdict_says_since_when() {
    let app = fixture();
    assert!(!app.health().converged());
    let since = app.verdict;
    assert_eq!(since, Some((app.health().verdict(), NOW_MS - 1_000)));
}

/// A ring of `count` nodes: each node's label shows whole on the graph.
fn assert_readable(count: usize, width: u16, height: u16) {
    let names: Vec<String> = (0..count).map(|i| format!("n{i:02}")).collect();
    let links: Vec<(usize, usize)> = (0..count).map(|i| (i, (i + 1) % count)).collect();
    let app = App::new("big", &names, links, false);
    let shown = screen(&app, width, height);
    for name in &names {
        // Whole: not run into by a neighbour's label.
        let label = format!("✗{name}");
        let label = if count > 12 {
            label
        } else {
            format!("✗ {name}")
        };
        let whole = shown.match_indices(&label).any(|(at, _)| {
            let next = shown[at + label.len()..].chars().next();
            !next.is_some_and(|c| c.is_ascii_alphanumeric())
        });
        assert!(
            whole,
            "{count} nodes at {width}x{height}: {name} not readable:\n{shown}"
        );
    }
}

#[test]
fn graphs_of_3_to_30_nodes_keep_every_name_readable() {
    for count in [3, 5, 8, 12, 13, 20, 30] {
        assert_readable(count, 120, 40);
    }
    for count in [3, 5, 8, 12] {
        assert_readable(count, 80, 24);
    }
}

#[test]
fn a_reload_that_changes_the_graph_redraws_it_keeping_what_is_known() {
    let mut app = fixture();
    let clark_before = app
        .nodes
        .list
        .iter()
        .find(|n| n.name == "Clark")
        .and_then(|n| n.snapshot.clone());
    assert!(clark_before.is_some());
    app.herd_view.link_selected = LINKS.len() - 1;
    let mut names: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    names.retain(|n| n != "Bailey");
    names.push("Dale".to_owned());
    let dale = names.len() - 1;
    app.regraph(&names, vec![(0, dale)]);
    assert_eq!(app.nodes.len(), NAMES.len());
    assert!(app.nodes.list.iter().all(|n| n.name != "Bailey"), "removed");
    let clark = app
        .nodes
        .list
        .iter()
        .find(|n| n.name == "Clark")
        .expect("kept");
    assert_eq!(
        clark.snapshot, clark_before,
        "what was known of Clark stays"
    );
    assert!(app.nodes.list[dale].snapshot.is_none(), "Dale is new");
    assert_eq!(app.nodes.links, vec![(0, dale)]);
    assert_eq!(
        app.herd_view.link_selected, 0,
        "the selection stays on a link"
    );
    assert!(app.dirty);
    // Every view draws the new herd.
    for view in ['1', '2', '3', '4'] {
        app.on_key(key(KeyCode::Char(view)));
        let shown = text(&render(&app, 120, 40, false));
        if view == '1' {
            assert!(
                shown.contains("Dale") && !shown.contains("Bailey"),
                "{shown}"
            );
        }
    }
}

#[test]
fn a_node_away_makes_the_herd_degraded_not_diverged() {
    let names: Vec<String> = NAMES.map(str::to_owned).to_vec();
    let mut app = App::new("demo", &names, LINKS.to_vec(), false);
    app.tick(NOW_MS - 2_000);
    for (index, name) in NAMES.iter().enumerate() {
        let result = if *name == "Campbell" {
            Err(refused())
        } else {
            Ok(snapshot(name, 1, "aaaaaaaaaaaaaaaa", Vec::new(), 0))
        };
        app.on_snapshot(index, result);
    }
    app.tick(NOW_MS);
    assert_eq!(app.health().verdict(), Verdict::Degraded);
    assert_eq!(app.verdict, Some((Verdict::Degraded, NOW_MS - 2_000)));
    let buffer = render(&app, 120, 40, true);
    let header = text(&buffer).lines().next().unwrap_or_default().to_owned();
    assert!(
        header.contains("4/5 nodes") && header.contains("◐ DEGRADED 2s"),
        "{header}"
    );
    assert!(!header.contains("DIVERGED"), "{header}");
    insta::assert_snapshot!("degraded_80x24", screen(&app, 80, 24));
    // One that answers with other records: DIVERGED, whoever is away.
    app.on_snapshot(
        0,
        Ok(snapshot("Bailey", 2, "bbbbbbbbbbbbbbbb", Vec::new(), 0)),
    );
    assert_eq!(app.health().verdict(), Verdict::Diverged);
    assert!(screen(&app, 120, 40).contains("✗ DIVERGED"));
}

/// The footer row of the screen.
fn footer_of(app: &App) -> String {
    screen(app, 100, 24).lines().last().unwrap_or("").to_owned()
}

#[test]
fn while_a_line_has_the_focus_the_footer_offers_only_keys_that_work_there() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char('4')));
    let footer = footer_of(&app);
    assert!(!footer.contains("1 herd"), "{footer}");
    assert!(
        footer.contains("Esc leave") && footer.contains("Enter send"),
        "{footer}"
    );
    // Typed digits are text; Tab still switches views.
    type_text(&mut app, "1 2");
    assert_eq!(
        (app.view, app.console.input.value()),
        (View::Console, "1 2")
    );
    // Esc leaves the line (its text stays); then digits are keys again.
    app.on_key(key(KeyCode::Esc));
    assert!(!app.console.focused);
    let footer = footer_of(&app);
    assert!(
        footer.contains("1 herd") && footer.contains("i back"),
        "{footer}"
    );
    app.on_key(key(KeyCode::Char('i')));
    assert!(app.console.focused, "i: back to the line");
    assert_eq!(app.console.input.value(), "1 2");
    app.on_key(key(KeyCode::Tab));
    assert_eq!(app.view, View::Herd, "Tab leaves the console from its line");
    // The command line: typed digits are text, the footer says so.
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "link 1");
    let footer = footer_of(&app);
    assert!(footer.starts_with(":link 1"), "{footer}");
    assert!(
        !footer.contains("1 herd") && footer.contains("Esc leave"),
        "{footer}"
    );
    assert_eq!(app.view, View::Herd);
    app.on_key(key(KeyCode::BackTab));
    assert_eq!(
        app.view,
        View::Console,
        "Shift-Tab switches with the line open"
    );
    assert!(matches!(&app.mode, Mode::Command(line) if line.value() == "link 1"));
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn the_console_line_edits_where_the_cursor_is() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char('4')));
    type_text(&mut app, "WHATSAT kiwi 10 5");
    for _ in 0..5 {
        app.on_key(key(KeyCode::Left));
    }
    type_text(&mut app, "s");
    assert_eq!(app.console.input.value(), "WHATSAT kiwis 10 5");
    app.on_key(key(KeyCode::Home));
    app.on_key(key(KeyCode::Delete));
    app.on_key(key(KeyCode::End));
    app.on_key(key(KeyCode::Backspace));
    type_text(&mut app, "9");
    assert_eq!(app.console.input.value(), "HATSAT kiwis 10 9");
    app.on_key(ctrl('u'));
    assert_eq!(app.console.input.value(), "");
}

#[test]
fn a_drill_shows_its_step_while_it_runs_and_its_verdict_after() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "drill examples/drills/cut-one-off.toml");
    assert_eq!(app.on_key(key(KeyCode::Enter)), None, "asks first");
    assert_eq!(
        app.on_key(key(KeyCode::Char('y'))),
        Some(Effect::Drill("examples/drills/cut-one-off.toml".to_owned()))
    );
    app.on_drill(DrillNews::Started("cut-one-off.toml".to_owned()));
    app.on_drill(DrillNews::Progress {
        line: "drill: step 2/4: load 2000 updates at Clark,Bailey (1000/s)".to_owned(),
        doing: Some("step 2/4: load 2000 updates at Clark,Bailey (1000/s)".to_owned()),
    });
    insta::assert_snapshot!("drill_running_100x24", screen(&app, 100, 24));
    // A second drill waits for the first.
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "drill other.toml");
    assert_eq!(app.on_key(key(KeyCode::Enter)), None);
    assert!(
        app.message
            .as_ref()
            .is_some_and(|(m, _)| m.contains("a drill is running"))
    );
    app.on_drill(DrillNews::Done {
        verdict: "cut-one-off.toml: PASSED: 2000 acknowledged, 0 lost, 0 newest violations, converged 0.100 s after the heal".to_owned(),
        passed: true,
    });
    assert!(app.drill.is_none());
    app.on_key(key(KeyCode::Char('3')));
    insta::assert_snapshot!("drill_verdict_flood_100x24", screen(&app, 100, 24));
    // Read-only dashboards run no drill, restart and forget nothing.
    app.readonly = true;
    for command in ["drill x.toml", "restart Clark", "forget kiwi"] {
        app.on_key(key(KeyCode::Char(':')));
        type_text(&mut app, command);
        assert_eq!(app.on_key(key(KeyCode::Enter)), None, "{command}");
        assert!(
            app.message
                .as_ref()
                .is_some_and(|(m, _)| m.starts_with("read-only")),
            "{command}"
        );
    }
}

#[test]
fn forget_asks_first() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "forget kiwi.cs.ucla.edu");
    app.on_key(key(KeyCode::Enter));
    assert!(
        matches!(&app.mode, Mode::Confirm { prompt, .. } if prompt.contains("forget kiwi.cs.ucla.edu on every node"))
    );
    assert_eq!(
        app.on_key(key(KeyCode::Char('y'))),
        Some(Effect::Forget("kiwi.cs.ucla.edu".to_owned()))
    );
}

#[test]
fn restart_asks_first() {
    let mut app = fixture();
    app.on_key(key(KeyCode::Char(':')));
    type_text(&mut app, "restart clark");
    app.on_key(key(KeyCode::Enter));
    assert!(
        matches!(&app.mode, Mode::Confirm { prompt, .. } if prompt.contains("restart Clark (kill -9"))
    );
    assert_eq!(
        app.on_key(key(KeyCode::Char('y'))),
        Some(Effect::Restart("Clark".to_owned()))
    );
}

#[test]
fn a_long_client_id_is_shown_whole_when_the_screen_has_room() {
    let mut app = fixture();
    let long = "a-rather-long-client-id.cs.ucla.edu-0123456789";
    let page = RecordsPage {
        matching: 1,
        records: vec![record(long, "1795975190", "Bona")],
        next: None,
    };
    app.on_records(2, Ok(page));
    app.on_key(key(KeyCode::Char('2')));
    assert!(
        screen(&app, 140, 30).contains(long),
        "{}",
        screen(&app, 140, 30)
    );
    // A narrow screen keeps the id's start and every other column's head.
    let narrow = screen(&app, 80, 24);
    assert!(narrow.contains("a-rather-long-"), "{narrow}");
    assert!(narrow.contains("received"), "{narrow}");
}

#[test]
fn clicks_select_what_is_under_them_and_the_wheel_moves_the_selection() {
    use crossterm::event::{MouseButton, MouseEventKind};
    let mut app = fixture();
    let click = |app: &mut App, needle: &str, width: u16, height: u16| {
        let buffer = render(app, width, height, false);
        let shown = text(&buffer);
        let (row, line) = shown
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{shown}"));
        let column = line[..line.find(needle).unwrap_or(0)].chars().count() as u16;
        app.on_mouse(MouseEventKind::Down(MouseButton::Left), column, row as u16);
    };
    // A link in the links table.
    click(&mut app, "Campbell-Bona", 100, 30);
    assert_eq!(app.nodes.links[app.herd_view.link_selected], (2, 1));
    // A node in the nodes table: selected, and the console's node.
    click(&mut app, "● Jaquez", 100, 30);
    assert_eq!(app.herd_view.node_selected, Some(4));
    assert_eq!(app.console.node, 4);
    // A view's tab in the footer.
    app.message = None;
    click(&mut app, "3 flood", 100, 30);
    assert_eq!(app.view, View::Flood);
    // An event: selected, the list frozen.
    click(&mut app, "link Jaquez cut", 100, 30);
    assert!(app.flood.frozen.is_some());
    assert_eq!(app.flood.selected, Some(0), "the newest line");
    app.on_mouse(MouseEventKind::ScrollUp, 10, 10);
    assert_eq!(app.flood.selected, Some(1), "the wheel: an older one");
    // Lines move between the frame and the click: the click keeps its line.
    app.on_key(key(KeyCode::Char('G')));
    let shown = text(&render(&app, 100, 30, false));
    let row = shown
        .lines()
        .position(|l| l.contains("Bona     ← Clark kiwi won"))
        .unwrap_or_else(|| panic!("not on screen:\n{shown}"));
    app.on_event("Bailey", event(50, EventKind::Lagged { missed: 1 }));
    app.on_mouse(MouseEventKind::Down(MouseButton::Left), 30, row as u16);
    let chosen = app
        .flood
        .selected_item()
        .map(|i| (i.node.clone(), i.text()));
    assert_eq!(
        chosen,
        Some(("Bona".to_owned(), "← Clark kiwi won".to_owned()))
    );
    // A record.
    app.on_key(key(KeyCode::Char('2')));
    click(&mut app, "wombat", 100, 30);
    assert_eq!(app.records.rows()[app.records.selected].client, "wombat");
    app.on_mouse(MouseEventKind::ScrollUp, 10, 10);
    assert_eq!(app.records.rows()[app.records.selected].client, "kiwi");
}

#[test]
fn the_light_theme_uses_darker_colours_and_no_color_none() {
    let app = fixture();
    let colours = |theme: Theme| {
        let backend = TestBackend::new(80, 24);
        let mut terminal = Terminal::new(backend).expect("terminal");
        terminal
            .draw(|frame| draw(&app, frame, theme))
            .expect("draw");
        let buffer = terminal.backend().buffer().clone();
        let mut seen: Vec<Color> = buffer.content().iter().map(|c| c.fg).collect();
        seen.sort_by_key(|c| format!("{c:?}"));
        seen.dedup();
        seen
    };
    let dark = colours(Theme {
        color: true,
        light: false,
    });
    let light = colours(Theme {
        color: true,
        light: true,
    });
    let basic = [
        Color::Yellow,
        Color::Cyan,
        Color::Green,
        Color::Red,
        Color::Magenta,
        Color::DarkGray,
    ];
    assert!(
        dark.contains(&Color::Cyan) && dark.contains(&Color::Red),
        "{dark:?}"
    );
    assert!(light.iter().all(|c| !basic.contains(c)), "{light:?}");
    assert!(light.contains(&Color::Indexed(160)), "{light:?}");
    let none = colours(Theme {
        color: false,
        light: true,
    });
    assert_eq!(none, vec![Color::Reset], "NO_COLOR wins over the theme");
}
