use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Address, Secret, TlsSettings};

/// A validated herd configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub herd: HerdSettings,
    pub places: PlacesSettings,
    pub limits: Limits,
    pub nodes: Vec<NodeSpec>,
    pub links: Vec<LinkSpec>,
    /// `[tls]`: peer links (and with `admin`, the admin port) over TLS.
    pub tls: Option<TlsSettings>,
    /// `[log]`: how the node log is written and kept.
    pub log: LogSettings,
    /// `[client]`: how client connections are served.
    pub client: ClientSettings,
    /// `[dashboard]`: herdctl's dashboard (the nodes ignore it).
    pub dashboard: DashboardSettings,
    /// `[records]`: how long records and tombstones live.
    pub records: RecordsSettings,
    /// Problems worth a warning but not an error (a disconnected graph).
    pub warnings: Vec<String>,
    /// Which config this is: the first 16 hex digits of the SHA-256 of the
    /// file's text, so nodes and herdctl can tell whether they run the
    /// same one.
    pub generation: String,
}

#[derive(Debug, Clone)]
pub struct HerdSettings {
    pub name: String,
    /// The herd secrets, empty when there is none: a node proves with the
    /// first and accepts a proof made with any (so the secret rotates
    /// without a partition).
    pub secrets: Vec<Secret>,
    pub admin_token: Option<Secret>,
    pub max_future_skew: Duration,
    pub fsync: FsyncPolicy,
}

/// When a node's record log is synced to disk (`[herd] fsync`). Every
/// update is written to the operating system before its AT reply whatever
/// the policy, so `kill -9` loses nothing; the policy is about power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// `"off"` (the default): the kernel writes the log out in its own time.
    #[default]
    Off,
    /// `"always"`: an AT reply waits until its update is on disk; replies
    /// waiting at the same time share one fsync (group commit).
    Always,
    /// A duration such as `"100ms"`: the log is synced that often if it
    /// changed; at most that much is lost to a power cut.
    Every(Duration),
}

/// `[client]`: how a node serves its client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientSettings {
    /// `one_request`: answer the first line of a connection, then close
    /// it (for the classic clients that send one request and read until
    /// the server closes). Off by default: many lines per connection.
    pub one_request: bool,
}

/// `[dashboard]`: how herdctl draws the dashboard for this herd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DashboardSettings {
    /// `theme`: "dark" (the default) or "light", for the terminal's
    /// background; herdctl's `--theme` and HERDCTL_THEME win over it.
    pub theme: Option<DashboardTheme>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashboardTheme {
    Dark,
    Light,
}

/// `[records]`: the lifetimes of records and of tombstones (contract
/// section 11, docs/repair.md "Forgetting").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsSettings {
    /// `ttl`: a record whose client time is older is gone on every node;
    /// `None` (the default): records never expire.
    pub ttl: Option<Duration>,
    /// `tombstone_ttl`: how long a forget is remembered (default 7 days);
    /// a node away from the herd for longer discards its old records when
    /// it returns.
    pub tombstone_ttl: Duration,
}

pub const DEFAULT_TOMBSTONE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for RecordsSettings {
    fn default() -> RecordsSettings {
        RecordsSettings {
            ttl: None,
            tombstone_ttl: DEFAULT_TOMBSTONE_TTL,
        }
    }
}

/// `[log]`: the node log's format and retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `keep`: rotate the log daily and delete what is older than this
    /// many days; `None` (the default) keeps one file, never rotated.
    pub keep_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Lines for people (the default).
    #[default]
    Text,
    /// One JSON object per line: `ts`, `level`, `target`, `message` and
    /// the event's fields.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacesBackendKind {
    Offline,
    Google,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlacesSettings {
    pub backend: PlacesBackendKind,
    /// Offline backend: a places file to use instead of the embedded one.
    pub file: Option<PathBuf>,
    pub google_key: Option<Secret>,
    /// Base URL: `https://`, or `http://` to a loopback address only.
    pub google_endpoint: String,
    pub google_api: GoogleApi,
    /// Longest a WHATSAT waits for Google (queueing for a free request
    /// slot included) before it gets an `UNKNOWN_ERROR` answer.
    pub timeout: Duration,
    /// How long an answer is reused for the same rounded position, radius
    /// and bound; zero turns the cache off.
    pub cache_ttl: Duration,
    /// Requests to Google in flight at once, per node.
    pub max_concurrent: usize,
}

/// What one client may cost a node (`[limits]`, docs/security.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest client line in bytes (without its ending); longer ones get
    /// `? <first 256 bytes>` and the connection is closed.
    pub max_line: usize,
    /// Longest client id in bytes (at most the protocol's 256); longer
    /// ones get `?`.
    pub max_client_id: usize,
    /// Client connections open at once; more are answered `? busy` and
    /// closed.
    pub max_clients: usize,
    /// Updates (one per client) held for a peer that is slow or away;
    /// beyond it they are dropped, counted, and left to repair.
    pub peer_queue: usize,
    /// A client connection with nothing started is closed after this.
    pub client_idle: Duration,
    /// A line that has started must end within this (slow clients, or
    /// slow-loris attacks, are closed).
    pub line_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 8 * 1024,
            max_client_id: 256,
            max_clients: 10_000,
            peer_queue: 65_536,
            client_idle: Duration::from_secs(300),
            line_deadline: Duration::from_secs(10),
        }
    }
}

/// Which Google API the online backend calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GoogleApi {
    /// Nearby Search (legacy): `GET .../maps/api/place/nearbysearch/json`.
    #[default]
    Legacy,
    /// Places API (New): `POST .../v1/places:searchNearby`, converted to
    /// the legacy shape.
    New,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    /// Where clients, peers and herdctl reach the node; a host name in
    /// them is resolved by whoever connects, when it connects.
    pub client: Address,
    pub peer: Address,
    pub admin: Address,
    /// `bind`: the IP the node listens on for all three ports (each port
    /// from its own address), e.g. `0.0.0.0` while the addresses name the
    /// host. Without it the node listens on its addresses themselves.
    pub bind: Option<IpAddr>,
    /// `metrics`: the HTTP listener for Prometheus, `/health` and `/ready`
    /// (contract section 9); none when not given.
    pub metrics: Option<Address>,
}

/// An undirected link, as indices into [`Config::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSpec(pub usize, pub usize);

impl Config {
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|node| node.name == name)
    }

    /// The names of `name`'s peers, in configuration order.
    pub fn peers_of(&self, name: &str) -> Vec<&NodeSpec> {
        let Some(me) = self.nodes.iter().position(|node| node.name == name) else {
            return Vec::new();
        };
        self.links
            .iter()
            .filter_map(|&LinkSpec(a, b)| match (a == me, b == me) {
                (true, _) => Some(&self.nodes[b]),
                (_, true) => Some(&self.nodes[a]),
                _ => None,
            })
            .collect()
    }

    pub fn are_linked(&self, a: &str, b: &str) -> bool {
        self.peers_of(a).iter().any(|peer| peer.name == b)
    }
}
