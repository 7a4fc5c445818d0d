//! What the node shows the tools operators already run (contract section
//! 9): Prometheus metrics, `/health` and `/ready` on the `metrics` address.
//!
//! The exposition is the `prometheus` crate's (TiKV's): it writes the text
//! format 0.0.4 that the contract asks for and Debian's promtool reads
//! (prometheus-client writes only OpenMetrics text, which promtool 2.42
//! rejects), lets values be read off the node at scrape time instead of
//! kept twice (a recorder such as `metrics` would want every count pushed
//! into it), and brings the Linux process collector.

pub mod exposition;
pub mod http;
pub mod latency;
pub mod probe;

pub use http::{Served, serve_metrics};
pub use latency::{Latencies, fsync_histogram};
pub use probe::Probe;
