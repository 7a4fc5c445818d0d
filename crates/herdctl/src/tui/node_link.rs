//! The dashboard's one admin connection per node: it subscribes to the
//! node's events, asks for a snapshot every second and for records when the
//! Records view wants them, all on the same connection, and reconnects on
//! its own when the node goes away.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use herd_admin::{AdminRequest, Command, Event, RecordsPage, Response, Snapshot};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, timeout};

use super::records_table::RECORDS_PER_NODE;

/// How often the snapshot is asked for.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
/// A node that does not answer within this is treated as unreachable.
const ANSWER_LIMIT: Duration = Duration::from_secs(2);
/// Pause between reconnection attempts.
const RETRY: Duration = Duration::from_secs(1);

/// What a node's connection reports to the dashboard.
pub enum NodeNews {
    /// Boxed: a snapshot is large and events are many.
    Snapshot(usize, Box<Result<Snapshot, String>>),
    Records(usize, Result<RecordsPage, String>),
    Event(usize, Event),
}

#[derive(Clone, Copy)]
enum Asked {
    Snapshot,
    Records,
}

/// Runs for as long as the dashboard does. `records_wanted` changes each
/// time the Records view wants fresh records.
pub async fn follow_node(
    index: usize,
    addr: SocketAddr,
    token: Option<String>,
    news: mpsc::Sender<NodeNews>,
    mut records_wanted: watch::Receiver<u64>,
) {
    loop {
        let error = match converse(index, addr, token.as_deref(), &news, &mut records_wanted).await
        {
            Ok(()) => return, // the dashboard is gone
            Err(error) => error,
        };
        if news
            .send(NodeNews::Snapshot(index, Box::new(Err(error))))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// One connection's life: Ok when the dashboard has gone, Err why the
/// connection failed.
async fn converse(
    index: usize,
    addr: SocketAddr,
    token: Option<&str>,
    news: &mpsc::Sender<NodeNews>,
    records_wanted: &mut watch::Receiver<u64>,
) -> Result<(), String> {
    let stream = timeout(ANSWER_LIMIT, TcpStream::connect(addr))
        .await
        .map_err(|_| "unreachable: timed out".to_owned())?
        .map_err(|err| format!("unreachable: {err}"))?;
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    let mut next_id: u64 = 0;
    let mut asked: HashMap<u64, (Asked, Instant)> = HashMap::new();

    if let Some(token) = token {
        next_id += 1;
        send(
            &mut writer,
            next_id,
            Command::Auth {
                token: token.to_owned(),
            },
        )
        .await?;
    }
    next_id += 1;
    send(&mut writer, next_id, Command::Subscribe).await?;

    let mut every = tokio::time::interval(SNAPSHOT_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    records_wanted.mark_unchanged();
    loop {
        tokio::select! {
            // `next_line` is cancel-safe: a line half read stays buffered.
            line = lines.next_line() => {
                let line = match line {
                    Ok(Some(line)) => line,
                    Ok(None) => return Err("unreachable: the node closed the connection".to_owned()),
                    Err(err) => return Err(format!("unreachable: {err}")),
                };
                let value: Value = serde_json::from_str(&line)
                    .map_err(|err| format!("protocol error: {err}"))?;
                if value.get("event").is_some() {
                    if let Ok(event) = serde_json::from_value::<Event>(value)
                        && news.send(NodeNews::Event(index, event)).await.is_err() {
                            return Ok(());
                        }
                    continue;
                }
                let response: Response = serde_json::from_value(value)
                    .map_err(|err| format!("protocol error: {err}"))?;
                if !response.ok {
                    let message = response.error.unwrap_or_else(|| "refused".to_owned());
                    match response.code {
                        Some(herd_admin::ErrorCode::AuthRequired | herd_admin::ErrorCode::AuthFailed) => {
                            return Err(format!("token rejected: {message}"));
                        }
                        _ if response.id.is_null() => return Err(message),
                        _ => {}
                    }
                }
                let id = response.id.as_u64().unwrap_or(0);
                let Some((kind, _)) = asked.remove(&id) else {
                    continue;
                };
                let result = response.result.unwrap_or(Value::Null);
                let item = match kind {
                    Asked::Snapshot => NodeNews::Snapshot(
                        index,
                        Box::new(
                            serde_json::from_value(result)
                                .map_err(|err| format!("protocol error: {err}")),
                        ),
                    ),
                    Asked::Records => NodeNews::Records(
                        index,
                        serde_json::from_value(result).map_err(|err| format!("protocol error: {err}")),
                    ),
                };
                if news.send(item).await.is_err() {
                    return Ok(());
                }
            }
            _ = every.tick() => {
                if asked.values().any(|(_, since)| since.elapsed() > ANSWER_LIMIT) {
                    return Err("timed out".to_owned());
                }
                next_id += 1;
                asked.insert(next_id, (Asked::Snapshot, Instant::now()));
                send(&mut writer, next_id, Command::Snapshot).await?;
            }
            changed = records_wanted.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                next_id += 1;
                asked.insert(next_id, (Asked::Records, Instant::now()));
                let ask = Command::Records {
                    prefix: None,
                    after: None,
                    limit: Some(RECORDS_PER_NODE),
                };
                send(&mut writer, next_id, ask).await?;
            }
        }
    }
}

async fn send(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    id: u64,
    command: Command,
) -> Result<(), String> {
    let request = AdminRequest {
        id: Value::from(id),
        command,
    };
    let mut line = serde_json::to_string(&request).map_err(|err| err.to_string())?;
    line.push('\n');
    timeout(ANSWER_LIMIT, writer.write_all(line.as_bytes()))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|err| format!("unreachable: {err}"))
}
