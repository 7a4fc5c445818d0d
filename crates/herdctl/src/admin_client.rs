//! One connection to a node's admin port (docs/admin-protocol.md).
//!
//! Requests are answered in order; after `subscribe`, event lines come in
//! between. [`AdminClient::request`] sets aside events that arrive while it
//! waits for its response, and [`AdminClient::next_event`] hands them out
//! first, so one connection serves both.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use herd_admin::{AdminRequest, Command, ErrorCode, Event, RecordsPage, Response, Snapshot};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::timeout;

/// Longest line accepted from a node (a records page of long ids is big).
const MAX_LINE: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// Could not connect, or the connection broke.
    Unreachable(String),
    /// No answer in time.
    Timeout,
    /// The node refused the token (or wanted one).
    TokenRejected(String),
    /// The node answered with an error.
    Refused(String),
    /// The node answered something this program cannot read.
    Protocol(String),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Unreachable(reason) => write!(f, "unreachable: {reason}"),
            AdminError::Timeout => f.write_str("timed out"),
            AdminError::TokenRejected(reason) => write!(f, "token rejected: {reason}"),
            AdminError::Refused(reason) => f.write_str(reason),
            AdminError::Protocol(reason) => write!(f, "protocol error: {reason}"),
        }
    }
}

pub struct AdminClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    early_events: VecDeque<Event>,
    line: String,
}

impl AdminClient {
    /// Connects and, when a token is given, authenticates, all within
    /// `limit`.
    pub async fn connect(
        addr: SocketAddr,
        token: Option<&str>,
        limit: Duration,
    ) -> Result<AdminClient, AdminError> {
        timeout(limit, Self::open(addr, token))
            .await
            .map_err(|_| AdminError::Timeout)?
    }

    /// Connects and authenticates without a time limit of its own: for
    /// callers that bound the whole exchange themselves.
    pub async fn open(addr: SocketAddr, token: Option<&str>) -> Result<AdminClient, AdminError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|err| AdminError::Unreachable(err.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let mut client = AdminClient {
            reader: BufReader::new(reader),
            writer,
            next_id: 1,
            early_events: VecDeque::new(),
            line: String::new(),
        };
        if let Some(token) = token {
            client
                .request(Command::Auth {
                    token: token.to_owned(),
                })
                .await
                .map_err(|err| match err {
                    AdminError::Refused(reason) => AdminError::TokenRejected(reason),
                    other => other,
                })?;
        }
        Ok(client)
    }

    /// Sends one request and waits for its response's result.
    pub async fn request(&mut self, command: Command) -> Result<Value, AdminError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = AdminRequest {
            id: Value::from(id),
            command,
        };
        let mut line =
            serde_json::to_string(&request).map_err(|err| AdminError::Protocol(err.to_string()))?;
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .await
            .map_err(|err| AdminError::Unreachable(err.to_string()))?;
        loop {
            let value = self.read_value().await?;
            if value.get("event").is_some() {
                if let Ok(event) = serde_json::from_value(value) {
                    self.early_events.push_back(event);
                }
                continue;
            }
            let response: Response = serde_json::from_value(value)
                .map_err(|err| AdminError::Protocol(err.to_string()))?;
            // An error without an id is about the connection (an over-long
            // line, no token in time): the node closes after it, so it is
            // the answer to this request too.
            let ours = response.id == id || (response.id.is_null() && !response.ok);
            if !ours {
                continue;
            }
            if response.ok {
                return Ok(response.result.unwrap_or(Value::Null));
            }
            let message = response.error.unwrap_or_else(|| "refused".to_owned());
            return Err(match response.code {
                Some(ErrorCode::AuthRequired | ErrorCode::AuthFailed) => {
                    AdminError::TokenRejected(message)
                }
                _ => AdminError::Refused(message),
            });
        }
    }

    pub async fn snapshot(&mut self) -> Result<Snapshot, AdminError> {
        let value = self.request(Command::Snapshot).await?;
        serde_json::from_value(value).map_err(|err| AdminError::Protocol(err.to_string()))
    }

    pub async fn records(
        &mut self,
        prefix: Option<&str>,
        after: Option<&str>,
    ) -> Result<RecordsPage, AdminError> {
        let value = self
            .request(Command::Records {
                prefix: prefix.map(str::to_owned),
                after: after.map(str::to_owned),
                limit: None,
            })
            .await?;
        serde_json::from_value(value).map_err(|err| AdminError::Protocol(err.to_string()))
    }

    pub async fn subscribe(&mut self) -> Result<(), AdminError> {
        self.request(Command::Subscribe).await.map(|_| ())
    }

    /// The next event, after `subscribe`.
    pub async fn next_event(&mut self) -> Result<Event, AdminError> {
        if let Some(event) = self.early_events.pop_front() {
            return Ok(event);
        }
        loop {
            let value = self.read_value().await?;
            if value.get("event").is_some() {
                return serde_json::from_value(value)
                    .map_err(|err| AdminError::Protocol(err.to_string()));
            }
        }
    }

    async fn read_value(&mut self) -> Result<Value, AdminError> {
        self.line.clear();
        let read = (&mut self.reader)
            .take(MAX_LINE as u64)
            .read_line(&mut self.line)
            .await
            .map_err(|err| AdminError::Unreachable(err.to_string()))?;
        if read == 0 {
            return Err(AdminError::Unreachable(
                "the node closed the connection".to_owned(),
            ));
        }
        serde_json::from_str(&self.line).map_err(|err| AdminError::Protocol(err.to_string()))
    }
}

/// Connects, authenticates and takes a snapshot, all within `limit`.
pub async fn fetch_snapshot(
    addr: SocketAddr,
    token: Option<&str>,
    limit: Duration,
) -> Result<Snapshot, AdminError> {
    timeout(limit, async {
        let mut client = AdminClient::open(addr, token).await?;
        client.snapshot().await
    })
    .await
    .map_err(|_| AdminError::Timeout)?
}
