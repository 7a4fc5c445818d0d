//! What reaches a link's task from its dials and from the peer listener,
//! and how peer lines are read.

use super::error::DialError;
use super::socket::PeerSocket;
use crate::line_reader::LineReader;
use herd_core::Opener;

/// A connection that completed its handshake: the socket, the bytes already
/// read past the HELLO, who opened it, and the peer's boot id.
pub struct Connected {
    pub socket: PeerSocket,
    pub lines: LineReader,
    pub opener: Opener,
    pub peer_boot_id: String,
    /// The protocol version the two ends agreed on.
    pub version: u32,
}

/// What a link's task is handed: a connection, from its own dial or the
/// peer's, or the news that its own dial failed.
pub enum Arrival {
    /// Boxed: a connection (a TLS session inside) is over a kilobyte.
    Connected(Box<Connected>),
    DialFailed(DialError),
}

/// Longest peer line: an AT line holds a 256-byte client id and fields a
/// client line bounded by the client line limit, so allow that and more.
pub const MAX_PEER_LINE: usize = 16 * 1024;

pub(crate) fn peer_line_reader() -> LineReader {
    LineReader::new(MAX_PEER_LINE, 64)
}
