//! Hostile peers (docs/security.md): with a herd secret, only nodes that
//! prove they know it can link; a stranger is cut off and plants nothing.

use std::time::{Duration, Instant};

use herd_blackbox::*;

const SECRET: &str = "secret = \"correct horse battery staple\"";

fn whatsat_line(herd: &Herd, node: &str, client: &str) -> String {
    let reply = one_shot(herd.client_addr(node), &format!("WHATSAT {client} 1 1"));
    reply.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn nodes_sharing_the_secret_link_and_flood() {
    let mut herd = Herd::with_topology(&["A", "B", "C"], &[("A", "B"), ("B", "C")], SECRET);
    // Waits for every link and for updates from every node everywhere.
    herd.start_all_connected();
    let at = one_shot(herd.client_addr("A"), &iamat("auth-ok", "+1+1", now_text()));
    assert!(wait_until(Duration::from_secs(5), || whatsat_line(
        &herd, "C", "auth-ok"
    ) == at.trim_end()));
    assert!(
        !herd.stderr("A").contains("no herd secret"),
        "{}",
        herd.stderr("A")
    );
}

/// Plays "A" (which dials B) on B's peer port up to B's AUTH; returns the
/// session and B's nonce.
fn pose_as_a(herd: &Herd) -> (Session, String) {
    let mut peer = Session::connect(herd.node("B").peer);
    peer.send(format!("HELLO HERD/2 {} A fake-boot\n", herd.herd_name).as_bytes());
    let hello = peer.read_line();
    assert!(hello.starts_with("HELLO HERD/2 "), "{hello}");
    let auth = peer.read_line();
    let nonce = auth
        .strip_prefix("AUTH ")
        .unwrap_or_else(|| panic!("expected AUTH, got {auth:?}"));
    assert_eq!(nonce.len(), 32, "{auth}");
    (peer, nonce.to_owned())
}

/// The node's own PROOF may come first (it proves itself before checking
/// ours); then the refusal.
fn assert_refused(peer: &mut Session) {
    let mut line = peer.read_line();
    if line.starts_with("PROOF ") {
        line = peer.read_line();
    }
    assert_eq!(line, "REFUSED authentication failed");
}

#[test]
fn a_stranger_without_the_secret_is_refused_and_plants_nothing() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], SECRET);
    herd.start("B");
    let forged = "AT A +0.100000000 planted +1+1 1700000000.5";

    // A wrong proof.
    let (mut peer, _) = pose_as_a(&herd);
    peer.send(format!("AUTH {}\n", "ab".repeat(16)).as_bytes());
    peer.send(format!("PROOF {}\n{forged}\n", "00".repeat(32)).as_bytes());
    let started = Instant::now();
    assert_refused(&mut peer);
    let rest = peer.read_to_end();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(started.elapsed() < Duration::from_secs(2));

    // No proof at all: straight to updates after the HELLO.
    let (mut peer, _) = pose_as_a(&herd);
    peer.send(format!("{forged}\n").as_bytes());
    assert_refused(&mut peer);

    // A proof that is the nonce sent back, or a replayed AUTH.
    let (mut peer, nonce) = pose_as_a(&herd);
    peer.send(format!("AUTH {nonce}\nPROOF {nonce}{nonce}\n{forged}\n").as_bytes());
    assert_refused(&mut peer);

    assert_eq!(whatsat_line(&herd, "B", "planted"), "? WHATSAT planted 1 1");
    assert_eq!(herd.snapshot("B")["records"], 0);
    // The log is written by its own thread: give it a moment.
    assert!(
        wait_until(Duration::from_secs(5), || {
            let log = herd.log("B");
            log.contains("peer connection from 127.") && log.contains("authentication failed")
        }),
        "the refusal is logged with the remote address: {}",
        herd.log("B")
    );
    // The real A still links.
    herd.start("A");
    herd.wait_connected();
}

#[test]
fn a_node_without_the_secret_cannot_join_a_herd_that_has_one() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], SECRET);
    herd.start("B");
    // A second config for A, identical but without the secret.
    let plain = std::fs::read_to_string(&herd.config)
        .unwrap_or_default()
        .replace(SECRET, "");
    let plain_config = herd.dir.path().join("plain.toml");
    std::fs::write(&plain_config, plain).expect("write config");
    let mut a = std::process::Command::new(binary("herd-node"))
        .arg("--config")
        .arg(&plain_config)
        .arg("--data-dir")
        .arg(herd.data_dir())
        .arg("A")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn A");
    std::thread::sleep(Duration::from_secs(2));
    let link = herd.link_status("B", "A");
    let _ = a.kill();
    let _ = a.wait();
    assert_ne!(link["connected"], true, "{link}");
    assert!(herd.log_shows("B", "refused"), "{}", herd.log("B"));
}

#[test]
fn without_a_secret_a_peer_address_off_loopback_is_warned_about() {
    // 127.x is loopback; 0.0.0.0 (all interfaces) is not.
    let herd = Herd::with_topology(&["A"], &[], "");
    let config = std::fs::read_to_string(&herd.config).unwrap_or_default();
    let peer = herd.node("A").peer;
    let free = std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let exposed = config.replace(
        &format!("peer = \"{peer}\""),
        &format!("peer = \"0.0.0.0:{free}\""),
    );
    std::fs::write(&herd.config, exposed).expect("write config");
    let stderr_path = herd.dir.path().join("A.stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut node = std::process::Command::new(binary("herd-node"))
        .arg("--config")
        .arg(&herd.config)
        .arg("--data-dir")
        .arg(herd.data_dir())
        .arg("A")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn A");
    let warned = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&stderr_path)
            .unwrap_or_default()
            .contains("no herd secret is set")
    });
    let _ = node.kill();
    let _ = node.wait();
    assert!(
        warned,
        "{}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
}

#[test]
fn a_flood_of_silent_peer_connections_is_cut_off_at_the_door() {
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], SECRET);
    herd.start("B");
    // Far more than the 64 handshakes a node lets wait at once.
    let mut silent: Vec<std::net::TcpStream> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect(herd.node("B").peer).ok())
        .collect();
    assert_eq!(silent.len(), 100);
    // Those beyond the limit are closed at once, not after the 5 s
    // handshake limit.
    let started = Instant::now();
    let mut closed_at_once = 0;
    for stream in &mut silent {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let mut byte = [0u8; 1];
        if matches!(std::io::Read::read(stream, &mut byte), Ok(0)) {
            closed_at_once += 1;
        }
    }
    assert!(closed_at_once >= 30, "only {closed_at_once} closed at once");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        wait_until(Duration::from_secs(5), || herd
            .log("B")
            .contains("handshakes already under way")),
        "{}",
        herd.log("B")
    );
    // Once they are gone, the real peer links.
    drop(silent);
    herd.start("A");
    herd.wait_connected();
}

#[test]
fn a_short_secret_is_warned_about() {
    let mut herd = Herd::with_topology(&["A"], &[], "secret = \"short\"");
    herd.start("A");
    assert!(
        herd.stderr("A").contains("shorter than 16 bytes"),
        "{}",
        herd.stderr("A")
    );
}
