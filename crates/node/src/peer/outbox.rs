//! The bytes of a link's send side: lines taken from the link machine and
//! not yet accepted by the socket, partial writes, and what a disconnect
//! loses.
//!
//! The rules: lines are written in the order the machine gave them, in
//! batches of up to [`BATCH`] bytes (one write for many updates). When the
//! socket took only part of a line, the rest of that line must never go to
//! another connection (the peer would see half a line glued to the next
//! connection's first). A disconnect drops every line not yet written:
//! they belonged to that connection (its repair messages), and the updates
//! and tombstones among them were encoded before the machine could know
//! whether a forget, or a return past the tombstone horizon, would cover
//! them (forget_filter.rs), so they must not go later; the link-up repair
//! round brings the peer what it still lacks.

use std::io;
use std::sync::Arc;

use super::socket::PeerSocket;
use bytes::{Buf, BytesMut};
use herd_core::Transmit;

/// Bytes gathered for one write.
pub const BATCH: usize = 64 * 1024;

/// A socket that can be written without waiting.
pub trait TryWrite {
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize>;

    /// Writes what the socket took but holds back (TLS records not yet
    /// sent); `WouldBlock` while some remain.
    fn try_flush(&self) -> io::Result<()> {
        Ok(())
    }
}

impl TryWrite for PeerSocket {
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        PeerSocket::try_write(self, bytes)
    }

    fn try_flush(&self) -> io::Result<()> {
        PeerSocket::try_flush(self)
    }
}

/// Outcome of pushing the outbox into the socket.
pub enum Flush<W> {
    /// Everything there was is written.
    Done,
    /// The socket is full; wait until it is writable.
    Blocked(Arc<W>),
    /// No connection (or the write failed, and the connection is dropped).
    Disconnected,
}

pub struct Outbox<W> {
    /// Lines taken from the machine but not yet accepted by the socket.
    pending: BytesMut,
    connection: Option<Arc<W>>,
    /// The socket refused bytes; the session's writer waits until it takes
    /// them again, and callers do not try in between.
    blocked: bool,
    bytes_out: u64,
    /// The peer reads FORGET lines (protocol version 4 and later).
    forgets: bool,
}

impl<W: TryWrite> Outbox<W> {
    pub fn new() -> Outbox<W> {
        Outbox {
            pending: BytesMut::new(),
            connection: None,
            blocked: false,
            bytes_out: 0,
            forgets: true,
        }
    }

    pub fn bytes_out(&self) -> u64 {
        self.bytes_out
    }

    /// True when a write may be tried right now.
    pub fn writable(&self) -> bool {
        self.connection.is_some() && !self.blocked
    }

    /// Makes `connection` the one lines go to; `forgets`: the peer reads
    /// FORGET lines (an older one would close the link on one, so its
    /// tombstones are left out: it cannot forget).
    pub fn attach(&mut self, connection: Arc<W>, forgets: bool) {
        self.connection = Some(connection);
        self.forgets = forgets;
        self.blocked = false;
    }

    /// Forgets the connection and every line not yet written.
    pub fn detach(&mut self) {
        self.pending.clear();
        self.connection = None;
    }

    /// Writes what is pending, then what `next` gives (a line at a time,
    /// `None` when there is no more), until the socket is full or nothing
    /// is left.
    pub fn flush(&mut self, mut next: impl FnMut() -> Option<Transmit>) -> Flush<W> {
        let Some(connection) = self.connection.clone() else {
            return Flush::Disconnected;
        };
        loop {
            if self.pending.is_empty() {
                while self.pending.len() < BATCH {
                    let Some(transmit) = next() else { break };
                    encode(&transmit, self.forgets, &mut self.pending);
                }
                if self.pending.is_empty() {
                    return match connection.try_flush() {
                        Ok(()) => {
                            self.blocked = false;
                            Flush::Done
                        }
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                            self.blocked = true;
                            Flush::Blocked(connection)
                        }
                        Err(err) => {
                            tracing::debug!("peer write failed: {err}");
                            self.detach();
                            Flush::Disconnected
                        }
                    };
                }
            }
            match connection.try_write(&self.pending) {
                Ok(written) => {
                    self.pending.advance(written);
                    self.bytes_out += written as u64;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.blocked = true;
                    return Flush::Blocked(connection);
                }
                Err(err) => {
                    tracing::debug!("peer write failed: {err}");
                    self.detach();
                    return Flush::Disconnected;
                }
            }
        }
    }
}

/// A transmit as its line on the wire (docs/peer-protocol.md); nothing
/// for a tombstone when the peer does not read them (`forgets` false).
fn encode(transmit: &Transmit, forgets: bool, out: &mut BytesMut) {
    match transmit {
        Transmit::Forget(tombstone) => {
            if forgets {
                out.extend_from_slice(tombstone.to_line().as_bytes());
                out.extend_from_slice(b"\n");
            }
        }
        Transmit::Flood(record) | Transmit::Repaired(record) => {
            out.extend_from_slice(record.at_line().as_bytes());
            out.extend_from_slice(b"\n");
        }
        Transmit::Repair(message) => out.extend_from_slice(message.to_line().as_bytes()),
        Transmit::Ping => out.extend_from_slice(herd_proto::peer::PING_LINE),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use herd_proto::Record;

    use super::*;

    /// A socket that takes at most `room` bytes per write, or fails.
    #[derive(Default)]
    struct Socket {
        written: Mutex<Vec<u8>>,
        room: Mutex<VecDeque<io::Result<usize>>>,
        /// What `try_flush` answers, in turn (then `Ok`): TLS records held back.
        held_back: Mutex<VecDeque<io::Result<()>>>,
    }

    impl TryWrite for Socket {
        fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
            match self.room.lock().expect("test lock").pop_front() {
                Some(Ok(room)) => {
                    let n = room.min(bytes.len());
                    self.written
                        .lock()
                        .expect("test lock")
                        .extend_from_slice(&bytes[..n]);
                    Ok(n)
                }
                Some(Err(err)) => Err(err),
                None => Err(io::ErrorKind::WouldBlock.into()),
            }
        }

        fn try_flush(&self) -> io::Result<()> {
            self.held_back
                .lock()
                .expect("test lock")
                .pop_front()
                .unwrap_or(Ok(()))
        }
    }

    fn socket(room: impl IntoIterator<Item = io::Result<usize>>) -> Arc<Socket> {
        let socket = Socket::default();
        socket.room.lock().expect("test lock").extend(room);
        Arc::new(socket)
    }

    fn update(client: &str) -> Transmit {
        let line = format!("AT Clark +0.000000001 {client} +1+1 1");
        Transmit::Flood(Arc::new(Record::parse_at_line(&line).expect("valid")))
    }

    fn lines(clients: &[&str]) -> impl FnMut() -> Option<Transmit> {
        let mut queue: VecDeque<Transmit> = clients.iter().map(|c| update(c)).collect();
        move || queue.pop_front()
    }

    fn text(socket: &Socket) -> String {
        String::from_utf8_lossy(&socket.written.lock().expect("test lock")).into_owned()
    }

    #[test]
    fn tombstones_go_only_to_peers_that_read_them() {
        let tombstone = herd_proto::Tombstone {
            leaf: 1,
            client: herd_proto::ClientHash::of("kiwi"),
            time: herd_proto::Nanos(5_000_000_000),
        };
        for (forgets, wanted) in [
            (
                true,
                "FORGET 0001 1a5afeda973d776e31d1d7266f184468 5.000000000\nAT Clark +0.000000001 a +1+1 1\n",
            ),
            (false, "AT Clark +0.000000001 a +1+1 1\n"),
        ] {
            let s = socket([Ok(usize::MAX)]);
            let mut outbox = Outbox::new();
            outbox.attach(s.clone(), forgets);
            let mut queue = VecDeque::from([Transmit::Forget(tombstone), update("a")]);
            assert!(matches!(outbox.flush(|| queue.pop_front()), Flush::Done));
            assert_eq!(text(&s), wanted, "forgets: {forgets}");
        }
    }

    #[test]
    fn lines_go_out_in_one_write_in_order() {
        let s = socket([Ok(usize::MAX)]);
        let mut outbox = Outbox::new();
        outbox.attach(s.clone(), true);
        assert!(matches!(outbox.flush(lines(&["a", "b"])), Flush::Done));
        assert_eq!(
            text(&s),
            "AT Clark +0.000000001 a +1+1 1\nAT Clark +0.000000001 b +1+1 1\n"
        );
        assert_eq!(outbox.bytes_out(), 62);
        assert!(outbox.writable());
    }

    #[test]
    fn a_full_socket_blocks_and_the_rest_follows_when_it_drains() {
        let s = socket([Ok(10)]);
        let mut outbox = Outbox::new();
        outbox.attach(s.clone(), true);
        assert!(matches!(outbox.flush(lines(&["a"])), Flush::Blocked(_)));
        assert!(!outbox.writable(), "no tries while blocked");
        s.room.lock().expect("test lock").push_back(Ok(usize::MAX));
        assert!(matches!(outbox.flush(lines(&[])), Flush::Done));
        assert_eq!(text(&s), "AT Clark +0.000000001 a +1+1 1\n");
    }

    #[test]
    fn a_disconnect_drops_every_line_not_yet_written() {
        let first = socket([Ok(10)]);
        let mut outbox = Outbox::new();
        outbox.attach(first.clone(), true);
        assert!(matches!(
            outbox.flush(lines(&["a", "b"])),
            Flush::Blocked(_)
        ));
        outbox.detach();
        assert!(matches!(outbox.flush(lines(&[])), Flush::Disconnected));
        let second = socket([Ok(usize::MAX), Ok(usize::MAX)]);
        outbox.attach(second.clone(), true);
        assert!(matches!(outbox.flush(lines(&["c"])), Flush::Done));
        assert_eq!(text(&first), "AT Clark +");
        assert_eq!(
            text(&second),
            "AT Clark +0.000000001 c +1+1 1\n",
            "the next connection starts afresh: no torn line, and no line encoded for the last one (a forget may cover it)"
        );
    }

    #[test]
    fn a_failed_write_drops_the_connection() {
        let s = socket([Ok(5), Err(io::ErrorKind::ConnectionReset.into())]);
        let mut outbox = Outbox::new();
        outbox.attach(s, true);
        assert!(matches!(outbox.flush(lines(&["a"])), Flush::Disconnected));
        assert!(!outbox.writable());
    }

    #[test]
    fn bytes_the_socket_holds_back_block_until_they_are_out() {
        let s = socket([Ok(usize::MAX)]);
        s.held_back
            .lock()
            .expect("test lock")
            .extend([Err(io::ErrorKind::WouldBlock.into())]);
        let mut outbox = Outbox::new();
        outbox.attach(s.clone(), true);
        assert!(
            matches!(outbox.flush(lines(&["a"])), Flush::Blocked(_)),
            "taken, but not yet on the wire: wait until writable"
        );
        assert!(!outbox.writable());
        assert!(matches!(outbox.flush(lines(&[])), Flush::Done));
        assert!(outbox.writable());
        s.held_back
            .lock()
            .expect("test lock")
            .extend([Err(io::ErrorKind::ConnectionReset.into())]);
        assert!(matches!(outbox.flush(lines(&[])), Flush::Disconnected));
    }

    #[test]
    fn batches_are_bounded() {
        let s = socket([Ok(usize::MAX), Ok(usize::MAX), Ok(usize::MAX)]);
        let mut outbox = Outbox::new();
        outbox.attach(s.clone(), true);
        let clients: Vec<String> = (0..5_000).map(|i| format!("c{i}")).collect();
        let refs: Vec<&str> = clients.iter().map(String::as_str).collect();
        assert!(matches!(outbox.flush(lines(&refs)), Flush::Done));
        assert_eq!(text(&s).lines().count(), 5_000);
        assert!(
            s.room.lock().expect("test lock").is_empty(),
            "three writes of at most 64 KiB"
        );
    }
}
