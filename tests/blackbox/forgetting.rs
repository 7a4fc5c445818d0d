//! Forgetting (contract section 11): `herdctl forget` and its tombstones,
//! record expiry, and no resurrection by a node that was away.

use std::time::Duration;

use herd_blackbox::*;

fn first_line(herd: &Herd, node: &str, request: &str) -> String {
    let reply = one_shot(herd.client_addr(node), request);
    reply.lines().next().unwrap_or_default().to_owned()
}

fn whatsat(herd: &Herd, node: &str, client: &str) -> String {
    first_line(herd, node, &format!("WHATSAT {client} 10 1"))
}

fn herdctl_ok(herd: &Herd, args: &[&str]) -> String {
    let out = herd.herdctl(args);
    assert!(
        out.status.success(),
        "herdctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn converged(herd: &Herd) -> bool {
    let out = herd.herdctl(&["status", "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .is_ok_and(|report| report["converged"] == true)
}

/// The files of `node`'s data directory that hold `needle`, but for the
/// node log (which holds client lines by design: `[log] keep`).
fn files_holding(herd: &Herd, node: &str, needle: &str) -> Vec<String> {
    herd.files_of(node, "")
        .into_iter()
        .filter(|file| !file.starts_with("node."))
        .filter(|file| {
            std::fs::read(herd.data_dir().join(node).join(file)).is_ok_and(|bytes| {
                bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
            })
        })
        .collect()
}

fn seconds_ago(seconds: u64) -> String {
    let now: f64 = now_text().parse().unwrap_or(0.0);
    format!("{:.9}", now - seconds as f64)
}

#[test]
fn a_forget_during_a_partition_reaches_the_other_side_at_the_heal_and_nothing_comes_back() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let victim = "victim.forget.example";
    let at = one_shot(
        herd.client_addr("Clark"),
        &iamat(victim, "+1+1", now_text()),
    );
    assert!(at.starts_with("AT Clark "), "{at}");
    let stored = at.trim_end().to_owned();
    let bystander = one_shot(
        herd.client_addr("Clark"),
        &iamat("bystander", "+2+2", now_text()),
    );
    assert!(
        wait_until(Duration::from_secs(10), || DEFAULT_NODES
            .iter()
            .all(|node| whatsat(&herd, node, victim) == stored)),
        "the victim's record did not reach every node"
    );
    // Clark on its own; the forget goes to the other side.
    herdctl_ok(&herd, &["link", "Clark", "Jaquez", "down"]);
    herdctl_ok(&herd, &["link", "Clark", "Bona", "down"]);
    let said = herdctl_ok(&herd, &["forget", victim, "--node", "Bailey"]);
    assert!(
        said.starts_with("Bailey: ") && said.contains("forgotten up to"),
        "{said}"
    );
    let others = ["Bailey", "Bona", "Campbell", "Jaquez"];
    assert!(
        wait_until(Duration::from_secs(5), || others
            .iter()
            .all(|node| whatsat(&herd, node, victim).starts_with("? "))),
        "the forget did not reach the connected side"
    );
    assert_eq!(whatsat(&herd, "Clark", victim), stored, "Clark is cut off");
    // An update older than the forget is refused; the stored line is gone.
    let old = format!("IAMAT {victim} +5+5 {}", seconds_ago(30));
    assert_eq!(first_line(&herd, "Bona", &old), format!("? {old}"));
    // Within 10 s, neither the id nor the positions are in their files.
    assert!(
        wait_until(Duration::from_secs(10), || others
            .iter()
            .all(|node| files_holding(&herd, node, victim).is_empty())),
        "still in the files: {:?}",
        others
            .iter()
            .map(|node| (node, files_holding(&herd, node, victim)))
            .collect::<Vec<_>>()
    );
    assert!(!files_holding(&herd, "Clark", victim).is_empty());
    // The heal: repair takes the tombstone to Clark, and Clark's record
    // does not come back to the others.
    herdctl_ok(&herd, &["link", "Clark", "Jaquez", "up"]);
    herdctl_ok(&herd, &["link", "Clark", "Bona", "up"]);
    assert!(
        wait_until(Duration::from_secs(15), || converged(&herd)
            && DEFAULT_NODES
                .iter()
                .all(|node| whatsat(&herd, node, victim).starts_with("? "))),
        "the herd did not converge on the forget"
    );
    assert!(
        wait_until(Duration::from_secs(10), || files_holding(
            &herd, "Clark", victim
        )
        .is_empty()),
        "Clark's files still hold the client: {:?}",
        files_holding(&herd, "Clark", victim)
    );
    for node in DEFAULT_NODES {
        assert_eq!(
            whatsat(&herd, node, "bystander"),
            bystander.trim_end(),
            "{node}"
        );
        let snapshot = herd.snapshot(node);
        assert_eq!(snapshot["tombstones"], 1, "{node}: {snapshot}");
    }
    // A newer update is a new record, everywhere.
    let again = one_shot(
        herd.client_addr("Clark"),
        &iamat(victim, "+3+3", now_text()),
    );
    assert!(again.starts_with("AT Clark "), "{again}");
    assert!(
        wait_until(Duration::from_secs(10), || DEFAULT_NODES
            .iter()
            .all(|node| whatsat(&herd, node, victim) == again.trim_end())),
        "the new record did not spread"
    );
    // Forgetting again forgets up to a later moment: a new tombstone.
    let json = herdctl_ok(&herd, &["forget", victim, "--json"]);
    let result: serde_json::Value = serde_json::from_str(json.trim()).unwrap_or_default();
    assert_eq!(result["new"], true, "{json}");
    assert_eq!(result["had_record"], true, "{json}");
    assert_eq!(
        result["client_hash"].as_str().map(str::len),
        Some(32),
        "{json}"
    );
}

#[test]
fn forget_fails_cleanly_when_no_node_answers() {
    let herd = Herd::default_topology();
    let out = herd.herdctl(&["forget", "someone"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("someone not forgotten: no node took the forget (Bailey: ")
            && stderr.contains("Jaquez: "),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    let out = herd.herdctl(&["forget", "someone", "--node", "Nobody"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown node is a usage error"
    );
    let out = herd.herdctl(&["forget", "two words"]);
    assert_eq!(out.status.code(), Some(2), "not a client id");
}

#[test]
fn records_older_than_the_ttl_are_gone_and_stay_gone_after_a_restart() {
    let mut herd = Herd::with_topology(&["Alpha", "Beta"], &[("Alpha", "Beta")], "");
    herd.add_config_table("[records]\nttl = \"4s\"");
    herd.start_all_connected();
    // Already older than the ttl: refused.
    let stale = format!("IAMAT stale +1+1 {}", seconds_ago(10));
    assert_eq!(first_line(&herd, "Alpha", &stale), format!("? {stale}"));
    let at = one_shot(
        herd.client_addr("Alpha"),
        &iamat("fleeting", "+1+1", now_text()),
    );
    assert!(at.starts_with("AT Alpha "), "{at}");
    assert!(
        wait_until(Duration::from_secs(5), || whatsat(
            &herd, "Beta", "fleeting"
        ) == at.trim_end()),
        "the record did not reach Beta"
    );
    herd.kill("Alpha");
    std::thread::sleep(Duration::from_secs(5));
    herd.start("Alpha");
    for node in ["Alpha", "Beta"] {
        assert!(
            whatsat(&herd, node, "fleeting").starts_with("? "),
            "{node} still answers an expired record"
        );
        // Everything was older than the ttl by now (wait_connected's
        // probes too): nothing is held, on the restarted node nor on the
        // other.
        let snapshot = herd.snapshot(node);
        assert_eq!(snapshot["records"], 0, "{node}: {snapshot}");
    }
    // A fresh record lives on.
    let fresh = one_shot(
        herd.client_addr("Beta"),
        &iamat("fresh", "+1+1", now_text()),
    );
    assert!(
        wait_until(Duration::from_secs(5), || whatsat(&herd, "Alpha", "fresh")
            == fresh.trim_end()),
        "a fresh record did not spread after the restart"
    );
}

#[test]
fn a_node_down_past_the_tombstone_horizon_returns_without_bringing_the_client_back() {
    let mut herd = Herd::with_topology(
        &["Alpha", "Beta", "Gamma"],
        &[("Alpha", "Beta"), ("Beta", "Gamma")],
        "",
    );
    herd.add_config_table("[records]\ntombstone_ttl = \"3s\"");
    herd.start_all_connected();
    let victim = "victim.horizon.example";
    let at = one_shot(
        herd.client_addr("Alpha"),
        &iamat(victim, "+1+1", now_text()),
    );
    let keeper = one_shot(
        herd.client_addr("Alpha"),
        &iamat("keeper", "+2+2", now_text()),
    );
    assert!(
        wait_until(Duration::from_secs(10), || whatsat(&herd, "Gamma", victim)
            == at.trim_end()
            && whatsat(&herd, "Gamma", "keeper") == keeper.trim_end()),
        "the records did not reach Gamma"
    );
    // Gamma has it on disk, and goes away.
    herd.kill("Gamma");
    herdctl_ok(&herd, &["forget", victim, "--node", "Alpha"]);
    assert!(
        wait_until(Duration::from_secs(5), || whatsat(&herd, "Beta", victim)
            .starts_with("? ")),
        "the forget did not reach Beta"
    );
    // Longer away than the tombstones live: they are gone everywhere.
    assert!(
        wait_until(Duration::from_secs(10), || ["Alpha", "Beta"]
            .iter()
            .all(|node| herd.snapshot(node)["tombstones"] == 0)),
        "the tombstones were not dropped after tombstone_ttl"
    );
    std::thread::sleep(Duration::from_secs(1));
    herd.start("Gamma");
    assert!(
        herd.log_shows("Gamma", "discarded"),
        "Gamma did not say it discarded its old records: {}",
        herd.log("Gamma")
    );
    assert!(
        wait_until(Duration::from_secs(15), || converged(&herd)
            && whatsat(&herd, "Gamma", "keeper") == keeper.trim_end()),
        "Gamma did not take back the live records"
    );
    // Repair rounds after the heal must not bring the client back.
    std::thread::sleep(Duration::from_secs(2));
    for node in ["Alpha", "Beta", "Gamma"] {
        assert!(
            whatsat(&herd, node, victim).starts_with("? "),
            "{node} has the forgotten client back"
        );
        assert_eq!(whatsat(&herd, node, "keeper"), keeper.trim_end(), "{node}");
    }
    assert!(files_holding(&herd, "Gamma", victim).is_empty());
}

#[test]
fn the_admin_forget_command_refuses_what_is_no_client_id() {
    let mut herd = Herd::with_topology(&["Solo"], &[], "");
    herd.start("Solo");
    let mut admin = herd.admin("Solo");
    let long = "x".repeat(257);
    for client in ["", "two words", long.as_str()] {
        let response = admin.request(serde_json::json!({"cmd": "forget", "client": client}));
        assert_eq!(response["ok"], false, "{client:?}: {response}");
        assert_eq!(response["code"], "bad_request", "{response}");
    }
    let response = admin.request(serde_json::json!({"cmd": "forget", "client": "nobody"}));
    assert_eq!(response["ok"], true, "{response}");
    assert_eq!(response["result"]["had_record"], false, "{response}");
    assert_eq!(response["result"]["node"], "Solo", "{response}");
    // A forget of a client never seen still refuses its older updates.
    let old = format!("IAMAT nobody +1+1 {}", seconds_ago(5));
    assert_eq!(first_line(&herd, "Solo", &old), format!("? {old}"));
    let new = one_shot(
        herd.client_addr("Solo"),
        &iamat("nobody", "+1+1", now_text()),
    );
    assert!(new.starts_with("AT Solo "), "{new}");
}
