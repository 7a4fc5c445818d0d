//! `herdctl up`: starts every node of the herd as its own process (this
//! program re-run as `herdctl node NAME`), waits until all answer, shows
//! the status, and keeps them running until Ctrl-C or SIGTERM, then stops
//! them all cleanly. A node that dies meanwhile is reported.

use std::io::Write;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::Failure;
use crate::herd::Herd;
use crate::run_node::PARENT_ENV;
use crate::status::{self, HerdReport};

/// How long the nodes get to start (loading places takes a moment in debug
/// builds), and to stop after SIGTERM before they are killed.
const START_LIMIT: Duration = Duration::from_secs(20);
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// Where the nodes' stderr lines are kept, in the data directory.
pub const UP_LOG: &str = "up.log";

struct Started {
    name: String,
    child: Child,
    /// Set once the process has exited.
    exited: Option<ExitStatus>,
}

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
    let log = Arc::new(Mutex::new(log));
    let quiet = Arc::new(AtomicBool::new(false));
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

    let (exits_tx, mut exits) = mpsc::unbounded_channel::<usize>();
    let mut nodes: Vec<Started> = Vec::new();
    for (index, spec) in herd.nodes().iter().enumerate() {
        let mut command = Command::new(&program);
        command.arg("node");
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command
            .arg("--data-dir")
            .arg(data_dir)
            .arg(&spec.name)
            .env(PARENT_ENV, std::process::id().to_string())
            // Their own process group: a Ctrl-C at the terminal reaches only
            // `up`, which stops the nodes itself, in order, and can tell a
            // node that died from one it stopped.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                stop_all(&mut nodes).await;
                return Err(Failure::failed(format!(
                    "cannot start {}: {err}",
                    spec.name
                )));
            }
        };
        // Each node's stderr (its start-up line, its errors) is shown with
        // its name; the end of that stream means the process is gone.
        if let Some(stderr) = child.stderr.take() {
            let name = spec.name.clone();
            let exits = exits_tx.clone();
            let (log, quiet) = (log.clone(), quiet.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut file) = log.lock() {
                        let _ = writeln!(file, "[{name}] {line}");
                    }
                    if !quiet.load(Ordering::Relaxed) {
                        crate::note(format_args!("[{name}] {line}"));
                    }
                }
                let _ = exits.send(index);
            });
        }
        nodes.push(Started {
            name: spec.name.clone(),
            child,
            exited: None,
        });
    }

    // Wait until every node answers, or one dies; Ctrl-C stops the start.
    let started = tokio::select! {
        started = wait_until_started(herd, &mut nodes) => started,
        _ = term.recv() => Err(Stop::Signal("SIGTERM")),
        _ = int.recv() => Err(Stop::Signal("SIGINT")),
    };
    let report = match started {
        Ok(report) => report,
        Err(Stop::Failed(message)) => {
            stop_all(&mut nodes).await;
            return Err(Failure::failed(message));
        }
        Err(Stop::Signal(signal)) => {
            crate::note(format_args!(
                "herdctl: {signal} during start-up: stopping the herd"
            ));
            stop_all(&mut nodes).await;
            return Ok(());
        }
    };
    if let Some(options) = dashboard {
        quiet.store(true, Ordering::Relaxed);
        let outcome = crate::tui::run::run(herd, options).await;
        quiet.store(false, Ordering::Relaxed);
        crate::note("herdctl: dashboard closed: stopping the herd");
        stop_all(&mut nodes).await;
        return outcome;
    }
    crate::say(status::to_table(&report).trim_end());
    crate::say(running_hint(herd, &program, config));

    let mut died = 0;
    let stopped_by = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            Some(index) = exits.recv() => {
                // Its stderr ended, so it is exiting: wait for the status.
                let node = &mut nodes[index];
                let how = match tokio::time::timeout(STOP_LIMIT, node.child.wait()).await {
                    Ok(Ok(status)) => {
                        node.exited = Some(status);
                        describe(Some(status))
                    }
                    _ => {
                        // A node without its stderr is not one we can watch.
                        let _ = node.child.kill().await;
                        node.exited = node.child.try_wait().ok().flatten();
                        "closed its stderr and did not exit; killed".to_owned()
                    }
                };
                died += 1;
                crate::note(format_args!(
                    "herdctl: node {} exited ({how}); the others keep running",
                    node.name
                ));
                if died == nodes.len() {
                    break "every node exiting";
                }
            }
        }
    };
    crate::note(format_args!("herdctl: {stopped_by}: stopping the herd"));
    stop_all(&mut nodes).await;
    if died > 0 {
        return Err(Failure::failed(format!(
            "{died} node(s) died while the herd ran"
        )));
    }
    Ok(())
}

/// Why the start did not complete.
enum Stop {
    Failed(String),
    Signal(&'static str),
}

/// Waits until every node we started answers on its admin port (and is the
/// process we started), then gives the links a moment to connect so the
/// status shown is the real one.
async fn wait_until_started(herd: &Herd, nodes: &mut [Started]) -> Result<HerdReport, Stop> {
    let deadline = tokio::time::Instant::now() + START_LIMIT;
    loop {
        reap(nodes);
        if let Some(dead) = nodes.iter().find(|n| n.exited.is_some()) {
            return Err(Stop::Failed(format!(
                "node {} exited during start-up ({}); stopping the others",
                dead.name,
                describe(dead.exited)
            )));
        }
        let report = status::collect(herd, Duration::from_millis(500)).await;
        // Ready means answered by the process we started (its pid), not by
        // some other node that got to the address first.
        let ready = report
            .nodes
            .iter()
            .zip(nodes.iter())
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

fn reap(nodes: &mut [Started]) {
    for node in nodes.iter_mut().filter(|n| n.exited.is_none()) {
        if let Ok(Some(status)) = node.child.try_wait() {
            node.exited = Some(status);
        }
    }
}

/// SIGTERM to every running node, then up to [`STOP_LIMIT`] for each to
/// exit before it is killed.
async fn stop_all(nodes: &mut [Started]) {
    for node in nodes.iter().filter(|n| n.exited.is_none()) {
        if let Some(pid) = node.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let deadline = tokio::time::Instant::now() + STOP_LIMIT;
    for node in nodes.iter_mut().filter(|n| n.exited.is_none()) {
        match tokio::time::timeout_at(deadline, node.child.wait()).await {
            Ok(Ok(status)) => {
                node.exited = Some(status);
                if !status.success() {
                    crate::note(format_args!(
                        "herdctl: node {} stopped with {}",
                        node.name,
                        describe(Some(status))
                    ));
                }
            }
            _ => {
                crate::note(format_args!(
                    "herdctl: node {} did not stop within {STOP_LIMIT:?}; killing it",
                    node.name
                ));
                let _ = node.child.kill().await;
            }
        }
    }
    crate::note(format_args!("herdctl: stopped {} nodes", nodes.len()));
}

fn describe(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => status.to_string(),
        },
        None => "still running".to_owned(),
    }
}
