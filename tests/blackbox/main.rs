//! The black-box tests: real `herd-node` and `herdctl` processes driven
//! over TCP, one binary so that CI links once. One module per area;
//! the shared support code is `herd_blackbox` (tests/support).

mod addresses;
mod admin_port;
mod bench_smoke;
mod client_protocol;
mod dashboard;
mod drills;
mod durability;
mod flooding;
mod forgetting;
mod herdctl;
mod limits;
mod logs;
mod metrics;
mod multi_host;
mod node_cli;
mod places_google;
mod reload;
mod repair;
mod restarts;
mod security;
mod tls;
