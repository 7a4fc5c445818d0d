//! Peer links: one persistent TCP connection per configured link, on the
//! peer port (docs/peer-protocol.md). Every decision a link makes is the
//! link machine's, in herd-core; these modules are the I/O around it.
//!
//! - [`link`]: the link's shared state: its machine, outbox and read side,
//!   and what the snapshot shows.
//! - [`outbox`]: the bytes of the send side: partial writes, batching, what
//!   a disconnect loses.
//! - [`update_batch`]: the log appends and floods of a batch of lines,
//!   written at its end.
//! - [`inbox`]: the read side: the socket and the lines read from it.
//! - [`supervisor`]: the task that keeps a link connected (dial or accept,
//!   then a session, again).
//! - [`session`]: one connected period: reader, writer, timers.
//! - [`handshake`]: the HELLO exchange, dialling and accepting (and the
//!   bound on handshakes under way).
//! - [`auth`]: proving knowledge of the herd secret after HELLO.
//! - [`wire`]: handshake lines on a raw stream, for both of those.
//! - [`socket`]: the connection's bytes, plain or TLS, during the
//!   handshake and after.
//! - [`listener`]: the peer port, handing connections to the handshake.
//! - [`error`]: what can go wrong on a peer connection, as values.
//! - [`connection`]: what a completed handshake hands to the link.

mod auth;
mod connection;
mod error;
mod handshake;
mod inbox;
mod link;
mod listener;
mod outbox;
mod session;
mod socket;
mod supervisor;
mod update_batch;
mod wire;

#[cfg(test)]
mod restart_tests;

pub use connection::{Arrival, Connected};
pub use link::Link;
pub use listener::serve_peers;
pub use supervisor::run_link;
pub use update_batch::UpdateBatch;
