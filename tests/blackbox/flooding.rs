//! Flooding over peer links in the default herd's graph, with real
//! processes: every node learns every update, newest wins, crashes heal.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use herd_blackbox::*;

fn whatsat_line(herd: &Herd, node: &str, client: &str) -> String {
    let reply = one_shot(herd.client_addr(node), &format!("WHATSAT {client} 1 1"));
    reply.lines().next().unwrap_or_default().to_owned()
}

fn wait_for_line(herd: &Herd, node: &str, client: &str, expected: &str) -> bool {
    wait_until(Duration::from_secs(15), || {
        whatsat_line(herd, node, client) == expected
    })
}

#[test]
fn an_update_at_clark_reaches_every_node_with_its_original_at_line() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let at = one_shot(
        herd.client_addr("Clark"),
        &iamat("kiwi.cs.ucla.edu", "+34.068930-118.445127", now_text()),
    );
    let at = at.trim_end().to_owned();
    assert!(at.starts_with("AT Clark "), "{at}");
    for node in DEFAULT_NODES {
        assert!(
            wait_for_line(&herd, node, "kiwi.cs.ucla.edu", &at),
            "{node} never learned {at}"
        );
    }
    // Bailey (two hops away) answers WHATSAT with Clark's line and real places.
    let reply = one_shot(herd.client_addr("Bailey"), "WHATSAT kiwi.cs.ucla.edu 10 3");
    let (first, json) = reply.split_once('\n').expect("two parts");
    assert_eq!(first, at);
    let json: serde_json::Value = serde_json::from_str(json.trim_end()).expect("JSON");
    assert_eq!(json["results"].as_array().map(Vec::len), Some(3));
}

#[test]
fn a_neighbour_asked_right_after_the_at_reply_already_knows() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    for round in 0..20 {
        let client = format!("quick-{round}");
        let at = one_shot(
            herd.client_addr("Clark"),
            &iamat(&client, "+34-118", now_text()),
        );
        for neighbour in ["Jaquez", "Bona"] {
            assert_eq!(
                whatsat_line(&herd, neighbour, &client),
                at.trim_end(),
                "{neighbour} asked right after Clark's AT reply (round {round})"
            );
        }
    }
}

#[test]
fn newest_client_time_wins_everywhere_whatever_the_arrival_order() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let now: u64 = now_text()
        .split('.')
        .next()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    // The newer update goes to Bailey first, the older to Clark after it.
    let newer = one_shot(
        herd.client_addr("Bailey"),
        &format!("IAMAT mover +1-1 {now}.000000002"),
    );
    let older = one_shot(
        herd.client_addr("Clark"),
        &format!("IAMAT mover +2-2 {now}.000000001"),
    );
    assert!(newer.starts_with("AT Bailey "));
    // Clark either had the newer one already (and answers with it) or took
    // the older one; either way the newer wins everywhere.
    assert!(older == newer || older.starts_with("AT Clark "), "{older}");
    for node in DEFAULT_NODES {
        assert!(
            wait_for_line(&herd, node, "mover", newer.trim_end()),
            "{node} did not converge to {newer}"
        );
    }
    // Same client time at two nodes: every node picks the same winner.
    let a = one_shot(
        herd.client_addr("Jaquez"),
        &format!("IAMAT tie +3-3 {now}.5"),
    );
    let b = one_shot(herd.client_addr("Bona"), &format!("IAMAT tie +4-4 {now}.5"));
    let winner = if a.starts_with("AT Jaquez ") { a } else { b };
    for node in DEFAULT_NODES {
        assert!(
            wait_for_line(&herd, node, "tie", winner.trim_end()),
            "{node} did not pick {winner}"
        );
    }
}

#[test]
fn a_killed_node_is_routed_around_and_rejoins_after_restart() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    herd.kill("Bona");
    // Clark -> Jaquez -> Campbell -> Bailey still works without Bona.
    let at = one_shot(
        herd.client_addr("Clark"),
        &iamat("during", "+5+5", now_text()),
    );
    assert!(wait_for_line(&herd, "Bailey", "during", at.trim_end()));

    herd.start("Bona");
    // Its neighbours redial it (back-off capped at 2 s) and it takes part
    // again, in both directions.
    let from_bona = format!("after-bona-{}", fastrand::u32(..));
    let deadline_ok = wait_until(Duration::from_secs(20), || {
        let at = one_shot(
            herd.client_addr("Bona"),
            &iamat(&from_bona, "+6+6", now_text()),
        );
        wait_until(Duration::from_millis(500), || {
            whatsat_line(&herd, "Clark", &from_bona) == at.trim_end()
        })
    });
    assert!(deadline_ok, "an update at the restarted Bona reaches Clark");
    let at = one_shot(
        herd.client_addr("Bailey"),
        &iamat("to-bona", "+7+7", now_text()),
    );
    assert!(wait_for_line(&herd, "Bona", "to-bona", at.trim_end()));
    assert!(
        herd.log_shows("Clark", "link lost"),
        "Clark logged the lost link"
    );
}

fn peer_handshake(herd: &Herd, node: &str, hello: &str) -> String {
    let mut stream = TcpStream::connect(herd.node(node).peer).expect("connect peer port");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(hello.as_bytes()).expect("send");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
}

#[test]
fn strangers_on_the_peer_port_are_refused_with_a_reason() {
    let mut herd = Herd::default_topology().plain_peers();
    herd.start("Clark");
    let name = herd.herd_name.clone();
    let cases = [
        ("HELLO HERD/2 other-herd Jaquez b1\n".to_owned(), "herd"),
        (format!("HELLO HERD/2 {name} Campbell b1\n"), "not linked"),
        (format!("HELLO HERD/2 {name} Nobody b1\n"), "not linked"),
        (format!("HELLO HERD/9 {name} Jaquez b1\n"), "version"),
        // A node from before repair existed.
        (
            format!("HELLO HERD/1 {name} Jaquez b1\n"),
            "peer speaks protocol versions 1, this node speaks 2-4",
        ),
        // A future node whose range does not reach back to ours.
        (
            format!("HELLO HERD/5-6 {name} Jaquez b1\n"),
            "peer speaks protocol versions 5-6, this node speaks 2-4",
        ),
        ("GET / HTTP/1.0\r\n\r\n".to_owned(), "expected HELLO"),
    ];
    for (hello, reason) in cases {
        let reply = peer_handshake(&herd, "Clark", &hello);
        assert!(
            reply.starts_with("REFUSED ") && reply.contains(reason),
            "{hello:?} -> {reply:?}"
        );
    }
    // Nothing was planted: a peer-looking update sent before a handshake is
    // not taken.
    let reply = peer_handshake(&herd, "Clark", "AT Jaquez +0.000000000 planted +1+1 1\n");
    assert!(reply.starts_with("REFUSED"), "{reply:?}");
    assert!(one_shot(herd.client_addr("Clark"), "WHATSAT planted 1 1").starts_with("? "));
    let log = herd.log("Clark");
    assert!(
        log.contains("refused") && log.contains("127."),
        "refusals are logged with the address: {log}"
    );
}

#[test]
fn a_linked_peer_is_greeted_and_updates_flow_both_ways_as_at_lines() {
    let mut herd = Herd::default_topology().plain_peers();
    herd.start("Clark");
    let name = herd.herd_name.clone();
    // Play Bona dialling Clark (either end may dial). The peer port speaks
    // lines too, so a client session can play a peer.
    let mut peer = Session::connect(herd.node("Clark").peer);
    peer.send(format!("HELLO HERD/2 {name} Bona fake-boot\n").as_bytes());
    let hello = peer.read_line();
    assert!(
        hello.starts_with(&format!("HELLO HERD/2 {name} Clark ")),
        "{hello}"
    );

    // An update from "Bona" is merged by Clark.
    peer.send(b"AT Bona +0.250000000 from-peer +1+1 1700000000.5\n");
    assert!(wait_until(Duration::from_secs(5), || {
        whatsat_line(&herd, "Clark", "from-peer")
            == "AT Bona +0.250000000 from-peer +1+1 1700000000.5"
    }));

    // A client update at Clark is flooded to "Bona" as its AT line.
    let at = one_shot(
        herd.client_addr("Clark"),
        &iamat("to-peer", "+2+2", now_text()),
    );
    let flooded = loop {
        let line = peer.read_line();
        if line != "PING" {
            break line;
        }
    };
    assert_eq!(flooded, at.trim_end());
    // Heartbeats keep coming while idle.
    assert_eq!(peer.read_line(), "PING");
}

#[test]
fn the_answer_names_the_highest_version_both_speak_so_older_nodes_link_too() {
    let mut herd = Herd::default_topology().plain_peers();
    herd.start("Clark");
    let name = herd.herd_name.clone();
    for (offered, agreed) in [
        // A node from before version ranges: one number, and it reads one.
        ("2", "2"),
        // A node from before FORGET.
        ("2-3", "3"),
        ("3-4", "4"),
        // A newer node that still speaks ours.
        ("3-9", "4"),
    ] {
        let mut peer = Session::connect(herd.node("Clark").peer);
        peer.send(format!("HELLO HERD/{offered} {name} Jaquez boot-{offered}\n").as_bytes());
        let hello = peer.read_line();
        assert!(
            hello.starts_with(&format!("HELLO HERD/{agreed} {name} Clark ")),
            "offered {offered}: {hello}"
        );
        // And the link is up on it: heartbeats come.
        assert_eq!(peer.read_line(), "PING", "offered {offered}");
    }
}

#[test]
fn a_silent_peer_connection_is_closed_after_the_handshake_timeout() {
    let mut herd = Herd::default_topology().plain_peers();
    herd.start("Clark");
    let mut stream = TcpStream::connect(herd.node("Clark").peer).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(12),
        "closed after {waited:?}"
    );
}

/// Accepts one connection on `listener` within `limit`, or panics.
fn accept_within(listener: &std::net::TcpListener, limit: Duration) -> TcpStream {
    listener.set_nonblocking(true).expect("non-blocking");
    let started = std::time::Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                return stream;
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(started.elapsed() < limit, "nobody dialled within {limit:?}");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(err) => panic!("accept: {err}"),
        }
    }
}

fn first_line(stream: &TcpStream) -> String {
    let mut line = String::new();
    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut line);
    line.trim_end().to_owned()
}

#[test]
fn a_peer_from_before_version_ranges_is_dialled_with_the_one_version_it_reads() {
    // B is played here as the build before ranges: it reads `HERD/2` only
    // and answers anything else `REFUSED expected HELLO`. A sorts first, so
    // that old B waits for A to dial: A must get through to it.
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "").plain_peers();
    let old_b = std::net::TcpListener::bind(herd.node("B").peer).expect("B's peer port");
    herd.start("A");
    let name = herd.herd_name.clone();
    let mut first = accept_within(&old_b, Duration::from_secs(10));
    let hello = first_line(&first);
    assert!(
        hello.starts_with(&format!("HELLO HERD/2-4 {name} A ")),
        "{hello}"
    );
    first
        .write_all(b"REFUSED expected HELLO\n")
        .expect("refuse");
    drop(first);
    let mut second = accept_within(&old_b, Duration::from_secs(10));
    let mut reader = std::io::BufReader::new(second.try_clone().expect("clone"));
    let mut hello = String::new();
    std::io::BufRead::read_line(&mut reader, &mut hello).expect("a HELLO");
    assert!(
        hello.starts_with(&format!("HELLO HERD/2 {name} A ")),
        "{hello}"
    );
    second
        .write_all(format!("HELLO HERD/2 {name} B old-build\n").as_bytes())
        .expect("answer");
    // The session starts: A's link-up SYNC (it opened the connection) and
    // its heartbeats.
    let session: Vec<String> = (0..2)
        .map(|_| {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut reader, &mut line).expect("a session line");
            line.trim_end().to_owned()
        })
        .collect();
    assert!(
        session.iter().any(|line| line == "PING") && session.iter().any(|l| l.starts_with("SYNC ")),
        "the link is up on version 2: {session:?}"
    );
    assert!(wait_until(Duration::from_secs(5), || {
        herd.link_status("A", "B")["connected"] == true
    }));
    assert!(herd.log_shows("A", "peer does not read version ranges"));
}
