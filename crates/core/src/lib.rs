//! The herd node's decisions, free of I/O and clocks: the caller passes the
//! time in and performs the effects that come out. `herd-node` and the
//! simulator (`herd-sim`) drive these same types: merging and flooding
//! ([`NodeCore`]), the repair exchange ([`RepairState`]), and everything a
//! peer link decides ([`LinkMachine`]).

pub mod backoff;
mod client_key;
pub mod decide;
pub mod digest;
pub mod digest_tree;
pub mod forget_filter;
pub mod health;
pub mod lifecycle;
pub mod link;
pub mod records;
pub mod repair;
pub mod send_queue;

pub use backoff::Backoff;
pub use decide::{
    ClientDecision, ForgetDecision, Forward, LinkId, NodeCore, PeerDecision, Reset, Swept,
};
pub use digest::Digest;
pub use lifecycle::{Lifecycle, LifecycleSabotage};
pub use link::{
    LinkClose, LinkMachine, LinkPolicy, LinkStats, Opener, Received, Sabotage, Transmit,
};
pub use records::Records;
pub use repair::{RepairReply, RepairState};
pub use send_queue::{Push, SendQueue};
