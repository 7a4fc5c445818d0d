//! The admin protocol (docs/admin-protocol.md): JSON lines over TCP.
//!
//! One request per line, each with an `id` that its one response carries
//! back; after `subscribe`, event lines (which carry `event`, never `id`)
//! are interleaved with responses. These types are shared by the node, which
//! writes them, and herdctl, which reads them. Reading is lenient (unknown
//! fields are ignored, missing ones take defaults) so that a herdctl can talk
//! to an older or newer node; [`SCHEMA`] tells them apart.
//!
//! With the `client` feature, [`client`] is the one async client that
//! speaks it (herdctl's commands and dashboard, herd-bench).

#[cfg(feature = "client")]
pub mod client;
mod event;
mod request;
mod response;
mod snapshot;

pub use event::{Event, EventClass, EventKind, LinkChange};
pub use request::{AdminRequest, Command, RequestError, parse_request};
pub use response::{
    AuthResult, ErrorCode, ForgetResult, LinkResult, LogResult, RecordEntry, RecordsPage,
    ReloadResult, Response, SubscribeResult,
};
pub use snapshot::{
    AdminState, ConnectionState, Counters, Health, LinkStatus, NodeAddresses, PlacesCounters,
    Snapshot, TlsStatus,
};

/// Version of the admin schema. Bumped when a field changes meaning or
/// disappears; adding fields or commands does not bump it.
pub const SCHEMA: u32 = 1;

/// Records per `records` page when the request names no limit, and the most
/// a request may ask for.
pub const DEFAULT_PAGE: usize = 1000;
pub const MAX_PAGE: usize = 10_000;

/// Longest request line the node reads.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;
