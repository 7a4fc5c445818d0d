//! The dashboard (contract section 6): one event loop over the terminal,
//! the nodes' admin ports and a tick; a pure `draw` from the state.
//!
//! - [`state`]: everything shown, changed only by messages (no I/O, the
//!   clock passed in).
//! - [`keys`]: the key table and what each key does.
//! - [`command`]: the `:` command line.
//! - [`feed`], [`records_table`]: the Flood and Records views' data.
//! - [`draw`]: the views, from the state.
//! - [`node_link`]: the one admin connection per node (events, snapshots,
//!   records on the same connection, reconnecting on its own).
//! - [`run`]: the runtime: terminal, the nodes' news, effects.

pub mod command;
pub mod draw;
pub mod feed;
pub mod keys;
pub mod node_link;
pub mod records_table;
pub mod run;
pub mod state;

#[cfg(test)]
mod tests;
