//! `herd-sim`: runs many seeds of the herd simulator and reports.
//!
//!     cargo run --release -p herd-sim -- --seeds 10000
//!     cargo run --release -p herd-sim -- --seeds 20 --nodes 1000
//!     cargo run --release -p herd-sim -- --seed 1234 --nodes 17   # replay one
//!     cargo run --release -p herd-sim -- --seeds 1000 --break early-tombstone-drop
//!                                         # a broken lifecycle rule: runs must fail

use std::process::ExitCode;

use clap::Parser;
use herd_sim::{Report, SimConfig, nodes_for_seed, run};

#[derive(Parser)]
#[command(
    version,
    about = "Deterministic herd simulator: many seeds, faults, an oracle"
)]
struct Cli {
    /// How many seeds to run.
    #[arg(long, default_value_t = 500)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Replay one seed (with --nodes as printed by a failure).
    #[arg(long, conflicts_with_all = ["seeds", "first_seed"])]
    seed: Option<u64>,
    /// Every run with this many nodes (default: 3 to 50, by seed).
    #[arg(long)]
    nodes: Option<usize>,
    #[arg(long, default_value_t = 3)]
    min_nodes: usize,
    #[arg(long, default_value_t = 50)]
    max_nodes: usize,
    /// One JSON report per run on stdout.
    #[arg(long)]
    json: bool,
    /// Worker threads.
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()))]
    threads: usize,
    /// Run with a deliberately broken lifecycle rule, to see the oracle
    /// catch it (the runs that fail are the point).
    #[arg(long = "break", value_enum, value_name = "RULE")]
    broken: Option<BrokenRule>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BrokenRule {
    /// Tombstones dropped after a tenth of tombstone_ttl.
    EarlyTombstoneDrop,
    /// A node back from past the horizon keeps its records.
    NoReturnReset,
}

impl BrokenRule {
    fn sabotage(self) -> herd_core::LifecycleSabotage {
        match self {
            BrokenRule::EarlyTombstoneDrop => herd_core::LifecycleSabotage::EarlyTombstoneDrop,
            BrokenRule::NoReturnReset => herd_core::LifecycleSabotage::NoReturnReset,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let seeds: Vec<u64> = match cli.seed {
        Some(seed) => vec![seed],
        None => (cli.first_seed..cli.first_seed + cli.seeds).collect(),
    };
    let configs: Vec<SimConfig> = seeds
        .iter()
        .map(|&seed| {
            let nodes = cli
                .nodes
                .unwrap_or_else(|| nodes_for_seed(seed, cli.min_nodes, cli.max_nodes));
            let mut config = SimConfig::for_seed(seed, nodes);
            config.lifecycle_sabotage = cli.broken.map(BrokenRule::sabotage);
            config
        })
        .collect();
    let started = std::time::Instant::now();
    let reports = run_all(&configs, cli.threads.max(1));
    let elapsed = started.elapsed();
    if cli.json {
        for report in &reports {
            println!("{}", serde_json::to_string(report).unwrap_or_default());
        }
    }
    let failures: Vec<&Report> = reports.iter().filter(|r| r.failure.is_some()).collect();
    for report in &failures {
        eprintln!(
            "FAILED seed {} ({} nodes, {} links): {}\n  replay: {}",
            report.seed,
            report.nodes,
            report.links,
            report.failure.as_deref().unwrap_or_default(),
            report.replay_command()
        );
    }
    eprintln!("{}", summary(&reports, elapsed));
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs the configs on `threads` threads; reports in config order.
fn run_all(configs: &[SimConfig], threads: usize) -> Vec<Report> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut reports: Vec<Option<Report>> = vec![None; configs.len()];
    let results = std::sync::Mutex::new(&mut reports);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(config) = configs.get(i) else { break };
                    let report = run(config);
                    if let Ok(mut results) = results.lock() {
                        results[i] = Some(report);
                    }
                }
            });
        }
    });
    reports.into_iter().flatten().collect()
}

fn summary(reports: &[Report], elapsed: std::time::Duration) -> String {
    let runs = reports.len();
    let failed = reports.iter().filter(|r| r.failure.is_some()).count();
    let sum = |field: fn(&Report) -> u64| reports.iter().map(field).sum::<u64>();
    let acked = sum(|r| r.updates_acked);
    let msgs = sum(|r| r.update_msgs);
    let repaired = sum(|r| r.repair_records);
    let bytes = sum(|r| r.bytes);
    let mut converge: Vec<f64> = reports.iter().filter_map(|r| r.converge_ms).collect();
    converge.sort_by(f64::total_cmp);
    let at = |q: f64| {
        converge
            .get(((converge.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let nodes_min = reports.iter().map(|r| r.nodes).min().unwrap_or(0);
    let nodes_max = reports.iter().map(|r| r.nodes).max().unwrap_or(0);
    let forgets = sum(|r| r.forgets_acked);
    let per_forget = |n: u64| n as f64 / forgets.max(1) as f64;
    let with_ttl = reports.iter().filter(|r| r.ttl_ms.is_some()).count();
    let returning = reports
        .iter()
        .filter(|r| r.returns_past_horizon > 0)
        .count();
    // The premise of the rule for returning nodes: no two groups apart for
    // as long as tombstones are kept.
    let split = reports
        .iter()
        .map(|r| r.longest_split_ms / r.tombstone_ttl_ms.max(1) as f64)
        .fold(0.0, f64::max);
    format!(
        "{runs} runs ({nodes_min}-{nodes_max} nodes), {failed} failed, in {:.1} s\n\
         per acknowledged update: {:.2} flood messages, {:.2} records sent by repair, {:.0} bytes in all\n\
         convergence after the final heal: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (simulated)\n\
         forgets: {forgets} acknowledged ({} while the herd was split); per forget {:.2} tombstones flooded, {:.2} sent by repair, {:.0} bytes\n\
         lifetimes: {with_ttl} runs with a record ttl, {} records expired, {} tombstones dropped (summed over nodes)\n\
         away past the horizon: {} returns in {returning} runs, {} records discarded, of which {} the newest acknowledged update of its client and held nowhere else (may be lost)\n\
         longest split of the herd: {:.0} % of the tombstone ttl",
        elapsed.as_secs_f64(),
        msgs as f64 / acked.max(1) as f64,
        repaired as f64 / acked.max(1) as f64,
        bytes as f64 / acked.max(1) as f64,
        at(0.5),
        at(0.99),
        at(1.0),
        sum(|r| r.forgets_in_partition),
        per_forget(sum(|r| r.forget_msgs)),
        per_forget(sum(|r| r.forget_repairs)),
        per_forget(sum(|r| r.forget_bytes)),
        sum(|r| r.records_expired),
        sum(|r| r.tombstones_dropped),
        sum(|r| r.returns_past_horizon),
        sum(|r| r.discarded_on_return),
        sum(|r| r.lost_on_return),
        split * 100.0,
    )
}
