//! The dashboard's runtime: the terminal, one task per node polling its
//! snapshot, one subscription per node for events, the records refresh, and
//! the effects (link changes, console lines). Everything reaches the state
//! as a message on one channel; the loop redraws only when something
//! changed, at most [`FRAME`] apart.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use herd_admin::AdminState;
use herd_admin::client::Options as AdminOptions;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use super::app::{App, DrillNews};
use super::draw::{Theme, draw};
use super::effect::Effect;
use super::node_link::{ANSWER_LIMIT, NodeNews, follow_node};
use super::view::View;
use crate::Failure;
use crate::drill::runner::{Drill, Progress};
use crate::drill::scenario::{Scenario, ScenarioError};
use crate::herd::Herd;
use crate::restart::{Restarter, UpHandle};
use crate::send::SendError;
use tokio_util::sync::CancellationToken;

/// Shortest time between two frames (~30 fps).
const FRAME: Duration = Duration::from_millis(33);
/// How often the Records view asks every node for its records.
const RECORDS_EVERY: Duration = Duration::from_secs(2);
/// How long a console line waits for its reply.
const SEND_LIMIT: Duration = Duration::from_secs(15);
/// The clock tick (ages, "since", the rate window).
const TICK: Duration = Duration::from_secs(1);

enum Msg {
    Reply {
        node: String,
        line: String,
        reply: Result<String, SendError>,
    },
    LinkResult(String, bool),
    /// The config file read again after a reload.
    Reread(Box<Herd>),
    Drill(DrillNews),
}

pub struct Options {
    pub readonly: bool,
    /// Colours unless NO_COLOR is set.
    pub color: bool,
    /// The palette for a light terminal.
    pub light: bool,
    /// Under `herdctl up`: restarts, and news of nodes that died.
    pub up: Option<crate::restart::UpLink>,
}

/// Runs the dashboard until the operator quits (or SIGTERM/SIGHUP).
pub async fn run(herd: &Herd, options: Options) -> Result<(), Failure> {
    // Replaced when a reload changes the graph.
    let mut herd = herd.clone();
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hangup), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        return Err(Failure::failed("cannot install signal handlers"));
    };
    let (names, links) = herd.graph();
    let mut app = App::new(herd.name(), &names, links, options.readonly);
    app.tick(now_ms());
    let history = super::history::path_from(|var| std::env::var(var).ok());
    if let Some(path) = &history {
        app.console.remember(super::history::load(path));
    }
    let theme = Theme {
        color: options.color,
        light: options.light,
    };

    let (msgs_tx, mut msgs) = mpsc::channel::<Msg>(1024);
    // Under `herdctl up`: restarts, and news of nodes that died.
    let (up_handle, mut up_notices) = match options.up {
        Some(up) => (Some(up.handle), Some(up.notices)),
        None => (None, None),
    };
    // Drills and restarts in flight; a drill running has its cancel here.
    let mut jobs = tokio::task::JoinSet::new();
    let mut drill_cancel: Option<CancellationToken> = None;
    // Bumped each time the Records view wants fresh records.
    let (records_wanted, _) = watch::channel(0u64);
    let (mut followers, mut news) = follow_all(&herd, &records_wanted);

    // The terminal: raw mode, alternate screen, and a panic hook that puts
    // the terminal back before the message is printed.
    let mut terminal = ratatui::init();
    // Clicks and the wheel (Shift still selects text in most terminals);
    // a panic turns them off before ratatui's hook restores the rest.
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture);
    let restore = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        restore(info);
    }));
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Not polled while another view is shown: Delay, so coming back to the
    // Records view asks once rather than for every refresh missed.
    let mut records_refresh = tokio::time::interval(RECORDS_EVERY);
    records_refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_frame = tokio::time::Instant::now() - FRAME;
    let outcome = loop {
        if app.dirty {
            let wait = FRAME.saturating_sub(last_frame.elapsed());
            if wait.is_zero() {
                if let Err(err) = terminal.draw(|frame| draw(&app, frame, theme)) {
                    break Err(Failure::failed(format!("cannot draw: {err}")));
                }
                app.dirty = false;
                last_frame = tokio::time::Instant::now();
            }
        }
        let frame_due = async {
            if app.dirty {
                tokio::time::sleep(FRAME.saturating_sub(last_frame.elapsed())).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let effect = tokio::select! {
            () = frame_due => None,
            key = keys.next() => match key {
                Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
                    // Fresh time for what the key may stamp (C-t).
                    app.now_ns = now_ns();
                    app.now_ms = app.now_ns / 1_000_000;
                    app.on_key(key)
                }
                Some(Ok(TermEvent::Mouse(mouse))) => {
                    app.now_ms = now_ms();
                    app.on_mouse(mouse.kind, mouse.column, mouse.row)
                }
                Some(Ok(TermEvent::Resize(..))) => {
                    app.dirty = true;
                    None
                }
                Some(Ok(_)) => None,
                Some(Err(err)) => break Err(Failure::failed(format!("terminal: {err}"))),
                None => Some(Effect::Quit),
            },
            Some(item) = news.recv() => {
                app.now_ms = now_ms();
                apply_news(&mut app, item);
                // Take what else is waiting, bounded so keys stay responsive.
                for _ in 0..2048 {
                    match news.try_recv() {
                        Ok(item) => apply_news(&mut app, item),
                        Err(_) => break,
                    }
                }
                None
            }
            Some(msg) = msgs.recv() => {
                app.now_ms = now_ms();
                match msg {
                    Msg::Reread(fresh) if fresh.graph() != herd.graph() => {
                        herd = *fresh;
                        let (names, links) = herd.graph();
                        app.regraph(&names, links);
                        // New connections, numbered for the new list; the
                        // old ones (and what they still had to say) go.
                        followers.abort_all();
                        (followers, news) = follow_all(&herd, &records_wanted);
                    }
                    Msg::Reread(_) => {}
                    other => apply(&mut app, other),
                }
                None
            }
            Some(text) = next_notice(&mut up_notices) => {
                app.now_ms = now_ms();
                app.on_up_notice(text);
                None
            }
            Some(_) = jobs.join_next(), if !jobs.is_empty() => None,
            _ = tick.tick() => {
                app.tick(now_ms());
                None
            }
            _ = records_refresh.tick(), if app.view == View::Records => {
                records_wanted.send_modify(|generation| *generation += 1);
                None
            }
            _ = term.recv() => Some(Effect::Quit),
            _ = interrupt.recv() => Some(Effect::Quit),
            _ = hangup.recv() => Some(Effect::Quit),
        };
        for line in std::mem::take(&mut app.console.unsaved) {
            if let Some(path) = &history
                && let Err(err) = super::history::append(path, &line)
            {
                app.say((
                    format!("history not saved in {}: {err}", path.display()),
                    true,
                ));
            }
        }
        match effect {
            Some(Effect::Quit) => break Ok(()),
            Some(Effect::Drill(file)) => {
                match start_drill(&herd, &file, up_handle.as_ref(), &msgs_tx, &mut jobs) {
                    Ok(cancel) => {
                        drill_cancel = Some(cancel);
                        app.on_drill(DrillNews::Started(file));
                    }
                    Err(why) => app.say((why.to_string(), true)),
                }
            }
            Some(Effect::Restart(node)) => match &up_handle {
                None => app.say((
                    "restart needs the herd started by `herdctl up`; this dashboard watches a herd it did not start".to_owned(),
                    true,
                )),
                Some(handle) => {
                    let (handle, msgs) = (handle.clone(), msgs_tx.clone());
                    app.say((format!("restarting {node} (kill -9)…"), false));
                    jobs.spawn(async move {
                        let (text, failed) = match handle.restart(&node).await {
                            Ok(pid) => (format!("{node} restarted: pid {pid}"), false),
                            Err(err) => (format!("{node} not restarted: {err}"), true),
                        };
                        let _ = msgs.send(Msg::LinkResult(text, failed)).await;
                    });
                }
            },
            Some(Effect::SetLinks(links)) => {
                let ends = link_ends(&herd, &links);
                let msgs = msgs_tx.clone();
                app.say((format!("changing {} link(s)…", links.len()), false));
                tokio::spawn(async move {
                    let (text, failed) = set_links(ends, &links).await;
                    let _ = msgs.send(Msg::LinkResult(text, failed)).await;
                });
            }
            Some(Effect::Reload(nodes)) => {
                let (herd, msgs) = (herd.clone(), msgs_tx.clone());
                tokio::spawn(async move {
                    let (text, failed) = match crate::reload::reload_nodes(&herd, &nodes).await {
                        Ok(said) => (
                            said.iter()
                                .map(|one| format!("{}: {}", one.node, one.line))
                                .collect::<Vec<_>>()
                                .join("; "),
                            said.iter().any(|one| !one.ok),
                        ),
                        Err(err) => (err.message, true),
                    };
                    let _ = msgs.send(Msg::LinkResult(text, failed)).await;
                    // Nodes and links may have changed: draw the file's.
                    if let Ok(fresh) = herd.read_again() {
                        let _ = msgs.send(Msg::Reread(Box::new(fresh))).await;
                    }
                });
            }
            Some(Effect::Forget(client)) => {
                let (herd, msgs) = (herd.clone(), msgs_tx.clone());
                app.say((format!("forgetting {client}…"), false));
                tokio::spawn(async move {
                    let (text, failed) =
                        match crate::forget::forget(&herd, &client, None).await {
                            Ok(result) => (crate::forget::describe(&result, &client), false),
                            Err(err) => (err.message, true),
                        };
                    let _ = msgs.send(Msg::LinkResult(text, failed)).await;
                });
            }
            Some(Effect::Send { node, line }) => {
                let Ok(spec) = herd.node(&node) else {
                    continue;
                };
                let (addr, msgs) = (spec.client.clone(), msgs_tx.clone());
                tokio::spawn(async move {
                    let reply = crate::send::ask(addr, &line, SEND_LIMIT).await;
                    let _ = msgs.send(Msg::Reply { node, line, reply }).await;
                });
            }
            None => {}
        }
    };
    // However the loop ended (quit, a signal, a terminal that failed): a
    // drill leaves the links as it found them.
    if let Some(cancel) = drill_cancel.take().filter(|_| app.drill.is_some()) {
        cancel.cancel();
        app.say((
            "quitting: the drill puts the links back first…".to_owned(),
            false,
        ));
        let _ = terminal.draw(|frame| draw(&app, frame, theme));
        // Its messages are still read (and dropped), so it never waits on
        // a full channel.
        let _ = tokio::time::timeout(DRILL_STOP_LIMIT, async {
            loop {
                tokio::select! {
                    joined = jobs.join_next() => if joined.is_none() { break },
                    Some(_) = msgs.recv() => {}
                }
            }
        })
        .await;
    }
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    ratatui::restore();
    outcome
}

/// Why `:drill` did not start (said on the bottom line).
#[derive(Debug, thiserror::Error)]
enum DrillNotStarted {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("step {step} restarts {node}: restarts need the herd started by `herdctl up`")]
    NeedsUp { step: usize, node: String },
}

/// How long quitting waits for a drill to put the links back.
const DRILL_STOP_LIMIT: Duration = Duration::from_secs(15);

/// Checks the scenario and starts the drill as a job whose news comes as
/// messages; its cancel. Why not, in one line.
fn start_drill(
    herd: &Herd,
    file: &str,
    up: Option<&UpHandle>,
    msgs: &mpsc::Sender<Msg>,
    jobs: &mut tokio::task::JoinSet<()>,
) -> Result<CancellationToken, DrillNotStarted> {
    let scenario = Scenario::load(std::path::Path::new(file), herd)?;
    let restarter = up.map(|handle| Restarter::InProcess(handle.clone()));
    if let (Some((step, node)), None) = (scenario.restarts().next(), &restarter) {
        return Err(DrillNotStarted::NeedsUp {
            step,
            node: node.to_owned(),
        });
    }
    let cancel = CancellationToken::new();
    let (herd, file, msgs, token) = (herd.clone(), file.to_owned(), msgs.clone(), cancel.clone());
    jobs.spawn(async move {
        let (progress, mut heard) = mpsc::unbounded_channel();
        let drill = Drill {
            herd: &herd,
            scenario: &scenario,
            name: file.clone(),
            restarter,
        };
        let running = async move {
            let outcome = drill.run(&progress, &token).await;
            drop(progress);
            outcome
        };
        let forwarding = async {
            while let Some(news) = heard.recv().await {
                let doing = match &news {
                    Progress::Step { number, of, step } => {
                        Some(format!("step {number}/{of}: {step}"))
                    }
                    Progress::Finishing(what) => Some((*what).to_owned()),
                    Progress::StepDone(_) => None,
                };
                let line = crate::drill::progress_line(&news);
                let _ = msgs
                    .send(Msg::Drill(DrillNews::Progress { line, doing }))
                    .await;
            }
        };
        let (report, ()) = tokio::join!(running, forwarding);
        let done = DrillNews::Done {
            verdict: report.verdict(),
            passed: report.passed,
        };
        let _ = msgs.send(Msg::Drill(done)).await;
    });
    Ok(cancel)
}

/// The next notice from `herdctl up`; never, without one.
async fn next_notice(notices: &mut Option<mpsc::UnboundedReceiver<String>>) -> Option<String> {
    if let Some(open) = notices {
        if let Some(text) = open.recv().await {
            return Some(text);
        }
        // `up` is gone: nothing more will come.
        *notices = None;
    }
    std::future::pending().await
}

fn apply_news(app: &mut App, news: NodeNews) {
    match news {
        NodeNews::Snapshot(node, result) => app.on_snapshot(node, *result),
        NodeNews::Records(node, page) => app.on_records(node, page),
        NodeNews::Event(node, event) => {
            if let Some(name) = app.nodes.list.get(node).map(|n| n.name.clone()) {
                app.on_event(&name, event);
            }
        }
    }
}

fn apply(app: &mut App, msg: Msg) {
    match msg {
        Msg::Reply { node, line, reply } => app.on_reply(&node, &line, reply),
        Msg::LinkResult(text, failed) => app.say((text, failed)),
        Msg::Drill(news) => app.on_drill(news),
        Msg::Reread(_) => {}
    }
}

/// One admin connection per node of `herd` ([`follow_node`]), numbered in
/// its order, all telling one channel; aborted when the set is dropped.
fn follow_all(
    herd: &Herd,
    records_wanted: &watch::Sender<u64>,
) -> (tokio::task::JoinSet<()>, mpsc::Receiver<NodeNews>) {
    let (news_tx, news) = mpsc::channel::<NodeNews>(8192);
    let mut followers = tokio::task::JoinSet::new();
    for (index, node) in herd.nodes().iter().enumerate() {
        followers.spawn(follow_node(
            index,
            herd.admin_options(node, ANSWER_LIMIT),
            news_tx.clone(),
            records_wanted.subscribe(),
        ));
    }
    (followers, news)
}

/// One end of a link to set: the node, how to reach it, its peer, the state.
type LinkEnd = (String, AdminOptions, String, AdminState);

/// Both ends of each link, in order.
fn link_ends(herd: &Herd, links: &[(String, String, AdminState)]) -> Vec<LinkEnd> {
    let mut ends = Vec::new();
    for (a, b, state) in links {
        for (node, peer) in [(a, b), (b, a)] {
            if let Ok(spec) = herd.node(node) {
                let options = herd.admin_options(spec, crate::link::LIMIT);
                ends.push((node.clone(), options, peer.clone(), *state));
            }
        }
    }
    ends
}

/// Tells both ends of each link; a summary for the bottom line.
async fn set_links(ends: Vec<LinkEnd>, links: &[(String, String, AdminState)]) -> (String, bool) {
    let mut failures = Vec::new();
    for (node, options, peer, state) in ends {
        if let Err(err) = crate::link::tell(options, &peer, state).await {
            failures.push(format!("{node}: {err}"));
        }
    }
    let names: Vec<String> = links
        .iter()
        .map(|(a, b, s)| format!("{a}-{b} {}", s.as_str()))
        .collect();
    if failures.is_empty() {
        (format!("done: {}", names.join(", ")), false)
    } else {
        (format!("FAILED: {}", failures.join("; ")), true)
    }
}

fn now_ns() -> u64 {
    herd_proto::time::Nanos::now().0
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
