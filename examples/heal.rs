//! What repair costs and how fast it heals (docs/repair.md, figures in
//! docs/BENCHMARKS.md). Starts its own herd (release build): `two` is A - B,
//! `default` the contract's five nodes, where Clark is the one cut off.
//!
//! cargo build --release --workspace --bins --examples && target/release/examples/heal [two|default] [COMMON] [IDLE_SECONDS]
//!
//! 1. Loads COMMON (default 100,000) clients into the node that will be cut
//!    off; flooding gives them to all.
//! 2. For each divergence d in 1, 100, 10,000, 100,000: cuts that node's
//!    links, loads d new clients into it, kills it with SIGKILL and restarts
//!    it (so no queued flood is left: only repair can move them), restores
//!    the links and times until every digest is equal; reports the records
//!    repair sent, the bytes that crossed all links, and the size of the
//!    records that had to move (their AT lines) for comparison.
//! 3. Idle cost: bytes per second per link with equal records.

use std::time::{Duration, Instant};

use herd_blackbox::{Herd, load_clients};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shape = args.first().map(String::as_str).unwrap_or("two");
    let common: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let idle_seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);

    let (mut herd, lone, cut): (Herd, &str, Vec<(&str, &str)>) = match shape {
        "default" => (
            Herd::default_topology(),
            "Clark",
            vec![("Clark", "Jaquez"), ("Clark", "Bona")],
        ),
        _ => (
            Herd::with_topology(&["A", "B"], &[("A", "B")], ""),
            "A",
            vec![("A", "B")],
        ),
    };
    herd.start_all_connected();
    let started = Instant::now();
    load_clients(herd.client_addr(lone), "common", common);
    wait_equal(&herd, Duration::from_secs(300));
    println!(
        "{} nodes, {} links: {common} common records loaded and flooded in {:.1} s",
        herd.nodes.len(),
        herd.links.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "| divergent records | heal time | records sent by repair | bytes on all links | bytes of the records that had to move | ratio |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for divergent in [1usize, 100, 10_000, 100_000] {
        for (a, b) in &cut {
            link(&herd, a, b, "down");
        }
        let moving = load_clients(
            herd.client_addr(lone),
            &format!("div{divergent}"),
            divergent,
        );
        herd.kill(lone);
        herd.start(lone);
        let before = totals(&herd);
        let healed = Instant::now();
        for (a, b) in &cut {
            link(&herd, a, b, "up");
        }
        wait_equal(&herd, Duration::from_secs(300));
        let took = healed.elapsed();
        let after = totals(&herd);
        let moved = after.0 - before.0;
        let bytes = after.1 - before.1;
        println!(
            "| {divergent} | {:.0} ms | {moved} | {bytes} | {moving} | {:.1} |",
            took.as_secs_f64() * 1000.0,
            bytes as f64 / moving.max(1) as f64
        );
    }
    let before = totals(&herd);
    std::thread::sleep(Duration::from_secs(idle_seconds));
    let after = totals(&herd);
    println!(
        "idle, equal records ({} records each): {:.1} bytes/s per link (both ways together), {} records sent",
        herd.snapshot(lone)["records"],
        (after.1 - before.1) as f64 / idle_seconds as f64 / herd.links.len() as f64,
        after.0 - before.0
    );
}

/// (records sent by repair, bytes out) summed over every end of every link.
fn totals(herd: &Herd) -> (u64, u64) {
    let mut totals = (0, 0);
    for node in &herd.nodes {
        let snapshot = herd.snapshot(&node.name);
        for link in snapshot["links"].as_array().into_iter().flatten() {
            totals.0 += link["repair_records_out"].as_u64().unwrap_or(0);
            totals.1 += link["bytes_out"].as_u64().unwrap_or(0);
        }
    }
    totals
}

fn link(herd: &Herd, a: &str, b: &str, state: &str) {
    let out = herd.herdctl(&["link", a, b, state]);
    assert!(out.status.success(), "herdctl link: {out:?}");
}

fn wait_equal(herd: &Herd, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let digests: Vec<serde_json::Value> = herd
            .nodes
            .iter()
            .map(|node| herd.snapshot(&node.name)["digest"].clone())
            .collect();
        if digests.iter().all(|d| *d == digests[0]) {
            return;
        }
        assert!(Instant::now() < deadline, "not converged: {digests:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
