//! The CI sweep: 500 seeds over herds of 3 to 50 nodes, each with
//! partitions, cut links, crashes and restarts, dropped connections,
//! duplicated and overtaken updates. Every node must end with exactly the
//! newest acknowledged update of every client.

use herd_sim::{SimConfig, nodes_for_seed, run};

#[test]
fn five_hundred_seeds_converge_to_the_oracle() {
    let mut failures = Vec::new();
    let mut slowest: f64 = 0.0;
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
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("500 seeds converged; slowest {slowest:.0} ms after the final heal (simulated)");
}
