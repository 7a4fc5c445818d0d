//! The herd's text formats, free of I/O so they can be tested exhaustively.
//!
//! - [`fields`]: how a line splits into fields (the protocol's white space).
//! - [`time`]: exact POSIX times as integer nanoseconds and their text forms.
//! - [`position`]: ISO 6709 latitude/longitude pairs.
//! - [`request`]: the client lines `IAMAT` and `WHATSAT`.
//! - [`record`]: one client's last known position, its AT line and the total
//!   order that decides which of two updates wins.
//! - [`peer`]: the messages that travel on peer links.
//! - [`auth`]: the proof of the herd secret on a peer connection.
//! - [`repair`]: the anti-entropy messages among them.
//! - [`tombstone`]: a forget, which names a client only by a hash of its id.

pub mod auth;
pub mod fields;
pub mod peer;
pub mod position;
pub mod record;
pub mod repair;
pub mod request;
pub mod time;
pub mod tombstone;

pub use position::Position;
pub use record::Record;
pub use request::{IAmAt, Request, WhatsAt, parse_request};
pub use time::Nanos;
pub use tombstone::{ClientHash, Tombstone};

/// Longest client id accepted, in bytes (contract section 2).
pub const MAX_CLIENT_ID_BYTES: usize = 256;
