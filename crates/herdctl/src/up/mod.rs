//! `herdctl up`: starts every node of the herd as its own process (this
//! program re-run as `herdctl node NAME`), waits until all answer, shows
//! the status, and keeps them running until Ctrl-C or SIGTERM, then stops
//! them all cleanly. A node that dies meanwhile is reported. While it runs,
//! it restarts nodes on request ([`control`]: `:restart` in its dashboard,
//! a drill's `restart` step).

pub mod control;
pub mod fleet;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use herd_admin::client::fetch_snapshot;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use self::fleet::Fleet;
use crate::Failure;
use crate::herd::Herd;
use crate::restart::{self, RestartError, UpHandle, UpLink};
use crate::status::{self, HerdReport};

/// How long the nodes get to start (loading places takes a moment in debug
/// builds).
const START_LIMIT: Duration = Duration::from_secs(20);

/// Where the nodes' stderr lines are kept, in the data directory.
pub const UP_LOG: &str = "up.log";

pub async fn run(
    herd: &Herd,
    config: Option<&Path>,
    data_dir: &Path,
    dashboard: Option<crate::tui::run::Options>,
) -> Result<(), Failure> {
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        _ => return Err(Failure::failed("cannot install signal handlers")),
    };
    let program = std::env::current_exe()
        .map_err(|err| Failure::failed(format!("cannot find this program: {err}")))?;
    std::fs::create_dir_all(data_dir)
        .map_err(|err| Failure::failed(format!("cannot create {}: {err}", data_dir.display())))?;
    // The nodes' stderr goes to DIR/up.log, and to our stderr too unless
    // the dashboard owns the terminal.
    let log_path = data_dir.join(UP_LOG);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|err| Failure::failed(format!("cannot open {}: {err}", log_path.display())))?;
    crate::note(format_args!(
        "herdctl: starting herd {:?}: {} nodes, data in {}",
        herd.name(),
        herd.nodes().len(),
        data_dir.display()
    ));

    // A herd already running on these addresses would answer for ours.
    let running = status::collect(herd, Duration::from_millis(500)).await;
    if let Some((node, snapshot)) = running
        .nodes
        .iter()
        .find_map(|n| n.snapshot.as_ref().ok().map(|s| (n, s)))
    {
        return Err(Failure::failed(format!(
            "node {} is already running at {} (herd {:?}, pid {}): stop that herd first, or start another config",
            node.name, node.admin, snapshot.herd, snapshot.pid
        )));
    }

    let (mut fleet, mut exits) = Fleet::new(program.clone(), config, data_dir, log);
    for (index, spec) in herd.nodes().iter().enumerate() {
        if let Err(err) = fleet.start(index, &spec.name) {
            fleet.stop_all().await;
            return Err(Failure::failed(format!(
                "cannot start {}: {err}",
                spec.name
            )));
        }
    }

    // Wait until every node answers, or one dies; Ctrl-C stops the start.
    let started = tokio::select! {
        started = wait_until_started(herd, &mut fleet) => started,
        _ = term.recv() => Err(Stop::Signal("SIGTERM")),
        _ = int.recv() => Err(Stop::Signal("SIGINT")),
    };
    let report = match started {
        Ok(report) => report,
        Err(Stop::Failed(message)) => {
            fleet.stop_all().await;
            return Err(Failure::failed(message));
        }
        Err(Stop::Signal(signal)) => {
            crate::note(format_args!(
                "herdctl: {signal} during start-up: stopping the herd"
            ));
            fleet.stop_all().await;
            return Ok(());
        }
    };

    // Restarts, from this process and from others through the socket (a
    // stale socket of an `up` that was killed is replaced).
    let (handle, mut requests) = UpHandle::new(herd.name());
    let mut tasks = JoinSet::new();
    let socket = restart::socket_for(herd);
    let bound = restart::prepare_dir(&socket).and_then(|()| {
        // Any file there is a stale one: no node of this herd answered.
        let _ = std::fs::remove_file(&socket);
        UnixListener::bind(&socket)
    });
    match bound {
        Ok(listener) => {
            tasks.spawn(control::serve(listener, handle.clone()));
        }
        Err(err) => crate::note(format_args!(
            "herdctl: cannot listen on {}: {err}; drills run elsewhere cannot restart nodes",
            socket.display()
        )),
    }

    let (notices_tx, notices) = mpsc::unbounded_channel();
    let headless = dashboard.is_none();
    let quiet = fleet.quiet.clone();
    let dashboard = async {
        match dashboard {
            Some(mut options) => {
                options.up = Some(UpLink {
                    handle: handle.clone(),
                    notices,
                });
                quiet.store(true, Ordering::Relaxed);
                crate::tui::run::run(herd, options).await
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(dashboard);
    if headless {
        crate::say(status::to_table(&report).trim_end());
        crate::say(running_hint(herd, &program, config));
    }

    let mut died = 0;
    // Restarts waiting for the new process to answer, by node.
    let mut restarting = std::collections::HashSet::new();
    let mut readying = JoinSet::new();
    let ended = loop {
        tokio::select! {
            outcome = &mut dashboard => {
                quiet.store(false, Ordering::Relaxed);
                crate::note("herdctl: dashboard closed: stopping the herd");
                break Ended::Dashboard(outcome);
            }
            _ = term.recv(), if headless => break Ended::Signal("SIGTERM"),
            _ = int.recv(), if headless => break Ended::Signal("SIGINT"),
            Some(exit) = exits.recv() => {
                let Some(text) = fleet.on_exit(exit).await else { continue };
                died += 1;
                if headless {
                    crate::note(format_args!("herdctl: {text}; the others keep running"));
                    if fleet.running() == 0 {
                        break Ended::Signal("every node exiting");
                    }
                } else {
                    let _ = notices_tx.send(text);
                }
            }
            Some(request) = requests.recv() => {
                let Some(index) = herd.nodes().iter().position(|n| n.name == request.node) else {
                    let _ = request.reply.send(Err(RestartError::NoNode(request.node)));
                    continue;
                };
                // One restart of a node at a time: a second would kill the
                // process the first is waiting for.
                if !restarting.insert(index) {
                    let _ = request.reply.send(Err(RestartError::Busy(request.node)));
                    continue;
                }
                match fleet.restart(index).await {
                    Ok(pid) => {
                        if headless {
                            crate::note(format_args!("herdctl: restarted {} (kill -9; pid {pid})", request.node));
                        }
                        let options = herd.admin_options(&herd.nodes()[index], Duration::from_millis(500));
                        readying.spawn(async move {
                            let answer = answers_as(options, pid)
                                .await
                                .map(|()| pid)
                                .map_err(|reason| RestartError::NotStarted {
                                    node: request.node,
                                    reason: reason.to_string(),
                                });
                            let _ = request.reply.send(answer);
                            index
                        });
                    }
                    Err(err) => {
                        restarting.remove(&index);
                        let _ = request.reply.send(Err(RestartError::NotStarted {
                            node: request.node,
                            reason: err.to_string(),
                        }));
                    }
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            Some(done) = readying.join_next(), if !readying.is_empty() => {
                if let Ok(index) = done {
                    restarting.remove(&index);
                }
            }
        }
    };
    tasks.abort_all();
    readying.abort_all();
    let _ = std::fs::remove_file(&socket);
    match ended {
        Ended::Dashboard(outcome) => {
            fleet.stop_all().await;
            outcome
        }
        Ended::Signal(stopped_by) => {
            crate::note(format_args!("herdctl: {stopped_by}: stopping the herd"));
            fleet.stop_all().await;
            if died > 0 {
                return Err(Failure::failed(format!(
                    "{died} node(s) died while the herd ran"
                )));
            }
            Ok(())
        }
    }
}

enum Ended {
    Dashboard(Result<(), Failure>),
    Signal(&'static str),
}

/// Waits until the node at `options` answers as process `pid`.
/// Why a restarted node is not answering.
#[derive(Debug, thiserror::Error)]
enum NotAnswering {
    #[error("it exited (its error is in up.log)")]
    Exited,
    #[error("no answer within {0:?}")]
    Silent(Duration),
}

/// Waits until the node at `options` answers as process `pid`; gives up
/// at once when that process is gone (a start-up error).
async fn answers_as(options: herd_admin::client::Options, pid: u32) -> Result<(), NotAnswering> {
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    let deadline = tokio::time::Instant::now() + START_LIMIT;
    loop {
        if let Ok(snapshot) = fetch_snapshot(options.clone()).await
            && snapshot.pid == pid
        {
            return Ok(());
        }
        // Signal 0 only asks whether the process is there (`up` reaps it
        // as soon as its stderr ends).
        let gone = i32::try_from(pid).map_or(true, |pid| kill(Pid::from_raw(pid), None).is_err());
        if gone {
            return Err(NotAnswering::Exited);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(NotAnswering::Silent(START_LIMIT));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Why the start did not complete.
enum Stop {
    Failed(String),
    Signal(&'static str),
}

/// Waits until every node we started answers on its admin port (and is the
/// process we started), then gives the links a moment to connect so the
/// status shown is the real one.
async fn wait_until_started(herd: &Herd, fleet: &mut Fleet) -> Result<HerdReport, Stop> {
    let deadline = tokio::time::Instant::now() + START_LIMIT;
    loop {
        fleet.reap();
        if let Some(dead) = fleet.nodes.iter().find(|n| n.exited.is_some()) {
            return Err(Stop::Failed(format!(
                "node {} exited during start-up ({}); stopping the others",
                dead.name,
                fleet::describe(dead.exited)
            )));
        }
        let report = status::collect(herd, Duration::from_millis(500)).await;
        // Ready means answered by the process we started (its pid), not by
        // some other node that got to the address first.
        let ready = report
            .nodes
            .iter()
            .zip(fleet.nodes.iter())
            .all(|(answer, started)| {
                answer
                    .snapshot
                    .as_ref()
                    .is_ok_and(|snapshot| Some(snapshot.pid) == started.child.id())
            });
        if ready {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Stop::Failed(format!(
                "the herd did not start within {START_LIMIT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settle = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut report = status::collect(herd, Duration::from_secs(1)).await;
    while report.connected_links() < report.links.len() && tokio::time::Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(100)).await;
        report = status::collect(herd, Duration::from_secs(1)).await;
    }
    Ok(report)
}

/// What to type next, with this program's real path (a new user's herdctl
/// is usually not on the PATH but in target/release/).
fn running_hint(herd: &Herd, program: &Path, config: Option<&Path>) -> String {
    let program = std::env::current_dir()
        .ok()
        .and_then(|cwd| program.strip_prefix(cwd).ok())
        .unwrap_or(program)
        .display()
        .to_string();
    let config = config
        .map(|path| format!(" --config {}", path.display()))
        .unwrap_or_default();
    let node = herd.nodes().first().map_or("NODE", |n| n.name.as_str());
    format!(
        "\nherd {:?} is running: {} nodes. Ctrl-C stops them all. In another terminal:\n  \
         {program} status{config}\n  \
         {program} watch{config}\n  \
         {program} send {node} \"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 $(date +%s.%N)\"{config}",
        herd.name(),
        herd.nodes().len(),
    )
}
