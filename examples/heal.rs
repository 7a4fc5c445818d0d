//! What repair costs and how fast it heals (docs/repair.md, figures in
//! docs/BENCHMARKS.md). Starts its own two-node herd A - B (release build).
//!
//! cargo build --release --workspace --bins --examples && target/release/examples/heal [COMMON] [IDLE_SECONDS]
//!
//! 1. Loads COMMON (default 100,000) clients into A; flooding gives them to B.
//! 2. For each divergence d in 1, 100, 10,000, 100,000: cuts the link, loads
//!    d new clients into A, kills A with SIGKILL and restarts it (so no
//!    queued flood is left: only repair can move them), restores the link
//!    and times until both digests are equal; reports the records repair
//!    sent and the bytes that crossed the link.
//! 3. Idle cost: bytes per second on the link with equal records.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use herd_blackbox::{Herd, Session, now_text};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let common: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let idle_seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);

    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "");
    herd.start_all_connected();
    let started = Instant::now();
    load(herd.client_addr("A"), "common", common);
    wait_equal(&herd, Duration::from_secs(120));
    println!(
        "{common} common records loaded and flooded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "| divergent records | heal time | records sent by repair | bytes on the link | bytes per record moved |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for divergent in [1usize, 100, 10_000, 100_000] {
        link(&herd, "down");
        load(herd.client_addr("A"), &format!("div{divergent}"), divergent);
        herd.kill("A");
        herd.start("A");
        let before = totals(&herd);
        let healed = Instant::now();
        link(&herd, "up");
        wait_equal(&herd, Duration::from_secs(120));
        let took = healed.elapsed();
        let after = totals(&herd);
        let moved = after.0 - before.0;
        let bytes = after.1 - before.1;
        println!(
            "| {divergent} | {:.0} ms | {moved} | {bytes} | {:.0} |",
            took.as_secs_f64() * 1000.0,
            bytes as f64 / moved.max(1) as f64
        );
    }
    let before = totals(&herd);
    std::thread::sleep(Duration::from_secs(idle_seconds));
    let after = totals(&herd);
    println!(
        "idle link, equal records ({} records each): {:.1} bytes/s both ways together, {} records sent",
        herd.snapshot("A")["records"],
        (after.1 - before.1) as f64 / idle_seconds as f64,
        after.0 - before.0
    );
}

/// (records sent by repair, bytes out) summed over both ends.
fn totals(herd: &Herd) -> (u64, u64) {
    ["A", "B"]
        .iter()
        .map(|node| {
            let link = &herd.snapshot(node)["links"][0];
            (
                link["repair_records_out"].as_u64().unwrap_or(0),
                link["bytes_out"].as_u64().unwrap_or(0),
            )
        })
        .fold((0, 0), |(r, b), (r2, b2)| (r + r2, b + b2))
}

fn link(herd: &Herd, state: &str) {
    let out = herd.herdctl(&["link", "A", "B", state]);
    assert!(out.status.success(), "herdctl link: {out:?}");
}

fn wait_equal(herd: &Herd, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let a = herd.snapshot("A");
        let b = herd.snapshot("B");
        if a["digest"] == b["digest"] && a["records"] == b["records"] {
            return;
        }
        assert!(Instant::now() < deadline, "not converged: {a} {b}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn load(client: SocketAddr, prefix: &str, records: usize) {
    let per = records.div_ceil(8);
    std::thread::scope(|scope| {
        for t in 0..8 {
            scope.spawn(move || {
                let mut session = Session::connect(client);
                let start = t * per;
                let end = ((t + 1) * per).min(records);
                for chunk in (start..end).collect::<Vec<_>>().chunks(1000) {
                    let mut batch = String::new();
                    let time = now_text();
                    for i in chunk {
                        batch.push_str(&format!(
                            "IAMAT {prefix}-{i} +34.068930-118.445127 {time}\n"
                        ));
                    }
                    session.send(batch.as_bytes());
                    for _ in chunk {
                        session.read_line();
                    }
                }
            });
        }
    });
}
