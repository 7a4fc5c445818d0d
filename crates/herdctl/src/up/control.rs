//! Restarting a node of a herd that `herdctl up` runs: in the process (the
//! dashboard's `:restart`, its `:drill`) through a channel to `up`'s loop,
//! and from another herdctl (`herdctl drill`) through a Unix socket in the
//! data directory, one JSON line each way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// The socket's name in `up`'s data directory.
pub const SOCKET: &str = "up.sock";

/// A restart takes at most the start limit and the kill before it.
const RESTART_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize, PartialEq, Eq)]
pub enum RestartError {
    #[error(
        "no herdctl up answers at {path}: {reason} (restarts need the herd started by `herdctl up`; --data-dir names its directory)"
    )]
    NoUp { path: String, reason: String },
    #[error("that herdctl up runs herd {running:?}, not {wanted:?}")]
    OtherHerd { running: String, wanted: String },
    #[error("no node {0:?} in the herd that herdctl up runs")]
    NoNode(String),
    #[error("{node} did not start again: {reason}")]
    NotStarted { node: String, reason: String },
    #[error("herdctl up is stopping")]
    Stopping,
}

/// What `up`'s loop is asked to do.
pub struct Request {
    pub node: String,
    pub reply: oneshot::Sender<Result<u32, RestartError>>,
}

/// `up`'s loop, from inside the process.
#[derive(Clone)]
pub struct UpHandle {
    pub herd: String,
    requests: mpsc::Sender<Request>,
}

impl UpHandle {
    pub fn new(herd: &str) -> (UpHandle, mpsc::Receiver<Request>) {
        let (requests, received) = mpsc::channel(16);
        (
            UpHandle {
                herd: herd.to_owned(),
                requests,
            },
            received,
        )
    }

    /// kill -9 the node and start it again; its new pid once it answers.
    pub async fn restart(&self, node: &str) -> Result<u32, RestartError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            node: node.to_owned(),
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| RestartError::Stopping)?;
        answer.await.map_err(|_| RestartError::Stopping)?
    }
}

/// How a drill restarts nodes.
#[derive(Clone)]
pub enum Restarter {
    InProcess(UpHandle),
    /// Another process's `up`, by its socket.
    Socket(PathBuf),
}

impl Restarter {
    /// The socket of the `up` that keeps its files in `data_dir`.
    pub fn socket_in(data_dir: &Path) -> Restarter {
        Restarter::Socket(data_dir.join(SOCKET))
    }

    /// Checks that an `up` of herd `herd` answers.
    pub async fn check(&self, herd: &str) -> Result<(), RestartError> {
        let running = match self {
            Restarter::InProcess(handle) => handle.herd.clone(),
            Restarter::Socket(path) => match ask(path, &Ask::Hello).await? {
                Answer::Hello { herd } => herd,
                Answer::Restarted { .. } | Answer::Failed(_) => {
                    return Err(no_up(path, "it answered something else"));
                }
            },
        };
        if running != herd {
            return Err(RestartError::OtherHerd {
                running,
                wanted: herd.to_owned(),
            });
        }
        Ok(())
    }

    pub async fn restart(&self, node: &str) -> Result<u32, RestartError> {
        match self {
            Restarter::InProcess(handle) => handle.restart(node).await,
            Restarter::Socket(path) => {
                match ask(
                    path,
                    &Ask::Restart {
                        node: node.to_owned(),
                    },
                )
                .await?
                {
                    Answer::Restarted { pid } => Ok(pid),
                    Answer::Failed(err) => Err(err),
                    Answer::Hello { .. } => Err(no_up(path, "it answered something else")),
                }
            }
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Ask {
    Hello,
    Restart { node: String },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Hello { herd: String },
    Restarted { pid: u32 },
    Failed(RestartError),
}

fn no_up(path: &Path, reason: impl std::fmt::Display) -> RestartError {
    RestartError::NoUp {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

async fn ask(path: &Path, question: &Ask) -> Result<Answer, RestartError> {
    let exchange = async {
        let mut stream = UnixStream::connect(path).await?;
        let mut line = serde_json::to_string(question).map_err(std::io::Error::other)?;
        line.push('\n');
        stream.write_all(line.as_bytes()).await?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).await?;
        serde_json::from_str::<Answer>(&answer).map_err(std::io::Error::other)
    };
    match tokio::time::timeout(RESTART_LIMIT, exchange).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(err)) => Err(no_up(path, err)),
        Err(_) => Err(no_up(path, "no answer in time")),
    }
}

/// Serves the socket until the task is dropped: each connection asks one
/// thing and gets one answer.
pub async fn serve(listener: UnixListener, handle: UpHandle) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let handle = handle.clone();
                connections.spawn(async move { answer(stream, handle).await });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn answer(stream: UnixStream, handle: UpHandle) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    if BufReader::new(read).read_line(&mut line).await.is_err() {
        return;
    }
    let answer = match serde_json::from_str::<Ask>(&line) {
        Ok(Ask::Hello) => Answer::Hello {
            herd: handle.herd.clone(),
        },
        Ok(Ask::Restart { node }) => match handle.restart(&node).await {
            Ok(pid) => Answer::Restarted { pid },
            Err(err) => Answer::Failed(err),
        },
        Err(err) => Answer::Failed(RestartError::NotStarted {
            node: String::new(),
            reason: format!("not a request: {err}"),
        }),
    };
    if let Ok(mut text) = serde_json::to_string(&answer) {
        text.push('\n');
        let _ = write.write_all(text.as_bytes()).await;
    }
}
