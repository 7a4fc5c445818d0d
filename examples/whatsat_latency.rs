//! WHATSAT latency, offline places against the Google backend talking to a
//! local stand-in of Google's HTTP service (docs/places.md, BENCHMARKS.md).
//! Starts its own one-node herds (release build).
//!
//! cargo build --release --workspace --bins --examples && target/release/examples/whatsat_latency [ROUNDS]
//!
//! One client on one connection sends WHATSAT (radius 10 km, bound 5) and
//! waits for the whole reply, ROUNDS times (default 2,000), for:
//! 1. the offline backend;
//! 2. Google (stand-in answering at once with 20 places), cache off, so
//!    every WHATSAT is an HTTP request;
//! 3. the same with the cache on (every WHATSAT after the first a hit).

use std::time::{Duration, Instant};

use herd_blackbox::google_stand_in::{GoogleStandIn, Reply};
use herd_blackbox::{Herd, Session, iamat, now_text};

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let body = google_body(20);
    let stand_in = GoogleStandIn::start(move |_| Reply::json(body.clone()));
    let google = |cache: &str| {
        format!(
            "\n[places]\nbackend = \"google\"\ngoogle_key = \"bench\"\ngoogle_endpoint = \"{}\"\ncache_ttl = \"{cache}\"\n",
            stand_in.endpoint()
        )
    };
    for (label, places) in [
        ("offline", String::new()),
        ("google stand-in, no cache", google("0s")),
        ("google stand-in, cached", google("60s")),
    ] {
        let mut herd = Herd::with_topology(&["A"], &[], &places);
        herd.start("A");
        let mut session = Session::connect(herd.client_addr("A"));
        session
            .send(format!("{}\n", iamat("bench", "+34.068930-118.445127", now_text())).as_bytes());
        session.read_line();
        let mut timings: Vec<Duration> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                session.send(b"WHATSAT bench 10 5\n");
                let _ = session.read_whatsat_body();
                started.elapsed()
            })
            .collect();
        timings.sort();
        let at = |q: f64| timings[((timings.len() - 1) as f64 * q) as usize];
        println!(
            "{label}: {rounds} WHATSATs, p50 {:?}, p99 {:?}, max {:?}",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}

fn google_body(count: usize) -> String {
    let results: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            serde_json::json!({
                "geometry": {"location": {"lat": 34.06 + i as f64 / 1000.0, "lng": -118.44}},
                "name": format!("Place {i}"),
                "place_id": format!("id-{i}"),
                "types": ["cafe"],
                "vicinity": "Westwood",
            })
        })
        .collect();
    serde_json::json!({"html_attributions": [], "results": results, "status": "OK"}).to_string()
}
