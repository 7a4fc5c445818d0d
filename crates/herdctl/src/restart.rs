//! Restarting a node of a herd that `herdctl up` runs, as its askers see
//! it: in the process (the dashboard's `:restart`, its `:drill`) through a
//! channel to `up`'s loop, and from another herdctl (`herdctl drill`)
//! through a Unix socket, one JSON line each way (`up::control` serves
//! it). The socket's name comes from the config (the herd's name and its
//! nodes' admin addresses), so any herdctl given the same config finds the
//! `up` that runs that herd, wherever it was started.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use crate::herd::Herd;

/// The socket of the `up` that runs `herd`: in `$XDG_RUNTIME_DIR/herdctl/`,
/// else in a directory of the user's own under the temporary directory.
pub fn socket_for(herd: &Herd) -> PathBuf {
    let mut key = herd.name().to_owned();
    let mut nodes: Vec<String> = herd
        .nodes()
        .iter()
        .map(|node| format!("{}={}", node.name, node.admin))
        .collect();
    nodes.sort();
    for node in nodes {
        key.push('\n');
        key.push_str(&node);
    }
    let hash = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
    runtime_dir().join(format!("up-{hash:016x}.sock"))
}

fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| Path::new(dir).is_absolute()) {
        Some(dir) => PathBuf::from(dir).join("herdctl"),
        None => std::env::temp_dir().join(format!("herdctl-{}", nix::unistd::getuid())),
    }
}

/// Makes the socket's directory, only the user's (0700), and checks that
/// it is: a directory someone else made could hand restarts to them.
pub fn prepare_dir(socket: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let Some(dir) = socket.parent() else {
        return Ok(());
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if meta.uid() != nix::unistd::getuid().as_raw() || meta.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not this user's alone",
            dir.display()
        )));
    }
    Ok(())
}

/// A restart takes at most the start limit and the kill before it.
const RESTART_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize, PartialEq, Eq)]
pub enum RestartError {
    #[error(
        "no herdctl up runs this herd (asked at {path}: {reason}); restarts need the herd started by `herdctl up` with this config"
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
    #[error("{0} is being restarted already")]
    Busy(String),
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
    /// The `up` that runs `herd`, by its socket.
    pub fn for_herd(herd: &Herd) -> Restarter {
        Restarter::Socket(socket_for(herd))
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
pub(crate) enum Ask {
    Hello,
    Restart { node: String },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Answer {
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

/// What the dashboard gets from the `up` it runs in.
pub struct UpLink {
    pub handle: UpHandle,
    /// Nodes that died, in words.
    pub notices: mpsc::UnboundedReceiver<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_named_after_the_herd_and_its_admin_addresses() {
        let default = Herd::load(None).expect("the default herd");
        assert_eq!(socket_for(&default), socket_for(&default.clone()));
        let mut moved = default.clone();
        moved.config.nodes[0].admin = "127.0.0.1:13200".parse().expect("an address");
        assert_ne!(
            socket_for(&default),
            socket_for(&moved),
            "another herd's up"
        );
        let name = socket_for(&default);
        let name = name.file_name().map(|n| n.to_string_lossy().into_owned());
        assert!(name.is_some_and(|n| n.starts_with("up-") && n.ends_with(".sock")));
    }
}
