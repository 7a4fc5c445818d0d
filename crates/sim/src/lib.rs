//! A deterministic simulator of a whole herd (docs/repair.md, "The
//! simulator").
//!
//! Many nodes of the real core logic run in one process under a seeded
//! scheduler: flooding with the node's send queues, merging, and the repair
//! exchange, over simulated links with latency, dropped connections,
//! duplicated and overtaken updates, partitions, crashes and restarts. An
//! oracle keeps, per client, the newest update any node acknowledged; after
//! the final heal every node must hold exactly that. A seed replays the
//! same run exactly.

mod schedule;
mod topology;
mod world;

use serde::Serialize;

pub use herd_core::Sabotage;

pub use topology::random_graph;

/// One run's scenario. [`SimConfig::for_seed`] gives the standard one.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: usize,
    /// Client ids in use (fewer clients: more conflicting updates).
    pub clients: usize,
    /// IAMATs sent during the chaos.
    pub updates: usize,
    /// How long faults and updates go on, in simulated milliseconds.
    pub chaos_ms: u64,
    /// How long the herd may take to converge after the final heal.
    pub quiet_limit_ms: u64,
    /// One-way latency of a message, in microseconds (min, max).
    pub latency_us: (u64, u64),
    /// Chance per message that the connection drops (with what is in flight).
    pub loss: f64,
    /// Chance per update message that it arrives twice.
    pub duplicate: f64,
    /// Chance per update message that it is overtaken by later ones.
    pub reorder: f64,
    /// Partitions, link cuts and crashes during the chaos.
    pub faults: usize,
    /// Each link's send queue (small, so queues overflow and repair works).
    pub queue_capacity: usize,
    pub repair_every_ms: u64,
    /// A deliberately broken link policy (tests of the oracle only).
    pub sabotage: Option<Sabotage>,
}

impl SimConfig {
    /// The standard scenario for a seed and herd size.
    pub fn for_seed(seed: u64, nodes: usize) -> SimConfig {
        SimConfig {
            seed,
            nodes,
            clients: 20 + 2 * nodes,
            updates: 100 + 4 * nodes,
            chaos_ms: 5_000,
            quiet_limit_ms: 30_000,
            latency_us: (100, 2_000),
            loss: 0.001,
            duplicate: 0.02,
            reorder: 0.05,
            faults: 4,
            queue_capacity: 16,
            repair_every_ms: 1_000,
            sabotage: None,
        }
    }

    /// The same herd and workload with a perfect network and no faults.
    pub fn calm(mut self) -> SimConfig {
        self.loss = 0.0;
        self.duplicate = 0.0;
        self.reorder = 0.0;
        self.faults = 0;
        self.queue_capacity = 65_536;
        self
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub seed: u64,
    pub nodes: usize,
    pub links: usize,
    /// IAMATs that were new updates (acknowledged with their own AT line).
    pub updates_acked: u64,
    /// Update messages sent by flooding.
    pub update_msgs: u64,
    /// Records sent in repair answers.
    pub repair_records: u64,
    /// Repair messages (SYNC, GROUPS, LEAVES, WANT) and rounds started.
    pub repair_msgs: u64,
    pub repair_rounds: u64,
    /// Bytes of every message sent, as the lines the node would write.
    pub bytes: u64,
    /// Updates dropped by full send queues.
    pub overflows: u64,
    pub crashes: u64,
    /// Completed handshakes closed by the collision rule (both ends dialled
    /// at once, or a connection from a peer process already linked).
    pub collisions: u64,
    /// Restarts during the chaos after which every link to a live peer came
    /// up again (the rest were interrupted by another fault)...
    pub relinks: u64,
    /// ...and the longest any of them took, from the node's start to its
    /// last link up (simulated).
    pub relink_max_ms: Option<f64>,
    /// Simulated time from the final heal until every node held the
    /// oracle's records.
    pub converge_ms: Option<f64>,
    /// What was wrong, if the run failed.
    pub failure: Option<String>,
}

impl Report {
    /// Flood messages per acknowledged update.
    pub fn msgs_per_update(&self) -> f64 {
        self.update_msgs as f64 / self.updates_acked.max(1) as f64
    }

    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        format!(
            "cargo run --release -p herd-sim -- --seed {} --nodes {}",
            self.seed, self.nodes
        )
    }
}

/// Runs one scenario.
pub fn run(config: &SimConfig) -> Report {
    world::World::new(config).run()
}

/// The herd size a seed gets in a sweep over `min..=max` nodes.
pub fn nodes_for_seed(seed: u64, min: usize, max: usize) -> usize {
    let span = (max.max(min) - min + 1) as u64;
    min + (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % span as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_exactly() {
        let config = SimConfig::for_seed(42, 12);
        assert_eq!(run(&config), run(&config));
        assert_ne!(run(&config), run(&SimConfig::for_seed(43, 12)));
    }

    #[test]
    fn without_faults_flooding_costs_at_most_2e_minus_n_plus_1_messages() {
        for seed in 0..50 {
            let nodes = nodes_for_seed(seed, 3, 30);
            let report = run(&SimConfig::for_seed(seed, nodes).calm());
            assert_eq!(report.failure, None, "seed {seed}");
            let bound = (2 * report.links + 1 - report.nodes) as f64;
            assert!(
                report.msgs_per_update() <= bound,
                "seed {seed}: {} messages per update, bound {bound}",
                report.msgs_per_update()
            );
            assert_eq!(report.repair_records, 0, "seed {seed}");
        }
    }

    /// How many of the first `seeds` runs fail under `sabotage`.
    fn failures_with(sabotage: Sabotage, seeds: u64, adjust: impl Fn(&mut SimConfig)) -> usize {
        (0..seeds)
            .filter(|&seed| {
                let mut config = SimConfig::for_seed(seed, 10);
                config.sabotage = Some(sabotage);
                adjust(&mut config);
                run(&config).failure.is_some()
            })
            .count()
    }

    #[test]
    fn a_restarted_node_is_linked_again_at_once_and_simultaneous_dials_settle() {
        // Both ends dial, so a node that starts does not wait for its
        // neighbours' back-off (up to 2 s), whichever end of each link it
        // is; and two dials crossing each other (every herd start, and
        // after drops) must settle on one connection without losing
        // anything the oracle would notice.
        let (mut relinks, mut collisions, mut slowest) = (0, 0, 0.0_f64);
        for seed in 0..100 {
            let report = run(&SimConfig::for_seed(seed, nodes_for_seed(seed, 3, 30)));
            assert_eq!(report.failure, None, "seed {seed}");
            relinks += report.relinks;
            collisions += report.collisions;
            slowest = slowest.max(report.relink_max_ms.unwrap_or(0.0));
        }
        assert!(relinks > 20, "only {relinks} restarts came back fully");
        assert!(collisions > 0, "no two dials ever crossed");
        // Two latencies of at most 2 ms per handshake, and a dial that
        // crossed another one redialled after the first back-off step.
        assert!(
            slowest < 200.0,
            "a restarted node took {slowest} ms to link"
        );
    }

    #[test]
    fn the_oracle_catches_a_node_that_misses_an_update() {
        // Without repair rounds and with connections that drop, flooding
        // alone loses updates, and the check must say so.
        let failures = failures_with(Sabotage::NoRounds, 20, |config| {
            config.loss = 0.02;
            config.quiet_limit_ms = 3_000;
        });
        assert!(failures > 0, "no run lost anything without repair");
    }

    #[test]
    fn the_oracle_catches_a_dialler_that_never_starts_a_round() {
        // The link policy broken in the machine the node runs: the dialling
        // side neither syncs at link-up nor periodically. Overflow rounds
        // are not enough, and the standard scenario must show it.
        let failures = failures_with(Sabotage::NoDiallerRounds, 20, |_| {});
        assert!(failures > 0, "the broken policy passed every seed");
    }

    #[test]
    fn without_periodic_rounds_link_up_rounds_still_repair_the_standard_faults() {
        // Why the broken-policy test above sabotages link-up rounds too: in
        // this fault model every loss ends a connection, and the next one
        // starts with a round. The periodic round is the safety net for
        // what the model does not produce (a write that failed at one node).
        assert_eq!(failures_with(Sabotage::NoPeriodicRounds, 20, |_| {}), 0);
    }
}
