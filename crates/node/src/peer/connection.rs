//! What a completed handshake hands to its link, and how peer lines are
//! read.

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
