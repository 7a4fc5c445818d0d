//! Just enough of the admin protocol (docs/admin-protocol.md) for the
//! benchmarks: requests, and the event stream.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub struct Admin {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
}

impl Admin {
    pub async fn connect(addr: SocketAddr, token: Option<&str>) -> anyhow::Result<Admin> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("admin port {addr}"))?;
        let (reader, writer) = stream.into_split();
        let mut admin = Admin {
            reader: BufReader::new(reader),
            writer,
            next_id: 1,
        };
        if let Some(token) = token {
            admin
                .request(json!({"cmd": "auth", "token": token}))
                .await?;
        }
        Ok(admin)
    }

    /// Sends a request and returns its `result`; events in between are
    /// skipped.
    pub async fn request(&mut self, mut request: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        self.writer
            .write_all(format!("{request}\n").as_bytes())
            .await?;
        loop {
            let reply = self.next_line().await?;
            if reply.get("id") == Some(&json!(id)) {
                if reply["ok"] != true {
                    bail!("admin request failed: {}", reply["error"]);
                }
                return Ok(reply["result"].clone());
            }
        }
    }

    pub async fn snapshot(&mut self) -> anyhow::Result<Value> {
        self.request(json!({"cmd": "snapshot"})).await
    }

    /// The next line from the node (an event once subscribed).
    pub async fn next_line(&mut self) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.next_raw_line().await?)?)
    }

    /// The next line as text (for scanning many events cheaply).
    pub async fn next_raw_line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).await? == 0 {
            bail!("the node closed the admin connection");
        }
        Ok(line)
    }
}
