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
    assert!(herd.terminate("A").success());
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
    assert!(herd.terminate("A").success());
    herd.start("A");
    assert_eq!(whatsat_at_line(&herd, "A", "kiwi"), newer.trim_end());
}

#[test]
fn a_torn_tail_is_cut_reported_and_the_rest_kept() {
    let mut herd = Herd::with_topology(&["A"], &[], "");
    herd.start("A");
    let at = one_shot(herd.client_addr("A"), &iamat("before", "+1+1", now_text()));
    assert!(herd.terminate("A").success());
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
