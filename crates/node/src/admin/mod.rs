//! The admin port (docs/admin-protocol.md): JSON lines for operators and
//! herdctl.
//!
//! - [`server`]: the listener and one task per connection (token gate,
//!   requests, the event stream).
//! - [`commands`]: what each request does, as a function of the node.
//! - [`snapshot`] and [`records`]: the two read-only views.

mod commands;
mod records;
mod server;
mod snapshot;

pub use records::records_page;
pub use server::serve_admin;
pub use snapshot::snapshot;
