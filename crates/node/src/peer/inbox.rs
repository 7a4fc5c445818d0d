//! What a peer has sent, read and merged in one place.
//!
//! Normally the session's reader drains the socket whenever it is readable.
//! A client request drains it too, synchronously, before it reads the
//! records: an update that a neighbour flooded before answering its client
//! is already in this node's socket buffer when that client asks here, but
//! the session's reader may not have run yet (the runtime's scheduling, not
//! the network, decides that). Draining under one lock keeps lines in order
//! and each processed exactly once, whoever reads them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use herd_admin::AdminState;
use herd_core::{RepairReply, RepairState};
use herd_proto::peer::{PeerMessage, parse_peer_line};
use herd_proto::repair::RepairMessage;
use tokio::net::tcp::OwnedReadHalf;

use super::Link;
use crate::line_reader::{Frame, LineReader};
use crate::node::Node;

/// A periodic round does not interrupt an unanswered one younger than this.
const ROUND_PATIENCE: Duration = Duration::from_secs(5);
/// Rounds asked for by queue overflows are at least this far apart: a
/// congested link overflows on every update, and a round per overflow would
/// only add to the congestion.
const MIN_ROUND_GAP: Duration = Duration::from_millis(100);

/// The read side of a connected link.
pub(super) struct Inbox {
    reader: Arc<OwnedReadHalf>,
    lines: LineReader,
    /// Why the connection can no longer be read, once it cannot.
    ended: Option<String>,
    /// When the peer last sent anything (heartbeats included).
    pub(super) last_input: Instant,
    /// The repair round this side started on this connection, if any.
    repair: RepairState,
    /// When this side last started a repair round.
    repair_started: Option<Instant>,
}

/// How a drain reads the socket.
#[derive(Clone, Copy)]
pub(super) enum ReadVia {
    /// Through tokio's readiness: the session, which then waits for the
    /// socket to become readable.
    Runtime,
    /// Straight from the kernel: a client request, which must see what has
    /// arrived even before the runtime has noticed.
    Kernel,
}

/// Outcome of one drain.
pub(super) enum Drained {
    /// The socket has nothing more for now.
    Idle,
    /// The byte budget ran out with more perhaps waiting.
    More,
    /// The connection is finished, for this reason.
    Ended(String),
}

impl Inbox {
    pub(super) fn new(reader: Arc<OwnedReadHalf>, lines: LineReader) -> Inbox {
        Inbox {
            reader,
            lines,
            ended: None,
            last_input: Instant::now(),
            repair: RepairState::default(),
            repair_started: None,
        }
    }

    /// Merges every complete line already read, then reads what the socket
    /// holds, up to `budget` bytes, merging as it goes. Never waits.
    pub(super) fn drain(
        &mut self,
        node: &Node,
        link: &Link,
        budget: usize,
        via: ReadVia,
    ) -> Drained {
        if let Some(reason) = &self.ended {
            return Drained::Ended(reason.clone());
        }
        let outcome = self.drain_until_end(node, link, budget, via);
        if let Drained::Ended(reason) = &outcome {
            self.ended = Some(reason.clone());
        }
        outcome
    }

    /// Starts a repair round, true if it did. Unless `force`d, not when the
    /// last one started under 100 ms ago, nor while one is still waiting
    /// for its answers (a round takes milliseconds; a slow one gets 5 s).
    pub(super) fn start_repair(&mut self, node: &Node, link: &Link, force: bool) -> bool {
        let since = self.repair_started.map(|at| at.elapsed());
        let busy = since.is_some_and(|since| {
            since < MIN_ROUND_GAP || (self.repair.in_round() && since < ROUND_PATIENCE)
        });
        if busy && !force {
            return false;
        }
        self.note_round_started(link);
        let sync = node.start_repair(&mut self.repair);
        link.send_repair(RepairReply {
            records: Vec::new(),
            messages: vec![sync],
        });
        true
    }

    fn note_round_started(&mut self, link: &Link) {
        self.repair_started = Some(Instant::now());
        link.repair_rounds.fetch_add(1, Ordering::Relaxed);
    }

    fn drain_until_end(
        &mut self,
        node: &Node,
        link: &Link,
        budget: usize,
        via: ReadVia,
    ) -> Drained {
        let mut read_total = 0;
        loop {
            if let Err(reason) = self.merge_complete_lines(node, link) {
                return Drained::Ended(reason);
            }
            if read_total >= budget {
                return Drained::More;
            }
            let read = match via {
                ReadVia::Runtime => self.lines.try_fill(&self.reader),
                ReadVia::Kernel => self.lines.try_fill_now(&self.reader),
            };
            match read {
                Ok(0) => return Drained::Ended("peer closed the connection".to_owned()),
                Ok(read) => {
                    read_total += read;
                    self.last_input = Instant::now();
                    link.bytes_in.fetch_add(read as u64, Ordering::Relaxed);
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return Drained::Idle,
                Err(err) => return Drained::Ended(err.to_string()),
            }
        }
    }

    fn merge_complete_lines(&mut self, node: &Node, link: &Link) -> Result<(), String> {
        while let Some(frame) = self.lines.next_frame() {
            let Frame::Line(line) = frame else {
                return Err("peer sent an over-long line".to_owned());
            };
            let Ok(text) = std::str::from_utf8(&line) else {
                return Err("peer sent a line that is not UTF-8".to_owned());
            };
            match parse_peer_line(text) {
                Ok(PeerMessage::Update(record)) => {
                    if link.admin_state() == AdminState::Down {
                        // Cut by the operator: nothing crosses, even what
                        // was already in flight.
                        return Err("cut by the operator".to_owned());
                    }
                    link.msgs_in.fetch_add(1, Ordering::Relaxed);
                    node.on_peer_update(record, link.id);
                }
                Ok(PeerMessage::Ping) => {}
                Ok(PeerMessage::Auth(_)) => {
                    return Err(
                        "peer wants to authenticate: the herd secret is set there but not here"
                            .to_owned(),
                    );
                }
                Ok(PeerMessage::Repair(message)) => {
                    if link.admin_state() == AdminState::Down {
                        return Err("cut by the operator".to_owned());
                    }
                    let reply = node.answer_repair(&mut self.repair, message);
                    if reply
                        .messages
                        .iter()
                        .any(|m| matches!(m, RepairMessage::Sync { .. }))
                    {
                        // The next chunk of a large repair: a round too.
                        self.note_round_started(link);
                    }
                    link.send_repair(reply);
                }
                Ok(_) => return Err("peer sent a handshake message after the handshake".to_owned()),
                Err(err) => return Err(format!("protocol error: {err}")),
            }
        }
        Ok(())
    }
}
