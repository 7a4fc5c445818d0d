//! WHATSAT with the Google backend, against a local stand-in that speaks
//! Google's HTTP format (tests/support/google_stand_in.rs): what the node
//! asks, what the client gets, and that the node never stalls or leaks the
//! key.

use std::time::{Duration, Instant};

use herd_blackbox::google_stand_in::{GoogleStandIn, Reply, SeenRequest};
use herd_blackbox::*;

const KEY: &str = "test-key-Zq81xW";

fn google_herd(stand_in: &GoogleStandIn, extra: &str) -> Herd {
    let places = format!(
        "\n[places]\nbackend = \"google\"\ngoogle_key = \"{KEY}\"\ngoogle_endpoint = \"{}\"\n{extra}\n",
        stand_in.endpoint()
    );
    let mut herd = Herd::with_topology(&["A"], &[], &places);
    herd.start("A");
    herd
}

/// Google's legacy answer with `count` places.
fn legacy_body(count: usize) -> String {
    let results: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            serde_json::json!({
                "geometry": {"location": {"lat": 34.0 + i as f64 / 100.0, "lng": -118.4}},
                "icon": "https://maps.gstatic.com/x.png",
                "name": format!("Place {i}"),
                "place_id": format!("id-{i}"),
                "types": ["cafe", "food"],
                "vicinity": format!("{i} Westwood Blvd"),
            })
        })
        .collect();
    let mut body = String::from(
        "{\n   \"html_attributions\" : [],\n   \"next_page_token\" : \"tok\",\n   \"results\" : ",
    );
    body.push_str(&serde_json::to_string_pretty(&results).unwrap_or_default());
    body.push_str(",\n   \"status\" : \"OK\"\n}\n");
    body
}

fn whatsat(herd: &Herd, line: &str) -> (String, serde_json::Value, String) {
    let reply = one_shot(herd.client_addr("A"), line);
    let (first, rest) = reply.split_once('\n').unwrap_or((&reply, ""));
    assert!(
        rest.ends_with("\n\n"),
        "reply must end with an empty line: {reply:?}"
    );
    let json_text = rest.trim_end_matches('\n');
    assert!(
        !json_text.contains("\n\n"),
        "no empty line inside: {reply:?}"
    );
    let json = serde_json::from_str(json_text).unwrap_or_else(|e| panic!("{e}: {reply:?}"));
    (first.to_owned(), json, json_text.to_owned())
}

fn locate(herd: &Herd, client: &str, position: &str) -> String {
    let at = one_shot(herd.client_addr("A"), &iamat(client, position, now_text()));
    assert!(at.starts_with("AT A "), "{at}");
    at.trim_end().to_owned()
}

#[test]
fn the_node_asks_google_with_its_key_position_and_radius_in_metres_and_trims() {
    let stand_in = GoogleStandIn::start(|_| Reply::json(legacy_body(6)));
    let herd = google_herd(&stand_in, "");
    let at = locate(&herd, "kiwi.cs.ucla.edu", "+34.068930-118.445127");
    let (first, json, text) = whatsat(&herd, "WHATSAT kiwi.cs.ucla.edu 10 3");
    assert_eq!(first, at);
    let requests = stand_in.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/maps/api/place/nearbysearch/json");
    assert_eq!(
        request.query.get("location").map(String::as_str),
        Some("34.06893,-118.445127")
    );
    assert_eq!(
        request.query.get("radius").map(String::as_str),
        Some("10000")
    );
    assert_eq!(request.query.get("key").map(String::as_str), Some(KEY));
    // Trimmed to the bound, in Google's order; everything else as sent.
    let names: Vec<&str> = json["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["Place 0", "Place 1", "Place 2"]);
    assert_eq!(json["status"], "OK");
    assert_eq!(json["results"][0]["icon"], "https://maps.gstatic.com/x.png");
    let keys: Vec<&String> = json
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        ["html_attributions", "next_page_token", "results", "status"]
    );
    assert!(!text.contains(KEY));
}

#[test]
fn google_error_statuses_reach_the_client_inside_the_json() {
    for status in ["REQUEST_DENIED", "OVER_QUERY_LIMIT", "INVALID_REQUEST"] {
        let body = format!(
            "{{\n   \"error_message\" : \"because {status}\",\n   \"html_attributions\" : [],\n   \"results\" : [],\n   \"status\" : \"{status}\"\n}}\n"
        );
        let stand_in = GoogleStandIn::start(move |_| Reply::json(body.clone()));
        let herd = google_herd(&stand_in, "");
        locate(&herd, "c", "+1+1");
        let (_, json, _) = whatsat(&herd, "WHATSAT c 5 5");
        assert_eq!(json["status"], status);
        assert_eq!(json["error_message"], format!("because {status}"));
        // Errors are not cached: asking again asks Google again.
        whatsat(&herd, "WHATSAT c 5 5");
        assert_eq!(stand_in.requests().len(), 2);
        let places = &herd.snapshot("A")["places"];
        assert_eq!(places["errors"], 2, "{places}");
    }
}

#[test]
fn a_slow_google_times_out_into_unknown_error_without_stalling_other_clients() {
    let stand_in = GoogleStandIn::start(|_| Reply {
        status: 200,
        body: legacy_body(1),
        delay: Duration::from_secs(4),
    });
    // A stall would hold the other client for the 2 s timeout at least.
    let herd = google_herd(&stand_in, "timeout = \"2s\"");
    locate(&herd, "slow", "+1+1");
    let addr = herd.client_addr("A");
    let asked = Instant::now();
    let waiting = std::thread::spawn(move || one_shot(addr, "WHATSAT slow 5 5"));
    // Meanwhile another client is answered at once.
    std::thread::sleep(Duration::from_millis(100));
    let quick = Instant::now();
    locate(&herd, "other", "+2+2");
    assert!(
        quick.elapsed() < Duration::from_secs(1),
        "{:?}",
        quick.elapsed()
    );
    let reply = waiting.join().unwrap_or_default();
    let took = asked.elapsed();
    assert!(took < Duration::from_millis(3500), "took {took:?}");
    let json: serde_json::Value = serde_json::from_str(
        reply
            .split_once('\n')
            .map(|(_, j)| j.trim_end())
            .unwrap_or(""),
    )
    .unwrap_or_default();
    assert_eq!(json["status"], "UNKNOWN_ERROR", "{reply}");
    assert!(
        json["error_message"]
            .as_str()
            .unwrap_or("")
            .contains("2000 ms"),
        "{reply}"
    );
    assert_eq!(json["results"], serde_json::json!([]));
}

#[test]
fn an_unreachable_endpoint_gives_unknown_error_and_never_shows_the_key() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    let places = format!(
        "\n[places]\nbackend = \"google\"\ngoogle_key = \"{KEY}\"\ngoogle_endpoint = \"http://127.0.0.1:{closed}\"\n"
    );
    let mut herd = Herd::with_topology(&["A"], &[], &places);
    herd.start("A");
    locate(&herd, "c", "+1+1");
    let (_, json, text) = whatsat(&herd, "WHATSAT c 5 5");
    assert_eq!(json["status"], "UNKNOWN_ERROR");
    assert!(
        json["error_message"]
            .as_str()
            .unwrap_or("")
            .contains("connect"),
        "{text}"
    );
    assert!(!text.contains(KEY));
    let snapshot = herd.snapshot("A").to_string();
    assert!(!snapshot.contains(KEY), "{snapshot}");
    assert!(!herd.log("A").contains(KEY), "key in the log");
    assert!(!herd.stderr("A").contains(KEY), "key on stderr");
    assert!(
        herd.stderr("A").contains("google places"),
        "{}",
        herd.stderr("A")
    );
}

#[test]
fn the_same_question_is_answered_from_the_cache() {
    let stand_in = GoogleStandIn::start(|_| Reply::json(legacy_body(4)));
    let herd = google_herd(&stand_in, "cache_ttl = \"60s\"");
    locate(&herd, "c", "+34.068930-118.445127");
    let (_, first, _) = whatsat(&herd, "WHATSAT c 10 3");
    let (_, second, _) = whatsat(&herd, "WHATSAT c 10 3");
    assert_eq!(first, second);
    assert_eq!(stand_in.requests().len(), 1);
    // Another bound is another question.
    let (_, other, _) = whatsat(&herd, "WHATSAT c 10 4");
    assert_eq!(other["results"].as_array().map(Vec::len), Some(4));
    assert_eq!(stand_in.requests().len(), 2);
    let places = &herd.snapshot("A")["places"];
    assert_eq!(places["backend"], "google");
    assert_eq!(places["requests"], 2, "{places}");
    assert_eq!(places["cache_hits"], 1, "{places}");
    assert_eq!(places["errors"], 0, "{places}");
}

#[test]
fn concurrent_whatsats_respect_the_request_limit_and_all_get_answers() {
    let stand_in = GoogleStandIn::start(|_| Reply {
        status: 200,
        body: legacy_body(2),
        delay: Duration::from_millis(150),
    });
    let herd = google_herd(&stand_in, "max_concurrent = 2\ncache_ttl = \"0s\"");
    for i in 0..8 {
        locate(&herd, &format!("c{i}"), &format!("+{i}+{i}"));
    }
    let addr = herd.client_addr("A");
    let replies: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|i| scope.spawn(move || one_shot(addr, &format!("WHATSAT c{i} 5 2"))))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for reply in &replies {
        assert!(reply.contains("\"status\": \"OK\""), "{reply}");
    }
    assert_eq!(stand_in.requests().len(), 8);
    assert!(
        stand_in.most_in_flight() <= 2,
        "{} at once",
        stand_in.most_in_flight()
    );
    assert_eq!(stand_in.in_flight(), 0);
}

#[test]
fn the_places_api_new_is_asked_by_post_and_answers_in_the_legacy_shape() {
    let stand_in = GoogleStandIn::start(|request: &SeenRequest| {
        assert_eq!(request.method, "POST");
        Reply::json(
            r#"{"places":[{"id":"p1","displayName":{"text":"Royce Hall"},"location":{"latitude":34.0729,"longitude":-118.4422},"types":["university"],"shortFormattedAddress":"340 Royce Dr"},
                          {"id":"p2","displayName":{"text":"Powell"},"location":{"latitude":34.0716,"longitude":-118.4421},"types":["library"],"formattedAddress":"10740 Dickson Ct"}]}"#,
        )
    });
    let herd = google_herd(&stand_in, "google_api = \"new\"");
    locate(&herd, "c", "+34.068930-118.445127");
    let (_, json, _) = whatsat(&herd, "WHATSAT c 2.5 1");
    let request = &stand_in.requests()[0];
    assert_eq!(request.path, "/v1/places:searchNearby");
    assert_eq!(
        request.headers.get("x-goog-api-key").map(String::as_str),
        Some(KEY)
    );
    assert!(
        request
            .headers
            .get("x-goog-fieldmask")
            .is_some_and(|m| m.contains("places.location"))
    );
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap_or_default();
    assert_eq!(body["maxResultCount"], 1);
    assert_eq!(body["locationRestriction"]["circle"]["radius"], 2500.0);
    assert_eq!(
        body["locationRestriction"]["circle"]["center"]["latitude"],
        34.06893
    );
    assert_eq!(json["status"], "OK");
    assert_eq!(json["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["results"][0]["name"], "Royce Hall");
    assert_eq!(json["results"][0]["geometry"]["location"]["lng"], -118.4422);
    assert_eq!(json["results"][0]["vicinity"], "340 Royce Dr");
}

#[test]
fn a_google_backend_without_a_key_does_not_start() {
    let herd = Herd::with_topology(
        &["A"],
        &[],
        "\n[places]\nbackend = \"google\"\ngoogle_endpoint = \"http://127.0.0.1:9\"\n",
    );
    let out = herd.run_to_exit("A");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs an API key"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
