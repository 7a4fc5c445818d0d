//! Peer links: one persistent TCP connection per configured link, on the
//! peer port (docs/peer-protocol.md).
//!
//! - [`link`]: a link's outbox (bounded queue + the live connection) and the
//!   task that keeps the link connected.
//! - [`inbox`]: reading and merging what a peer sent, by the session or by
//!   a client request that must see it first.
//! - [`auth`]: proving knowledge of the herd secret after HELLO.
//! - [`handshake`]: the HELLO exchange, on both the dialling and accepting side.
//! - [`listener`]: the peer port, handing accepted connections to their link.
//! - [`session`]: one connected period of a link: reading updates, writing
//!   the queue, heartbeats.

mod auth;
mod handshake;
mod inbox;
mod link;
mod listener;
mod session;

pub use link::{Link, LinkSettings, run_link};
pub use listener::serve_peers;

use tokio::net::TcpStream;

use crate::line_reader::LineReader;

/// A connection that completed its handshake: the stream, the bytes already
/// read past the HELLO, and the peer's boot id.
pub struct Connected {
    pub stream: TcpStream,
    pub lines: LineReader,
    pub peer_boot_id: String,
}

/// Longest peer line: an AT line holds a 256-byte client id and fields a
/// client line bounded by the client line limit, so allow that and more.
pub const MAX_PEER_LINE: usize = 16 * 1024;

pub(crate) fn peer_line_reader() -> LineReader {
    LineReader::new(MAX_PEER_LINE, 64)
}
