//! Latency histograms and how results are printed.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Microsecond latencies up to 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // Fixed bounds that are valid: this cannot fail.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub label: String,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Summary {
    pub fn new(
        label: impl Into<String>,
        histogram: &Histogram<u64>,
        errors: u64,
        elapsed: Duration,
    ) -> Summary {
        let requests = histogram.len();
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Summary {
            label: label.into(),
            requests,
            errors,
            seconds,
            per_second: requests as f64 / seconds,
            p50_us: histogram.value_at_quantile(0.5),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

/// Prints summaries as a table, or one JSON object per line.
pub fn print(summaries: &[Summary], json: bool) {
    if json {
        for summary in summaries {
            println!("{}", serde_json::to_string(summary).unwrap_or_default());
        }
        return;
    }
    println!(
        "{:<36} {:>10} {:>12} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "RUN", "REQUESTS", "PER SECOND", "P50 µs", "P99 µs", "P99.9 µs", "MAX µs", "ERRORS"
    );
    for s in summaries {
        println!(
            "{:<36} {:>10} {:>12.0} {:>9} {:>9} {:>9} {:>9} {:>7}",
            s.label, s.requests, s.per_second, s.p50_us, s.p99_us, s.p999_us, s.max_us, s.errors
        );
    }
}
