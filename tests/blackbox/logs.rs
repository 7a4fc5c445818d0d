//! Contract section 9: the node log as operators ship it (JSON lines),
//! kept for a while (daily rotation), and its filter changed live.

use std::time::Duration;

use herd_blackbox::{Herd, iamat, now_text, one_shot, wait_until};

/// Every line of the node's log files, parsed.
fn json_lines(herd: &Herd, name: &str, file: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(herd.data_dir().join(name).join(file)).unwrap_or_default();
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect()
}

#[test]
fn json_log_lines_parse_and_carry_connection_client_and_peer() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "");
    herd.add_config_table("[log]\nformat = \"json\"");
    herd.start_all_connected();
    let reply = one_shot(herd.client_addr("A"), &iamat("kiwi", "+1+1", now_text()));
    assert!(reply.starts_with("AT A "), "{reply}");
    one_shot(herd.client_addr("A"), "NONSENSE\n");
    herd.terminate("B");
    let logged = wait_until(Duration::from_secs(10), || {
        let lines = json_lines(&herd, "A", "node.log");
        lines.iter().any(|l| {
            l["peer"] == "B"
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("link lost"))
        }) && lines.iter().any(|l| l["client"] == "kiwi")
    });
    let lines = json_lines(&herd, "A", "node.log");
    assert!(logged, "{lines:#?}");
    for line in &lines {
        for key in ["ts", "level", "target", "message"] {
            assert!(line[key].is_string(), "no {key}: {line}");
        }
        let ts = line["ts"].as_str().unwrap_or_default();
        assert!(humantime_like(ts), "{ts}");
    }
    let client = lines
        .iter()
        .find(|l| l["client"] == "kiwi")
        .cloned()
        .unwrap_or_default();
    assert_eq!(client["target"], "client");
    assert_eq!(client["level"], "INFO");
    assert!(client["conn"].is_u64(), "{client}");
    assert!(
        client["message"]
            .as_str()
            .is_some_and(|m| m.contains("IAMAT kiwi +1+1") && m.contains("out \"AT A ")),
        "{client}"
    );
    // A line the node could not read is logged as sent, with its
    // connection, and no client.
    let question = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("NONSENSE"))
        })
        .cloned()
        .unwrap_or_default();
    assert!(
        question["conn"].is_u64() && question["client"] == "",
        "{question}"
    );
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("starting node A of herd"))),
        "no start-up line"
    );
}

/// `2026-12-01T15:07:29.123456Z`.
fn humantime_like(ts: &str) -> bool {
    ts.len() == 27 && ts.ends_with('Z') && ts.as_bytes().get(10) == Some(&b'T')
}

#[test]
fn a_log_filter_changed_live_takes_effect_and_a_bad_one_is_refused() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.start("A");
    let client_lines = |herd: &Herd| herd.log("A").matches("IAMAT quiet-").count();
    one_shot(herd.client_addr("A"), &iamat("quiet-1", "+1+1", now_text()));
    assert!(
        wait_until(Duration::from_secs(5), || client_lines(&herd) == 1),
        "{}",
        herd.log("A")
    );

    // A blank line is no request, but is logged like every line.
    one_shot(herd.client_addr("A"), "\n");
    assert!(
        wait_until(Duration::from_secs(5), || herd
            .log("A")
            .contains("in \"\" out \"\"")),
        "{}",
        herd.log("A")
    );

    let set = herd.herdctl(&["log", "A", "warn"]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&set.stdout).trim(),
        "A: log filter \"warn\" (was \"info\")"
    );
    one_shot(herd.client_addr("A"), &iamat("quiet-2", "+1+1", now_text()));
    one_shot(herd.client_addr("A"), &iamat("quiet-3", "+1+1", now_text()));

    let bad = herd.herdctl(&["log", "A", "info,client=loud"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("info,client=loud") && stderr.contains("not valid"),
        "{stderr}"
    );

    let set = herd.herdctl(&["log", "A", "info,client=debug"]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert!(
        String::from_utf8_lossy(&set.stdout).contains("(was \"warn\")"),
        "the bad filter changed nothing"
    );
    one_shot(herd.client_addr("A"), &iamat("quiet-4", "+1+1", now_text()));
    assert!(
        wait_until(Duration::from_secs(5), || herd.log("A").contains("quiet-4")),
        "{}",
        herd.log("A")
    );
    let log = herd.log("A");
    assert!(
        !log.contains("quiet-2") && !log.contains("quiet-3"),
        "lines logged under warn:\n{log}"
    );
    // client=debug: the connection lines at debug level show now.
    assert!(log.contains("connection from"), "{log}");
    let unknown = herd.herdctl(&["log", "Z", "debug"]);
    assert!(!unknown.status.success());
}

/// `node.YYYY-MM-DD.log` for the UTC day `days_ago` days before now.
fn daily_file(days_ago: u64) -> String {
    let then = std::time::SystemTime::now() - Duration::from_secs(days_ago * 24 * 60 * 60);
    let text = humantime::format_rfc3339_seconds(then).to_string();
    format!("node.{}.log", &text[..10])
}

#[test]
fn a_kept_log_is_daily_and_files_older_than_keep_go() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.add_config_table("[log]\nkeep = \"1d\"");
    let dir = herd.data_dir().join("A");
    std::fs::create_dir_all(&dir).expect("data dir");
    // Old days (the node was down a long while), and yesterday's.
    let yesterday = daily_file(1);
    for old in [
        "node.2020-01-01.log",
        "node.2020-01-02.log",
        yesterday.as_str(),
    ] {
        std::fs::write(dir.join(old), format!("{old}\n")).expect("old log");
    }
    let before = daily_file(0);
    herd.start("A");
    let after = daily_file(0);
    let files = herd.files_of("A", "node.");
    // `keep = "1d"`: today's file and yesterday's; the 2020 ones are gone.
    let today = if files.contains(&before) {
        before
    } else {
        after
    };
    let mut wanted = vec![yesterday, today.clone()];
    wanted.sort();
    assert_eq!(files, wanted);
    let text = || std::fs::read_to_string(dir.join(&today)).unwrap_or_default();
    // The log is written by its own thread: the line lands a moment later.
    assert!(
        wait_until(Duration::from_secs(5), || text()
            .contains("starting node A of herd")),
        "{}",
        text()
    );
    let text = text();
    assert!(
        text.contains("deleted node.2020-01-01.log, node.2020-01-02.log"),
        "{text}"
    );
    let stderr = herd.stderr("A");
    assert!(stderr.contains("daily, kept 1 days"), "{stderr}");
}
