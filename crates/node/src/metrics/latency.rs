//! The two histograms the node keeps for metrics: how long client replies
//! take (by request kind) and how long fsyncs of the record log take.
//! Observing is a few relaxed atomic adds (prometheus's histogram), cheap
//! enough for every request.

use std::time::Duration;

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts, HistogramVec};

use crate::counters::RequestKind;

/// Reply times: from a line read to its reply ready to write. A WHATSAT
/// that goes to Google takes up to its timeout, so the buckets reach 10 s.
const REPLY_BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];
/// fsync times: tens of microseconds on a good SSD to seconds on a busy disk.
const FSYNC_BUCKETS: [f64; 13] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

pub const REPLY_SECONDS: &str = "herd_client_reply_seconds";
pub const FSYNC_SECONDS: &str = "herd_fsync_seconds";

/// Reply times by request kind.
pub struct Latencies {
    /// None only if prometheus refused the options, which are constants:
    /// then the metric is missing rather than the node down.
    histograms: Option<Histograms>,
}

struct Histograms {
    vec: HistogramVec,
    /// The vector's histogram of each kind, by `RequestKind as usize`,
    /// resolved once (no label lookup per request).
    by_kind: [Histogram; RequestKind::ALL.len()],
}

impl Latencies {
    pub fn new() -> Latencies {
        let opts = HistogramOpts::new(
            REPLY_SECONDS,
            "Time from a client line read to its reply ready, by request kind.",
        )
        .buckets(REPLY_BUCKETS.to_vec());
        let histograms = HistogramVec::new(opts, &["kind"]).ok().and_then(|vec| {
            let of = |kind: RequestKind| vec.get_metric_with_label_values(&[kind.as_str()]).ok();
            let by_kind = [
                of(RequestKind::Iamat)?,
                of(RequestKind::Whatsat)?,
                of(RequestKind::Other)?,
            ];
            Some(Histograms { vec, by_kind })
        });
        Latencies { histograms }
    }

    pub fn observe(&self, kind: RequestKind, took: Duration) {
        if let Some(histograms) = &self.histograms {
            histograms.by_kind[kind as usize].observe(took.as_secs_f64());
        }
    }

    pub fn families(&self) -> Vec<MetricFamily> {
        self.histograms
            .as_ref()
            .map(|histograms| histograms.vec.collect())
            .unwrap_or_default()
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

/// The fsync histogram (group_commit.rs observes it).
pub fn fsync_histogram() -> Option<Histogram> {
    let opts = HistogramOpts::new(FSYNC_SECONDS, "Time an fsync of the record log takes.")
        .buckets(FSYNC_BUCKETS.to_vec());
    Histogram::with_opts(opts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_timed_by_kind() {
        let latencies = Latencies::new();
        latencies.observe(RequestKind::Iamat, Duration::from_micros(300));
        latencies.observe(RequestKind::Iamat, Duration::from_millis(20));
        latencies.observe(RequestKind::Whatsat, Duration::from_secs(3));
        let families = latencies.families();
        assert_eq!(families.len(), 1);
        let family = &families[0];
        assert_eq!(family.name(), REPLY_SECONDS);
        let count = |kind: &str| {
            family
                .get_metric()
                .iter()
                .find(|m| m.get_label().iter().any(|l| l.value() == kind))
                .map(|m| m.get_histogram().get_sample_count())
        };
        assert_eq!(count("iamat"), Some(2));
        assert_eq!(count("whatsat"), Some(1));
        assert_eq!(count("other"), Some(0));
        assert!(fsync_histogram().is_some());
    }
}
