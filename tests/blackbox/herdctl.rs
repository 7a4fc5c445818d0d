//! herdctl's headless commands against real herds (contract section 4):
//! what an operator and their scripts see.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herd_blackbox::*;
use serde_json::Value;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn status_json(herd: &Herd) -> (Value, std::process::Output) {
    let output = herd.herdctl(&["status", "--json"]);
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", stdout(&output)));
    (json, output)
}

fn node<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("{name} missing from {status}"))
}

#[test]
fn status_json_reports_every_node_and_link_of_the_config() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let (status, output) = status_json(&herd);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(status["converged"], true, "{status}");
    assert_eq!(status["nodes"].as_array().map(Vec::len), Some(5));
    let digest = node(&status, "Clark")["digest"].clone();
    assert!(digest.as_str().is_some_and(|d| !d.is_empty()));
    for name in DEFAULT_NODES {
        let node = node(&status, name);
        assert_eq!(node["reachable"], true, "{node}");
        assert_eq!(node["digest"], digest, "{node}");
        assert_eq!(node["records"], 5, "one probe per node: {node}");
        let mut peers: Vec<&str> = node["links"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|link| {
                assert_eq!(link["admin"], "up", "{link}");
                assert_eq!(link["connected"], true, "{link}");
                link["peer"].as_str().unwrap_or_default()
            })
            .collect();
        peers.sort();
        let mut expected: Vec<&str> = DEFAULT_LINKS
            .iter()
            .filter_map(|&(a, b)| match (a == name, b == name) {
                (true, _) => Some(b),
                (_, true) => Some(a),
                _ => None,
            })
            .collect();
        expected.sort();
        assert_eq!(peers, expected, "links of {name}");
    }

    // The table for people says the same.
    let output = herd.herdctl(&["status"]);
    assert!(output.status.success());
    let table = stdout(&output);
    assert!(table.contains("5/5 nodes reachable"), "{table}");
    assert!(table.contains("6/6 links connected"), "{table}");
    assert!(table.contains("converged"), "{table}");
}

#[test]
fn an_update_sent_with_herdctl_floods_and_the_herd_converges() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let line = iamat("kiwi.cs.ucla.edu", "+34.068930-118.445127", now_text());
    let output = herd.herdctl(&[
        "send",
        "Clark",
        &line,
        "WHATSAT kiwi.cs.ucla.edu 10 2",
        "nonsense",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let reply = stdout(&output);
    let at = reply.lines().next().unwrap_or_default().to_owned();
    assert!(
        at.starts_with("AT Clark ") && at.ends_with(&line[6..]),
        "{reply}"
    );
    // Not a terminal: the WHATSAT reply comes through exactly as the node
    // sent it (AT line, one-line JSON, blank line).
    let rest = &reply[at.len() + 1..];
    let (whatsat, question) = rest.split_once("\n\n").unwrap_or_default();
    let (again, json) = whatsat.split_once('\n').unwrap_or_default();
    assert_eq!(again, at);
    let json: Value = serde_json::from_str(json).unwrap_or_default();
    assert_eq!(json["status"], "OK");
    assert_eq!(json["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(question, "? nonsense\n");

    assert!(wait_until(Duration::from_secs(15), || {
        let (status, _) = status_json(&herd);
        status["converged"] == true && node(&status, "Bailey")["records"] == 6
    }));

    // records shows the update on a node two hops away.
    let output = herd.herdctl(&["records", "Bailey", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let records: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let kiwi = records["records"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["client"] == "kiwi.cs.ucla.edu"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(kiwi["at"], at.as_str());
    assert_eq!(kiwi["received_by"], "Clark");
    let output = herd.herdctl(&["records", "Bailey"]);
    assert!(
        stdout(&output).contains("kiwi.cs.ucla.edu"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn cutting_both_links_of_a_node_isolates_it_and_restoring_them_heals() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    for peer in ["Jaquez", "Bona"] {
        let output = herd.herdctl(&["link", "Clark", peer, "down"]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stdout(&output).contains("down"), "{}", stdout(&output));
    }
    let (status, _) = status_json(&herd);
    for link in node(&status, "Clark")["links"]
        .as_array()
        .into_iter()
        .flatten()
    {
        assert_eq!(link["admin"], "down", "{link}");
    }
    for peer in ["Jaquez", "Bona"] {
        assert!(wait_until(Duration::from_secs(5), || {
            herd.link_status(peer, "Clark")["connected"] == false
        }));
    }

    let isolated = one_shot(
        herd.client_addr("Clark"),
        &iamat("alone", "+1+1", now_text()),
    );
    assert!(isolated.starts_with("AT Clark "), "{isolated}");
    std::thread::sleep(Duration::from_millis(500));
    for other in ["Bona", "Jaquez", "Bailey", "Campbell"] {
        let reply = one_shot(herd.client_addr(other), "WHATSAT alone 1 1");
        assert!(
            reply.starts_with("? "),
            "{other} learned an isolated update: {reply}"
        );
    }
    let (status, output) = status_json(&herd);
    assert!(output.status.success(), "all nodes are still reachable");
    assert_eq!(status["converged"], false, "{status}");
    assert_ne!(
        node(&status, "Clark")["digest"],
        node(&status, "Bona")["digest"]
    );
    assert_eq!(
        node(&status, "Bona")["digest"],
        node(&status, "Bailey")["digest"]
    );
    assert!(stdout(&herd.herdctl(&["status"])).contains("DIVERGED"));

    for peer in ["Jaquez", "Bona"] {
        let output = herd.herdctl(&["link", peer, "Clark", "up"]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    herd.wait_connected();
    let fresh = one_shot(
        herd.client_addr("Clark"),
        &iamat("together", "+1+1", now_text()),
    );
    assert!(wait_until(Duration::from_secs(15), || {
        one_shot(herd.client_addr("Bailey"), "WHATSAT together 1 1").starts_with(fresh.trim_end())
    }));
    // What Clark queued while cut went out when the links came back.
    assert!(wait_until(Duration::from_secs(15), || {
        status_json(&herd).0["converged"] == true
    }));
}

#[test]
fn link_refuses_what_the_config_does_not_have() {
    let herd = Herd::default_topology();
    let output = herd.herdctl(&["link", "Clark", "Bailey", "down"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("not linked"), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "one line: {message}");

    let output = herd.herdctl(&["link", "Clark", "Nobody", "down"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("Nobody"), "{}", stderr(&output));

    let output = herd.herdctl(&["send", "Nobody", "IAMAT a +1+1 1"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn status_fails_fast_when_a_node_is_dead_or_hangs() {
    let mut herd = Herd::with_topology(&["A", "B", "C"], &[("A", "B"), ("B", "C")], "");
    herd.start("A");
    herd.start("B");
    // C's admin address is held by a listener that never answers: a hung node.
    let hung = TcpListener::bind(herd.node("C").admin).expect("bind C's admin port");
    herd.kill("B");

    let started = Instant::now();
    let (status, output) = status_json(&herd);
    let took = started.elapsed();
    assert!(!output.status.success(), "status must fail: {status}");
    assert!(took < Duration::from_secs(5), "status took {took:?}");
    assert_eq!(node(&status, "A")["reachable"], true);
    for name in ["B", "C"] {
        let node = node(&status, name);
        assert_eq!(node["reachable"], false, "{node}");
        assert!(
            node["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{node}"
        );
    }
    assert_eq!(status["converged"], false);
    drop(hung);
}

#[test]
fn status_needs_the_admin_token_when_the_herd_has_one() {
    let mut herd = Herd::with_topology(&["A"], &[], "admin_token = \"sesame\"");
    herd.start("A");
    // herdctl reads the token from the same config.
    let (status, output) = status_json(&herd);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(node(&status, "A")["reachable"], true);
    // A wrong token in the environment overrides the config's, and fails.
    let output = herd.herdctl_env(&["status", "--json"], &[("HERD_ADMIN_TOKEN", "wrong")]);
    assert!(!output.status.success());
    let status: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let a = node(&status, "A");
    assert_eq!(a["reachable"], false);
    assert!(a["error"].as_str().unwrap_or("").contains("token"), "{a}");
}

#[test]
fn watch_prints_the_merged_event_stream_as_json_lines() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "");
    herd.start_all_connected();
    let mut watch = Command::new(binary("herdctl"))
        .args(["watch", "--json", "--config"])
        .arg(&herd.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start watch");
    // Wait until both subscriptions are in place (reported on stderr).
    let mut errors = BufReader::new(watch.stderr.take().expect("stderr"));
    let mut watching = 0;
    let mut line = String::new();
    while watching < 2 {
        line.clear();
        assert!(errors.read_line(&mut line).unwrap_or(0) > 0, "watch ended");
        if line.contains("watching") {
            watching += 1;
        }
    }
    let at = one_shot(herd.client_addr("A"), &iamat("seen", "+1+1", now_text()));
    let mut events = BufReader::new(watch.stdout.take().expect("stdout"));
    let mut seen_request = false;
    let mut seen_flood_in = false;
    while !(seen_request && seen_flood_in) {
        line.clear();
        assert!(events.read_line(&mut line).unwrap_or(0) > 0, "watch ended");
        let event: Value = serde_json::from_str(&line).expect("a JSON line");
        match (event["node"].as_str(), event["event"].as_str()) {
            (Some("A"), Some("request")) => {
                assert_eq!(event["reply"], at.trim_end());
                seen_request = true;
            }
            (Some("B"), Some("flood_in")) => {
                assert_eq!(event["peer"], "A");
                assert_eq!(event["at"], at.trim_end());
                seen_flood_in = true;
            }
            _ => {}
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
}

fn alive(pid: u64) -> bool {
    // A zombie still has a /proc entry; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

fn node_pids(herd: &Herd) -> Vec<u64> {
    herd.nodes
        .iter()
        .map(|n| herd.snapshot(&n.name)["pid"].as_u64().unwrap_or(0))
        .collect()
}

#[test]
fn up_starts_every_node_as_a_process_and_stops_them_all_on_sigterm() {
    let herd = Herd::default_topology();
    let mut up = Up::start(&herd);
    up.wait_running();
    herd.wait_connected();
    let (status, output) = status_json(&herd);
    assert!(output.status.success(), "{status}");
    let pids = node_pids(&herd);
    let mut distinct = pids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "five processes: {pids:?}");
    assert!(!pids.contains(&u64::from(up.child.id())));
    assert!(pids.iter().all(|&pid| alive(pid)));
    // Each node's start-up line is shown with its name.
    assert!(
        up.wait_for_output("[Clark] herd-node: node Clark", Duration::from_secs(5)),
        "{}",
        up.output()
    );

    up.signal("-TERM");
    up.assert_exits(true, Duration::from_secs(15));
    assert!(pids.iter().all(|&pid| !alive(pid)), "a node outlived up");
    // The output is read by threads that may lag the exit a little.
    assert!(
        up.wait_for_output("stopped 5 nodes", Duration::from_secs(5)),
        "{}",
        up.output()
    );
}

#[test]
fn up_reports_a_node_that_dies_and_fails_when_it_stops() {
    let herd = Herd::with_topology(&["A", "B", "C"], &[("A", "B"), ("B", "C")], "");
    let mut up = Up::start(&herd);
    up.wait_running();
    let pids = node_pids(&herd);
    let b = pids[1];
    let _ = Command::new("kill")
        .args(["-KILL", &b.to_string()])
        .status();
    assert!(
        up.wait_for_output("node B exited", Duration::from_secs(10)),
        "{}",
        up.output()
    );
    up.signal("-INT");
    up.assert_exits(false, Duration::from_secs(15));
    assert!(pids.iter().all(|&pid| !alive(pid)));
}

#[test]
fn up_stops_what_it_started_when_a_node_cannot_start() {
    let herd = Herd::with_topology(&["A", "B", "C"], &[("A", "B"), ("B", "C")], "");
    let taken = TcpListener::bind(herd.client_addr("C")).expect("bind C's client port");
    let mut up = Up::start(&herd);
    up.assert_exits(false, Duration::from_secs(30));
    let output = up.output();
    assert!(output.contains("node C exited during start-up"), "{output}");
    assert!(
        output.contains("cannot listen on client address"),
        "{output}"
    );
    // Nothing is left running: A's and B's admin ports are free again.
    for name in ["A", "B"] {
        assert!(
            wait_until(Duration::from_secs(5), || TcpListener::bind(
                herd.node(name).admin
            )
            .is_ok()),
            "{name} is still running"
        );
    }
    drop(taken);
}

#[test]
fn up_stops_cleanly_when_told_to_during_start_up() {
    let herd = Herd::with_topology(&["A", "B", "C"], &[("A", "B"), ("B", "C")], "");
    let mut up = Up::start(&herd);
    // Its signal handlers are in place once it says it is starting.
    assert!(
        up.wait_for_output("starting herd", Duration::from_secs(10)),
        "{}",
        up.output()
    );
    up.signal("-TERM");
    up.assert_exits(true, Duration::from_secs(15));
    for name in ["A", "B", "C"] {
        assert!(
            wait_until(Duration::from_secs(5), || TcpListener::bind(
                herd.node(name).admin
            )
            .is_ok()),
            "{name} is still running: {}",
            up.output()
        );
    }
}

#[test]
fn up_refuses_to_start_over_a_running_herd() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "");
    herd.start("B");
    let mut up = Up::start(&herd);
    up.assert_exits(false, Duration::from_secs(30));
    let output = up.output();
    assert!(output.contains("node B is already running"), "{output}");
    // Nothing was started: A's ports are free, B is still the one we ran.
    assert!(TcpListener::bind(herd.node("A").admin).is_ok(), "{output}");
    assert_eq!(herd.snapshot("B")["pid"], herd.pid("B"));
}

#[test]
fn nodes_started_by_up_stop_when_up_is_killed() {
    let herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "");
    let mut up = Up::start(&herd);
    up.wait_running();
    let pids = node_pids(&herd);
    up.signal("-KILL");
    assert!(up.wait(Duration::from_secs(5)).is_some());
    assert!(
        wait_until(Duration::from_secs(10), || pids
            .iter()
            .all(|&pid| !alive(pid))),
        "nodes outlived a killed up"
    );
}
