//! What forgetting costs (docs/repair.md, "What forgetting costs"): memory
//! per tombstone, the repair traffic of tombstones against that of as many
//! updates, and an expiry sweep over a million records.
//!
//!     cargo run --release -p herd-core --example tombstone_cost

use std::collections::VecDeque;
use std::sync::Arc;

use herd_core::digest_tree::leaf_of;
use herd_core::{Lifecycle, NodeCore, Records, RepairState};
use herd_proto::repair::RepairMessage;
use herd_proto::{ClientHash, Nanos, Record, Request, Tombstone, parse_request};

const HELD: usize = 100_000;

fn record(client: &str, time: u64) -> Arc<Record> {
    let line = format!("IAMAT {client} +34.068930-118.445127 {time}.5");
    match parse_request(&line) {
        Some(Request::IAmAt(request)) => Arc::new(Record::from_iamat(
            "Clark",
            Nanos(time * 1_000_000_000 + 600_000_000),
            &request,
        )),
        _ => unreachable!("a valid IAMAT"),
    }
}

fn tombstone(client: &str, time: u64) -> Tombstone {
    Tombstone {
        leaf: leaf_of(client),
        client: ClientHash::of(client),
        time: Nanos(time * 1_000_000_000),
    }
}

fn client(i: usize) -> String {
    format!("client-{i:07}.cs.ucla.edu")
}

/// Resident memory, from /proc (Linux).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

enum Item {
    Record(Arc<Record>),
    Tombstone(Tombstone),
    Message(RepairMessage),
}

/// Repairs `b` from `a` as a link would (a starts): (messages, bytes).
fn repair(a: &mut Records, b: &mut Records) -> (usize, usize) {
    let (mut sa, mut sb) = (RepairState::default(), RepairState::default());
    let mut wire = VecDeque::from([(false, Item::Message(sa.start(a)))]);
    let (mut messages, mut bytes, mut pick) = (0, 0, 0usize);
    while let Some((to_a, item)) = wire.pop_front() {
        messages += 1;
        let (records, state) = if to_a {
            (&mut *a, &mut sa)
        } else {
            (&mut *b, &mut sb)
        };
        match item {
            Item::Record(record) => {
                bytes += record.at_line().len() + 1;
                records.merge(record);
            }
            Item::Tombstone(tombstone) => {
                bytes += tombstone.to_line().len() + 1;
                records.forget(tombstone);
            }
            Item::Message(message) => {
                bytes += message.to_line().len();
                pick = pick.wrapping_mul(31).wrapping_add(7);
                let reply = state.answer(records, message, pick);
                wire.extend(
                    reply
                        .tombstones
                        .into_iter()
                        .map(|t| (!to_a, Item::Tombstone(t))),
                );
                wire.extend(reply.records.into_iter().map(|r| (!to_a, Item::Record(r))));
                wire.extend(
                    reply
                        .messages
                        .into_iter()
                        .map(|m| (!to_a, Item::Message(m))),
                );
            }
        }
    }
    (messages, bytes)
}

fn herd(differing: usize, forget: bool) -> (Records, Records) {
    let (mut a, mut b) = (Records::default(), Records::default());
    for i in 0..HELD {
        let r = record(&client(i), 1_800_000_000);
        a.merge(r.clone());
        b.merge(r);
    }
    for i in 0..differing {
        if forget {
            a.forget(tombstone(&client(i), 1_800_000_100));
        } else {
            a.merge(record(&client(i), 1_800_000_100));
        }
    }
    (a, b)
}

/// One expiry sweep over `count` records, of which every `every`-th has
/// expired: (the longest call in milliseconds, removed).
fn sweep(count: usize, every: usize) -> (f64, usize) {
    let mut core = NodeCore::new("Clark", Nanos(3_600_000_000_000));
    core.set_lifecycle(Lifecycle {
        ttl: Some(Nanos(3_600_000_000_000)),
        ..Lifecycle::default()
    });
    let mut records = Records::with_capacity(count);
    for i in 0..count {
        let time = if i % every == 0 {
            1_800_000_000
        } else {
            1_800_007_000
        };
        records.merge(record(&client(i), time));
    }
    core.restore_all(records);
    let (mut longest, mut removed) = (0.0f64, 0);
    loop {
        let started = std::time::Instant::now();
        let swept = core.expire(Nanos(1_800_005_000 * 1_000_000_000));
        longest = longest.max(started.elapsed().as_secs_f64() * 1e3);
        removed += swept.records;
        if swept.records < herd_core::decide::SWEEP_BUDGET {
            return (longest, removed);
        }
    }
}

fn main() {
    println!("memory, with {HELD} records held:");
    for count in [10_000usize, 100_000] {
        let mut records = Records::default();
        for i in 0..HELD {
            records.merge(record(&format!("held-{i}"), 1_800_000_000));
        }
        let before = resident_bytes();
        for i in 0..count {
            records.forget(tombstone(&client(i), 1_800_000_100));
        }
        let after = resident_bytes();
        println!(
            "  {count:>7} tombstones: {:.1} MB, {:.0} bytes each",
            (after - before) as f64 / 1e6,
            (after - before) as f64 / count as f64
        );
    }
    let example = tombstone(&client(1), 1_800_000_100).to_line();
    let update = record(&client(1), 1_800_000_100);
    println!(
        "one flood message: FORGET {} bytes, AT {} bytes",
        example.len() + 1,
        update.at_line().len() + 1
    );
    for (every, what) in [(1_000_000, "one expired"), (2, "half expired")] {
        let (ms, removed) = sweep(1_000_000, every);
        println!(
            "expiry sweep of 1,000,000 records, {what}: {removed} removed, the longest call {ms:.1} ms"
        );
    }
    println!("repair of one node that missed them, {HELD} records held by both:");
    println!(
        "  {:>7} | {:>22} | {:>22}",
        "missed", "tombstones: msgs, bytes", "updates: msgs, bytes"
    );
    for differing in [1usize, 100, 10_000] {
        let (mut a, mut b) = herd(differing, true);
        let (forget_msgs, forget_bytes) = repair(&mut a, &mut b);
        assert_eq!(a.digest(), b.digest());
        let (mut a, mut b) = herd(differing, false);
        let (update_msgs, update_bytes) = repair(&mut a, &mut b);
        assert_eq!(a.digest(), b.digest());
        println!(
            "  {differing:>7} | {forget_msgs:>9}, {:>10} | {update_msgs:>9}, {:>10}",
            forget_bytes, update_bytes
        );
    }
}
