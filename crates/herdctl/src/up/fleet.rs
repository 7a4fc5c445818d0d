//! The node processes `herdctl up` runs: started, watched through their
//! stderr (whose end means the process is going), restarted on request,
//! stopped together.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::run_node::PARENT_ENV;

/// How long the nodes get to stop after SIGTERM before they are killed.
pub const STOP_LIMIT: Duration = Duration::from_secs(5);

/// One node's process.
pub struct Started {
    pub name: String,
    pub child: Child,
    /// Set once the process has exited.
    pub exited: Option<ExitStatus>,
    /// Counts starts: the end of an old process's stderr is not news.
    pub generation: u64,
    /// Its last stderr line (a start-up error, when it died).
    pub last_line: Arc<Mutex<Option<String>>>,
}

/// Node `index`'s stderr ended: (index, generation).
pub type Exit = (usize, u64);

/// Everything needed to start a node again as it was started.
pub struct Fleet {
    program: PathBuf,
    config: Option<PathBuf>,
    data_dir: PathBuf,
    /// DIR/up.log: every node's stderr, by name.
    log: Arc<Mutex<std::fs::File>>,
    /// While the dashboard owns the terminal, stderr lines only go to the log.
    pub quiet: Arc<AtomicBool>,
    exits: mpsc::UnboundedSender<Exit>,
    pub nodes: Vec<Started>,
}

impl Fleet {
    pub fn new(
        program: PathBuf,
        config: Option<&Path>,
        data_dir: &Path,
        log: std::fs::File,
    ) -> (Fleet, mpsc::UnboundedReceiver<Exit>) {
        let (exits, exited) = mpsc::unbounded_channel();
        let fleet = Fleet {
            program,
            config: config.map(Path::to_path_buf),
            data_dir: data_dir.to_path_buf(),
            log: Arc::new(Mutex::new(log)),
            quiet: Arc::new(AtomicBool::new(false)),
            exits,
            nodes: Vec::new(),
        };
        (fleet, exited)
    }

    /// Starts node `name` as `nodes[index]` (a new entry at the end, or a
    /// restart in place).
    pub fn start(&mut self, index: usize, name: &str) -> std::io::Result<()> {
        let mut command = Command::new(&self.program);
        command.arg("node");
        if let Some(config) = &self.config {
            command.arg("--config").arg(config);
        }
        command
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg(name)
            .env(PARENT_ENV, std::process::id().to_string())
            // Their own process group: a Ctrl-C at the terminal reaches only
            // `up`, which stops the nodes itself, in order, and can tell a
            // node that died from one it stopped.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let generation = self.nodes.get(index).map_or(0, |n| n.generation + 1);
        let last_line = Arc::new(Mutex::new(None));
        // Each node's stderr (its start-up line, its errors) is kept with
        // its name; the end of that stream means the process is gone.
        if let Some(stderr) = child.stderr.take() {
            let name = name.to_owned();
            let exits = self.exits.clone();
            let (log, quiet, last) = (self.log.clone(), self.quiet.clone(), last_line.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut file) = log.lock() {
                        let _ = writeln!(file, "[{name}] {line}");
                    }
                    if !quiet.load(Ordering::Relaxed) {
                        crate::note(format_args!("[{name}] {line}"));
                    }
                    if let Ok(mut last) = last.lock() {
                        *last = Some(line);
                    }
                }
                let _ = exits.send((index, generation));
            });
        }
        let started = Started {
            name: name.to_owned(),
            child,
            exited: None,
            generation,
            last_line,
        };
        match self.nodes.get_mut(index) {
            Some(slot) => *slot = started,
            None => self.nodes.push(started),
        }
        Ok(())
    }

    /// kill -9 node `index`, waits for it, and starts it again; the new pid.
    pub async fn restart(&mut self, index: usize) -> std::io::Result<u32> {
        let node = &mut self.nodes[index];
        if node.exited.is_none() {
            let _ = node.child.kill().await;
        }
        let name = node.name.clone();
        self.start(index, &name)?;
        self.nodes[index]
            .child
            .id()
            .ok_or_else(|| std::io::Error::other("exited at once"))
    }

    /// The end of a node's stderr: how it exited, once the status is in,
    /// with its last stderr line when it failed by itself. None for a
    /// process already replaced.
    pub async fn on_exit(&mut self, (index, generation): Exit) -> Option<String> {
        let node = self.nodes.get_mut(index)?;
        if node.generation != generation {
            return None;
        }
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
        // A node that exits by itself says why on its last stderr line (a
        // start-up error); one killed by a signal said nothing about it.
        let said = node
            .exited
            .and_then(|status| status.code())
            .filter(|&code| code != 0)
            .and_then(|_| node.last_line.lock().ok().and_then(|l| l.clone()));
        Some(match said {
            Some(line) => format!("node {} exited ({how}): {line}", node.name),
            None => format!("node {} exited ({how})", node.name),
        })
    }

    pub fn reap(&mut self) {
        for node in self.nodes.iter_mut().filter(|n| n.exited.is_none()) {
            if let Ok(Some(status)) = node.child.try_wait() {
                node.exited = Some(status);
            }
        }
    }

    pub fn running(&self) -> usize {
        self.nodes.iter().filter(|n| n.exited.is_none()).count()
    }

    /// SIGTERM to every running node, then up to [`STOP_LIMIT`] for each to
    /// exit before it is killed.
    pub async fn stop_all(&mut self) {
        for node in self.nodes.iter().filter(|n| n.exited.is_none()) {
            if let Some(pid) = node.child.id().and_then(|pid| i32::try_from(pid).ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = tokio::time::Instant::now() + STOP_LIMIT;
        for node in self.nodes.iter_mut().filter(|n| n.exited.is_none()) {
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
        crate::note(format_args!("herdctl: stopped {} nodes", self.nodes.len()));
    }
}

pub fn describe(status: Option<ExitStatus>) -> String {
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
