//! The admin client: one connection to a node's admin port
//! (docs/admin-protocol.md), shared by herdctl's commands, its dashboard
//! and herd-bench.
//!
//! - Lines are bounded ([`Options::max_line`]); an over-long one is a
//!   [`ProtocolError::LineTooLong`], never a panic or a stream that ends.
//! - Every request gets the next id; responses are matched by id, so
//!   requests can be pipelined ([`AdminClient::send`] and
//!   [`AdminClient::next`]) or awaited one by one ([`AdminClient::request`]
//!   and the typed helpers). A response to an id never asked is a protocol
//!   error; a late one to a request that timed out is dropped.
//! - With a token, `auth` goes first ([`AdminClient::connect`]); the
//!   node's refusal is [`ClientError::TokenRefused`].
//! - With an expected [`Identity`], every answer that names the node
//!   (`auth`, `subscribe`, `snapshot`) is checked: another node is
//!   [`ClientError::WrongNode`].
//! - After `subscribe`, events come from [`AdminClient::next_event`] (or
//!   [`AdminClient::next`]); events that arrive while a request waits are
//!   set aside for it, up to a bound, then counted as lost (a `lagged`
//!   event, as the node itself reports a slow subscriber).
//!
//! A connection that failed (closed, timed out mid-write, a bad line, the
//! wrong node) is not used again: every later call is [`ClientError::Closed`].

mod error;
mod lines;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};

pub use error::{ClientError, ErrorKind, Identity, ProtocolError};
use lines::{BoundedLines, Line};

use crate::event::{Event, EventKind};
use crate::request::{AdminRequest, Command};
use crate::response::{
    AuthResult, ForgetResult, LinkResult, LogResult, RecordsPage, ReloadResult, Response,
    SubscribeResult,
};
use crate::snapshot::{AdminState, Snapshot};

/// Longest line read from a node by default: a page of 10,000 records
/// with long ids is several megabytes.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024 * 1024;
/// Default bound on connecting (with the token) and on each request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Events set aside while a request waits, before the oldest are dropped.
pub const SET_ASIDE_EVENTS: usize = 10_000;

/// How to reach a node.
#[derive(Debug, Clone)]
pub struct Options {
    /// `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT`: a host name is resolved
    /// at every connect, so a node that moved is found at its new address.
    pub addr: String,
    pub token: Option<String>,
    /// The node that should answer; None takes whoever does.
    pub expect: Option<Identity>,
    /// Bounds connecting with the token handshake, and each request.
    pub timeout: Duration,
    pub max_line: usize,
    /// With `[tls] admin = true`: TLS, and the node's certificate must
    /// name the node.
    pub tls: Option<AdminTls>,
}

/// How to speak TLS to an admin port.
#[derive(Debug, Clone)]
pub struct AdminTls {
    /// Trusts the herd CA; presents herdctl's certificate.
    pub config: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    /// The node's name, which its certificate must carry.
    pub node: String,
}

impl Options {
    /// `addr` as text: a `SocketAddr`, or a config address by name.
    pub fn new(addr: impl fmt::Display) -> Options {
        Options {
            addr: addr.to_string(),
            token: None,
            expect: None,
            timeout: DEFAULT_TIMEOUT,
            max_line: DEFAULT_MAX_LINE,
            tls: None,
        }
    }

    pub fn tls(mut self, tls: Option<AdminTls>) -> Options {
        self.tls = tls;
        self
    }

    pub fn token(mut self, token: Option<&str>) -> Options {
        self.token = token.map(str::to_owned);
        self
    }

    pub fn expecting(mut self, identity: Identity) -> Options {
        self.expect = Some(identity);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Options {
        self.timeout = timeout;
        self
    }

    pub fn max_line(mut self, max_line: usize) -> Options {
        self.max_line = max_line;
        self
    }
}

/// Names a request sent with [`AdminClient::send`]; its reply carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(u64);

/// A typed result, by the command that asked for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Auth(AuthResult),
    /// Boxed: a snapshot is large.
    Snapshot(Box<Snapshot>),
    Records(RecordsPage),
    Subscribed(SubscribeResult),
    Link(LinkResult),
    Reload(ReloadResult),
    Log(LogResult),
    Forget(ForgetResult),
}

/// What [`AdminClient::next`] reads.
#[derive(Debug)]
pub enum Incoming {
    Event(Event),
    /// The answer to a request: its result, or the node's refusal.
    Reply {
        id: RequestId,
        result: Result<Reply, ClientError>,
    },
}

/// Which reply a pending request waits for.
#[derive(Debug, Clone, Copy)]
enum Asked {
    Auth,
    Snapshot,
    Records,
    Subscribe,
    Link,
    Reload,
    Log,
    Forget,
}

impl Asked {
    fn of(command: &Command) -> Asked {
        match command {
            Command::Auth { .. } => Asked::Auth,
            Command::Snapshot => Asked::Snapshot,
            Command::Records { .. } => Asked::Records,
            Command::Subscribe { .. } => Asked::Subscribe,
            Command::Link { .. } => Asked::Link,
            Command::Reload => Asked::Reload,
            Command::Log { .. } => Asked::Log,
            Command::Forget { .. } => Asked::Forget,
        }
    }
}

struct Pending {
    asked: Asked,
    /// Its caller gave up (timed out): the reply is dropped.
    abandoned: bool,
}

pub struct AdminClient {
    reader: FramedRead<Box<dyn AsyncRead + Send + Unpin>, BoundedLines>,
    writer: FramedWrite<Box<dyn AsyncWrite + Send + Unpin>, LinesCodec>,
    max_line: usize,
    timeout: Duration,
    expect: Option<Identity>,
    /// As given, for errors.
    addr: String,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    /// Read while [`AdminClient::request`] waited for its own reply.
    early_replies: VecDeque<Incoming>,
    early_events: VecDeque<Event>,
    /// Set-aside events dropped since the last `lagged` handed out, and
    /// the time of the last one dropped.
    missed: u64,
    missed_ts_us: u64,
    broken: bool,
}

impl AdminClient {
    /// Connects and, with a token, authenticates, within
    /// [`Options::timeout`].
    pub async fn connect(options: Options) -> Result<AdminClient, ClientError> {
        let limit = options.timeout;
        within(limit, Self::open(options)).await
    }

    async fn open(options: Options) -> Result<AdminClient, ClientError> {
        let stream = TcpStream::connect(options.addr.as_str())
            .await
            .map_err(|source| ClientError::Connect {
                addr: options.addr.clone(),
                source,
            })?;
        // Small requests and answers: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let (reader, writer): (
            Box<dyn AsyncRead + Send + Unpin>,
            Box<dyn AsyncWrite + Send + Unpin>,
        ) = match &options.tls {
            None => {
                let (reader, writer) = stream.into_split();
                (Box::new(reader), Box::new(writer))
            }
            Some(tls) => {
                let failed = |reason: String| ClientError::Tls {
                    addr: options.addr.clone(),
                    reason,
                };
                let name = rustls_pki_types::ServerName::try_from(tls.node.clone())
                    .map_err(|err| failed(err.to_string()))?;
                let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
                let stream = connector
                    .connect(name, stream)
                    .await
                    .map_err(|err| failed(tls_failure(&err)))?;
                let (reader, writer) = tokio::io::split(stream);
                (Box::new(reader), Box::new(writer))
            }
        };
        let mut client = AdminClient {
            reader: FramedRead::new(reader, BoundedLines::new(options.max_line)),
            writer: FramedWrite::new(writer, LinesCodec::new()),
            max_line: options.max_line,
            addr: options.addr.clone(),
            timeout: options.timeout,
            expect: options.expect,
            next_id: 1,
            pending: HashMap::new(),
            early_replies: VecDeque::new(),
            early_events: VecDeque::new(),
            missed: 0,
            missed_ts_us: 0,
            broken: false,
        };
        if let Some(token) = options.token {
            client.request(Command::Auth { token }).await?;
        }
        Ok(client)
    }

    /// Sends a request without waiting for its reply, which
    /// [`AdminClient::next`] hands out with the returned id.
    pub async fn send(&mut self, command: Command) -> Result<RequestId, ClientError> {
        if self.broken {
            return Err(ClientError::Closed);
        }
        let id = self.next_id;
        self.next_id += 1;
        let asked = Asked::of(&command);
        let request = AdminRequest {
            id: Value::from(id),
            command,
        };
        let line = match serde_json::to_string(&request) {
            Ok(line) => line,
            Err(err) => return Err(ProtocolError::Json(err).into()),
        };
        self.pending.insert(
            id,
            Pending {
                asked,
                abandoned: false,
            },
        );
        match tokio::time::timeout(self.timeout, self.writer.send(line)).await {
            Ok(Ok(())) => Ok(RequestId(id)),
            Ok(Err(err)) => Err(self.fail(ClientError::Io(into_io(err)))),
            // Part of the line may be out: the connection is unusable.
            Err(_) => Err(self.fail(ClientError::Timeout)),
        }
    }

    /// The next event or reply: those set aside first, then from the node.
    /// Cancel-safe: nothing read is lost when the future is dropped.
    pub async fn next(&mut self) -> Result<Incoming, ClientError> {
        if let Some(reply) = self.early_replies.pop_front() {
            return Ok(reply);
        }
        if let Some(lagged) = self.take_lagged() {
            return Ok(Incoming::Event(lagged));
        }
        if let Some(event) = self.early_events.pop_front() {
            return Ok(Incoming::Event(event));
        }
        self.read().await
    }

    /// Sends a request and waits (at most [`Options::timeout`]) for its
    /// reply. Events and other replies that come first are set aside for
    /// [`AdminClient::next`].
    pub async fn request(&mut self, command: Command) -> Result<Reply, ClientError> {
        let RequestId(id) = self.send(command).await?;
        let waited = tokio::time::timeout(self.timeout, async {
            loop {
                match self.read().await? {
                    Incoming::Event(event) => self.set_aside(event),
                    Incoming::Reply {
                        id: RequestId(got),
                        result,
                    } if got == id => return result,
                    other => self.early_replies.push_back(other),
                }
            }
        })
        .await;
        waited.unwrap_or_else(|_| {
            if let Some(pending) = self.pending.get_mut(&id) {
                pending.abandoned = true;
            }
            Err(ClientError::Timeout)
        })
    }

    pub async fn snapshot(&mut self) -> Result<Snapshot, ClientError> {
        match self.request(Command::Snapshot).await? {
            Reply::Snapshot(snapshot) => Ok(*snapshot),
            other => Err(mismatched(other)),
        }
    }

    /// One page of records (see `records` in docs/admin-protocol.md).
    pub async fn records(
        &mut self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<RecordsPage, ClientError> {
        let command = Command::Records {
            prefix: prefix.map(str::to_owned),
            after: after.map(str::to_owned),
            limit,
        };
        match self.request(command).await? {
            Reply::Records(page) => Ok(page),
            other => Err(mismatched(other)),
        }
    }

    /// Starts the event stream on this connection.
    pub async fn subscribe(&mut self) -> Result<SubscribeResult, ClientError> {
        self.subscribe_to(None).await
    }

    /// Starts the event stream with only the events of `kinds` (all with
    /// None): a node builds no event of a kind nobody asked for, so a
    /// narrow subscription costs the node little.
    pub async fn subscribe_to(
        &mut self,
        kinds: Option<Vec<crate::EventClass>>,
    ) -> Result<SubscribeResult, ClientError> {
        match self.request(Command::Subscribe { kinds }).await? {
            Reply::Subscribed(result) => Ok(result),
            other => Err(mismatched(other)),
        }
    }

    /// Cuts (`Down`) or restores (`Up`) the node's link to `peer`.
    pub async fn set_link(
        &mut self,
        peer: &str,
        state: AdminState,
    ) -> Result<LinkResult, ClientError> {
        let command = Command::Link {
            peer: peer.to_owned(),
            state,
        };
        match self.request(command).await? {
            Reply::Link(result) => Ok(result),
            other => Err(mismatched(other)),
        }
    }

    /// Makes the node re-read its config file (as SIGHUP does).
    pub async fn reload(&mut self) -> Result<ReloadResult, ClientError> {
        match self.request(Command::Reload).await? {
            Reply::Reload(result) => Ok(result),
            other => Err(mismatched(other)),
        }
    }

    /// Replaces the node's log filter (`debug`, `info,client=warn`).
    pub async fn set_log_filter(&mut self, filter: &str) -> Result<LogResult, ClientError> {
        let command = Command::Log {
            filter: filter.to_owned(),
        };
        match self.request(command).await? {
            Reply::Log(result) => Ok(result),
            other => Err(mismatched(other)),
        }
    }

    /// Forgets `client` on the whole herd, starting at this node.
    pub async fn forget(&mut self, client: &str) -> Result<ForgetResult, ClientError> {
        let command = Command::Forget {
            client: client.to_owned(),
        };
        match self.request(command).await? {
            Reply::Forget(result) => Ok(result),
            other => Err(mismatched(other)),
        }
    }

    /// The next event, after `subscribe`; replies that come meanwhile are
    /// dropped (use [`AdminClient::next`] to pipeline requests too). No time
    /// limit: events come when the node has them.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Incoming::Event(event) = self.next().await? {
                return Ok(event);
            }
        }
    }

    /// Reads the node's next event or reply.
    async fn read(&mut self) -> Result<Incoming, ClientError> {
        loop {
            if self.broken {
                return Err(ClientError::Closed);
            }
            let line = match self.reader.next().await {
                Some(Ok(Line::Text(line))) => line,
                Some(Ok(Line::TooLong)) => {
                    let max = self.max_line;
                    return Err(self.fail(ProtocolError::LineTooLong { max }.into()));
                }
                Some(Ok(Line::NotUtf8)) => return Err(self.fail(ProtocolError::NotUtf8.into())),
                Some(Err(err)) => return Err(self.fail(ClientError::Io(err))),
                None => return Err(self.fail(ClientError::Closed)),
            };
            let value: Value = match serde_json::from_str(&line) {
                Ok(value) => value,
                Err(err) => return Err(self.fail(ProtocolError::Json(err).into())),
            };
            // An event has `event` and never `id`; a response the reverse.
            if value.get("event").is_some() {
                return match serde_json::from_value(value) {
                    Ok(event) => Ok(Incoming::Event(event)),
                    Err(err) => Err(self.fail(ProtocolError::Json(err).into())),
                };
            }
            let response: Response = match serde_json::from_value(value) {
                Ok(response) => response,
                Err(err) => return Err(self.fail(ProtocolError::Json(err).into())),
            };
            if let Some(incoming) = self.answer(response)? {
                return Ok(incoming);
            }
        }
    }

    /// A response, matched with its request; None when its caller gave up.
    fn answer(&mut self, response: Response) -> Result<Option<Incoming>, ClientError> {
        // An error without an id is about the connection (a line too long
        // for the node, no token in time): the node closes after it.
        if response.id.is_null() && !response.ok {
            return Err(self.fail(ClientError::from_node(response.code, response.error)));
        }
        let Some((id, pending)) = response
            .id
            .as_u64()
            .and_then(|id| self.pending.remove(&id).map(|pending| (id, pending)))
        else {
            let id = response.id;
            return Err(self.fail(ProtocolError::UnexpectedId { id }.into()));
        };
        if pending.abandoned {
            return Ok(None);
        }
        if !response.ok {
            let error = ClientError::from_node(response.code, response.error);
            if matches!(error, ClientError::TokenRefused { .. }) {
                // The node closes the connection after a token refusal.
                return Err(self.fail(error));
            }
            return Ok(Some(Incoming::Reply {
                id: RequestId(id),
                result: Err(error),
            }));
        }
        let result = response.result.unwrap_or(Value::Null);
        let reply = match pending.asked {
            Asked::Auth => decode(result).map(Reply::Auth),
            Asked::Snapshot => decode(result).map(|s| Reply::Snapshot(Box::new(s))),
            Asked::Records => decode(result).map(Reply::Records),
            Asked::Subscribe => decode(result).map(Reply::Subscribed),
            Asked::Link => decode(result).map(Reply::Link),
            Asked::Reload => decode(result).map(Reply::Reload),
            Asked::Log => decode(result).map(Reply::Log),
            Asked::Forget => decode(result).map(Reply::Forget),
        };
        if let Ok(reply) = &reply
            && let Some(found) = identity_in(reply)
        {
            self.check(found)?;
        }
        Ok(Some(Incoming::Reply {
            id: RequestId(id),
            result: reply,
        }))
    }

    /// The wrong node's every word is suspect: the connection ends.
    fn check(&mut self, found: Identity) -> Result<(), ClientError> {
        match &self.expect {
            Some(expected) if !expected.admits(&found) => {
                let expected = expected.clone();
                Err(self.fail(ClientError::WrongNode { expected, found }))
            }
            _ => Ok(()),
        }
    }

    fn set_aside(&mut self, event: Event) {
        if self.early_events.len() >= SET_ASIDE_EVENTS
            && let Some(dropped) = self.early_events.pop_front()
        {
            self.missed += 1;
            self.missed_ts_us = dropped.ts_us;
        }
        self.early_events.push_back(event);
    }

    fn take_lagged(&mut self) -> Option<Event> {
        if self.missed == 0 {
            return None;
        }
        let missed = std::mem::take(&mut self.missed);
        Some(Event {
            seq: 0,
            ts_us: self.missed_ts_us,
            kind: EventKind::Lagged { missed },
        })
    }

    /// Marks the connection unusable and passes the error on.
    fn fail(&mut self, error: ClientError) -> ClientError {
        self.broken = true;
        match error {
            // TLS 1.3 tells a client its certificate was refused only after
            // the handshake: on the first read.
            ClientError::Io(err)
                if err
                    .get_ref()
                    .is_some_and(|inner| inner.is::<tokio_rustls::rustls::Error>()) =>
            {
                ClientError::Tls {
                    addr: self.addr.clone(),
                    reason: tls_failure(&err),
                }
            }
            other => other,
        }
    }
}

/// Runs `work` for at most `limit`: one bound for several steps.
pub async fn within<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or(Err(ClientError::Timeout))
}

/// Connects and takes one snapshot, all within [`Options::timeout`].
pub async fn fetch_snapshot(options: Options) -> Result<Snapshot, ClientError> {
    within(options.timeout, async {
        AdminClient::connect(options).await?.snapshot().await
    })
    .await
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ClientError> {
    serde_json::from_value(value).map_err(|err| ProtocolError::Json(err).into())
}

/// Who the reply says answered, when it says.
fn identity_in(reply: &Reply) -> Option<Identity> {
    match reply {
        Reply::Snapshot(snapshot) => Some(Identity::in_herd(&snapshot.node, &snapshot.herd)),
        Reply::Auth(AuthResult { node, .. }) | Reply::Subscribed(SubscribeResult { node, .. })
            if !node.is_empty() =>
        {
            Some(Identity::node(node))
        }
        _ => None,
    }
}

/// A reply of another kind than asked: cannot happen, as the kind is
/// decided by what was asked; an error rather than a panic all the same.
fn mismatched(_reply: Reply) -> ClientError {
    ProtocolError::UnexpectedReply.into()
}

fn into_io(err: tokio_util::codec::LinesCodecError) -> std::io::Error {
    match err {
        tokio_util::codec::LinesCodecError::Io(err) => err,
        other => std::io::Error::other(other.to_string()),
    }
}

/// A failed TLS handshake with a node, in words: a node that wants a
/// client certificate herdctl does not have says so.
fn tls_failure(err: &std::io::Error) -> String {
    use tokio_rustls::rustls::{AlertDescription, Error};
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
    {
        Some(Error::AlertReceived(AlertDescription::CertificateRequired)) => {
            "the node wants herdctl's certificate ([tls] cert and key with {name} = herdctl)"
                .to_owned()
        }
        Some(Error::InvalidMessage(_)) => {
            format!("not TLS (does the node's admin port speak TLS? [tls] admin): {err}")
        }
        _ => err.to_string(),
    }
}
