//! Contract section 2, checked against a real `herd-node` over TCP.

use std::time::Duration;

use herd_blackbox::*;

fn solo() -> Herd {
    let mut herd = Herd::with_topology(&["Clark"], &[], "");
    herd.start_all();
    herd
}

/// Splits an AT reply into its six fields, checking the time difference
/// is signed with exactly nine decimals.
fn at_fields(line: &str) -> Vec<String> {
    let fields: Vec<String> = line.split(' ').map(str::to_owned).collect();
    assert_eq!(
        fields.len(),
        6,
        "AT line has six single-space fields: {line:?}"
    );
    assert_eq!(fields[0], "AT");
    let diff = &fields[2];
    let (sign, rest) = diff.split_at(1);
    assert!(sign == "+" || sign == "-", "signed difference: {diff}");
    let (whole, frac) = rest.split_once('.').expect("decimal point");
    assert!(
        !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()),
        "{diff}"
    );
    assert!(
        frac.len() == 9 && frac.bytes().all(|b| b.is_ascii_digit()),
        "{diff}"
    );
    fields
}

fn diff_seconds(field: &str) -> f64 {
    field.parse().expect("difference parses as a number")
}

#[test]
fn iamat_is_answered_with_the_fields_echoed_byte_for_byte() {
    let herd = solo();
    let time = now_text();
    let reply = one_shot(
        herd.client_addr("Clark"),
        &format!("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 {time}"),
    );
    assert!(
        reply.ends_with('\n') && reply.matches('\n').count() == 1,
        "{reply:?}"
    );
    let fields = at_fields(reply.trim_end_matches('\n'));
    assert_eq!(fields[1], "Clark");
    assert_eq!(
        fields[3..],
        ["kiwi.cs.ucla.edu", "+34.068930-118.445127", time.as_str()]
    );
    let diff = diff_seconds(&fields[2]);
    assert!((-1.0..5.0).contains(&diff), "difference {diff} near zero");
}

#[test]
fn unusual_but_valid_fields_are_echoed_exactly() {
    let herd = solo();
    let mut session = Session::connect(herd.client_addr("Clark"));
    // Separators of every kind, a short position, UTF-8 id, few decimals.
    session.send("\t IAMAT\x0bcafé-☕\x0c+34-118   1621464827.5 \r\n".as_bytes());
    let fields = at_fields(&session.read_line());
    assert_eq!(fields[3..], ["café-☕", "+34-118", "1621464827.5"]);
    // A time in the past gives a large positive difference.
    assert!(diff_seconds(&fields[2]) > 1.0e8);

    // A time slightly in the future gives a negative one.
    let future = format!(
        "{}.000000000",
        now_text()
            .split('.')
            .next()
            .unwrap_or("0")
            .parse::<u64>()
            .unwrap_or(0)
            + 600
    );
    session.send(format!("IAMAT later -33.8688+151.2093 {future}\n").as_bytes());
    let fields = at_fields(&session.read_line());
    assert!(fields[2].starts_with('-'), "{fields:?}");
    assert!((-601.0..-590.0).contains(&diff_seconds(&fields[2])));
}

#[test]
fn bad_lines_are_answered_verbatim_with_a_question_mark() {
    let herd = solo();
    let mut session = Session::connect(herd.client_addr("Clark"));
    let long_id = "x".repeat(257);
    let bad: Vec<String> = vec![
        "hello".into(),
        "IAMAT".into(),
        "IAMAT kiwi +34-118".into(),
        "IAMAT kiwi +34-118 1 extra".into(),
        "iamat kiwi +34-118 1".into(),
        "IAMAT kiwi 34-118 1".into(),
        "IAMAT kiwi +91-118 1".into(),
        "IAMAT kiwi +34-181 1".into(),
        "IAMAT kiwi +34.-118 1".into(),
        "IAMAT kiwi +34-118 -1".into(),
        "IAMAT kiwi +34-118 1e9".into(),
        "IAMAT kiwi +34-118 1.0000000001".into(),
        format!("IAMAT {long_id} +34-118 1"),
        "  IAMAT  kiwi  +34-118  \t".into(),
        "WHATSAT".into(),
        "WHATSAT nobody 10 5".into(),
        "AT Clark +0.000000000 kiwi +34-118 1".into(),
        "HELLO HERD/1 default Jaquez 1".into(),
        "PING".into(),
    ];
    for line in &bad {
        session.send(format!("{line}\n").as_bytes());
        assert_eq!(session.read_line(), format!("? {line}"), "for {line:?}");
    }
    // CRLF: the \r is not part of the echoed line.
    session.send(b"nonsense here\r\n");
    assert_eq!(session.read_line(), "? nonsense here");
}

#[test]
fn whatsat_arguments_are_validated() {
    let herd = solo();
    let mut session = Session::connect(herd.client_addr("Clark"));
    session.send(format!("IAMAT kiwi +34.068930-118.445127 {}\n", now_text()).as_bytes());
    assert!(session.read_line().starts_with("AT Clark "));
    for line in [
        "WHATSAT kiwi 0 5",
        "WHATSAT kiwi 51 5",
        "WHATSAT kiwi 50.5 5",
        "WHATSAT kiwi -3 5",
        "WHATSAT kiwi 10 0",
        "WHATSAT kiwi 10 21",
        "WHATSAT kiwi 10 5.5",
        "WHATSAT kiwi ten 5",
        "WHATSAT kiwi 10",
        "WHATSAT kiwi 10 5 6",
        "WHATSAT other 10 5",
    ] {
        session.send(format!("{line}\n").as_bytes());
        assert_eq!(session.read_line(), format!("? {line}"), "for {line:?}");
    }
}

#[test]
fn invalid_utf8_is_echoed_as_received() {
    let herd = solo();
    let reply = one_shot_bytes(herd.client_addr("Clark"), b"IAMAT \xff\xfe +34-118 1\n");
    assert_eq!(reply, b"? IAMAT \xff\xfe +34-118 1\n");
}

#[test]
fn blank_lines_get_no_reply_and_a_session_is_answered_in_order() {
    let herd = solo();
    let addr = herd.client_addr("Clark");
    let t1 = now_text();
    let request = format!(
        "\n   \n\t\r\nIAMAT a +10-20 {t1}\nbogus\nWHATSAT a 5 1\n\x0b\nIAMAT b +10-20 {t1}\r\nWHATSAT b 1 1"
    );
    let reply = one_shot(addr, &request);
    let mut lines = reply.split('\n');
    let first = lines.next().unwrap_or_default();
    assert!(
        first.starts_with("AT Clark ") && first.ends_with(&format!(" a +10-20 {t1}")),
        "{reply}"
    );
    assert_eq!(lines.next(), Some("? bogus"));
    assert_eq!(
        lines.next(),
        Some(first),
        "WHATSAT starts with the stored AT line"
    );
    // The JSON, then an empty line.
    let mut json = String::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        json.push_str(line);
    }
    let value: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert!(value["status"] == "OK" || value["status"] == "ZERO_RESULTS");
    let b_line = lines.next().unwrap_or_default();
    assert!(
        b_line.starts_with("AT Clark ") && b_line.ends_with(&format!(" b +10-20 {t1}")),
        "{reply}"
    );
    // The last WHATSAT came without a newline before the half-close.
    assert_eq!(lines.next(), Some(b_line));
    assert!(reply.ends_with("}\n\n"), "{reply:?}");
}

#[test]
fn grading_client_style_one_shot_requests_work() {
    let herd = solo();
    let addr = herd.client_addr("Clark");
    let time = now_text();
    let at = one_shot(
        addr,
        &format!("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 {time}"),
    );
    assert!(at.starts_with("AT Clark "), "{at:?}");
    let whatsat = one_shot(addr, "WHATSAT kiwi.cs.ucla.edu 10 5");
    assert!(
        whatsat.starts_with(&at),
        "WHATSAT begins with the AT line: {whatsat:?}"
    );
    assert!(whatsat.ends_with("}\n\n"));
    let bad = one_shot(addr, "WHATSAT kiwi.cs.ucla.edu 100 5");
    assert_eq!(bad, "? WHATSAT kiwi.cs.ucla.edu 100 5\n");
}

#[test]
fn whatsat_near_ucla_lists_real_places_in_nearby_search_shape() {
    let herd = solo();
    let mut session = Session::connect(herd.client_addr("Clark"));
    session.send(
        format!(
            "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 {}\n",
            now_text()
        )
        .as_bytes(),
    );
    let at = session.read_line();
    session.send(b"WHATSAT kiwi.cs.ucla.edu 10 5\n");
    let (again, json) = session.read_whatsat();
    assert_eq!(again, at);
    assert_eq!(json["status"], "OK");
    assert!(json["html_attributions"].as_array().is_some_and(|a| {
        a.iter()
            .any(|s| s.as_str().is_some_and(|s| s.contains("GeoNames")))
    }));
    let results = json["results"].as_array().expect("results array");
    assert_eq!(results.len(), 5);
    let mut last = 0.0;
    for place in results {
        let lat = place["geometry"]["location"]["lat"].as_f64().expect("lat");
        let lng = place["geometry"]["location"]["lng"].as_f64().expect("lng");
        let d = ((lat - 34.068930).powi(2)
            + ((lng + 118.445127) * 34.07f64.to_radians().cos()).powi(2))
        .sqrt()
            * 111.2;
        assert!(d <= 10.0, "{place} is {d} km away");
        assert!(d + 0.05 >= last, "nearest first");
        last = d;
        for key in ["name", "place_id", "vicinity"] {
            assert!(
                place[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key} in {place}"
            );
        }
        assert!(place["types"].as_array().is_some_and(|t| !t.is_empty()));
    }
    // A bigger radius finds the airport; the bound caps the list at 20.
    session.send(b"WHATSAT kiwi.cs.ucla.edu 50 20\n");
    let (_, json) = session.read_whatsat();
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len(), 20);
    // Far out at sea there is nothing.
    session.send(
        format!("IAMAT boat -40+ -140 {}\n", now_text())
            .replace("-40+ -140", "-40.0-140.0")
            .as_bytes(),
    );
    assert!(session.read_line().starts_with("AT "));
    session.send(b"WHATSAT boat 1 3\n");
    let (_, json) = session.read_whatsat();
    assert_eq!(json["status"], "ZERO_RESULTS");
    assert_eq!(json["results"], serde_json::json!([]));
}

#[test]
fn whatsat_reply_has_no_empty_line_inside_and_ends_with_two_newlines() {
    let herd = solo();
    let addr = herd.client_addr("Clark");
    one_shot(
        addr,
        &format!("IAMAT kiwi +34.068930-118.445127 {}", now_text()),
    );
    let reply = one_shot(addr, "WHATSAT kiwi 50 20");
    let body = reply.strip_suffix("\n\n").expect("ends with \\n\\n");
    assert!(!body.contains("\n\n"), "no empty line inside");
    assert!(!body.ends_with('\n'));
}

#[test]
fn stale_or_repeated_iamat_is_answered_with_the_stored_line() {
    let herd = solo();
    let mut session = Session::connect(herd.client_addr("Clark"));
    let newer = now_text();
    session.send(format!("IAMAT kiwi +1-1 {newer}\n").as_bytes());
    let stored = session.read_line();
    session.send(b"IAMAT kiwi +2-2 1000.5\n");
    assert_eq!(
        session.read_line(),
        stored,
        "older update gets the stored line"
    );
    std::thread::sleep(Duration::from_millis(20));
    session.send(format!("IAMAT kiwi +1-1 {newer}\n").as_bytes());
    assert_eq!(
        session.read_line(),
        stored,
        "the same update again gets the first answer"
    );
}

#[test]
fn client_time_too_far_in_the_future_is_refused() {
    let herd = solo();
    let seconds: u64 = now_text()
        .split('.')
        .next()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let line = format!("IAMAT kiwi +1-1 {}.5", seconds + 2 * 3600);
    assert_eq!(
        one_shot(herd.client_addr("Clark"), &line),
        format!("? {line}\n")
    );
}

#[test]
fn over_long_line_is_answered_with_its_first_256_bytes_and_closed() {
    let herd = solo();
    let mut session = Session::connect(herd.client_addr("Clark"));
    let mut junk = b"IAMAT ".to_vec();
    junk.extend(std::iter::repeat_n(b'y', 300));
    junk.extend(std::iter::repeat_n(b'z', 100_000));
    // The node stops reading once it has answered, so the rest may not be
    // accepted: ignore write errors.
    session.send_lossy(&junk);
    let reply = session.read_to_end();
    let mut expected = b"? ".to_vec();
    expected.extend_from_slice(&junk[..256]);
    expected.push(b'\n');
    assert_eq!(reply, expected);
}

#[test]
fn a_line_of_exactly_the_limit_is_still_a_line() {
    let herd = solo();
    let line = format!("X{}", "y".repeat(8 * 1024 - 1));
    let reply = one_shot(herd.client_addr("Clark"), &format!("{line}\nhello\n"));
    assert_eq!(reply, format!("? {line}\n? hello\n"));
}

#[test]
fn sigterm_stops_cleanly_and_the_log_has_every_line() {
    let mut herd = solo();
    one_shot(herd.client_addr("Clark"), "nonsense-for-the-log");
    let status = herd.terminate("Clark");
    assert!(status.success(), "exit status {status:?}");
    let log = herd.log("Clark");
    assert!(
        log.contains("nonsense-for-the-log"),
        "log holds the line in: {log}"
    );
    assert!(log.contains("? nonsense-for-the-log"), "and the reply out");
    let stderr = herd.stderr("Clark");
    assert!(
        stderr.contains("client") && stderr.contains("Clark"),
        "start-up line: {stderr}"
    );
}

/// A classic one-request client: one line, no half-close, read until the
/// server closes (contract section 2, `[client] one_request`).
fn ask_once(herd: &Herd, node: &str, request: &str) -> String {
    let mut session = Session::connect(herd.client_addr(node));
    session.send(request.as_bytes());
    String::from_utf8_lossy(&session.read_to_end()).into_owned()
}

#[test]
fn with_one_request_the_node_answers_the_first_line_and_closes() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "");
    herd.add_config_table("[client]\none_request = true");
    herd.start_all_connected();
    let time = now_text();
    // The client sends its line and reads until the node closes.
    let reply = ask_once(
        &herd,
        "A",
        &format!("{}\n", iamat("kiwi", "+34.068930-118.445127", time.clone())),
    );
    let lines: Vec<&str> = reply.lines().collect();
    assert_eq!(lines.len(), 1, "{reply:?}");
    assert!(
        lines[0].starts_with("AT A ") && lines[0].ends_with(&time),
        "{reply:?}"
    );
    // A WHATSAT's whole reply comes before the close; so does the flood.
    let reply = ask_once(&herd, "B", "WHATSAT kiwi 10 2\n");
    assert!(reply.starts_with(&format!("{}\n{{", lines[0])), "{reply}");
    assert!(reply.ends_with("}\n\n"), "{reply:?}");
    // Only the first request of a connection is answered; blank lines
    // before it are no request.
    let reply = ask_once(&herd, "A", "\n\nWHATSAT nobody 10 2\nWHATSAT kiwi 10 2\n");
    assert_eq!(reply, "? WHATSAT nobody 10 2\n");
    // Turned off by reload: many lines per connection again.
    let text = std::fs::read_to_string(&herd.config).unwrap_or_default();
    herd.write_config_text(&text.replace("one_request = true", "one_request = false"));
    let reload = herd.herdctl(&["reload"]);
    assert!(
        reload.status.success(),
        "{}",
        String::from_utf8_lossy(&reload.stdout)
    );
    assert!(String::from_utf8_lossy(&reload.stdout).contains("A: applied: [client]"));
    let mut session = Session::connect(herd.client_addr("A"));
    session.send(b"WHATSAT nobody 10 2\nWHATSAT nobody 10 3\n");
    assert_eq!(session.read_line(), "? WHATSAT nobody 10 2");
    assert_eq!(session.read_line(), "? WHATSAT nobody 10 3");
}
