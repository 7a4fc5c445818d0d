//! The dashboard's one admin connection per node: it subscribes to the
//! node's events, asks for a snapshot every second and for records when the
//! Records view wants them, all on the same connection (requests pipelined
//! through `herd_admin::client`), and reconnects on its own when the node
//! goes away.

use std::collections::HashMap;
use std::time::Duration;

use herd_admin::client::{AdminClient, ClientError, Incoming, Options, Reply, RequestId};
use herd_admin::{Command, Event, RecordsPage, Snapshot};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::records_table::RECORDS_PER_NODE;

/// How often the snapshot is asked for.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
/// A node that does not answer within this is treated as unreachable.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(2);
/// Pause between reconnection attempts.
const RETRY: Duration = Duration::from_secs(1);

/// What a node's connection reports to the dashboard.
pub enum NodeNews {
    /// Boxed: a snapshot is large and events are many.
    Snapshot(usize, Box<Result<Snapshot, ClientError>>),
    Records(usize, Result<RecordsPage, ClientError>),
    Event(usize, Event),
}

#[derive(Clone, Copy)]
enum Asked {
    Snapshot,
    Records,
}

/// Runs for as long as the dashboard does. `options` should bound each
/// step by [`ANSWER_LIMIT`]. `records_wanted` changes each time the Records
/// view wants fresh records.
pub async fn follow_node(
    index: usize,
    options: Options,
    news: mpsc::Sender<NodeNews>,
    mut records_wanted: watch::Receiver<u64>,
) {
    loop {
        let error = match converse(index, options.clone(), &news, &mut records_wanted).await {
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
    options: Options,
    news: &mpsc::Sender<NodeNews>,
    records_wanted: &mut watch::Receiver<u64>,
) -> Result<(), ClientError> {
    let mut client = AdminClient::connect(options).await?;
    // Its reply (which names the node, checked by the client) comes in the
    // loop like any other.
    client.send(Command::Subscribe { kinds: None }).await?;
    let mut asked: HashMap<RequestId, (Asked, Instant)> = HashMap::new();

    let mut every = tokio::time::interval(SNAPSHOT_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    records_wanted.mark_unchanged();
    loop {
        tokio::select! {
            // Cancel-safe: a line half read stays buffered in the client.
            incoming = client.next() => {
                let item = match incoming? {
                    Incoming::Event(event) => NodeNews::Event(index, event),
                    Incoming::Reply { id, result } => {
                        let Some((kind, _)) = asked.remove(&id) else {
                            continue;
                        };
                        match (kind, result) {
                            (Asked::Snapshot, Ok(Reply::Snapshot(snapshot))) => {
                                NodeNews::Snapshot(index, Box::new(Ok(*snapshot)))
                            }
                            (Asked::Snapshot, Err(error)) => {
                                NodeNews::Snapshot(index, Box::new(Err(error)))
                            }
                            (Asked::Records, Ok(Reply::Records(page))) => {
                                NodeNews::Records(index, Ok(page))
                            }
                            (Asked::Records, Err(error)) => NodeNews::Records(index, Err(error)),
                            // The client decodes by what was asked.
                            (_, Ok(_)) => continue,
                        }
                    }
                };
                if news.send(item).await.is_err() {
                    return Ok(());
                }
            }
            _ = every.tick() => {
                if asked.values().any(|(_, since)| since.elapsed() > ANSWER_LIMIT) {
                    return Err(ClientError::Timeout);
                }
                let id = client.send(Command::Snapshot).await?;
                asked.insert(id, (Asked::Snapshot, Instant::now()));
            }
            changed = records_wanted.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let ask = Command::Records {
                    prefix: None,
                    after: None,
                    limit: Some(RECORDS_PER_NODE),
                };
                let id = client.send(ask).await?;
                asked.insert(id, (Asked::Records, Instant::now()));
            }
        }
    }
}
