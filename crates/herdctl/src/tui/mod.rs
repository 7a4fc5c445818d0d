//! The dashboard (contract section 6): one event loop over the terminal,
//! the nodes' admin ports and a tick; a pure `draw` from the state.
//!
//! - [`app`]: the state: the herd, one state per view, the bottom line;
//!   every change is a message (no I/O, the clock passed in).
//! - [`views`]: one module per view (herd, records, flood, console), each
//!   with its own state, keys and drawing.
//! - [`keys`]: the key table, the one source of keys, footer and help.
//! - [`nodes`]: the herd as the dashboard knows it; its health is
//!   [`crate::health`]'s, as `herdctl status`'s.
//! - [`command`]: the `:` command line.
//! - [`feed`], [`records_table`]: the Flood and Records views' data.
//! - [`draw`]: the frame (header, view, footer, help); [`theme`] and
//!   [`format`] for the views.
//! - [`node_link`]: the one admin connection per node (events, snapshots,
//!   records on the same connection, reconnecting on its own).
//! - [`run`]: the runtime: terminal, the nodes' news, effects.

pub mod app;
pub mod command;
pub mod draw;
pub mod effect;
pub mod feed;
pub mod format;
pub mod history;
pub mod hits;
pub mod keys;
pub mod line_edit;
pub mod node_link;
pub mod nodes;
pub mod records_table;
pub mod run;
pub mod theme;
pub mod view;
pub mod views;

#[cfg(test)]
mod tests;
