//! A quick run of every herd-bench mode against a real herd: the tool
//! works end to end and its JSON says what a script needs. Figures come
//! from release builds on a quiet machine (docs/BENCHMARKS.md), not here.

use std::process::Command;
use std::time::Duration;

use herd_blackbox::*;

fn bench(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(binary("herd-bench"))
        .arg("--json")
        .args(args)
        .env_remove("HERD_ADMIN_TOKEN")
        .output()
        .expect("run herd-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "herd-bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn every_bench_mode_runs_against_a_real_herd() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let config = herd.config.to_str().unwrap_or_default().to_owned();
    let clark = herd.client_addr("Clark").to_string();

    for mode in ["session", "oneshot"] {
        let results = bench(&[
            "iamat",
            "--addr",
            &clark,
            "--connections",
            "4",
            "--seconds",
            "1",
            "--mode",
            mode,
            "--echo",
        ]);
        assert_eq!(results.len(), 3, "{results:?}");
        for run in &results[..2] {
            assert!(run["requests"].as_u64().unwrap_or(0) > 0, "{run}");
            assert_eq!(run["errors"], 0, "{run}");
            assert!(run["p99_us"].as_u64().unwrap_or(0) >= run["p50_us"].as_u64().unwrap_or(0));
        }
        assert!(results[2]["ratio_to_echo"].as_f64().unwrap_or(0.0) > 0.0);
    }

    // Spread over the five nodes: the herd's throughput as a whole.
    let spread = bench(&[
        "iamat",
        "--spread",
        "--config",
        &config,
        "--connections",
        "5",
        "--seconds",
        "1",
        "--echo",
    ]);
    assert_eq!(spread.len(), 3, "{spread:?}");
    assert!(
        spread[1]["requests"].as_u64().unwrap_or(0) > 0,
        "{spread:?}"
    );
    assert_eq!(spread[1]["errors"], 0, "{spread:?}");
    assert!(
        spread[1]["label"]
            .as_str()
            .unwrap_or_default()
            .contains("5 nodes"),
        "{spread:?}"
    );
    // Every node answered its connection: each counted IAMATs it accepted.
    for name in ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"] {
        let accepted = herd.snapshot(name)["counters"]["iamat_accepted"]
            .as_u64()
            .unwrap_or(0);
        assert!(accepted > 0, "{name} took no load");
    }

    let whatsat = bench(&[
        "whatsat",
        "--addr",
        &clark,
        "--connections",
        "2",
        "--seconds",
        "1",
        "--clients",
        "50",
    ]);
    assert!(
        whatsat[0]["requests"].as_u64().unwrap_or(0) > 0,
        "{whatsat:?}"
    );
    assert_eq!(whatsat[0]["errors"], 0);

    let propagate = bench(&[
        "propagate",
        "--config",
        &config,
        "--from",
        "Clark",
        "--rate",
        "200",
        "--seconds",
        "1",
    ]);
    let summary = propagate.last().cloned().unwrap_or_default();
    assert_eq!(summary["sent"], 200, "{propagate:?}");
    assert_eq!(summary["answered"], 200);
    assert_eq!(summary["converged"], true);
    // Without faults flooding stays within 2|E| - N + 1 messages per update.
    assert!(
        summary["messages_per_update"].as_f64().unwrap_or(99.0)
            <= summary["bound"].as_f64().unwrap_or(0.0)
    );
    let bailey = propagate
        .iter()
        .find(|r| r["node"] == "Bailey")
        .cloned()
        .unwrap_or_default();
    assert_eq!(bailey["hops"], 2, "{propagate:?}");
    assert_eq!(bailey["seen"], 200, "{propagate:?}");

    let heal = bench(&[
        "heal",
        "--config",
        &config,
        "--node",
        "Clark",
        "--records",
        "300",
    ]);
    assert_eq!(heal[0]["converged"], true, "{heal:?}");

    let memory = bench(&[
        "memory",
        "--config",
        &config,
        "--node",
        "Bona",
        "--records",
        "2000",
    ]);
    assert_eq!(memory[0]["records_added"], 2000, "{memory:?}");
    assert!(memory[0]["rss_after"].as_u64().unwrap_or(0) > 0);

    let node = binary("herd-node");
    let startup = bench(&[
        "startup",
        "--node-binary",
        node.to_str().unwrap_or_default(),
        "--runs",
        "1",
    ]);
    assert!(
        startup[0]["median_ms"].as_f64().unwrap_or(0.0) > 0.0,
        "{startup:?}"
    );
}

/// `absorb` speaks the peer protocol as the configured peer F (with the
/// herd's secret, so the proof is exercised) to A, which merges, writes
/// with `fsync = "always"` and forwards to B.
#[test]
fn absorb_pushes_updates_as_a_configured_peer() {
    let mut herd = Herd::with_topology(
        &["A", "B", "F"],
        &[("A", "B"), ("A", "F")],
        "secret = \"absorb-smoke\"\nfsync = \"always\"",
    );
    herd.start("A");
    herd.start("B");
    assert!(
        wait_until(
            Duration::from_secs(10),
            || herd.link_status("A", "B")["connected"] == true
        ),
        "A and B linked"
    );
    let config = herd.config.to_str().unwrap_or_default().to_owned();
    let runs = bench(&[
        "absorb",
        "--config",
        &config,
        "--node",
        "A",
        "--as",
        "F",
        "--seconds",
        "1",
        "--clients",
        "100",
        "--echo",
    ]);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        runs[0]["per_second"].as_f64().unwrap_or(0.0) > 0.0,
        "{runs:?}"
    );
    let run = &runs[1];
    let sent = run["sent"].as_u64().unwrap_or(0);
    assert!(sent > 0, "{run}");
    assert_eq!(run["read"], sent, "{run}");
    // Every update is newer than the last for its client: all win.
    assert_eq!(run["merged"], sent, "{run}");
    // Forwarded to B, where a queued update of a client is replaced by its
    // newer one rather than sent twice: at most one message per merge.
    let forwarded = run["forwarded"].as_u64().unwrap_or(0);
    assert!(forwarded > 0 && forwarded <= sent, "{run}");
    assert!(run["fsyncs"].as_u64().unwrap_or(0) > 0, "{run}");
    assert!(run["ratio_to_echo"].as_f64().unwrap_or(0.0) > 0.0, "{run}");
    // B holds the newest of each of the 100 clients, as A does.
    assert!(
        wait_until(Duration::from_secs(10), || {
            herd.snapshot("B")["records"] == 100
                && herd.snapshot("A")["digest"] == herd.snapshot("B")["digest"]
        }),
        "B caught up with A"
    );

    // A peer the node does not have is refused before anything is pushed.
    let out = Command::new(binary("herd-bench"))
        .args([
            "absorb",
            "--config",
            &config,
            "--node",
            "B",
            "--as",
            "F",
            "--seconds",
            "1",
        ])
        .output()
        .expect("run herd-bench");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a configured peer"), "{stderr}");
}
