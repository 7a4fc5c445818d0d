//! The ceiling: a minimal tokio line server that answers every line with a
//! line the size of an AT line, doing no other work. What the node reaches
//! is compared with what this reaches on the same machine in the same run.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
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

async fn answer(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if writer.write_all(REPLY).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = writer.shutdown().await;
}
