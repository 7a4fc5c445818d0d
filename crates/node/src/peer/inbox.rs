//! The read side of a connected link: the socket and the lines read from
//! it, kept in one place so that whoever reads (the session, or a client
//! request that must see what has arrived first) reads in order and each
//! line once. What a line means is the link machine's business
//! ([`super::Link::drain_input`]).

use std::sync::Arc;

use super::socket::PeerSocket;
use crate::line_reader::{Frame, LineReader};

pub(super) struct Inbox {
    socket: Arc<PeerSocket>,
    lines: LineReader,
    /// Why the connection can no longer be read, once it cannot.
    pub(super) ended: Option<String>,
}

/// How a drain reads the socket.
#[derive(Clone, Copy)]
pub enum ReadVia {
    /// Through tokio's readiness: the session, which then waits for the
    /// socket to become readable.
    Runtime,
    /// Straight from the kernel: a client request, which must see what has
    /// arrived even before the runtime has noticed.
    Kernel,
}

impl Inbox {
    pub(super) fn new(socket: Arc<PeerSocket>, lines: LineReader) -> Inbox {
        Inbox {
            socket,
            lines,
            ended: None,
        }
    }

    /// The next complete line already read, if any.
    pub(super) fn next_frame(&mut self) -> Option<Frame> {
        self.lines.next_frame()
    }

    /// Reads what the socket holds, without waiting (`WouldBlock` when it
    /// holds nothing; `Ok(0)` when the peer closed).
    pub(super) fn fill(&mut self, via: ReadVia) -> std::io::Result<usize> {
        self.socket.try_fill(&mut self.lines, via)
    }

    /// Reading left TLS with bytes of its own to send.
    pub(super) fn wants_flush(&self) -> bool {
        self.socket.wants_flush()
    }
}
