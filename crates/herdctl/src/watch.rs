//! `herdctl watch`: the merged live event stream of every node, one line per
//! event, put in time order within a short window ([`Reorder`]). Each node
//! has its own connection that reconnects on its own; a node that is down is
//! reported on stderr and does not stop the others.

use std::io::Write;
use std::time::{Duration, Instant};

use herd_admin::Event;
use herd_admin::client::{AdminClient, ClientError, Options};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::Failure;
use crate::event_text::{clock, describe};
use crate::herd::Herd;
use crate::reorder::Reorder;

const CONNECT_LIMIT: Duration = Duration::from_secs(3);
const RETRY: Duration = Duration::from_secs(1);

/// What the per-node tasks report.
pub enum Feed {
    Event { node: String, event: Event },
    Connected { node: String },
    Lost { node: String, error: ClientError },
}

/// Starts one task per node feeding `sender`, reconnecting forever.
pub fn follow_all(herd: &Herd, sender: mpsc::Sender<Feed>) {
    for node in herd.nodes() {
        tokio::spawn(follow(
            node.name.clone(),
            herd.admin_options(node, CONNECT_LIMIT),
            sender.clone(),
        ));
    }
}

async fn follow(node: String, options: Options, feed: mpsc::Sender<Feed>) {
    let mut last_error: Option<String> = None;
    loop {
        let error = match subscribe(options.clone()).await {
            Ok(mut client) => {
                last_error = None;
                if feed
                    .send(Feed::Connected { node: node.clone() })
                    .await
                    .is_err()
                {
                    return;
                }
                loop {
                    match client.next_event().await {
                        Ok(event) => {
                            let item = Feed::Event {
                                node: node.clone(),
                                event,
                            };
                            if feed.send(item).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => break error,
                    }
                }
            }
            Err(error) => error,
        };
        // Report each distinct failure once, not every retry.
        let text = error.to_string();
        if last_error.as_ref() != Some(&text) {
            last_error = Some(text);
            let lost = Feed::Lost {
                node: node.clone(),
                error,
            };
            if feed.send(lost).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Connects and subscribes, each within [`CONNECT_LIMIT`].
async fn subscribe(options: Options) -> Result<AdminClient, ClientError> {
    let mut client = AdminClient::connect(options).await?;
    client.subscribe().await?;
    Ok(client)
}

pub async fn run(herd: &Herd, json: bool, window: Duration) -> Result<(), Failure> {
    let (sender, mut receiver) = mpsc::channel(4096);
    follow_all(herd, sender);
    let width = herd.nodes().iter().map(|n| n.name.len()).max().unwrap_or(4);
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut reorder: Reorder<(String, Event)> = Reorder::new(window);
    let mut open = true;
    while open {
        let release = reorder.next_release();
        tokio::select! {
            item = receiver.recv() => match item {
                Some(item) => take(item, &mut reorder),
                None => open = false,
            },
            () = sleep_until(release) => {}
        }
        // Take what else is waiting (bounded, so output keeps flowing).
        for _ in 0..1024 {
            match receiver.try_recv() {
                Ok(item) => take(item, &mut reorder),
                Err(_) => break,
            }
        }
        let now = Instant::now();
        let mut ready: Vec<(String, Event)> =
            std::iter::from_fn(|| reorder.pop_ready(now)).collect();
        if !open {
            ready.extend(reorder.drain());
        }
        for (node, event) in ready {
            let line = if json {
                json_line(&node, &event)
            } else {
                human_line(&node, width, &event)
            };
            if writeln!(stdout, "{line}").is_err() {
                // Reader gone (a closed pipe): stop quietly.
                return Ok(());
            }
        }
        if stdout.flush().is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Events are held for reordering; connection news goes to stderr at once.
fn take(item: Feed, reorder: &mut Reorder<(String, Event)>) {
    match item {
        Feed::Event { node, event } => reorder.push(event.ts_us, (node, event), Instant::now()),
        Feed::Connected { node } => crate::note(format_args!("herdctl: watching {node}")),
        Feed::Lost { node, error } => crate::note(format_args!(
            "herdctl: {node}: {error}; retrying every {RETRY:?}"
        )),
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The event as the node sent it, with `node` added.
pub fn json_line(node: &str, event: &Event) -> String {
    let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Value::Object(object) = &mut value {
        object.insert("node".to_owned(), Value::from(node));
    }
    value.to_string()
}

/// `HH:MM:SS.mmm NODE  what happened`, in UTC.
pub fn human_line(node: &str, width: usize, event: &Event) -> String {
    let what = describe(&event.kind);
    format!("{} {node:<width$}  {what}", clock(event.ts_us))
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_admin::{EventKind, LinkChange};

    #[test]
    fn lines_read_well() {
        let event = Event {
            seq: 1,
            ts_us: 1_795_972_051_498_208,
            kind: EventKind::Link {
                peer: "Jaquez".to_owned(),
                change: LinkChange::Cut,
                reason: Some("operator".to_owned()),
            },
        };
        assert_eq!(
            human_line("Clark", 6, &event),
            "17:07:31.498 Clark   link Jaquez cut (operator)"
        );
        let json: Value = serde_json::from_str(&json_line("Clark", &event)).unwrap_or_default();
        assert_eq!(json["node"], "Clark");
        assert_eq!(json["event"], "link");
        assert_eq!(json["change"], "cut");
    }
}
