//! Two quick figures against a running herd (see docs/BENCHMARKS.md):
//!
//! 1. IAMAT round trips per second on one node over N concurrent
//!    connections, each sending one line and waiting for its reply.
//! 2. The time from an IAMAT at one node until another node answers WHATSAT
//!    with it (polling the far node on a persistent connection).
//!
//! cargo run --release --example measure -- [CLIENT_ADDR] [FAR_ADDR] [CONNECTIONS] [SECONDS]
//!
//! The full benchmark tool (`herd-bench`) is a later issue; this is the
//! instrument for the first figures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use herd_blackbox::{Session, now_text};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let near: SocketAddr = arg(0, "127.0.0.1:12003")
        .parse()
        .expect("CLIENT_ADDR is IP:PORT");
    let far: SocketAddr = arg(1, "127.0.0.1:12000")
        .parse()
        .expect("FAR_ADDR is IP:PORT");
    let connections: usize = arg(2, "64").parse().expect("CONNECTIONS is a number");
    let seconds: u64 = arg(3, "5").parse().expect("SECONDS is a number");

    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..connections)
        .map(|c| {
            let (done, count) = (done.clone(), count.clone());
            std::thread::spawn(move || {
                let mut session = Session::connect(near);
                let mut i = 0u64;
                while !done.load(Ordering::Relaxed) {
                    i += 1;
                    let line = format!(
                        "IAMAT bench-{c}-{} +34.068930-118.445127 {}\n",
                        i % 1000,
                        now_text()
                    );
                    session.send(line.as_bytes());
                    let reply = session.read_line();
                    assert!(reply.starts_with("AT "), "{reply}");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    done.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    let rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!("iamat: {connections} connections, {seconds} s: {rate:.0} round trips/s");

    let mut at_near = Session::connect(near);
    let mut at_far = Session::connect(far);
    let mut samples = Vec::new();
    for i in 0..200 {
        let client = format!("propagate-{i}-{}", std::process::id());
        let started = Instant::now();
        at_near.send(format!("IAMAT {client} +1+1 {}\n", now_text()).as_bytes());
        let at = at_near.read_line();
        loop {
            at_far.send(format!("WHATSAT {client} 1 1\n").as_bytes());
            let first = at_far.read_line();
            if first == at {
                let _ = at_far.read_whatsat_body();
                break;
            }
        }
        samples.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_micros();
    println!(
        "propagation {near} -> {far}: p50 {} us, p99 {} us, max {} us (200 updates, IAMAT sent to WHATSAT answered)",
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
}
