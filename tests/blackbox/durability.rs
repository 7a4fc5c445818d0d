//! Records survive a restart, `kill -9` included: what was acknowledged
//! with an AT reply is there when the node comes back.

use std::time::Duration;

use herd_blackbox::*;

fn whatsat_at_line(herd: &Herd, node: &str, client: &str) -> String {
    let reply = one_shot(herd.client_addr(node), &format!("WHATSAT {client} 1 1"));
    reply.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn kill_9_right_after_the_replies_loses_nothing() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.start("A");
    let mut session = Session::connect(herd.client_addr("A"));
    let count = 500;
    let mut batch = String::new();
    for i in 0..count {
        batch.push_str(&iamat(
            &format!("durable-{i}"),
            "+34.068930-118.445127",
            now_text(),
        ));
        batch.push('\n');
    }
    session.send(batch.as_bytes());
    let replies: Vec<String> = (0..count).map(|_| session.read_line()).collect();
    assert!(replies.iter().all(|r| r.starts_with("AT A ")));
    // The last reply is in: crash at once.
    herd.kill("A");
    herd.start("A");
    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(&whatsat_at_line(&herd, "A", &format!("durable-{i}")), reply);
    }
    let snapshot = herd.snapshot("A");
    assert_eq!(snapshot["records"], count);
    assert!(
        herd.stderr("A")
            .contains(&format!("recovered {count} records")),
        "{}",
        herd.stderr("A")
    );
}

#[test]
fn a_newer_update_after_a_restart_still_wins_and_older_ones_still_lose() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.start("A");
    let first = one_shot(
        herd.client_addr("A"),
        &iamat("kiwi", "+1+1", "1000.5".to_owned()),
    );
    let status = herd.terminate("A");
    assert!(status.success(), "{status:?}; stderr: {}", herd.stderr("A"));
    herd.start("A");
    // The same update again gets the stored line; an older one too.
    assert_eq!(
        one_shot(
            herd.client_addr("A"),
            &iamat("kiwi", "+1+1", "1000.5".to_owned())
        ),
        first
    );
    assert_eq!(
        one_shot(
            herd.client_addr("A"),
            &iamat("kiwi", "+2+2", "999".to_owned())
        ),
        first
    );
    let newer = one_shot(
        herd.client_addr("A"),
        &iamat("kiwi", "+3+3", "1001".to_owned()),
    );
    assert_ne!(newer, first);
    let status = herd.terminate("A");
    assert!(status.success(), "{status:?}; stderr: {}", herd.stderr("A"));
    herd.start("A");
    assert_eq!(whatsat_at_line(&herd, "A", "kiwi"), newer.trim_end());
}

#[test]
fn a_torn_tail_is_cut_reported_and_the_rest_kept() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.start("A");
    let at = one_shot(herd.client_addr("A"), &iamat("before", "+1+1", now_text()));
    let status = herd.terminate("A");
    assert!(status.success(), "{status:?}; stderr: {}", herd.stderr("A"));
    // Half an entry, as a crash in the middle of a write leaves it.
    let log = herd.data_dir().join("A").join("records.log");
    let mut bytes = std::fs::read(&log).unwrap_or_default();
    let good = bytes.len();
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, b'A', b'T', b' ']);
    std::fs::write(&log, &bytes).unwrap_or_else(|e| panic!("{e}"));
    herd.start("A");
    assert_eq!(whatsat_at_line(&herd, "A", "before"), at.trim_end());
    let stderr = herd.stderr("A");
    assert!(stderr.contains("cut 11 bytes (torn entry)"), "{stderr}");
    assert!(
        wait_until(Duration::from_secs(5), || {
            std::fs::metadata(&log).is_ok_and(|m| m.len() == good as u64)
        }),
        "the tail was not cut from the file"
    );
}

#[test]
fn with_fsync_always_replies_wait_for_the_disk_and_share_fsyncs() {
    let mut herd = Herd::with_topology(&["A"], &[], "fsync = \"always\"");
    herd.start("A");
    assert!(
        herd.stderr("A").contains("fsync before each reply"),
        "{}",
        herd.stderr("A")
    );
    // 16 clients at once, 25 updates each.
    let addr = herd.client_addr("A");
    let replies: Vec<Vec<String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..16)
            .map(|w| {
                scope.spawn(move || {
                    let mut session = Session::connect(addr);
                    (0..25)
                        .map(|i| {
                            session.send(
                                format!(
                                    "{}\n",
                                    iamat(&format!("synced-{w}-{i}"), "+1+1", now_text())
                                )
                                .as_bytes(),
                            );
                            session.read_line()
                        })
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let replies: Vec<String> = replies.into_iter().flatten().collect();
    assert_eq!(replies.len(), 400);
    assert!(replies.iter().all(|r| r.starts_with("AT A ")));
    let counters = herd.snapshot("A")["counters"].clone();
    let fsyncs = counters["fsyncs"].as_u64().unwrap_or(0);
    // One fsync at least covered the replies; never more than one each.
    assert!((1..=400).contains(&fsyncs), "{fsyncs} fsyncs: {counters}");
    assert_eq!(counters["fsync_failures"], 0);
    herd.kill("A");
    herd.start("A");
    assert_eq!(herd.snapshot("A")["records"], 400);
    eprintln!("400 updates from 16 clients took {fsyncs} fsyncs");
}

#[test]
fn an_unknown_fsync_policy_is_a_config_error() {
    let herd = Herd::with_topology(&["A"], &[], "fsync = \"sometimes\"");
    let out = herd.run_to_exit("A");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fsync \"sometimes\""), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn a_running_node_compacts_its_log_and_loses_nothing() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.start("A");
    let mut session = Session::connect(herd.client_addr("A"));
    // 3,000 updates of 10 clients: the log holds mostly superseded entries.
    let base = 1_700_000_000u64;
    let mut newest = Vec::new();
    for round in 0..300u64 {
        let mut batch = String::new();
        for client in 0..10 {
            batch.push_str(&format!("IAMAT mover-{client} +1+1 {}.5\n", base + round));
        }
        session.send(batch.as_bytes());
        let replies: Vec<String> = (0..10).map(|_| session.read_line()).collect();
        assert!(
            replies.iter().all(|r| r.starts_with("AT A ")),
            "{replies:?}"
        );
        newest = replies;
    }
    let log = herd.data_dir().join("A").join("records.log");
    let uncompacted = 3000 * 60;
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::metadata(&log)
            .map(|m| m.len() < uncompacted / 2)
            .unwrap_or(false)),
        "log still {} bytes",
        std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0)
    );
    assert!(herd.log_shows("A", "compacted"), "{}", herd.log("A"));
    herd.kill("A");
    herd.start("A");
    for (client, reply) in newest.iter().enumerate() {
        assert_eq!(
            &whatsat_at_line(&herd, "A", &format!("mover-{client}")),
            reply
        );
    }
    assert_eq!(herd.snapshot("A")["records"], 10);
}
