//! The socket side of restarts (see [`crate::restart`]): each connection
//! asks one thing and gets one answer, within a time limit.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::restart::{Answer, Ask, RestartError, UpHandle};

/// How long a connection may take to ask.
const ASK_LIMIT: Duration = Duration::from_secs(5);

/// Serves the socket until the task is dropped: each connection asks one
/// thing and gets one answer.
pub async fn serve(listener: UnixListener, handle: UpHandle) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors, say: not a reason to spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
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
    let asked = tokio::time::timeout(ASK_LIMIT, BufReader::new(read).read_line(&mut line)).await;
    if !matches!(asked, Ok(Ok(n)) if n > 0) {
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
