//! TLS on peer links and admin ports (contract section 8): refusals in the
//! handshake one by one, a real TLS client's view of the peer port, herdctl
//! over TLS admin ports, and certificates, CAs and secrets rotated by
//! reload under load with no partition.
//!
//! The TLS client that plays strangers is Debian's `openssl s_client`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use herd_blackbox::tls::{Authority, Validity};
use herd_blackbox::*;

/// `openssl s_client` to `addr` expecting node `name`'s certificate,
/// presenting `cert` (file stem in the herd's certs dir) if given, sending
/// `input`; everything it printed.
fn s_client(herd: &Herd, addr: SocketAddr, name: &str, cert: Option<&str>, input: &str) -> String {
    let certs = &herd.certs.as_ref().expect("a TLS herd").dir;
    let mut command = Command::new("openssl");
    command
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            name,
        ])
        .arg("-CAfile")
        .arg(certs.join("ca.pem"));
    if let Some(cert) = cert {
        command
            .arg("-cert")
            .arg(certs.join(format!("{cert}.pem")))
            .arg("-key")
            .arg(certs.join(format!("{cert}.key")));
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client (Debian's openssl)");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
        // Give the node time to answer before EOF closes the session.
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = child.wait_with_output().expect("openssl ran");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn tls_refusals(herd: &Herd, name: &str) -> u64 {
    herd.snapshot(name)["counters"]["tls_refusals"]
        .as_u64()
        .unwrap_or(0)
}

/// Lines of `name`'s log that say a peer was refused in the handshake.
fn refusal_lines(herd: &Herd, name: &str) -> Vec<String> {
    herd.log(name)
        .lines()
        .filter(|line| line.contains("refused in the TLS handshake"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn strangers_are_refused_in_the_tls_handshake_each_with_its_reason() {
    let mut herd = Herd::with_topology(&["A", "B", "C"], &[("A", "B"), ("B", "C")], "");
    herd.use_tls(false);
    herd.start("A");
    let peer = herd.node("A").peer;
    let certs = herd.certs.as_ref().expect("TLS");
    let day = Duration::from_secs(86_400);
    let now = SystemTime::now();
    let stranger = Authority::new("stranger CA", Validity::days(10)).expect("CA");
    certs.issue_as("B-other-ca", "B", &stranger, Validity::days(5));
    let past = Validity {
        not_before: now - 10 * day,
        not_after: now - day,
    };
    certs.issue_as("B-expired", "B", &certs.ca, past);
    let future = Validity {
        not_before: now + day,
        not_after: now + 10 * day,
    };
    certs.issue_as("B-future", "B", &certs.ca, future);

    // A real TLS client sees TLS 1.3 and a request for a client
    // certificate from the herd CA.
    let seen = s_client(&herd, peer, "A", None, "");
    assert!(seen.contains("TLSv1.3"), "{seen}");
    assert!(
        seen.contains("Acceptable client certificate CA names") && seen.contains("test herd CA"),
        "{seen}"
    );
    assert!(
        seen.contains("Verification: OK"),
        "A's certificate checks: {seen}"
    );

    // Plain TCP: nothing it sends is read as a line, nothing comes back
    // in clear.
    let mut plain = TcpStream::connect(peer).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let hello = format!("HELLO HERD/2-3 {} B boot-plain\n", herd.herd_name);
    plain.write_all(hello.as_bytes()).expect("send");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        !answer.contains("HELLO") && !answer.contains("REFUSED"),
        "{answer:?}"
    );

    for (cert, says) in [
        (Some("B-other-ca"), "UnknownIssuer"),
        (Some("B-expired"), "expired"),
        (Some("B-future"), "not valid yet"),
        (
            Some("C"),
            "certificate names [\"C\"], not a node linked to this one",
        ),
        (None, "peer sent no certificates"),
    ] {
        let before = refusal_lines(&herd, "A").len();
        s_client(&herd, peer, "A", cert, &hello);
        assert!(
            wait_until(Duration::from_secs(5), || refusal_lines(&herd, "A").len()
                > before),
            "{cert:?} was not refused:\n{}",
            herd.log("A")
        );
        let line = refusal_lines(&herd, "A").pop().unwrap_or_default();
        assert!(line.contains(says), "{cert:?}: {line}");
        assert!(
            line.contains("peer connection from 127."),
            "names the remote address: {line}"
        );
    }
    let plain_line = refusal_lines(&herd, "A")
        .into_iter()
        .find(|line| line.contains("not TLS"));
    assert!(plain_line.is_some(), "the plain-TCP peer is named as such");
    let lines = refusal_lines(&herd, "A");
    assert_eq!(
        tls_refusals(&herd, "A"),
        7,
        "every refusal counted: {lines:#?}"
    );

    // Inside TLS with B's certificate, the HELLO must claim B.
    let claimed = s_client(
        &herd,
        peer,
        "A",
        Some("B"),
        &format!("HELLO HERD/2-3 {} C boot-c\n", herd.herd_name),
    );
    assert!(
        claimed
            .contains("REFUSED HELLO claims node \"C\" but the TLS certificate does not name it"),
        "{claimed}"
    );

    // A dialler checks the name too: B's certificate in C's files is
    // refused by C at start-up, and the real B links.
    std::fs::copy(certs.dir.join("B.pem"), certs.dir.join("C.pem")).expect("copy");
    std::fs::copy(certs.dir.join("B.key"), certs.dir.join("C.key")).expect("copy");
    let out = herd.run_to_exit("C");
    assert_one_line_error(&out, 2, &["[tls]", "C.pem", "names [\"B\"], not \"C\""]);
    herd.start("B");
    assert!(
        wait_until(
            Duration::from_secs(10),
            || herd.link_status("A", "B")["connected"] == true
        ),
        "B never linked: {}",
        herd.log("B")
    );
    assert!(herd.log_shows("A", "TLS 1.3)"), "{}", herd.log("A"));
}

/// `herdctl status --json`, parsed (Null if it printed none).
fn status(herd: &Herd) -> (bool, serde_json::Value) {
    let out = herd.herdctl(&["status", "--json"]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), report)
}

#[test]
fn herdctl_watches_and_steers_a_herd_over_tls_admin_ports() {
    // With a token too: it still applies inside TLS.
    let mut herd = Herd::with_topology(
        &DEFAULT_NODES,
        &DEFAULT_LINKS,
        "admin_token = \"tls and a token\"",
    );
    herd.use_tls(true);
    herd.start_all();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let (ok, report) = status(&herd);
            ok && report["links_connected"] == 6 && report["converged"] == true
        }),
        "the TLS herd never came up: {}",
        status(&herd).1
    );
    let at = one_shot(
        herd.client_addr("Clark"),
        &iamat("tls-kiwi", "+1+1", now_text()),
    );
    assert!(at.starts_with("AT Clark "), "{at}");
    assert!(
        wait_until(Duration::from_secs(5), || {
            let out = herd.herdctl(&["send", "Bailey", "WHATSAT tls-kiwi 1 1"]);
            String::from_utf8_lossy(&out.stdout).contains("AT Clark ")
        }),
        "the update never reached Bailey over TLS links"
    );
    let cut = herd.herdctl(&["link", "Clark", "Jaquez", "down"]);
    assert!(cut.status.success(), "{cut:?}");
    let (_, report) = status(&herd);
    assert_eq!(report["links_connected"], 5, "{report}");
    assert!(
        herd.herdctl(&["link", "Clark", "Jaquez", "up"])
            .status
            .success()
    );
    assert!(wait_until(
        Duration::from_secs(10),
        || status(&herd).1["links_connected"] == 6
    ));

    // The certificates (10 days) are warned of, and in the JSON.
    let (_, report) = status(&herd);
    let clark = node_in(&report, "Clark");
    assert_eq!(clark["tls"]["admin"], true, "{clark}");
    let days = clark["tls"]["days_left"].as_i64().unwrap_or(-1);
    assert!((9..=10).contains(&days), "{clark}");
    let table = String::from_utf8_lossy(&herd.herdctl(&["status"]).stdout).into_owned();
    assert!(
        table.contains("warning: Clark's certificate")
            && table.contains(&format!("expires in {days} days")),
        "{table}"
    );

    // herd-bench follows the nodes' event streams over TLS as herdctl does.
    let out = Command::new(binary("herd-bench"))
        .args([
            "--json",
            "propagate",
            "--rate",
            "200",
            "--seconds",
            "1",
            "--config",
        ])
        .arg(&herd.config)
        .env_remove("HERD_ADMIN_TOKEN")
        .output()
        .expect("run herd-bench");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = said
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_default();
    assert_eq!(summary["answered"], 200, "{said}");
    assert_eq!(summary["converged"], true, "{said}");

    // Plain JSON to a TLS admin port gets no answer in clear.
    let mut plain = TcpStream::connect(herd.node("Clark").admin).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    plain
        .write_all(b"{\"id\":1,\"cmd\":\"snapshot\"}\n")
        .expect("send");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("\"ok\""),
        "{answer:?}"
    );

    // The token still applies: a wrong one is refused over TLS.
    let out = herd.herdctl_env(&["status"], &[("HERD_ADMIN_TOKEN", "wrong token")]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("token"), "{said}");

    // Without herdctl's own certificate the nodes do not answer it, and
    // herdctl says what is missing.
    let certs = &herd.certs.as_ref().expect("TLS").dir;
    std::fs::remove_file(certs.join("herdctl.pem")).expect("remove");
    std::fs::remove_file(certs.join("herdctl.key")).expect("remove");
    let out = herd.herdctl(&["status"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("herdctl's certificate"), "{said}");
}

/// Reloads every node; each must apply.
fn reload_all(herd: &Herd) {
    let out = herd.herdctl(&["reload"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "reload: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(said.matches(": applied").count(), 3, "{said}");
}

/// Cuts A-B and restores it, so both ends make a new TLS connection with
/// what was just reloaded; it must be back within a reconnect.
fn relink(herd: &Herd, step: &str) {
    assert!(herd.herdctl(&["link", "A", "B", "down"]).status.success());
    assert!(herd.herdctl(&["link", "A", "B", "up"]).status.success());
    let back = wait_until(Duration::from_secs(3), || {
        herd.link_status("A", "B")["connected"] == true
            && herd.link_status("B", "A")["connected"] == true
    });
    assert!(
        back,
        "after {step}, A-B did not link again:\n{}",
        herd.log("A")
    );
}

#[test]
fn certificates_cas_and_secrets_rotate_under_load_without_a_partition() {
    let mut herd = Herd::with_topology(
        &["A", "B", "C"],
        &[("A", "B"), ("B", "C")],
        "secret = \"old secret 0123456789\"",
    );
    herd.use_tls(false);
    herd.start_all_connected();
    let b_to_c_since = herd.link_status("B", "C")["since_us"].clone();

    // IAMATs at A all along; every acknowledged one must reach C.
    let stop = Arc::new(AtomicBool::new(false));
    let client = herd.client_addr("A");
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut session = Session::connect(client);
            let mut acked = std::collections::HashMap::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (id, time) = (format!("rot-{}", n % 100), now_text());
                session.send(format!("{}\n", iamat(&id, "+1+1", time.clone())).as_bytes());
                let reply = session.read_line();
                assert!(reply.starts_with("AT A "), "{reply}");
                acked.insert(id, time);
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            acked
        })
    };
    let certs = herd.certs.as_ref().expect("TLS");
    let names = ["A", "B", "C", "herdctl"];

    // New certificates from the same CA.
    for name in names {
        certs.issue(name);
    }
    reload_all(&herd);
    relink(&herd, "new certificates");

    // A new CA: trusted beside the old, then issuing, then alone.
    let new_ca = Authority::new("new herd CA", Validity::days(30)).expect("CA");
    let old_pem = std::fs::read_to_string(certs.dir.join("ca.pem")).expect("read CA");
    certs.write("ca.pem", &format!("{old_pem}{}", new_ca.cert_pem));
    reload_all(&herd);
    relink(&herd, "two CAs");
    for name in ["A", "B"] {
        certs.issue_as(name, name, &new_ca, Validity::days(10));
    }
    reload_all(&herd);
    relink(&herd, "A and B from the new CA");
    for name in ["C", "herdctl"] {
        certs.issue_as(name, name, &new_ca, Validity::days(10));
    }
    certs.write("ca.pem", &new_ca.cert_pem);
    reload_all(&herd);
    relink(&herd, "the new CA alone");

    // The secret in three reloads.
    let text = std::fs::read_to_string(&herd.config).expect("config");
    for (step, secret) in [
        (
            "old and new",
            r#"["old secret 0123456789", "new secret 0123456789"]"#,
        ),
        (
            "new and old",
            r#"["new secret 0123456789", "old secret 0123456789"]"#,
        ),
        ("new alone", r#""new secret 0123456789""#),
    ] {
        let rotated = text.replace("\"old secret 0123456789\"", secret);
        herd.write_config_text(&rotated);
        reload_all(&herd);
        relink(&herd, step);
    }

    stop.store(true, Ordering::Relaxed);
    let Ok(acked) = load.join() else {
        panic!("the load failed; A's log:\n{}", herd.log("A"));
    };
    assert!(acked.len() == 100, "{} clients", acked.len());
    // B-C was never cut: one connection all along, through every reload.
    assert_eq!(herd.link_status("B", "C")["since_us"], b_to_c_since);
    assert_eq!(herd.link_status("B", "C")["connected"], true);
    for (id, time) in &acked {
        let line = wait_until(Duration::from_secs(5), || {
            one_shot(herd.client_addr("C"), &format!("WHATSAT {id} 1 1")).contains(time.as_str())
        });
        assert!(line, "C lacks the last acknowledged update of {id}");
    }
    let digests: Vec<_> = ["A", "B", "C"]
        .map(|n| herd.snapshot(n)["digest"].clone())
        .into();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    let log = herd.log("A");
    assert!(log.contains("[tls] certificates re-read"), "{log}");

    // A bad key at a reload is refused, naming the file, and A goes on
    // with what it had: it still links.
    certs.write("A.key", "not a key");
    let out = herd.herdctl(&["reload", "A"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("A: refused: [tls]:") && said.contains("A.key"),
        "{said}"
    );
    relink(&herd, "a refused reload");
}

#[test]
fn herdctl_certs_makes_a_tls_herd_from_nothing_and_certifies_new_nodes() {
    use std::os::unix::fs::PermissionsExt;
    let mut herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "").plain_peers();
    let out = herd.herdctl(&["certs", "init", "certs"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("[tls]") && said.contains("{name}.pem"),
        "{said}"
    );
    let certs = herd.dir.path().join("certs");
    let mode = |file: &str| {
        std::fs::metadata(certs.join(file))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    };
    for name in ["ca", "A", "B", "herdctl"] {
        assert_eq!(mode(&format!("{name}.key")), 0o600, "{name}.key");
        assert_eq!(mode(&format!("{name}.pem")), 0o644, "{name}.pem");
    }
    // The CA is not replaced by mistake.
    let again = herd.herdctl(&["certs", "init", "certs"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a CA key"));

    // The section it printed, with paths relative to the config's directory.
    let text = std::fs::read_to_string(&herd.config).expect("config");
    let tls = "\n[tls]\nca = \"certs/ca.pem\"\ncert = \"certs/{name}.pem\"\nkey = \"certs/{name}.key\"\nadmin = true\n";
    herd.write_config_text(&format!("{text}{tls}"));
    herd.start_all();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let (ok, report) = status(&herd);
            ok && report["links_connected"] == 1
        }),
        "the herd of herdctl's certificates never linked: {}",
        status(&herd).1
    );
    let a = node_in(&status(&herd).1, "A");
    let days = a["tls"]["days_left"].as_i64().unwrap_or(0);
    assert!((363..=365).contains(&days), "{a}");
    assert!(herd.log_shows("A", "TLS 1.3)"), "{}", herd.log("A"));
    assert!(
        !herd.stderr("A").contains("warning"),
        "{}",
        herd.stderr("A")
    );

    // A new node's certificate from the config's CA, where [tls] says.
    let out = herd.herdctl(&["certs", "add", "Dale", "--days", "40"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode("Dale.key"), 0o600);
    let bad = herd.herdctl(&["certs", "add", "bad_name"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a DNS name"));
}
