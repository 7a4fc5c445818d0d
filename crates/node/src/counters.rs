//! The node's counters, shown in the admin snapshot and exported as
//! metrics (the one set of tallies both read). Relaxed atomics: each is an
//! independent tally, read for display.

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
    /// Client requests by kind and result (blank lines are not requests).
    pub requests: RequestCounts,
    /// Updates from peers that won the merge, and those that did not: the
    /// node's totals (each link counts its own as well, for metrics; these
    /// stay when a reload removes a link).
    pub floods_won: AtomicU64,
    pub floods_stale: AtomicU64,
    /// Peer connections refused in the TLS handshake.
    pub tls_refusals: AtomicU64,
}

/// What a client line asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Iamat,
    Whatsat,
    /// Anything else: answered `? line`.
    Other,
}

impl RequestKind {
    pub const ALL: [RequestKind; 3] =
        [RequestKind::Iamat, RequestKind::Whatsat, RequestKind::Other];

    /// The results a request of this kind can have.
    pub fn results(self) -> &'static [RequestResult] {
        match self {
            RequestKind::Iamat => &[
                RequestResult::Ok,
                RequestResult::Stale,
                RequestResult::Invalid,
            ],
            RequestKind::Whatsat => &[
                RequestResult::Ok,
                RequestResult::UnknownClient,
                RequestResult::Invalid,
            ],
            RequestKind::Other => &[RequestResult::Invalid],
        }
    }

    /// The `kind` label.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Iamat => "iamat",
            RequestKind::Whatsat => "whatsat",
            RequestKind::Other => "other",
        }
    }
}

/// How a client request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestResult {
    /// An IAMAT that won (AT with the new position), a WHATSAT answered.
    Ok,
    /// An IAMAT older than the record held: answered with the held AT.
    Stale,
    /// A WHATSAT for a client with no record: `?`.
    UnknownClient,
    /// `? line`: malformed, too far in the future, an over-long client id
    /// or line, or an update the store could not keep.
    Invalid,
}

impl RequestResult {
    pub const ALL: [RequestResult; 4] = [
        RequestResult::Ok,
        RequestResult::Stale,
        RequestResult::UnknownClient,
        RequestResult::Invalid,
    ];

    /// The `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestResult::Ok => "ok",
            RequestResult::Stale => "stale",
            RequestResult::UnknownClient => "unknown_client",
            RequestResult::Invalid => "invalid",
        }
    }
}

/// One tally per kind and result.
#[derive(Default)]
pub struct RequestCounts([[AtomicU64; RequestResult::ALL.len()]; RequestKind::ALL.len()]);

impl RequestCounts {
    pub fn count(&self, kind: RequestKind, result: RequestResult) {
        bump(&self.0[kind as usize][result as usize]);
    }

    pub fn get(&self, kind: RequestKind, result: RequestResult) -> u64 {
        read(&self.0[kind as usize][result as usize])
    }

    /// Requests of `kind`, whatever their result.
    pub fn of_kind(&self, kind: RequestKind) -> u64 {
        RequestResult::ALL
            .iter()
            .map(|&result| self.get(kind, result))
            .sum()
    }

    /// Requests answered with `?`.
    pub fn questions(&self) -> u64 {
        RequestKind::ALL
            .iter()
            .map(|&kind| {
                self.get(kind, RequestResult::Invalid)
                    + self.get(kind, RequestResult::UnknownClient)
            })
            .sum()
    }
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart_by_kind_and_result() {
        let counts = RequestCounts::default();
        counts.count(RequestKind::Iamat, RequestResult::Ok);
        counts.count(RequestKind::Iamat, RequestResult::Ok);
        counts.count(RequestKind::Iamat, RequestResult::Stale);
        counts.count(RequestKind::Whatsat, RequestResult::UnknownClient);
        counts.count(RequestKind::Other, RequestResult::Invalid);
        assert_eq!(counts.get(RequestKind::Iamat, RequestResult::Ok), 2);
        assert_eq!(counts.of_kind(RequestKind::Iamat), 3);
        assert_eq!(counts.of_kind(RequestKind::Whatsat), 1);
        assert_eq!(counts.questions(), 2);
    }
}
