//! `herd-node`: one node of a server herd. The binary (`main.rs`) only calls
//! [`app::main`]; everything else is here so it can be read and tested in
//! pieces.

pub mod accept;
pub mod admin;
pub mod app;
pub mod cli;
pub mod client;
pub mod counters;
pub mod events;
pub mod group_commit;
pub mod health;
pub mod last_contact;
pub mod line_reader;
pub mod link_set;
pub mod link_states;
pub mod live;
pub mod log_store;
pub mod logging;
pub mod metrics;
pub mod name;
pub mod node;
pub mod peer;
pub mod pending_replies;
pub mod reload;
pub mod reload_request;
pub mod resolve;
pub mod store;
pub mod supervisor;
#[cfg(test)]
mod test_support;
pub mod write_combiner;
