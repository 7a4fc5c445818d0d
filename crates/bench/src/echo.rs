//! The ceiling: a minimal tokio line server that answers every line with a
//! line the size of an AT line, doing no other work. What the node reaches
//! is compared with what this reaches on the same machine in the same run.
//!
//! Like the node, it answers all the lines one read brought in with one
//! write: one line at a time for a client that waits for each answer, and
//! no system call per line for one that pushes lines without waiting
//! (`absorb`'s ceiling).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The size of a typical AT line, with its `\n` (85 bytes).
pub const REPLY: &[u8] =
    b"AT Clark +0.000212513 bench-123456 +34.068930-118.445127 1764434400.500000000 echo\n";

/// Serves until the process ends; calls `ready` with the bound address.
pub async fn serve(listen: SocketAddr, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    ready(listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(answer(stream));
    }
}

async fn answer(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut input = vec![0u8; 64 * 1024];
    let mut replies = Vec::with_capacity(64 * 1024);
    loop {
        let read = match stream.read(&mut input).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        // A line is answered when its `\n` arrives.
        let lines = input[..read].iter().filter(|&&b| b == b'\n').count();
        replies.clear();
        for _ in 0..lines {
            replies.extend_from_slice(REPLY);
        }
        if stream.write_all(&replies).await.is_err() {
            return;
        }
    }
    let _ = stream.shutdown().await;
}
