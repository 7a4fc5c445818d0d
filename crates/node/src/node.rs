//! The running node's shared state and the glue between the client and peer
//! protocols and the decisions of `herd-core`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use herd_admin::{AdminState, ErrorCode, EventClass, EventKind, LinkChange};
use herd_config::{Address, FsyncPolicy};
use herd_core::{
    ClientDecision, Digest, ForgetDecision, Forward, LinkId, NodeCore, PeerDecision, Records,
};
use herd_places::{NearbyQuery, PlacesBackend};
use herd_proto::fields::is_blank;
use herd_proto::{Nanos, Record, Request, Tombstone, parse_request};
use tracing::{error, info, warn};

use crate::counters::{Counters, RequestKind, RequestResult, bump};
use crate::events::{EventHub, now_us};
use crate::group_commit::GroupCommit;
use crate::last_contact;
use crate::link_states;
use crate::live::{CoreRules, Live};
use crate::metrics::Latencies;
use crate::peer::{Link, UpdateBatch};
use crate::pending_replies::PendingReplies;
use crate::reload_request::{ReloadOutcome, ReloadRequest};
use crate::store::RecordStore;
use crate::write_combiner::WriteCombiner;

/// Limits and identity a node runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub name: String,
    pub herd: String,
    pub boot_id: String,
    /// Bytes of an over-long line echoed back after `? `.
    pub too_long_prefix: usize,
    /// The addresses as configured (a host name stays a name).
    pub client_addr: Address,
    pub peer_addr: Address,
    pub admin_addr: Address,
    /// DIR/NAME: the node's own files.
    pub data_dir: PathBuf,
    /// When the record log is synced to disk.
    pub fsync: FsyncPolicy,
}

struct State {
    core: NodeCore,
    store: Box<dyn RecordStore>,
    /// The last contact written to `last-contact`.
    contact_saved: Option<Nanos>,
}

/// How often the last contact with the herd is saved while links are up.
const SAVE_CONTACT_EVERY: Nanos = Nanos(2_000_000_000);

/// What an operator's forget did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forgot {
    pub tombstone: Tombstone,
    /// False: a tombstone as new was already held (forgotten before).
    pub new: bool,
    /// The node held a record of the client, now gone.
    pub had_record: bool,
}

pub struct Node {
    pub settings: Settings,
    /// What a reload may change (live.rs).
    live: RwLock<Arc<Live>>,
    state: Mutex<State>,
    /// The links of the config in force; a reload adds and removes some.
    links: RwLock<Arc<Vec<Arc<Link>>>>,
    places: RwLock<Arc<dyn PlacesBackend>>,
    pub counters: Counters,
    /// How long replies take, by request kind (metrics).
    pub latencies: Latencies,
    pub events: EventHub,
    pub started: std::time::Instant,
    pub started_us: u64,
    /// Serialises operator link changes, so the file and the links agree.
    link_admin: Mutex<()>,
    /// fsyncs of the record log, by the `fsync` policy.
    pub group_commit: Arc<GroupCommit>,
    /// The log and link writes of the client replies about to go out.
    pub write_combiner: WriteCombiner,
    /// Where admin `reload` requests go (the reload task, reload.rs).
    reloads: std::sync::OnceLock<tokio::sync::mpsc::Sender<ReloadRequest>>,
    /// The log's filter, for admin `log` (none in tests without a log).
    log_filter: std::sync::OnceLock<crate::logging::LogFilter>,
}

impl Node {
    pub fn new(
        settings: Settings,
        live: Live,
        rules: CoreRules,
        mut store: Box<dyn RecordStore>,
        links: Vec<Arc<Link>>,
        places: Arc<dyn PlacesBackend>,
    ) -> std::io::Result<Node> {
        let mut core = NodeCore::new(settings.name.clone(), rules.max_future_skew);
        core.set_lifecycle(rules.lifecycle);
        core.restore_all(store.load()?);
        let contact_saved = last_contact::load(&last_contact::path_in(&settings.data_dir))?;
        core.set_last_contact(contact_saved);
        let now = Nanos::now();
        let swept = core.expire_all(now);
        if swept.records + swept.tombstones > 0 {
            info!(
                "{} records and {} tombstones expired while the node was stopped",
                swept.records, swept.tombstones
            );
        }
        // No link exists yet, so no queue holds a copy of what goes.
        if let Some(reset) = core.back(now) {
            store.purge_soon();
            warn!(
                "away from the herd longer than tombstone_ttl (last contact {}): discarded {} records older than {}, to be taken again from peers",
                contact_saved.map_or_else(|| "unknown".to_owned(), Nanos::to_seconds_text),
                reset.discarded,
                reset.horizon.to_seconds_text()
            );
        }
        // After loading: a compaction at start-up replaces the file.
        let group_commit = Arc::new(GroupCommit::new(settings.fsync, store.sync_handle()));
        Ok(Node {
            settings,
            live: RwLock::new(Arc::new(live)),
            state: Mutex::new(State {
                core,
                store,
                contact_saved,
            }),
            links: RwLock::new(Arc::new(links)),
            places: RwLock::new(places),
            counters: Counters::default(),
            latencies: Latencies::new(),
            events: EventHub::default(),
            started: std::time::Instant::now(),
            started_us: now_us(),
            link_admin: Mutex::new(()),
            group_commit,
            write_combiner: WriteCombiner::default(),
            reloads: std::sync::OnceLock::new(),
            log_filter: std::sync::OnceLock::new(),
        })
    }

    /// The online places backend's counters, if it has any.
    pub fn places_stats(&self) -> Option<herd_places::PlacesStats> {
        self.places().stats()
    }

    /// The places backend in force.
    pub fn places(&self) -> Arc<dyn PlacesBackend> {
        read(&self.places).clone()
    }

    /// Admin `reload` requests go to `reloads` from now on.
    pub fn take_reloads_from(&self, reloads: tokio::sync::mpsc::Sender<ReloadRequest>) {
        let _ = self.reloads.set(reloads);
    }

    /// Admin `log` changes `filter` from now on.
    pub fn take_log_filter(&self, filter: crate::logging::LogFilter) {
        let _ = self.log_filter.set(filter);
    }

    /// The node's log filter, when it has a log.
    pub fn log_filter(&self) -> Option<&crate::logging::LogFilter> {
        self.log_filter.get()
    }

    /// The record log's size in bytes, and why it refuses writes if it does.
    pub fn store_state(&self) -> (u64, Option<String>) {
        let state = self.state();
        (state.store.bytes(), state.store.broken())
    }

    /// Re-reads the config, as SIGHUP does; waits for the outcome.
    pub async fn request_reload(&self) -> ReloadOutcome {
        let stopping = || ReloadOutcome::Refused("the node is stopping".to_owned());
        let Some(reloads) = self.reloads.get() else {
            return ReloadOutcome::Refused("this node does not reload".to_owned());
        };
        let (reply, outcome) = tokio::sync::oneshot::channel();
        if reloads.send(ReloadRequest { reply }).await.is_err() {
            return stopping();
        }
        outcome.await.unwrap_or_else(|_| stopping())
    }

    /// The settings a reload may change, as they are now.
    pub fn live(&self) -> Arc<Live> {
        read(&self.live).clone()
    }

    /// The node's links, as they are now.
    pub fn links(&self) -> Arc<Vec<Arc<Link>>> {
        read(&self.links).clone()
    }

    /// The link to `peer`, if this node has one.
    pub fn link_to(&self, peer: &str) -> Option<Arc<Link>> {
        self.links().iter().find(|link| link.peer == peer).cloned()
    }

    /// A reload's new settings (reload.rs), and the rules the core applies.
    pub fn set_live(&self, live: Live, rules: CoreRules) {
        {
            let mut state = self.state();
            state.core.set_max_future_skew(rules.max_future_skew);
            state.core.set_lifecycle(rules.lifecycle);
        }
        *write(&self.live) = Arc::new(live);
    }

    /// Tombstones held.
    pub fn tombstone_count(&self) -> usize {
        self.state().core.records().tombstone_count()
    }

    /// A reload's new places backend.
    pub fn set_places(&self, places: Arc<dyn PlacesBackend>) {
        *write(&self.places) = places;
    }

    /// A reload's links: `links` replaces the list (the caller starts and
    /// stops their tasks).
    pub fn set_links(&self, links: Vec<Arc<Link>>) {
        *write(&self.links) = Arc::new(links);
    }

    /// Record count and digest, taken together.
    pub fn records_summary(&self) -> (usize, Digest) {
        let state = self.state();
        let records = state.core.records();
        (records.len(), records.digest())
    }

    /// Runs `read` over the records under the state lock: keep it short.
    pub fn read_records<T>(&self, read: impl FnOnce(&Records) -> T) -> T {
        read(self.state().core.records())
    }

    pub fn store_description(&self) -> String {
        let fsync = match self.settings.fsync {
            FsyncPolicy::Off => "no fsync (a power cut may lose the last seconds)".to_owned(),
            FsyncPolicy::Always => "fsync before each reply (group commit)".to_owned(),
            FsyncPolicy::Every(every) => {
                format!("fsync every {}", humantime::format_duration(every))
            }
        };
        format!("{}; {fsync}", self.state().store.describe())
    }

    /// Cuts or restores the link to `peer` for the operator: saved first (so
    /// it survives a restart), then applied. Returns whether it changed.
    pub fn set_link_admin(
        &self,
        peer: &str,
        wanted: AdminState,
    ) -> Result<bool, (ErrorCode, String)> {
        let _serial = self.link_admin.lock().unwrap_or_else(|p| p.into_inner());
        let links = self.links();
        let Some(link) = links.iter().find(|link| link.peer == peer) else {
            let peers: Vec<&str> = links.iter().map(|link| link.peer.as_str()).collect();
            let peers = if peers.is_empty() {
                "none".to_owned()
            } else {
                peers.join(", ")
            };
            let message = format!(
                "{} has no link to {peer:?} (its peers: {peers})",
                self.name()
            );
            return Err((ErrorCode::NotFound, message));
        };
        if link.admin_state() == wanted {
            return Ok(false);
        }
        let down = links
            .iter()
            .filter(|l| {
                let state = if l.peer == peer {
                    wanted
                } else {
                    l.admin_state()
                };
                state == AdminState::Down
            })
            .map(|l| l.peer.clone())
            .collect();
        let path = link_states::path_in(&self.settings.data_dir);
        link_states::save(&path, down).map_err(|err| {
            let message = format!("cannot save link states to {}: {err}", path.display());
            (ErrorCode::Failed, message)
        })?;
        link.set_admin_state(wanted);
        let change = match wanted {
            AdminState::Up => LinkChange::Restored,
            AdminState::Down => LinkChange::Cut,
        };
        info!(peer = %peer, "link {} by the operator", change.as_str());
        self.events
            .publish_with(EventClass::Link, || EventKind::Link {
                peer: peer.to_owned(),
                change,
                reason: Some("operator".to_owned()),
            });
        Ok(true)
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the records half
        // changed (merge is a single replace), so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answers one client line (without its ending), appending the reply to
    /// `out`; `pending` must be settled before the reply is written (the
    /// update's log write and floods). Blank lines get no reply.
    pub async fn answer(
        &self,
        line: &[u8],
        connection: u64,
        out: &mut Vec<u8>,
        pending: &mut PendingReplies,
    ) {
        let start = out.len();
        bump(&self.counters.client_lines);
        // A blank line gets no reply and is no request, but is logged.
        let mut client = "";
        if !is_blank(line) {
            let began = std::time::Instant::now();
            let answered = match std::str::from_utf8(line) {
                Ok(text) => self.answer_text(text, out, pending).await,
                Err(_) => {
                    question(line, out);
                    Answered::invalid(RequestKind::Other)
                }
            };
            self.counters.requests.count(answered.kind, answered.result);
            self.latencies.observe(answered.kind, began.elapsed());
            client = answered.client.unwrap_or_default();
        }
        let reply = &out[start..];
        // The reply's first line; a WHATSAT's JSON is summarised by size.
        let first_end = reply
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(reply.len());
        let rest = reply.len().saturating_sub(first_end + 1);
        self.events
            .publish_with(EventClass::Request, || EventKind::Request {
                conn: connection,
                line: String::from_utf8_lossy(line).into_owned(),
                reply: String::from_utf8_lossy(&reply[..first_end]).into_owned(),
                json_bytes: rest,
            });
        if rest > 0 {
            info!(
                target: "client",
                conn = connection,
                client,
                "in {} out {} + {rest} bytes of JSON",
                printable(line),
                printable(&reply[..first_end]),
            );
        } else {
            info!(
                target: "client",
                conn = connection,
                client,
                "in {} out {}",
                printable(line),
                printable(&reply[..first_end]),
            );
        }
    }

    async fn answer_text<'a>(
        &self,
        text: &'a str,
        out: &mut Vec<u8>,
        pending: &mut PendingReplies,
    ) -> Answered<'a> {
        let max_client_id = self.live().limits.max_client_id;
        match parse_request(text) {
            Some(Request::IAmAt(request)) if request.client.len() > max_client_id => {
                question(text.as_bytes(), out);
                Answered::invalid(RequestKind::Iamat)
            }
            Some(Request::WhatsAt(request)) if request.client.len() > max_client_id => {
                question(text.as_bytes(), out);
                Answered::invalid(RequestKind::Whatsat)
            }
            Some(Request::IAmAt(request)) => {
                let answered = |result| Answered {
                    kind: RequestKind::Iamat,
                    result,
                    client: Some(request.client),
                };
                self.catch_up_with_peers();
                let (decision, entry) = {
                    let mut state = self.state();
                    let decision = state.core.on_client_iamat(&request, Nanos::now());
                    if let ClientDecision::Accepted { record, .. } = &decision {
                        // Written by the connection's `PendingReplies`
                        // before the reply, with other connections'.
                        if let Err(err) = state.store.append(record) {
                            error!("cannot store update of {}: {err}", record.client());
                            // Refused by the store: neither acknowledged
                            // nor kept.
                            question(text.as_bytes(), out);
                            return answered(RequestResult::Invalid);
                        }
                        state.core.commit(record.clone());
                        self.maintain_store(&mut state, false);
                        self.publish_records_changed(&state, record);
                    }
                    (decision, state.store.appended())
                };
                match decision {
                    ClientDecision::Accepted { record, forward } => {
                        // Queued on the links: written, with the log, when
                        // `pending` settles, before the reply.
                        self.flood(&record, forward, None);
                        let start = out.len();
                        push_line(out, record.at_line());
                        pending.acknowledge(start..out.len(), text.as_bytes(), entry);
                        answered(RequestResult::Ok)
                    }
                    ClientDecision::Stale { held } => {
                        // The held record may have come in a moment ago
                        // and still be on its way to the log.
                        pending.rely_on_store();
                        push_line(out, held.at_line());
                        answered(RequestResult::Stale)
                    }
                    // Too far ahead, older than the ttl, or older than the
                    // client's forget: nothing to store, nothing to say.
                    ClientDecision::TooFarInFuture
                    | ClientDecision::Expired
                    | ClientDecision::Forgotten => {
                        question(text.as_bytes(), out);
                        answered(RequestResult::Invalid)
                    }
                }
            }
            Some(Request::WhatsAt(request)) => {
                let answered = |result| Answered {
                    kind: RequestKind::Whatsat,
                    result,
                    client: Some(request.client),
                };
                self.catch_up_with_peers();
                let held = self
                    .state()
                    .core
                    .lookup(request.client, Nanos::now())
                    .cloned();
                let Some(record) = held else {
                    question(text.as_bytes(), out);
                    return answered(RequestResult::UnknownClient);
                };
                let position = record.position();
                let query = NearbyQuery {
                    lat: position.lat,
                    lng: position.lng,
                    radius_m: request.radius_km * 1000.0,
                    bound: request.bound,
                };
                // What this connection answered before is written now,
                // not after a places lookup that may take a while; so is
                // the record shown, if it came in a moment ago.
                pending.rely_on_store();
                pending.write_ahead(self).await;
                let places = self.places();
                let json = places.nearby(query).await;
                push_line(out, record.at_line());
                out.extend_from_slice(json.trim_end().as_bytes());
                out.extend_from_slice(b"\n\n");
                answered(RequestResult::Ok)
            }
            None => {
                question(text.as_bytes(), out);
                Answered::invalid(RequestKind::Other)
            }
        }
    }

    /// Merges what the peers have already delivered to this node before a
    /// client request is decided: an update a neighbour flooded before it
    /// answered its client is then found here by that client, whichever
    /// task the runtime happened to run first (contract, IAMAT).
    fn catch_up_with_peers(&self) {
        for link in self.links().iter() {
            link.catch_up(self);
        }
    }

    /// The store's housekeeping after a save (a compaction in the
    /// background, swapped in when done).
    fn maintain_store(&self, state: &mut State, finish: bool) {
        let State { core, store, .. } = state;
        if store.maintain(core.records(), finish) {
            self.group_commit.replace_file(store.sync_handle());
        }
    }

    /// The store's housekeeping that writes: a compaction that finished is
    /// swapped in here (its tail written and fsynced on a blocking thread),
    /// never on the save path, which only starts compactions.
    pub async fn maintain_store_periodically(self: Arc<Self>) {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let node = self.clone();
            // The swap writes and fsyncs the tail: not on a runtime thread.
            let _ = tokio::task::spawn_blocking(move || {
                let connected = node.links().iter().any(|link| link.is_connected());
                let mut state = node.state();
                node.lifecycle_tick(&mut state, connected);
                node.maintain_store(&mut state, true);
            })
            .await;
        }
    }

    /// Expiry, and the contact with the herd kept and saved while a link
    /// is up.
    fn lifecycle_tick(&self, state: &mut State, connected: bool) {
        let now = Nanos::now();
        let swept = state.core.expire(now);
        if swept.records + swept.tombstones > 0 {
            info!(
                records = swept.records,
                tombstones = swept.tombstones,
                "expired"
            );
            self.publish_count_changed(state);
        }
        if connected {
            self.contact(state, now);
        }
        self.save_contact_if_due(state);
    }

    /// Saves the last contact when it moved on by [`SAVE_CONTACT_EVERY`]
    /// (or was never saved: a node that stops right after its first link
    /// came up must know it was in contact then).
    fn save_contact_if_due(&self, state: &mut State) {
        let last = state.core.last_contact();
        let due = match (last, state.contact_saved) {
            (Some(last), Some(saved)) => last.0 >= saved.0.saturating_add(SAVE_CONTACT_EVERY.0),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if due && let Some(last) = last {
            let path = last_contact::path_in(&self.settings.data_dir);
            match last_contact::save(&path, last) {
                Ok(()) => state.contact_saved = Some(last),
                Err(err) => warn!("cannot save the last contact to {}: {err}", path.display()),
            }
        }
    }

    /// A link is up at `now`: the core's contact rule.
    fn contact(&self, state: &mut State, now: Nanos) {
        let Some(reset) = state.core.contact(now) else {
            return;
        };
        state.store.purge_soon();
        let queued: usize = self
            .links()
            .iter()
            .map(|link| link.reset(reset.horizon))
            .sum();
        warn!(
            "back after longer away from the herd than tombstone_ttl: discarded {} records older than {} (and {queued} queued copies), to be taken again from peers",
            reset.discarded,
            reset.horizon.to_seconds_text()
        );
        self.publish_count_changed(state);
    }

    /// A link is about to come up (before it exchanges anything).
    pub fn in_contact(&self) {
        let mut state = self.state();
        self.contact(&mut state, Nanos::now());
        self.save_contact_if_due(&mut state);
    }

    /// A tombstone that arrived from `peer` on its link `link`: whether it
    /// won, or None when it won but could not be stored (dropped as if
    /// never received; repair brings it again). Like
    /// [`Node::on_peer_update`], written and flooded by `batch`.
    pub fn on_peer_forget(
        &self,
        tombstone: Tombstone,
        link: LinkId,
        peer: &str,
        batch: &mut UpdateBatch<'_>,
    ) -> Option<bool> {
        let decision = {
            let mut state = self.state();
            let decision = state.core.on_peer_forget(tombstone, link, Nanos::now());
            if let ForgetDecision::Won { tombstone, .. } = &decision {
                if let Err(err) = state.store.append_tombstone(tombstone) {
                    error!(
                        "cannot store the tombstone {} from {peer}: {err}",
                        tombstone.client.to_hex()
                    );
                    return None;
                }
                batch.appended();
                state.core.commit_forget(*tombstone);
                self.maintain_store(&mut state, false);
                self.publish_count_changed(&state);
            }
            decision
        };
        let won = match decision {
            ForgetDecision::Won { tombstone, forward } => {
                info!(
                    peer,
                    "client {} forgotten up to {}",
                    tombstone.client.to_hex(),
                    tombstone.time.to_seconds_text()
                );
                self.flood_forget(tombstone, forward, Some(batch));
                true
            }
            ForgetDecision::Lost => false,
        };
        Some(won)
    }

    /// The operator forgets `client` (admin `forget`): a tombstone, written
    /// to the store before this returns, then flooded to every peer.
    pub fn forget(&self, client: &str) -> Result<Forgot, (ErrorCode, String)> {
        let now = Nanos::now();
        let (decision, had_record) = {
            let mut state = self.state();
            let had_record = state.core.records().get(client).is_some();
            let decision = state.core.on_forget(client, now);
            if let ForgetDecision::Won { tombstone, .. } = &decision {
                let stored = state
                    .store
                    .append_tombstone(tombstone)
                    .and_then(|()| state.store.flush());
                if let Err(err) = stored {
                    let message = format!("cannot store the tombstone: {err}");
                    error!("{message}");
                    return Err((ErrorCode::Failed, message));
                }
                self.group_commit.written(state.store.written());
                state.core.commit_forget(*tombstone);
                self.maintain_store(&mut state, false);
                self.publish_count_changed(&state);
            }
            (decision, had_record)
        };
        match decision {
            ForgetDecision::Won { tombstone, forward } => {
                info!(
                    "client {} forgotten up to {} by the operator",
                    tombstone.client.to_hex(),
                    tombstone.time.to_seconds_text()
                );
                self.flood_forget(tombstone, forward, None);
                Ok(Forgot {
                    tombstone,
                    new: true,
                    had_record,
                })
            }
            ForgetDecision::Lost => {
                let state = self.state();
                let held = state.core.records().tombstone_of(client).copied();
                held.map(|tombstone| Forgot {
                    tombstone,
                    new: false,
                    had_record,
                })
                .ok_or_else(|| {
                    (
                        ErrorCode::Failed,
                        "the forget lost to nothing held (clock far behind?)".to_owned(),
                    )
                })
            }
        }
    }

    /// Tells every link of `tombstone` (no queued copy it covers leaves)
    /// and queues it on the links `forward` names: written by `batch` when
    /// given, here otherwise.
    fn flood_forget(
        &self,
        tombstone: Tombstone,
        forward: Forward,
        mut batch: Option<&mut UpdateBatch<'_>>,
    ) {
        for link in self.links().iter() {
            let send = forward.includes(link.id);
            link.forgotten(tombstone, send);
            if !send {
                continue;
            }
            match batch.as_deref_mut() {
                Some(batch) => batch.flooded(link),
                None => link.write_queued(),
            }
        }
    }

    /// An update that arrived from `peer` on its link `link`: whether it
    /// won the merge, or None when it won but could not be stored (then
    /// it is dropped as if never received). Its log append and its floods
    /// are left to `batch` to write.
    pub fn on_peer_update(
        &self,
        record: Record,
        link: LinkId,
        peer: &str,
        batch: &mut UpdateBatch<'_>,
    ) -> Option<bool> {
        let record = Arc::new(record);
        let decision = {
            let mut state = self.state();
            let decision = state
                .core
                .on_peer_update(record.clone(), link, Nanos::now());
            let won = matches!(decision, PeerDecision::Won { .. });
            // Published under the lock so that it precedes the records event.
            self.events
                .publish_with(EventClass::FloodIn, || EventKind::FloodIn {
                    peer: peer.to_owned(),
                    client: record.client().to_owned(),
                    at: record.at_line().to_owned(),
                    won,
                });
            if let PeerDecision::Won { record, .. } = &decision {
                if let Err(err) = state.store.append(record) {
                    // Dropped as if never received; repair brings it again.
                    error!(
                        "cannot store update of {} from a peer: {err}",
                        record.client()
                    );
                    return None;
                }
                batch.appended();
                state.core.commit(record.clone());
                self.maintain_store(&mut state, false);
                self.publish_records_changed(&state, record);
            }
            decision
        };
        let won = match decision {
            PeerDecision::Won { record, forward } => {
                self.flood(&record, forward, Some(batch));
                true
            }
            _ => false,
        };
        bump(if won {
            &self.counters.floods_won
        } else {
            &self.counters.floods_stale
        });
        Some(won)
    }

    /// Writes the updates appended to the store (by a batch of peer lines,
    /// [`UpdateBatch`], or by clients, [`WriteCombiner`]) and tells group
    /// commit. A failed write leaves them for the next to try: meanwhile a
    /// client's are not acknowledged (`PendingReplies`), and a peer's stay
    /// in memory and go on (their sender holds them). Returns the entries
    /// the store has written by then.
    pub fn write_appended(&self) -> u64 {
        let mut state = self.state();
        if let Err(err) = state.store.flush() {
            error!("cannot store updates: {err}");
        }
        let written = state.store.written();
        self.group_commit.written(written);
        written
    }

    /// Writes what is queued on every link (for [`WriteCombiner`]).
    pub fn write_links(&self) {
        for link in self.links().iter() {
            link.write_queued();
        }
    }

    /// Queues `record` on the links `forward` names, for `batch` to write
    /// (or, for a client's update, the connection's `PendingReplies`).
    fn flood(
        &self,
        record: &Arc<Record>,
        forward: Forward,
        mut batch: Option<&mut UpdateBatch<'_>>,
    ) {
        let links = self.links();
        let targets = || links.iter().filter(|link| forward.includes(link.id));
        if targets().next().is_none() {
            return;
        }
        // Published first: the peer's `flood_in` should not be stamped
        // before this node's send.
        self.events
            .publish_with(EventClass::FloodOut, || EventKind::FloodOut {
                peers: targets().map(|link| link.peer.clone()).collect(),
                client: record.client().to_owned(),
                at: record.at_line().to_owned(),
            });
        for link in targets() {
            link.enqueue_later(record.clone());
            if let Some(batch) = batch.as_deref_mut() {
                batch.flooded(link);
            }
        }
    }

    /// The record count and digest changed without a record to name (a
    /// forget, an expiry): a records event without a client.
    fn publish_count_changed(&self, state: &State) {
        self.publish_records(state, "");
    }

    /// Called with the state lock held, so count and digest match the change.
    fn publish_records_changed(&self, state: &State, record: &Record) {
        self.publish_records(state, record.client());
    }

    fn publish_records(&self, state: &State, client: &str) {
        self.events.publish_with(EventClass::Records, || {
            let records = state.core.records();
            EventKind::Records {
                client: client.to_owned(),
                count: records.len(),
                digest: records.digest().to_hex(),
            }
        });
    }
}

fn read<T: ?Sized>(lock: &RwLock<Arc<T>>) -> std::sync::RwLockReadGuard<'_, Arc<T>> {
    // Only ever replaced whole: a panic cannot leave it half written.
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T: ?Sized>(lock: &RwLock<Arc<T>>) -> std::sync::RwLockWriteGuard<'_, Arc<T>> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A line for the log: quoted text, or its bytes escaped when it is not
/// UTF-8, so the log shows exactly what was sent.
/// Bytes as a quoted, escaped string for the log, formatted straight into
/// the log line (no allocation per client line).
pub fn printable(bytes: &[u8]) -> Printable<'_> {
    Printable(bytes)
}

pub struct Printable<'a>(&'a [u8]);

impl std::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Nearly every client line is plain printable ASCII: quote it as is.
        let plain = self
            .0
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
        if plain {
            f.write_str("\"")?;
            // Printable ASCII is UTF-8.
            f.write_str(std::str::from_utf8(self.0).unwrap_or_default())?;
            return f.write_str("\"");
        }
        match std::str::from_utf8(self.0) {
            Ok(text) => write!(f, "{text:?}"),
            Err(_) => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}

/// What a client line was, how it was answered, and for which client.
#[derive(Debug, Clone, Copy)]
struct Answered<'a> {
    kind: RequestKind,
    result: RequestResult,
    client: Option<&'a str>,
}

impl Answered<'_> {
    fn invalid(kind: RequestKind) -> Answered<'static> {
        Answered {
            kind,
            result: RequestResult::Invalid,
            client: None,
        }
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

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn printable_quotes_like_debug_and_escapes_what_needs_it() {
        for text in [
            "IAMAT kiwi +1+1 1.5",
            "",
            "tab\there",
            "quote\"s and \\",
            "é ünï",
            "\u{7f}",
        ] {
            assert_eq!(printable(text.as_bytes()).to_string(), format!("{text:?}"));
        }
        assert_eq!(printable(b"\xff\x00a").to_string(), "b\"\\xff\\x00a\"");
    }
}
