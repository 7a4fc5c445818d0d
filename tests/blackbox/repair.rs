//! Anti-entropy repair (docs/repair.md): whatever flooding lost (queues that
//! died with a process, a partition, a restart) is made good once the graph
//! is connected again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use herd_blackbox::*;

fn whatsat_line(herd: &Herd, node: &str, client: &str) -> String {
    let reply = one_shot(herd.client_addr(node), &format!("WHATSAT {client} 1 1"));
    reply.lines().next().unwrap_or_default().to_owned()
}

fn digest(herd: &Herd, node: &str) -> String {
    herd.snapshot(node)["digest"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Every node answers every client with `expected`'s line.
fn holds_everywhere(herd: &Herd, nodes: &[&str], expected: &BTreeMap<String, String>) -> bool {
    let digests: Vec<String> = nodes.iter().map(|n| digest(herd, n)).collect();
    if digests.iter().any(|d| *d != digests[0]) {
        return false;
    }
    nodes.iter().all(|node| {
        expected
            .iter()
            .all(|(client, line)| whatsat_line(herd, node, client) == *line)
    })
}

fn link(herd: &Herd, a: &str, b: &str, state: &str) {
    let out = herd.herdctl(&["link", a, b, state]);
    assert!(
        out.status.success(),
        "herdctl link {a} {b} {state}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn seconds() -> u64 {
    now_text()
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn both_sides_of_a_partition_meet_after_the_heal_even_when_every_queue_died() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    // Clark alone on one side, the other four on the other.
    link(&herd, "Clark", "Jaquez", "down");
    link(&herd, "Clark", "Bona", "down");
    let base = seconds();
    let mut newest: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..150u64 {
        let client = format!("split-{i}");
        // The same clients on both sides; which side is newer alternates.
        let (clark_time, bailey_time) = if i % 2 == 0 { (2, 1) } else { (1, 2) };
        let at_clark = one_shot(
            herd.client_addr("Clark"),
            &format!("IAMAT {client} +1+1 {base}.{clark_time:09}"),
        );
        let at_bailey = one_shot(
            herd.client_addr("Bailey"),
            &format!("IAMAT {client} +2+2 {base}.{bailey_time:09}"),
        );
        assert!(at_clark.starts_with("AT Clark "), "{at_clark}");
        assert!(at_bailey.starts_with("AT Bailey "), "{at_bailey}");
        let winner = if clark_time > bailey_time {
            at_clark
        } else {
            at_bailey
        };
        newest.insert(client, winner.trim_end().to_owned());
    }
    // Clark-only clients and other-side-only clients too.
    for i in 0..50 {
        let client = format!("clark-only-{i}");
        let at = one_shot(
            herd.client_addr("Clark"),
            &iamat(&client, "+3+3", now_text()),
        );
        newest.insert(client, at.trim_end().to_owned());
        let client = format!("campbell-only-{i}");
        let at = one_shot(
            herd.client_addr("Campbell"),
            &iamat(&client, "+4+4", now_text()),
        );
        newest.insert(client, at.trim_end().to_owned());
    }
    // Crash every node: the queues that held the partition's updates for
    // the cut links die with them. Records and cuts survive.
    for node in DEFAULT_NODES {
        herd.kill(node);
    }
    for node in DEFAULT_NODES {
        herd.start(node);
    }
    let others = ["Bailey", "Bona", "Campbell", "Jaquez"];
    let their_side: BTreeMap<String, String> = newest
        .iter()
        .filter(|(client, _)| client.starts_with("campbell-only"))
        .map(|(client, line)| (client.clone(), line.clone()))
        .collect();
    assert!(
        wait_until(Duration::from_secs(20), || holds_everywhere(
            &herd,
            &others,
            &their_side
        )),
        "the connected side did not settle"
    );
    assert_ne!(digest(&herd, "Clark"), digest(&herd, "Bailey"));

    let healed = Instant::now();
    link(&herd, "Clark", "Jaquez", "up");
    link(&herd, "Clark", "Bona", "up");
    let converged = wait_until(Duration::from_secs(3), || {
        holds_everywhere(&herd, &DEFAULT_NODES, &newest)
    });
    let took = healed.elapsed();
    assert!(
        converged,
        "not converged 3 s after the heal; digests: {:?}",
        DEFAULT_NODES.map(|n| digest(&herd, n))
    );
    eprintln!("converged {took:?} after the heal");
    // It was repair that did it: the restarted nodes' queues were empty.
    let repaired: u64 = DEFAULT_NODES
        .iter()
        .map(|n| {
            herd.snapshot(n)["counters"]["repair_records_out"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    assert!(repaired >= 250, "only {repaired} records sent by repair");
}

#[test]
fn a_node_that_was_down_catches_up_when_it_returns() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    herd.kill("Bailey");
    let mut newest = BTreeMap::new();
    for i in 0..100 {
        let client = format!("while-away-{i}");
        let at = one_shot(
            herd.client_addr("Clark"),
            &iamat(&client, "+5+5", now_text()),
        );
        newest.insert(client, at.trim_end().to_owned());
    }
    let awake = ["Bona", "Campbell", "Clark", "Jaquez"];
    assert!(wait_until(Duration::from_secs(10), || {
        holds_everywhere(&herd, &awake, &newest)
    }));
    // Bailey's neighbours crash too, losing what they queued for Bailey.
    herd.kill("Bona");
    herd.kill("Campbell");
    herd.start("Bona");
    herd.start("Campbell");
    herd.start("Bailey");
    let back = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || holds_everywhere(
            &herd,
            &DEFAULT_NODES,
            &newest
        )),
        "Bailey did not catch up: {} records, digest {} vs {}",
        herd.snapshot("Bailey")["records"],
        digest(&herd, "Bailey"),
        digest(&herd, "Clark")
    );
    eprintln!("Bailey caught up {:?} after it started", back.elapsed());
}

#[test]
fn an_idle_link_costs_one_small_sync_per_period() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "");
    herd.start_all_connected();
    // The end that opened the link's connection (either may dial) starts
    // the periodic rounds; call it A here.
    let (a, b) = if herd.link_status("A", "B")["dials"] == true {
        ("A", "B")
    } else {
        ("B", "A")
    };
    assert_eq!(herd.link_status(b, a)["dials"], false, "one opener");
    let before_a = herd.link_status(a, b);
    let before_b = herd.link_status(b, a);
    std::thread::sleep(Duration::from_secs(3));
    let after_a = herd.link_status(a, b);
    let after_b = herd.link_status(b, a);
    let delta = |after: &serde_json::Value, before: &serde_json::Value, key: &str| {
        after[key].as_u64().unwrap_or(0) - before[key].as_u64().unwrap_or(0)
    };
    // One a second ±20 % (a loaded machine may delay a timer, not add one).
    let rounds = delta(&after_a, &before_a, "repair_rounds");
    assert!((1..=4).contains(&rounds), "{rounds} rounds in 3 s");
    assert_eq!(delta(&after_b, &before_b, "repair_rounds"), 0);
    // Equal digests: the SYNC lines (22 bytes) and heartbeats (5 bytes,
    // two a second) are all that crossed; nothing was answered.
    let a_out = delta(&after_a, &before_a, "bytes_out");
    let b_out = delta(&after_b, &before_b, "bytes_out");
    assert!(a_out <= rounds * 22 + 8 * 5, "A sent {a_out} bytes");
    assert!(b_out <= 8 * 5, "B sent {b_out} bytes");
    assert_eq!(after_a["repair_records_out"], 0);
    assert_eq!(after_b["repair_records_out"], 0);
}
