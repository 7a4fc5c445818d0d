//! What every places backend is: the question, the answer, the counters.

use std::future::Future;
use std::pin::Pin;

/// A WHATSAT question: at most `bound` places within `radius_m` metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearbyQuery {
    pub lat: f64,
    pub lng: f64,
    pub radius_m: f64,
    pub bound: usize,
}

/// The JSON text a backend answers with: a Nearby Search object, pretty
/// printed, with no empty line and no trailing newline.
pub type PlacesFuture<'a> = Pin<Box<dyn Future<Output = String> + Send + 'a>>;

pub trait PlacesBackend: Send + Sync {
    /// Never fails: errors are reported inside the JSON (`status`,
    /// `error_message`) as Google does.
    fn nearby(&self, query: NearbyQuery) -> PlacesFuture<'_>;

    /// One line for the start-up log: which backend, how much data.
    fn describe(&self) -> String;

    /// Counters for the admin snapshot, for a backend that calls out.
    fn stats(&self) -> Option<PlacesStats> {
        None
    }
}

/// What an online backend has done since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlacesStats {
    pub backend: &'static str,
    /// Calls made to the service.
    pub requests: u64,
    /// WHATSATs answered from the cache instead.
    pub cache_hits: u64,
    /// Answers that were not OK or ZERO_RESULTS (Google's error statuses,
    /// network failures, timeouts).
    pub errors: u64,
}
