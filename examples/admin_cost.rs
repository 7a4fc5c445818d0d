//! What the admin port costs a node, and how fast `herdctl watch` keeps up
//! (docs/BENCHMARKS.md).
//!
//! cargo run --release --example admin_cost -- CLIENT_ADDR ADMIN_ADDR RECORDS [HERDCTL CONFIG]
//!
//! 1. Loads RECORDS distinct clients into the node (pipelined IAMATs over 8
//!    connections).
//! 2. Times 1,000 `snapshot` requests and 20 `records` pages (1,000 records
//!    each, the default page) on one admin connection.
//! 3. With HERDCTL and CONFIG: runs `herdctl watch --json` over the herd
//!    while 8 connections send IAMATs as fast as the node answers, for 5 s,
//!    and counts the events watch printed and those it was told it lost.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use herd_blackbox::{Admin, Session, load_clients, now_text};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client: SocketAddr = args[0].parse().expect("CLIENT_ADDR");
    let admin: SocketAddr = args[1].parse().expect("ADMIN_ADDR");
    let records: usize = args[2].parse().expect("RECORDS");

    let started = Instant::now();
    load_clients(client, "load", records);
    println!(
        "loaded {records} records in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut connection = Admin::connect(admin);
    let snapshot = connection.request(json!({"cmd": "snapshot"}));
    println!("node holds {} records", snapshot["result"]["records"]);
    let timings = time(1000, || {
        connection.request(json!({"cmd": "snapshot"}));
    });
    report("snapshot", &timings);
    // A client keeps sending IAMATs meanwhile: its worst round trip shows
    // how long a listing holds the node up.
    let paging = Arc::new(AtomicBool::new(true));
    let probe = {
        let paging = paging.clone();
        std::thread::spawn(move || {
            let mut session = Session::connect(client);
            let mut timings = Vec::new();
            while paging.load(Ordering::Relaxed) {
                let started = Instant::now();
                session.send(format!("IAMAT probe +1+1 {}\n", now_text()).as_bytes());
                session.read_line();
                timings.push(started.elapsed());
            }
            timings.sort();
            timings
        })
    };
    let timings = time(20, || {
        connection.request(json!({"cmd": "records", "after": "load-5", "limit": 1000}));
    });
    paging.store(false, Ordering::Relaxed);
    report("records page of 1000", &timings);
    if let Ok(timings) = probe.join() {
        report("IAMAT round trips meanwhile", &timings);
    }

    if let (Some(herdctl), Some(config)) = (args.get(3), args.get(4)) {
        watch_rate(herdctl, config, client);
    }
}

fn time(rounds: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut timings: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    timings.sort();
    timings
}

fn report(what: &str, timings: &[Duration]) {
    let at = |q: f64| timings[((timings.len() as f64 * q) as usize).min(timings.len() - 1)];
    println!(
        "{what}: p50 {:?}, p99 {:?}, max {:?} ({} requests, round trip on one connection)",
        at(0.5),
        at(0.99),
        timings[timings.len() - 1],
        timings.len()
    );
}

fn watch_rate(herdctl: &str, config: &str, client: SocketAddr) {
    let mut watch = Command::new(herdctl)
        .args(["watch", "--json", "--config", config])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start herdctl watch");
    let stdout = watch.stdout.take().expect("stdout");
    let printed = Arc::new(AtomicU64::new(0));
    let missed = Arc::new(AtomicU64::new(0));
    {
        let (printed, missed) = (printed.clone(), missed.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                printed.fetch_add(1, Ordering::Relaxed);
                if line.contains("\"event\":\"lagged\"") {
                    let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                    missed.fetch_add(value["missed"].as_u64().unwrap_or(0), Ordering::Relaxed);
                }
            }
        });
    }
    std::thread::sleep(Duration::from_secs(1));
    let done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (done, sent) = (done.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut session = Session::connect(client);
                let mut i = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let time = now_text();
                    let mut batch = String::new();
                    for _ in 0..100 {
                        i += 1;
                        batch.push_str(&format!("IAMAT watch-{t}-{} +1+1 {time}\n", i % 10_000));
                    }
                    session.send(batch.as_bytes());
                    for _ in 0..100 {
                        session.read_line();
                    }
                    sent.fetch_add(100, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let seconds = 5;
    let before = printed.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(seconds));
    done.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    std::thread::sleep(Duration::from_secs(1));
    let printed = printed.load(Ordering::Relaxed) - before;
    let missed = missed.load(Ordering::Relaxed);
    println!(
        "watch: {} IAMATs/s sent; watch printed {} events/s and was told it lost {} events/s",
        sent.load(Ordering::Relaxed) / seconds,
        printed / seconds,
        missed / seconds
    );
    let _ = watch.kill();
    let _ = watch.wait();
}
