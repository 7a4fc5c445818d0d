//! The admin port of real nodes (docs/admin-protocol.md): snapshot, records,
//! the event stream, operator link changes, the token gate.

use std::time::Duration;

use herd_blackbox::*;
use serde_json::{Value, json};

#[test]
fn snapshot_describes_the_node_its_links_and_its_counters() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let before = herd.snapshot("Clark");
    assert_eq!(before["schema"], 1);
    assert_eq!(before["node"], "Clark");
    assert_eq!(before["herd"], herd.herd_name.as_str());
    let clark = herd.node("Clark").clone();
    assert_eq!(before["addresses"]["client"], clark.client.to_string());
    assert_eq!(before["addresses"]["peer"], clark.peer.to_string());
    assert_eq!(before["addresses"]["admin"], clark.admin.to_string());
    assert_eq!(link_peers(&before), ["Bona", "Jaquez"]);
    for link in before["links"].as_array().into_iter().flatten() {
        assert_eq!(link["admin"], "up", "{link}");
        assert_eq!(link["state"], "connected", "{link}");
        assert_eq!(link["connected"], true, "{link}");
        assert_eq!(link["queue"], 0, "{link}");
        assert!(
            link["peer_boot_id"].as_str().is_some_and(|b| !b.is_empty()),
            "{link}"
        );
    }
    assert_eq!(before["digest"].as_str().map(str::len), Some(16));

    let at = one_shot(clark.client, &iamat("kiwi", "+34-118", now_text()));
    assert!(at.starts_with("AT Clark"), "{at}");
    one_shot(clark.client, "what is this");
    let after = herd.snapshot("Clark");
    let counter = |s: &Value, name: &str| s["counters"][name].as_u64().unwrap_or(0);
    assert_eq!(
        counter(&after, "iamat_accepted") - counter(&before, "iamat_accepted"),
        1
    );
    assert_eq!(
        counter(&after, "questions") - counter(&before, "questions"),
        1
    );
    assert_eq!(
        counter(&after, "client_lines") - counter(&before, "client_lines"),
        2
    );
    assert_eq!(
        counter(&after, "floods_out") - counter(&before, "floods_out"),
        2,
        "one copy to each of Clark's two peers"
    );
    assert_eq!(
        after["records"].as_u64(),
        before["records"].as_u64().map(|n| n + 1)
    );
    assert_ne!(after["digest"], before["digest"]);
    let sent: u64 = after["links"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["bytes_out"].as_u64().unwrap_or(0))
        .sum();
    assert!(sent > 0);
}

#[test]
fn digests_agree_once_updates_have_flooded_and_records_page_in_client_order() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let clark = herd.client_addr("Clark");
    for i in 0..25 {
        one_shot(clark, &iamat(&format!("page-{i:02}"), "+1+2", now_text()));
    }
    let converged = wait_until(Duration::from_secs(15), || {
        let digests: Vec<Value> = DEFAULT_NODES
            .iter()
            .map(|n| herd.snapshot(n)["digest"].clone())
            .collect();
        digests.iter().all(|d| *d == digests[0])
    });
    assert!(converged, "digests never agreed");

    // Page through Bailey's records with a prefix, 10 at a time.
    let mut admin = herd.admin("Bailey");
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let mut request = json!({"cmd": "records", "prefix": "page-", "limit": 10});
        if !after.is_null() {
            request["after"] = after.clone();
        }
        let response = admin.request(request);
        assert_eq!(response["ok"], true, "{response}");
        let page = &response["result"];
        assert_eq!(page["matching"], 25);
        for record in page["records"].as_array().into_iter().flatten() {
            assert_eq!(record["received_by"], "Clark");
            assert_eq!(record["position"], "+1+2");
            let at = record["at"].as_str().unwrap_or_default();
            assert!(at.starts_with("AT Clark "), "{record}");
            assert!(at.ends_with(record["client_time"].as_str().unwrap_or("?")));
            seen.push(record["client"].as_str().unwrap_or_default().to_owned());
        }
        match page.get("next") {
            Some(next) if !next.is_null() => after = next.clone(),
            _ => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("page-{i:02}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn subscribers_see_requests_floods_and_record_changes_in_sequence() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let mut clark = herd.admin("Clark");
    let mut bona = herd.admin("Bona");
    for admin in [&mut clark, &mut bona] {
        let response = admin.request(json!({"cmd": "subscribe"}));
        assert_eq!(response["ok"], true, "{response}");
    }
    let line = iamat("watched", "+34-118", now_text());
    let at = one_shot(herd.client_addr("Clark"), &line);
    let at = at.trim_end();

    let mut kinds = Vec::new();
    let mut last_seq = 0;
    while !kinds.contains(&"request".to_owned()) {
        let event = clark.next_event();
        let seq = event["seq"].as_u64().unwrap_or(0);
        assert!(seq > last_seq, "sequence numbers grow: {event}");
        last_seq = seq;
        assert!(event["ts_us"].as_u64().unwrap_or(0) > 0, "{event}");
        let kind = event["event"].as_str().unwrap_or_default().to_owned();
        match kind.as_str() {
            "request" => {
                assert_eq!(event["line"], line.as_str());
                assert_eq!(event["reply"], at);
            }
            "flood_out" => {
                assert_eq!(event["client"], "watched");
                assert_eq!(event["at"], at);
                let mut to: Vec<&str> = event["peers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                to.sort();
                assert_eq!(to, ["Bona", "Jaquez"]);
            }
            "records" => assert_eq!(event["client"], "watched"),
            _ => {}
        }
        kinds.push(kind);
    }
    assert!(kinds.contains(&"records".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"flood_out".to_owned()), "{kinds:?}");

    // Bona hears it from Clark (and perhaps first the long way round, via
    // Jaquez and Campbell: flooding does not order copies); the first copy
    // wins there and every later one is a duplicate.
    let mut copies = Vec::new();
    while !copies.iter().any(|e: &Value| e["peer"] == "Clark") {
        let event = bona.next_event();
        if event["event"] == "flood_in" && event["client"] == "watched" {
            assert_eq!(event["at"], at, "{event}");
            copies.push(event);
        }
    }
    let won: Vec<bool> = copies.iter().map(|e| e["won"] == true).collect();
    assert!(won[0] && !won[1..].contains(&true), "{copies:?}");
}

#[test]
fn a_subscription_by_kind_carries_only_those_events() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "");
    herd.start_all_connected();
    let mut admin = herd.admin("B");
    let refused = admin.request(json!({"cmd": "subscribe", "kinds": ["records", "weather"]}));
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["code"], "bad_request", "{refused}");
    let response = admin.request(json!({"cmd": "subscribe", "kinds": ["records"]}));
    assert_eq!(response["ok"], true, "{response}");
    // Flooded from A: B sees the merge, and neither the flood in nor a
    // request (it asked for neither).
    for i in 0..3 {
        let at = one_shot(
            herd.client_addr("A"),
            &iamat(&format!("kind-{i}"), "+1+1", now_text()),
        );
        assert!(at.starts_with("AT A "), "{at}");
    }
    let one_shot_at_b = one_shot(herd.client_addr("B"), &iamat("kind-b", "+1+1", now_text()));
    assert!(one_shot_at_b.starts_with("AT B "), "{one_shot_at_b}");
    let mut clients = Vec::new();
    while clients.len() < 4 {
        let event = admin.next_event();
        assert_eq!(
            event["event"], "records",
            "only what was asked for: {event}"
        );
        clients.push(event["client"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(clients, ["kind-0", "kind-1", "kind-2", "kind-b"]);
}

#[test]
fn an_operator_cut_stops_traffic_survives_a_restart_and_can_be_undone() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "");
    herd.start_all_connected();
    let mut watcher = herd.admin("B");
    watcher.request(json!({"cmd": "subscribe"}));

    let response = herd
        .admin("A")
        .request(json!({"cmd": "link", "peer": "B", "state": "down"}));
    assert_eq!(response["ok"], true, "{response}");
    assert_eq!(response["result"]["changed"], true);
    // The cut holds as soon as the node has answered: an update sent right
    // after it stays on A.
    let at = one_shot(
        herd.client_addr("A"),
        &iamat("right-after", "+1+1", now_text()),
    );
    assert!(at.starts_with("AT A "), "{at}");
    let link = herd.link_status("A", "B");
    assert_eq!(link["admin"], "down");
    assert_eq!(link["state"], "down");
    // B sees the connection go; A does not dial again while the link is
    // cut, and refuses B's dials.
    let down = loop {
        let event = watcher.next_event();
        if event["event"] == "link" {
            break event;
        }
    };
    assert_eq!(down["peer"], "A");
    assert_eq!(down["change"], "down");
    assert!(wait_until(Duration::from_secs(5), || {
        herd.link_status("B", "A")["connected"] == false
    }));

    let at = one_shot(herd.client_addr("A"), &iamat("cut-off", "+1+1", now_text()));
    assert!(at.starts_with("AT A "), "{at}");
    std::thread::sleep(Duration::from_millis(500));
    for client in ["right-after", "cut-off"] {
        assert!(
            one_shot(herd.client_addr("B"), &format!("WHATSAT {client} 1 1")).starts_with("? "),
            "{client} crossed a cut link"
        );
    }

    // The cut is remembered across a restart.
    assert!(herd.terminate("A").success());
    herd.start("A");
    let link = herd.link_status("A", "B");
    assert_eq!(link["admin"], "down", "{link}");
    assert!(
        herd.stderr("A").contains("cut by the operator"),
        "{}",
        herd.stderr("A")
    );

    // Restoring lets traffic through again.
    let response = herd
        .admin("A")
        .request(json!({"cmd": "link", "peer": "B", "state": "up"}));
    assert_eq!(response["ok"], true, "{response}");
    herd.wait_connected();
    let at = one_shot(
        herd.client_addr("A"),
        &iamat("after-heal", "+1+1", now_text()),
    );
    assert!(wait_until(Duration::from_secs(10), || {
        one_shot(herd.client_addr("B"), "WHATSAT after-heal 1 1").starts_with(at.trim_end())
    }));

    // Unknown peers are an error that names the real ones.
    let response = herd
        .admin("A")
        .request(json!({"cmd": "link", "peer": "Nobody", "state": "down"}));
    assert_eq!(response["ok"], false);
    assert!(
        response["error"].as_str().unwrap_or("").contains("B"),
        "{response}"
    );
}

#[test]
fn bad_requests_get_errors_and_the_connection_stays_usable() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.start("A");
    let mut admin = herd.admin("A");
    admin.send_line("this is not json");
    let response = admin.read_json();
    assert_eq!(response["ok"], false);
    assert!(
        response["error"].as_str().unwrap_or("").contains("JSON"),
        "{response}"
    );
    let response = admin.request(json!({"cmd": "reboot"}));
    assert_eq!(response["ok"], false);
    assert!(
        response["error"].as_str().unwrap_or("").contains("reboot"),
        "{response}"
    );
    let response = admin.request(json!({"cmd": "snapshot"}));
    assert_eq!(response["ok"], true);
    assert_eq!(response["result"]["node"], "A");

    // An over-long request: one error, then the node closes.
    admin.send_line(&format!("{{\"id\":9,\"cmd\":\"{}\"}}", "x".repeat(70_000)));
    let response = admin.read_json();
    assert_eq!(response["ok"], false);
    assert_eq!(response["code"], "bad_request");
    assert!(admin.read_to_end().is_empty());
}

#[test]
fn with_a_token_a_silent_connection_is_closed_after_ten_seconds() {
    let mut herd = Herd::with_topology(&["A"], &[], "admin_token = \"t\"");
    herd.start("A");
    let mut admin = herd.admin("A");
    // Longer than the node's 10 s, so the node is the one that gives up.
    admin.set_read_timeout(Duration::from_secs(30));
    let started = std::time::Instant::now();
    let response = admin.read_json();
    assert_eq!(response["ok"], false);
    assert_eq!(response["code"], "auth_required");
    assert!(admin.read_to_end().is_empty());
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "closed too early"
    );
}

#[test]
fn with_a_token_nothing_is_served_before_it() {
    let mut herd = Herd::with_topology(&["A"], &[], "admin_token = \"from-config\"");
    herd.start("A");

    // No auth first: an error, then the node closes the connection.
    let mut admin = herd.admin("A");
    admin.send_line(r#"{"id":1,"cmd":"snapshot"}"#);
    let response = admin.read_json();
    assert_eq!(response["ok"], false);
    assert!(response.get("result").is_none());
    assert_eq!(response["code"], "auth_required");
    assert!(
        response["error"].as_str().unwrap_or("").contains("token"),
        "{response}"
    );
    assert!(
        admin.read_to_end().is_empty(),
        "served something after refusing"
    );

    // A wrong token: refused and closed.
    let mut admin = herd.admin("A");
    let response = admin.request(json!({"cmd": "auth", "token": "guess"}));
    assert_eq!(response["ok"], false);
    assert_eq!(response["code"], "auth_failed");
    assert!(admin.read_to_end().is_empty());

    // The right one: then everything works.
    let mut admin = herd.admin("A");
    let response = admin.request(json!({"cmd": "auth", "token": "from-config"}));
    assert_eq!(response["ok"], true, "{response}");
    assert_eq!(response["result"]["schema"], 1);
    let response = admin.request(json!({"cmd": "snapshot"}));
    assert_eq!(response["result"]["node"], "A");
}

#[test]
fn the_admin_token_from_the_environment_overrides_the_config() {
    let mut herd = Herd::with_topology(&["A"], &[], "admin_token = \"from-config\"");
    herd.start_with_env("A", &[("HERD_ADMIN_TOKEN", "from-env")]);
    let response = herd
        .admin("A")
        .request(json!({"cmd": "auth", "token": "from-config"}));
    assert_eq!(response["ok"], false);
    let response = herd
        .admin("A")
        .request(json!({"cmd": "auth", "token": "from-env"}));
    assert_eq!(response["ok"], true);
}

#[test]
fn a_subscriber_that_stops_reading_loses_events_not_the_node() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.start("A");
    let mut stalled = herd.admin("A");
    stalled.request(json!({"cmd": "subscribe"}));

    // Far more events than the node buffers plus what the socket holds.
    let mut session = Session::connect(herd.client_addr("A"));
    let total = 30_000;
    let mut batch = String::new();
    for i in 0..total {
        batch.push_str(&iamat(&format!("flood-{i}"), "+1+1", now_text()));
        batch.push('\n');
    }
    session.send(batch.as_bytes());
    for _ in 0..total {
        assert!(session.read_line().starts_with("AT A "));
    }
    // The node still answers everyone else while the subscriber sleeps.
    let at = one_shot(
        herd.client_addr("A"),
        &iamat("still-alive", "+1+1", now_text()),
    );
    assert!(at.starts_with("AT A "), "{at}");

    // The subscriber learns, when it reads again, how much it lost.
    let lagged = loop {
        let event = stalled.next_event();
        if event["event"] == "lagged" {
            break event;
        }
    };
    assert!(lagged["missed"].as_u64().unwrap_or(0) > 0, "{lagged}");
    assert!(
        herd.snapshot("A")["counters"]["events_dropped"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
}

#[test]
fn a_subscriber_that_keeps_reading_gets_every_event_or_is_told_what_it_missed() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.start("A");
    let mut watcher = herd.admin("A");
    watcher.request(json!({"cmd": "subscribe"}));
    // A burst: many events reach the subscriber in full batches.
    let mut session = Session::connect(herd.client_addr("A"));
    let total = 3000;
    let mut batch = String::new();
    for i in 0..total {
        batch.push_str(&iamat(&format!("burst-{i}"), "+1+1", now_text()));
        batch.push('\n');
    }
    session.send(batch.as_bytes());
    let last_line = format!("burst-{}", total - 1);
    let mut expected_seq = None;
    let mut requests = 0;
    loop {
        let event = watcher.next_event();
        if event["event"] == "lagged" {
            // Told: the next event's sequence number jumps by this much.
            let missed = event["missed"].as_u64().unwrap_or(0);
            expected_seq = expected_seq.map(|seq: u64| seq + missed);
            continue;
        }
        let seq = event["seq"].as_u64().unwrap_or(0);
        if let Some(expected) = expected_seq {
            assert_eq!(
                seq, expected,
                "an event went missing without a lagged event"
            );
        }
        expected_seq = Some(seq + 1);
        if event["event"] == "request" {
            requests += 1;
            if event["line"].as_str().unwrap_or("").contains(&last_line) {
                break;
            }
        }
    }
    assert!(requests > 0);
}
