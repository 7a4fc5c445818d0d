//! Contract section 9: every node's metrics listener, seen by the tools
//! operators run (a real Prometheus server, promtool), its `/health` and
//! `/ready`, and `herdctl status`'s health verdict.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herd_blackbox::http;
use herd_blackbox::prometheus::{Prometheus, which};
use herd_blackbox::{Herd, iamat, now_text, one_shot, wait_until};

/// The metrics the contract names, each of which every node exports.
const CONTRACT_METRICS: [&str; 18] = [
    "herd_records",
    "herd_client_requests_total",
    "herd_client_reply_seconds",
    "herd_link_up",
    "herd_link_flaps_total",
    "herd_floods_sent_total",
    "herd_floods_received_total",
    "herd_queue_depth",
    "herd_queue_overflows_total",
    "herd_repair_rounds_total",
    "herd_repair_records_total",
    "herd_store_bytes",
    "herd_fsync_seconds",
    "herd_places_requests_total",
    "herd_build_info",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_cpu_seconds_total",
];

fn alert_rules() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/herd-alerts.yml")
}

fn metrics_herd() -> Herd {
    let mut herd = Herd::default_topology();
    herd.serve_metrics();
    herd.start_all_connected();
    herd
}

#[test]
fn a_real_prometheus_scrapes_every_node_and_sees_records_and_requests() {
    let herd = metrics_herd();
    let targets: Vec<_> = herd
        .nodes
        .iter()
        .map(|n| herd.metrics_addr(&n.name))
        .collect();
    let prometheus = Prometheus::start(&targets, &[&alert_rules()]);
    let nodes = herd.nodes.len() as f64;
    // Every node scraped once: what they hold already (the probes that
    // showed the herd connected).
    assert!(
        wait_until(Duration::from_secs(20), || prometheus
            .scalar("count(herd_records)")
            == Some(nodes)),
        "not every node scraped: {}",
        prometheus.log()
    );
    let before = prometheus.scalar("sum(herd_records)");
    // Updates at every node, so every node's request rate moves.
    let clients = 10;
    for (i, node) in herd.nodes.iter().enumerate() {
        for c in 0..clients {
            let client = format!("prom-{i}-{c}");
            let reply = one_shot(
                herd.client_addr(&node.name),
                &iamat(&client, "+1+1", now_text()),
            );
            assert!(reply.starts_with("AT "), "{reply}");
        }
    }
    let wanted = before.unwrap_or(0.0) + nodes * nodes * clients as f64;
    let seen = wait_until(Duration::from_secs(40), || {
        prometheus.scalar("sum(herd_records)") == Some(wanted)
    });
    assert!(
        seen,
        "sum(herd_records) is {:?}, not {wanted}; {}",
        prometheus.scalar("sum(herd_records)"),
        prometheus.log()
    );
    let rates = "count(sum by (instance) (rate(herd_client_requests_total{kind=\"iamat\",result=\"ok\"}[15s])) > 0)";
    assert!(
        wait_until(Duration::from_secs(30), || prometheus.scalar(rates)
            == Some(nodes)),
        "{rates} = {:?}",
        prometheus.query(rates)
    );
    assert_eq!(prometheus.scalar("count(up == 1)"), Some(nodes));
    assert_eq!(
        prometheus.scalar("count(herd_link_up == 1)"),
        Some(2.0 * herd.links.len() as f64),
        "every link up at both ends"
    );
    // The alert rules shipped in deploy/ load into a real server.
    let rules = prometheus.api("rules");
    let names: Vec<String> = rules["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|rule| rule["name"].as_str().map(str::to_owned))
        .collect();
    for alert in [
        "HerdLinkDown",
        "HerdNodeNotReady",
        "HerdQueueGrowing",
        "HerdRecordCountsDiffer",
    ] {
        assert!(names.iter().any(|n| n == alert), "{alert} not in {names:?}");
    }
    // Healthy and converged: no alert even pending (each needs its
    // condition to hold a minute or more before it fires), once the rules
    // have been evaluated on what the herd reports now.
    let evaluated = wait_until(Duration::from_secs(10), || {
        prometheus.api("rules")["groups"][0]["lastEvaluation"]
            .as_str()
            .is_some_and(|at| !at.starts_with("0001"))
    });
    assert!(
        evaluated,
        "the rules were never evaluated: {}",
        prometheus.log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let alerts = prometheus.api("alerts");
    assert_eq!(alerts["alerts"], serde_json::json!([]), "{alerts}");
}

/// The value of one series (`name{labels}`) in an exposition.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn promtool_accepts_every_nodes_exposition_which_has_the_contracts_metrics() {
    let promtool = which("promtool")
        .unwrap_or_else(|| panic!("promtool is needed: apt-get install prometheus (.ci/run does)"));
    let herd = metrics_herd();
    let scrape = |name: &str| http::get(herd.metrics_addr(name), "/metrics").body;
    let (clark_before, bona_before) = (scrape("Clark"), scrape("Bona"));
    // Something in every family: an update, a stale one, a WHATSAT, a
    // question.
    let time = now_text();
    one_shot(
        herd.client_addr("Clark"),
        &iamat("kiwi", "+34.068930-118.445127", time.clone()),
    );
    one_shot(
        herd.client_addr("Clark"),
        &iamat("kiwi", "+1+1", "1.0".to_owned()),
    );
    one_shot(herd.client_addr("Bona"), "WHATSAT kiwi 10 2\n");
    one_shot(herd.client_addr("Bona"), "HELLO there\n");
    for node in &herd.nodes {
        let reply = http::get(herd.metrics_addr(&node.name), "/metrics");
        assert_eq!(reply.status, 200);
        assert!(
            reply
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/plain") && t.contains("version=0.0.4")),
            "{:?}",
            reply.headers
        );
        let mut check = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run promtool");
        if let Some(mut stdin) = check.stdin.take() {
            stdin
                .write_all(reply.body.as_bytes())
                .expect("feed promtool");
        }
        let output = check.wait_with_output().expect("promtool output");
        assert!(
            output.status.success(),
            "promtool check metrics failed for {}: {}{}",
            node.name,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for name in CONTRACT_METRICS {
            assert!(
                reply.body.contains(&format!("# TYPE {name} ")),
                "{} exports no {name}",
                node.name
            );
        }
        // A scraper asking for OpenMetrics gets the text format all the same.
        let asked = http::try_get(
            herd.metrics_addr(&node.name),
            "/metrics",
            &[("Accept", "application/openmetrics-text; version=1.0.0")],
        )
        .expect("an answer");
        assert_eq!(asked.status, 200);
    }
    // What the traffic above changed, series by series.
    let grew = |before: &str, after: &str, series: &str| {
        let (was, is) = (sample(before, series), sample(after, series));
        assert!(was.is_some() && is.is_some(), "no {series} in:\n{after}");
        is.unwrap_or(0.0) - was.unwrap_or(0.0)
    };
    let clark = scrape("Clark");
    for (series, by) in [
        (
            "herd_client_requests_total{kind=\"iamat\",result=\"ok\"}",
            1.0,
        ),
        (
            "herd_client_requests_total{kind=\"iamat\",result=\"stale\"}",
            1.0,
        ),
        ("herd_client_reply_seconds_count{kind=\"iamat\"}", 2.0),
        ("herd_records", 1.0),
        ("herd_floods_sent_total{peer=\"Jaquez\"}", 1.0),
    ] {
        assert_eq!(grew(&clark_before, &clark, series), by, "{series}");
    }
    assert_eq!(sample(&clark, "herd_link_up{peer=\"Jaquez\"}"), Some(1.0));
    assert_eq!(sample(&clark, "herd_ready"), Some(1.0));
    assert!(sample(&clark, "herd_store_bytes").is_some_and(|b| b > 0.0));
    let bona = scrape("Bona");
    for (series, by) in [
        (
            "herd_client_requests_total{kind=\"whatsat\",result=\"ok\"}",
            1.0,
        ),
        (
            "herd_client_requests_total{kind=\"other\",result=\"invalid\"}",
            1.0,
        ),
        (
            "herd_places_requests_total{backend=\"offline\",result=\"ok\"}",
            1.0,
        ),
    ] {
        assert_eq!(grew(&bona_before, &bona, series), by, "{series}");
    }
    // kiwi reached Bona once as news, by whichever path was first.
    let won: f64 = ["Bailey", "Campbell", "Clark"]
        .iter()
        .map(|peer| {
            grew(
                &bona_before,
                &bona,
                &format!("herd_floods_received_total{{peer=\"{peer}\",result=\"won\"}}"),
            )
        })
        .sum();
    assert_eq!(won, 1.0);
    // The deploy/ dashboard and alert rules query only what a node exports.
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for file in ["grafana/herd.json", "prometheus/herd-alerts.yml"] {
        let text = std::fs::read_to_string(deploy.join(file)).unwrap_or_default();
        let names = metric_names(&text);
        assert!(names.len() > 3, "{file}: {names:?}");
        for name in names {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|family| clark.contains(&format!("# TYPE {family} histogram")))
                .unwrap_or(&name);
            assert!(
                clark.contains(&format!("# TYPE {family} ")),
                "{file} queries {name}, which the node does not export"
            );
        }
    }
    assert_eq!(http::get(herd.metrics_addr("Bona"), "/nothing").status, 404);
}

#[test]
fn health_names_a_dead_peer_ignores_a_cut_link_and_recovers() {
    let mut herd = Herd::with_topology(&["A", "B", "C"], &[("A", "B"), ("B", "C")], "");
    herd.serve_metrics();
    herd.start_all_connected();
    let addrs: std::collections::HashMap<String, std::net::SocketAddr> = ["A", "B", "C"]
        .iter()
        .map(|name| ((*name).to_owned(), herd.metrics_addr(name)))
        .collect();
    let health = |name: &str, query: &str| http::get(addrs[name], &format!("/health{query}"));
    for name in ["A", "B", "C"] {
        let reply = health(name, "");
        assert_eq!(
            (reply.status, reply.json()),
            (200, serde_json::json!({"status": "ok"}))
        );
    }
    herd.kill("C");
    let degraded = wait_until(Duration::from_secs(10), || health("B", "").status == 503);
    assert!(
        degraded,
        "B stays healthy with C dead: {}",
        health("B", "").body
    );
    let reply = health("B", "").json();
    assert_eq!(reply["status"], "degraded");
    let problems: Vec<String> = reply["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect();
    assert!(
        problems.len() == 1
            && problems[0].starts_with("link to C down for ")
            && problems[0].ends_with('s'),
        "{problems:?}"
    );
    // A caller that tolerates an hour of it sees nothing wrong.
    assert_eq!(health("B", "?max_link_down=1h").status, 200);
    assert_eq!(health("B", "?max_link_down=later").status, 400);
    assert_eq!(health("A", "").status, 200, "A's own links are fine");
    // herdctl status shows the verdict and what is wrong.
    let status = herd.herdctl(&["status"]);
    let table = String::from_utf8_lossy(&status.stdout);
    // C away, A and B agree: DEGRADED, not DIVERGED.
    assert!(
        table.lines().next().is_some_and(
            |l| l.contains("DEGRADED: 1 of 3 nodes unreachable; those that answer agree")
        ),
        "{table}"
    );
    let b_row = table
        .lines()
        .find(|l| l.starts_with("B "))
        .unwrap_or_default();
    assert!(b_row.contains("DEGRADED"), "{table}");
    assert!(table.contains("B: link to C down for "), "{table}");
    let a_row = table
        .lines()
        .find(|l| l.starts_with("A "))
        .unwrap_or_default();
    assert!(a_row.contains(" ok "), "{table}");

    herd.start("C");
    let healed = wait_until(Duration::from_secs(15), || health("B", "").status == 200);
    assert!(healed, "B never recovered: {}", health("B", "").body);
    let json = herd.herdctl(&["status", "--json"]);
    let report: serde_json::Value =
        serde_json::from_slice(&json.stdout).unwrap_or(serde_json::Value::Null);
    let b = herd_blackbox::node_in(&report, "B");
    assert_eq!(b["health"]["status"], "ok", "{report}");

    // A link the operator cut is down on purpose: not a problem.
    let cut = herd.herdctl(&["link", "A", "B", "down"]);
    assert!(
        cut.status.success(),
        "{}",
        String::from_utf8_lossy(&cut.stderr)
    );
    std::thread::sleep(Duration::from_millis(300));
    for name in ["A", "B"] {
        let reply = health(name, "");
        assert_eq!(reply.status, 200, "{name}: {}", reply.body);
    }
    let b = http::get(herd.metrics_addr("B"), "/metrics").body;
    assert_eq!(
        sample(&b, "herd_link_flaps_total{peer=\"C\"}"),
        Some(1.0),
        "C was killed once: {b}"
    );
    // herdctl tells both ends at once: the end told second may see the
    // other close the connection first and count that one loss
    // (operations.md, the metrics); the end that cut counts none.
    let a = http::get(herd.metrics_addr("A"), "/metrics").body;
    let cut_flaps = [(&a, "B"), (&b, "A")]
        .iter()
        .map(|(text, peer)| sample(text, &format!("herd_link_flaps_total{{peer=\"{peer}\"}}")))
        .collect::<Option<Vec<f64>>>();
    assert!(
        cut_flaps
            .as_ref()
            .is_some_and(|f| f.iter().sum::<f64>() <= 1.0),
        "{cut_flaps:?}"
    );
    for (text, peer) in [(&a, "B"), (&b, "A")] {
        assert_eq!(
            sample(text, &format!("herd_link_admin_up{{peer=\"{peer}\"}}")),
            Some(0.0)
        );
        assert_eq!(
            sample(text, &format!("herd_link_up{{peer=\"{peer}\"}}")),
            Some(0.0)
        );
    }
}

/// The `herd_*` and `process_*` names a dashboard or rule file mentions.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (at, _) in text.match_indices(['h', 'p']) {
        let rest = &text[at..];
        if !(rest.starts_with("herd_") || rest.starts_with("process_")) {
            continue;
        }
        if at > 0 && text.as_bytes()[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// An entry of the record log as herd-node writes it (docs/operations.md):
/// length and CRC-32 of the AT line, little-endian, then the line.
fn log_entry(line: &str, into: &mut Vec<u8>) {
    into.extend_from_slice(&(line.len() as u32).to_le_bytes());
    into.extend_from_slice(&crc32fast::hash(line.as_bytes()).to_le_bytes());
    into.extend_from_slice(line.as_bytes());
}

#[test]
fn ready_waits_for_a_million_records_to_load() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.serve_metrics();
    let records = 1_000_000;
    let dir = herd.data_dir().join("A");
    std::fs::create_dir_all(&dir).expect("data dir");
    let mut bytes = Vec::with_capacity(records * 70);
    for i in 0..records {
        log_entry(
            &format!("AT A +0.000100000 load-{i} +34.068930-118.445127 1700000000.{i:09}"),
            &mut bytes,
        );
    }
    std::fs::write(dir.join("records.log"), &bytes).expect("write the record log");
    drop(bytes);

    herd.spawn("A");
    let metrics = herd.metrics_addr("A");
    // The first answer on the metrics port: it is bound before the load.
    let mut first = None;
    let answered = wait_until(Duration::from_secs(20), || {
        first = http::try_get(metrics, "/ready", &[]);
        first.is_some()
    });
    assert!(
        answered,
        "the metrics port never answered: {}",
        herd.stderr("A")
    );
    let first = first.expect("an answer");
    assert_eq!(
        first.status, 503,
        "ready before the records loaded: {}",
        first.body
    );
    assert_eq!(first.json()["status"], "not ready");
    assert_eq!(
        first.json()["problems"],
        serde_json::json!(["loading records"])
    );
    let health = http::get(metrics, "/health");
    let scrape = http::get(metrics, "/metrics");
    // Still loading after those two: they were answered mid-load.
    if http::get(metrics, "/ready").status == 503 {
        assert_eq!(health.status, 503, "{}", health.body);
        assert_eq!(scrape.status, 200);
        assert!(scrape.body.contains("herd_ready 0"), "{}", scrape.body);
        assert!(!scrape.body.contains("herd_records"), "{}", scrape.body);
    }

    let ready = wait_until(Duration::from_secs(120), || {
        http::get(metrics, "/ready").status == 200
    });
    assert!(ready, "never ready: {}", herd.stderr("A"));
    assert_eq!(http::get(metrics, "/ready").json()["status"], "ready");
    // Ready means serving: the client port answers from the records.
    let reply = one_shot(herd.client_addr("A"), "WHATSAT load-999999 10 1\n");
    assert!(
        reply.starts_with("AT A +0.000100000 load-999999 "),
        "{reply}"
    );
    // What a scrape costs with a million records held (printed for
    // docs/BENCHMARKS.md, never asserted: timings are noisy here).
    let began = Instant::now();
    let scrapes = 20;
    let mut body = String::new();
    for _ in 0..scrapes {
        body = http::get(metrics, "/metrics").body;
    }
    let each = began.elapsed() / scrapes;
    assert!(body.contains(&format!("herd_records {records}")), "{body}");
    eprintln!(
        "a scrape at {records} records took {each:?} ({} bytes)",
        body.len()
    );
}
