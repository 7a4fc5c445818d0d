//! Client limits (docs/security.md, `[limits]`): too many connections are
//! refused politely, idle and crawling connections are closed, and none of
//! it slows a normal client or leaks file descriptors.

use std::time::{Duration, Instant};

use herd_blackbox::*;

fn limited(limits: &str) -> Herd {
    let mut herd = Herd::with_topology(&["A"], &[], &format!("\n[limits]\n{limits}\n"));
    herd.start("A");
    herd
}

fn counter(herd: &Herd, name: &str) -> u64 {
    herd.snapshot("A")["counters"][name].as_u64().unwrap_or(0)
}

/// Seconds until the node closes `session` (reading whatever it sends).
fn closed_after(session: &mut Session) -> Duration {
    let started = Instant::now();
    let _ = session.read_to_end();
    started.elapsed()
}

#[test]
fn beyond_max_clients_a_connection_is_told_busy_and_closed() {
    let herd = limited("max_clients = 3");
    let mut open: Vec<Session> = (0..3)
        .map(|_| {
            let mut s = Session::connect(herd.client_addr("A"));
            s.send(b"WHATSAT nobody 1 1\n");
            assert_eq!(s.read_line(), "? WHATSAT nobody 1 1");
            s
        })
        .collect();
    let mut fourth = Session::connect(herd.client_addr("A"));
    assert_eq!(fourth.read_line(), "? busy: too many connections");
    assert!(fourth.read_to_end().is_empty());
    assert_eq!(counter(&herd, "client_refused"), 1);
    // One leaves: room again.
    open.pop();
    assert!(wait_until(Duration::from_secs(5), || {
        one_shot(herd.client_addr("A"), &iamat("room", "+1+1", now_text())).starts_with("AT A ")
    }));
}

#[test]
fn an_idle_connection_is_closed_after_client_idle() {
    let herd = limited("client_idle = \"1s\"");
    let mut idle = Session::connect(herd.client_addr("A"));
    let took = closed_after(&mut idle);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(counter(&herd, "client_timeouts"), 1);
}

#[test]
fn a_slow_loris_line_is_cut_off_and_a_steady_client_is_not() {
    let herd = limited("line_deadline = \"1s\"\nclient_idle = \"30s\"");
    let addr = herd.client_addr("A");
    // One byte every 200 ms: the line never ends.
    let loris = std::thread::spawn(move || {
        let mut session = Session::connect(addr);
        let started = Instant::now();
        session.send(b"IAMAT slow");
        while started.elapsed() < Duration::from_secs(6) {
            std::thread::sleep(Duration::from_millis(200));
            session.send_lossy(b"w");
        }
        closed_after(&mut session) + started.elapsed()
    });
    // Meanwhile a client sends complete lines, 100 ms apart, for 2 s: each
    // line ends in time, so it is never cut, and it is answered promptly.
    let mut steady = Session::connect(addr);
    for i in 0..20 {
        let sent = Instant::now();
        steady.send(format!("{}\n", iamat(&format!("steady-{i}"), "+1+1", now_text())).as_bytes());
        assert!(steady.read_line().starts_with("AT A "));
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "{:?}",
            sent.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let loris_lasted = loris.join().unwrap_or(Duration::MAX);
    assert!(loris_lasted < Duration::from_secs(10), "{loris_lasted:?}");
    assert!(counter(&herd, "client_timeouts") >= 1);
}

#[test]
fn thousands_of_idle_connections_do_not_slow_a_normal_client() {
    let herd = limited("");
    let idle: Vec<Session> = (0..2000)
        .map(|_| Session::connect(herd.client_addr("A")))
        .collect();
    let started = Instant::now();
    let at = one_shot(herd.client_addr("A"), &iamat("normal", "+1+1", now_text()));
    assert!(at.starts_with("AT A "), "{at}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(wait_until(Duration::from_secs(5), || counter(
        &herd,
        "client_connections_open"
    ) >= 2000));
    drop(idle);
}

#[test]
fn abruptly_reset_connections_leak_no_file_descriptors() {
    let herd = limited("");
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", herd.pid("A")))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = fds();
    for _ in 0..200 {
        let mut s = Session::connect(herd.client_addr("A"));
        // An unread reply makes the close a reset.
        s.send(b"WHATSAT nobody 1 1\nIAMAT half");
        std::thread::sleep(Duration::from_millis(1));
        drop(s);
    }
    assert!(
        wait_until(Duration::from_secs(10), || fds() <= before + 2),
        "{} file descriptors, {before} before",
        fds()
    );
}

#[test]
fn a_client_id_beyond_max_client_id_gets_a_question_mark() {
    let herd = limited("max_client_id = 8");
    let long = iamat("nine-byte", "+1+1", now_text());
    assert_eq!(
        one_shot(herd.client_addr("A"), &long),
        format!("? {long}\n")
    );
    let ok = one_shot(
        herd.client_addr("A"),
        &iamat("eight-by", "+1+1", now_text()),
    );
    assert!(ok.starts_with("AT A "), "{ok}");
    assert_eq!(
        one_shot(herd.client_addr("A"), "WHATSAT nine-byte 1 1"),
        "? WHATSAT nine-byte 1 1\n"
    );
}

#[test]
fn a_small_peer_queue_overflows_and_repair_still_delivers() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "\n[limits]\npeer_queue = 16\n");
    herd.start_all_connected();
    let out = herd.herdctl(&["link", "A", "B", "down"]);
    assert!(out.status.success());
    let mut session = Session::connect(herd.client_addr("A"));
    let mut batch = String::new();
    for i in 0..200 {
        batch.push_str(&iamat(&format!("queued-{i}"), "+1+1", now_text()));
        batch.push('\n');
    }
    session.send(batch.as_bytes());
    for _ in 0..200 {
        assert!(session.read_line().starts_with("AT A "));
    }
    let overflows = herd.link_status("A", "B")["overflows"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(overflows, 200 - 16, "a queue of 16 keeps 16 updates");
    let out = herd.herdctl(&["link", "A", "B", "up"]);
    assert!(out.status.success());
    let digest = |node: &str| herd.snapshot(node)["digest"].clone();
    assert!(
        wait_until(Duration::from_secs(10), || digest("A") == digest("B")),
        "B did not get what A's full queue dropped"
    );
}

#[test]
fn a_client_that_never_reads_its_replies_is_dropped() {
    let herd = limited("line_deadline = \"1s\"");
    locate_and_flood(&herd);
    assert!(
        wait_until(Duration::from_secs(15), || counter(
            &herd,
            "client_timeouts"
        ) >= 1
            && counter(&herd, "client_connections_open") == 0),
        "the non-reading client still holds its connection"
    );
}

/// Asks for far more WHATSAT replies than the sockets hold, reading none.
fn locate_and_flood(herd: &Herd) {
    let at = one_shot(
        herd.client_addr("A"),
        &iamat("reader", "+34.068930-118.445127", now_text()),
    );
    assert!(at.starts_with("AT A "));
    let mut greedy = Session::connect(herd.client_addr("A"));
    let batch = "WHATSAT reader 50 20\n".repeat(500);
    for _ in 0..8 {
        greedy.send_lossy(batch.as_bytes());
    }
    // Kept open, never read, until the node gives up on it.
    std::thread::sleep(Duration::from_secs(3));
    drop(greedy);
}
