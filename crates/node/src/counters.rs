//! The node's counters, shown in the admin snapshot. Relaxed atomics: each
//! is an independent tally, read for display.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Counters {
    pub client_connections: AtomicU64,
    pub client_connections_open: AtomicU64,
    /// Client connections refused (too many open) and closed for being
    /// idle or too slow to finish a line.
    pub client_refused: AtomicU64,
    pub client_timeouts: AtomicU64,
    pub client_lines: AtomicU64,
    pub questions: AtomicU64,
    pub iamat_accepted: AtomicU64,
    pub iamat_stale: AtomicU64,
    pub whatsat: AtomicU64,
    pub floods_in: AtomicU64,
    pub floods_won: AtomicU64,
    pub duplicates: AtomicU64,
    /// Peer connections refused in the TLS handshake.
    pub tls_refusals: AtomicU64,
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
