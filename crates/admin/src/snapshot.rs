//! The result of `snapshot`: one node's identity, links and counters.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    /// The admin schema (`herd_admin::SCHEMA`) of the node that answered.
    pub schema: u32,
    pub node: String,
    pub herd: String,
    /// The node's program version.
    pub version: String,
    /// Random per start, so a restart is visible.
    pub boot_id: String,
    pub pid: u32,
    /// POSIX microseconds at start-up, and seconds since.
    pub started_us: u64,
    pub uptime_s: f64,
    pub addresses: NodeAddresses,
    /// Records held (one per client) and their digest (16 hex digits; equal
    /// on two nodes exactly when they hold the same records and
    /// tombstones).
    pub records: usize,
    pub digest: String,
    /// Tombstones held: forgotten clients, kept for `tombstone_ttl` (0
    /// from a node older than forgetting).
    pub tombstones: usize,
    /// What the node's store is, in words.
    pub store: String,
    pub links: Vec<LinkStatus>,
    pub counters: Counters,
    /// The config the node runs: the first 16 hex digits of the SHA-256 of
    /// its file (empty from a node too old to say).
    #[serde(default)]
    pub config_generation: String,
    /// With `[tls]`: the node's certificate and how long it is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsStatus>,
    /// The online places backend's counters; absent with the offline one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub places: Option<PlacesCounters>,
    /// Absent from nodes older than health verdicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// What an online places backend (Google) has done since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlacesCounters {
    pub backend: String,
    /// Calls made to the service.
    pub requests: u64,
    /// WHATSATs answered from the cache instead of a call.
    pub cache_hits: u64,
    /// Answers that were not OK or ZERO_RESULTS: the service's error
    /// statuses, network failures and timeouts.
    pub errors: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeAddresses {
    pub client: String,
    pub peer: String,
    pub admin: String,
}

/// What the operator asked for a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminState {
    #[default]
    Up,
    Down,
}

impl AdminState {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Up => "up",
            AdminState::Down => "down",
        }
    }
}

/// What a link is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Handshake done; updates flow.
    Connected,
    /// Dialling (or waiting for the peer to dial), with back-off.
    #[default]
    Connecting,
    /// Cut by the operator: not dialled, incoming connections refused.
    Down,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkStatus {
    pub peer: String,
    pub peer_addr: String,
    pub admin: AdminState,
    pub state: ConnectionState,
    /// `state == connected`, for scripts (contract section 4).
    pub connected: bool,
    /// POSIX microseconds when `state` last changed.
    pub since_us: u64,
    /// True when this node opened the current connection (both ends dial;
    /// the opener starts the repair rounds). False while not connected.
    pub dials: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_boot_id: Option<String>,
    /// Updates waiting to be sent.
    pub queue: usize,
    /// Updates (AT lines) received and sent over this link, and all bytes.
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Updates dropped because the queue was full.
    pub overflows: u64,
    /// Repair rounds this side started on the link, and records it sent
    /// in repair answers (docs/repair.md).
    pub repair_rounds: u64,
    pub repair_records_out: u64,
    /// Records that came in answer to this side's repair messages (and
    /// floods that crossed them).
    pub repair_records_in: u64,
    /// Updates from the peer that won the merge, and those that did not
    /// (already held, or older).
    pub floods_won: u64,
    pub floods_stale: u64,
    /// Connections lost since start (the operator's cuts not counted).
    pub flaps: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_us: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Client connections accepted since start, and open now.
    pub client_connections: u64,
    pub client_connections_open: u64,
    /// Refused because `max_clients` were open; closed by `client_idle` or
    /// `line_deadline`.
    pub client_refused: u64,
    pub client_timeouts: u64,
    /// Client lines read (blank ones included) and `?` replies.
    pub client_lines: u64,
    pub questions: u64,
    /// IAMATs that were new, and those answered with a held record.
    pub iamat_accepted: u64,
    pub iamat_stale: u64,
    pub whatsat: u64,
    /// Updates received from peers; those that won the merge; copies of
    /// what the node already held (or older), which end the flood.
    pub floods_in: u64,
    pub floods_won: u64,
    pub duplicates: u64,
    /// Updates sent to peers (all links).
    pub floods_out: u64,
    /// Updates dropped by full link queues (all links).
    pub queue_overflows: u64,
    /// Repair rounds started and records sent by repair (all links).
    pub repair_rounds: u64,
    pub repair_records_out: u64,
    /// fsyncs of the record log (by `[herd] fsync`), and failed ones.
    pub fsyncs: u64,
    pub fsync_failures: u64,
    /// Events the admin stream dropped for slow subscribers.
    pub events_dropped: u64,
    /// Peer connections refused in the TLS handshake (another CA, an
    /// expired certificate, one naming no linked node, plain TCP).
    pub tls_refusals: u64,
}

/// A TLS node's certificate, as its files were last read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsStatus {
    /// The certificate file.
    pub certificate: String,
    /// When it stops being valid (RFC 3339, UTC).
    pub not_after: String,
    /// Whole days it is valid for; negative once expired.
    pub days_left: i64,
    /// The admin port speaks TLS too.
    pub admin: bool,
}

/// The node's health verdict (contract section 9, `GET /health`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: String,
    /// What is wrong, each with how long it has lasted: `link to Jaquez
    /// down for 12s`.
    pub problems: Vec<String>,
}
