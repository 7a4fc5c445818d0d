//! The running node's shared state and the glue between the client and peer
//! protocols and the decisions of `herd-core`.

use std::sync::{Arc, Mutex, MutexGuard};

use herd_core::{ClientDecision, Forward, LinkId, NodeCore, PeerDecision};
use herd_places::{NearbyQuery, PlacesBackend};
use herd_proto::fields::is_blank;
use herd_proto::{Nanos, Record, Request, parse_request};
use tracing::{error, info};

use crate::peer::Link;
use crate::store::RecordStore;

/// Limits and identity a node runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    pub herd: String,
    pub boot_id: String,
    pub max_future_skew: Nanos,
    /// Longest client line, in bytes, without its ending.
    pub max_line: usize,
    /// Bytes of an over-long line echoed back after `? `.
    pub too_long_prefix: usize,
}

struct State {
    core: NodeCore,
    store: Box<dyn RecordStore>,
}

pub struct Node {
    pub settings: Settings,
    state: Mutex<State>,
    pub links: Vec<Arc<Link>>,
    places: Arc<dyn PlacesBackend>,
}

impl Node {
    pub fn new(
        settings: Settings,
        mut store: Box<dyn RecordStore>,
        links: Vec<Arc<Link>>,
        places: Arc<dyn PlacesBackend>,
    ) -> std::io::Result<Node> {
        let mut core = NodeCore::new(settings.name.clone(), settings.max_future_skew);
        for record in store.load()? {
            core.restore(record);
        }
        Ok(Node {
            settings,
            state: Mutex::new(State { core, store }),
            links,
            places,
        })
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    pub fn record_count(&self) -> usize {
        self.state().core.records().len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the records half
        // changed (merge is a single replace), so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answers one client line (without its ending), appending the reply to
    /// `out`. Blank lines get no reply.
    pub async fn answer(&self, line: &[u8], connection: u64, out: &mut Vec<u8>) {
        let start = out.len();
        if !is_blank(line) {
            match std::str::from_utf8(line) {
                Ok(text) => self.answer_text(text, out).await,
                Err(_) => question(line, out),
            }
        }
        let reply = &out[start..];
        // The reply's first line; a WHATSAT's JSON is summarised by size.
        let first_end = reply
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(reply.len());
        let rest = reply.len().saturating_sub(first_end + 1);
        info!(
            target: "client",
            conn = connection,
            "in {} out {}{}",
            printable(line),
            printable(&reply[..first_end]),
            if rest > 0 { format!(" + {rest} bytes of JSON") } else { String::new() }
        );
    }

    async fn answer_text(&self, text: &str, out: &mut Vec<u8>) {
        match parse_request(text) {
            Some(Request::IAmAt(request)) => {
                let decision = {
                    let mut state = self.state();
                    let decision = state.core.on_client_iamat(&request, Nanos::now());
                    if let ClientDecision::Accepted { record, .. } = &decision {
                        if let Err(err) = state.store.save(record) {
                            error!("cannot store update of {}: {err}", record.client());
                            // Not stored, so neither acknowledged nor kept.
                            return question(text.as_bytes(), out);
                        }
                        state.core.commit(record.clone());
                    }
                    decision
                };
                match decision {
                    ClientDecision::Accepted { record, forward } => {
                        // Flood first: the update is on its way to the peers
                        // before the client can read its AT reply.
                        self.flood(&record, forward);
                        push_line(out, record.at_line());
                    }
                    ClientDecision::Stale { held } => push_line(out, held.at_line()),
                    ClientDecision::TooFarInFuture => question(text.as_bytes(), out),
                }
            }
            Some(Request::WhatsAt(request)) => {
                let held = self.state().core.lookup(request.client).cloned();
                let Some(record) = held else {
                    return question(text.as_bytes(), out);
                };
                let position = record.position();
                let query = NearbyQuery {
                    lat: position.lat,
                    lng: position.lng,
                    radius_m: request.radius_km * 1000.0,
                    bound: request.bound,
                };
                let json = self.places.nearby(query).await;
                push_line(out, record.at_line());
                out.extend_from_slice(json.trim_end().as_bytes());
                out.extend_from_slice(b"\n\n");
            }
            None => question(text.as_bytes(), out),
        }
    }

    /// An update that arrived from the peer on `link`.
    pub fn on_peer_update(&self, record: Record, link: LinkId) {
        let decision = {
            let mut state = self.state();
            let decision = state.core.on_peer_update(Arc::new(record), link);
            if let PeerDecision::Won { record, .. } = &decision {
                if let Err(err) = state.store.save(record) {
                    // Dropped as if never received; repair brings it again.
                    error!(
                        "cannot store update of {} from a peer: {err}",
                        record.client()
                    );
                    return;
                }
                state.core.commit(record.clone());
            }
            decision
        };
        if let PeerDecision::Won { record, forward } = decision {
            self.flood(&record, forward);
        }
    }

    fn flood(&self, record: &Arc<Record>, forward: Forward) {
        for link in forward.targets(self.links.len()) {
            self.links[link].enqueue(record.clone());
        }
    }
}

/// A line for the log: quoted text, or its bytes escaped when it is not
/// UTF-8, so the log shows exactly what was sent.
pub fn printable(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!("b\"{}\"", bytes.escape_ascii()),
    }
}

fn push_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
}

/// `? <line as received>`.
fn question(line: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"? ");
    out.extend_from_slice(line);
    out.push(b'\n');
}
