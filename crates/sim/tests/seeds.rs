//! The CI sweep: 500 seeds over herds of 3 to 50 nodes, each with
//! partitions, cut links, crashes and restarts, dropped connections,
//! duplicated and overtaken updates, admin forgets (half of them while a
//! fault is in force), expiring records in half the runs, and nodes away
//! for longer than tombstones are kept. Every node must end with exactly
//! the newest acknowledged operation of every client, and no forgotten
//! update may ever come back.

use herd_sim::{Report, SimConfig, nodes_for_seed, run};

#[test]
fn five_hundred_seeds_converge_to_the_oracle() {
    let mut failures = Vec::new();
    let mut slowest: f64 = 0.0;
    let mut reports: Vec<Report> = Vec::new();
    for seed in 0..500 {
        let nodes = nodes_for_seed(seed, 3, 50);
        let report = run(&SimConfig::for_seed(seed, nodes));
        match &report.failure {
            Some(why) => failures.push(format!(
                "seed {seed} ({nodes} nodes): {why}\n  replay: {}",
                report.replay_command()
            )),
            None => slowest = slowest.max(report.converge_ms.unwrap_or(0.0)),
        }
        reports.push(report);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("500 seeds converged; slowest {slowest:.0} ms after the final heal (simulated)");

    // The standard scenario really exercises forgetting.
    let sum = |field: fn(&Report) -> u64| reports.iter().map(field).sum::<u64>();
    let runs_with = |field: fn(&Report) -> u64| reports.iter().filter(|r| field(r) > 0).count();
    assert!(sum(|r| r.forgets_acked) > 3_000, "too few forgets");
    assert!(
        runs_with(|r| r.forgets_in_partition) > 350,
        "too few runs forgot while the herd was split"
    );
    assert!(
        runs_with(|r| r.returns_past_horizon) > 450,
        "too few runs sent a node away past the tombstone horizon"
    );
    assert!(
        runs_with(|r| r.discarded_on_return) > 400,
        "too few returns past the horizon discarded anything"
    );
    assert!(
        sum(|r| r.lost_on_return) > 0,
        "no update was lost on a return"
    );
    assert!(sum(|r| r.forget_repairs) > 0, "no tombstone was repaired");
    assert!(
        runs_with(|r| r.tombstones_dropped) > 450,
        "too few runs dropped tombstones"
    );
    // With a ttl, the early records expire before the end, the late ones
    // are still held.
    let expiring = || reports.iter().filter(|r| r.ttl_ms.is_some());
    assert!(
        expiring().filter(|r| r.records_expired > 0).count() > 200,
        "too few runs expired records"
    );
    assert!(
        expiring().filter(|r| r.records_at_end > 0).count() > 200,
        "too few runs kept records to the end"
    );
    // The premise of the rule for returning nodes held: no two groups of
    // the herd stayed apart for as long as tombstones are kept.
    for report in &reports {
        assert!(
            report.longest_split_ms < report.tombstone_ttl_ms as f64,
            "seed {}: the herd was split for {} ms",
            report.seed,
            report.longest_split_ms
        );
    }
}
