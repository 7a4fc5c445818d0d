//! The verifiers in real (in-memory) TLS 1.3 handshakes between a node's
//! configurations and certificates made here.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use herd_config::TlsSettings;
use rustls::{ClientConnection, ServerConnection};

use crate::issue::{Authority, Validity};
use crate::{NodeTls, admin_connector, names_node, server_name};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(tag: &str) -> Dir {
    let path = std::env::temp_dir().join(format!("herd-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).expect("temp dir");
    Dir(path)
}

fn settings(dir: &Dir) -> TlsSettings {
    TlsSettings {
        ca: "ca.pem".to_owned(),
        cert: "{name}.pem".to_owned(),
        key: "{name}.key".to_owned(),
        admin: true,
        base: dir.0.clone(),
    }
}

fn write_cert(dir: &Dir, ca: &Authority, file: &str, name: &str, validity: Validity) {
    let issued = ca.issue(name, validity).expect("issue");
    std::fs::write(dir.0.join(format!("{file}.pem")), issued.cert_pem).expect("write");
    std::fs::write(dir.0.join(format!("{file}.key")), issued.key_pem).expect("write");
}

/// A herd CA and certificates for A, B and herdctl, written to `dir`.
fn herd(tag: &str) -> (Dir, Authority) {
    let dir = dir(tag);
    let ca = Authority::new("test CA", Validity::days(10)).expect("ca");
    std::fs::write(dir.0.join("ca.pem"), &ca.cert_pem).expect("write");
    for name in ["A", "B", "herdctl"] {
        write_cert(&dir, &ca, name, name, Validity::days(5));
    }
    (dir, ca)
}

fn node(dir: &Dir, me: &str, peers: &[&str]) -> NodeTls {
    let peers: Vec<String> = peers.iter().map(|p| (*p).to_owned()).collect();
    NodeTls::load(&settings(dir), me, &peers).expect("loads")
}

/// Which end of an in-memory handshake gave up, and what it says.
#[derive(Debug, thiserror::Error)]
enum Failed {
    #[error("server: {0}")]
    Server(String),
    #[error("client: {0}")]
    Client(String),
    #[error("handshake did not finish")]
    Unfinished,
}

type Connected = Result<(ClientConnection, ServerConnection), Failed>;

/// Runs a handshake in memory.
fn handshake(mut client: ClientConnection, mut server: ServerConnection) -> Connected {
    for _ in 0..20 {
        let mut moved = false;
        while client.wants_write() {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).expect("to memory");
            server.read_tls(&mut &bytes[..]).expect("from memory");
            server
                .process_new_packets()
                .map_err(|e| Failed::Server(reason(e)))?;
            moved = true;
        }
        while server.wants_write() {
            let mut bytes = Vec::new();
            server.write_tls(&mut bytes).expect("to memory");
            client.read_tls(&mut &bytes[..]).expect("from memory");
            client
                .process_new_packets()
                .map_err(|e| Failed::Client(reason(e)))?;
            moved = true;
        }
        if !moved && !client.is_handshaking() && !server.is_handshaking() {
            return Ok((client, server));
        }
    }
    Err(Failed::Unfinished)
}

fn reason(err: rustls::Error) -> String {
    crate::handshake_failure(&std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

fn dial(from: &NodeTls, to: &NodeTls, name: &str) -> Connected {
    let client = ClientConnection::new(from.connector.clone(), server_name(name).expect("name"))
        .expect("client");
    let server = ServerConnection::new(to.peer_acceptor.clone()).expect("server");
    handshake(client, server)
}

#[test]
fn linked_nodes_handshake_in_tls_13_and_see_each_others_names() {
    let (dir, _ca) = herd("good");
    let (a, b) = (node(&dir, "A", &["B"]), node(&dir, "B", &["A"]));
    let (client, server) = dial(&a, &b, "B").expect("handshake");
    assert_eq!(
        server.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert!(names_node(server.peer_certificates(), "A"));
    assert!(
        names_node(server.peer_certificates(), "a"),
        "DNS names ignore case"
    );
    assert!(!names_node(server.peer_certificates(), "B"));
    assert!(names_node(client.peer_certificates(), "B"));
    assert!(
        a.days_left() >= 4 && a.days_left() <= 5,
        "{}",
        a.days_left()
    );
    // A key others may read is reported (the node warns of it).
    use std::os::unix::fs::PermissionsExt;
    let key = dir.0.join("A.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let exposed = node(&dir, "A", &["B"]).key_exposed;
    assert_eq!(exposed, Some((key.clone(), 0o644)));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(node(&dir, "A", &["B"]).key_exposed, None);
}

#[test]
fn a_certificate_for_another_node_is_refused_on_both_sides() {
    let (dir, _ca) = herd("name");
    let (a, b) = (node(&dir, "A", &["B"]), node(&dir, "B", &["A"]));
    // A dials expecting "C" but B answers with B's certificate.
    let err = dial(&a, &b, "C")
        .expect_err("wrong server name")
        .to_string();
    assert!(err.contains("not valid for name"), "{err}");
    // B's peer port takes only A; a node it is not linked to is refused.
    let lonely = node(&dir, "B", &[]);
    let err = dial(&a, &lonely, "B").expect_err("not a peer").to_string();
    assert_eq!(
        err,
        "server: invalid peer certificate: certificate names [\"A\"], not a node linked to this one"
    );
}

#[test]
fn another_ca_and_certificates_out_of_their_time_are_refused() {
    let (dir, _ca) = herd("time");
    let b = node(&dir, "B", &["A"]);
    let stranger = Authority::new("other CA", Validity::days(10)).expect("ca");
    for (tag, ca, validity, says) in [
        ("other", &stranger, Validity::days(5), "UnknownIssuer"),
        (
            "expired",
            &_ca,
            Validity {
                not_before: SystemTime::now() - Duration::from_secs(10 * 86_400),
                not_after: SystemTime::now() - Duration::from_secs(86_400),
            },
            "expired",
        ),
        (
            "future",
            &_ca,
            Validity {
                not_before: SystemTime::now() + Duration::from_secs(86_400),
                not_after: SystemTime::now() + Duration::from_secs(10 * 86_400),
            },
            "not valid yet",
        ),
    ] {
        let own = self::dir(&format!("time-{tag}"));
        std::fs::copy(dir.0.join("ca.pem"), own.0.join("ca.pem")).expect("copy");
        write_cert(&own, ca, "A", "A", validity);
        let a = node(&own, "A", &["B"]);
        let err = dial(&a, &b, "B").expect_err(tag).to_string();
        assert!(
            err.starts_with("server: ") && err.contains(says),
            "{tag}: {err}"
        );
    }
}

#[test]
fn the_admin_port_takes_herdctl_and_two_cas_may_be_trusted_at_once() {
    let (dir, _ca) = herd("admin");
    let a = node(&dir, "A", &["B"]);
    let connector = admin_connector(&settings(&dir)).expect("herdctl's");
    let admin = a.admin_acceptor.clone().expect("admin = true");
    let client = ClientConnection::new(connector, server_name("A").expect("name")).expect("client");
    let (_, server) = handshake(client, ServerConnection::new(admin).expect("server")).expect("ok");
    assert!(names_node(server.peer_certificates(), "herdctl"));
    // A node's own key does not open another node's admin port.
    let b = node(&dir, "B", &["A"]);
    let client = ClientConnection::new(b.connector.clone(), server_name("A").expect("name"))
        .expect("client");
    let server = ServerConnection::new(a.admin_acceptor.clone().expect("admin")).expect("server");
    let err = handshake(client, server)
        .expect_err("B is no herdctl")
        .to_string();
    assert_eq!(
        err,
        "server: invalid peer certificate: certificate names [\"B\"], not herdctl"
    );

    // A CA change: B trusts old and new, A's new certificate is from the new one.
    let new_ca = Authority::new("new CA", Validity::days(10)).expect("ca");
    let both = format!(
        "{}{}",
        std::fs::read_to_string(dir.0.join("ca.pem")).expect("read"),
        new_ca.cert_pem
    );
    let moved = self::dir("admin-new");
    std::fs::write(moved.0.join("ca.pem"), &both).expect("write");
    write_cert(&moved, &new_ca, "A", "A", Validity::days(5));
    write_cert(&moved, &_ca, "B", "B", Validity::days(5));
    let (a, b) = (node(&moved, "A", &["B"]), node(&moved, "B", &["A"]));
    dial(&a, &b, "B").expect("new CA's certificate taken");
    dial(&b, &a, "A").expect("old CA's certificate taken");
}

#[test]
fn plain_tcp_is_not_tls() {
    let (dir, _ca) = herd("plain");
    let b = node(&dir, "B", &["A"]);
    let mut server = ServerConnection::new(b.peer_acceptor.clone()).expect("server");
    server
        .read_tls(&mut &b"HELLO HERD/2-3 demo A boot\n"[..])
        .expect("from memory");
    let err = reason(server.process_new_packets().expect_err("not TLS"));
    assert!(err.starts_with("not TLS (a plain-TCP peer"), "{err}");
}

#[test]
fn files_that_do_not_fit_are_errors_that_name_them() {
    let (dir, _ca) = herd("files");
    let s = settings(&dir);
    let err = NodeTls::load(&s, "C", &[])
        .expect_err("no files")
        .to_string();
    assert!(
        err.contains("C.pem") && err.contains("cannot read"),
        "{err}"
    );
    std::fs::copy(dir.0.join("B.pem"), dir.0.join("C.pem")).expect("copy");
    std::fs::copy(dir.0.join("B.key"), dir.0.join("C.key")).expect("copy");
    let err = NodeTls::load(&s, "C", &[])
        .expect_err("B's certificate")
        .to_string();
    assert!(err.contains("names [\"B\"], not \"C\""), "{err}");
    std::fs::copy(dir.0.join("A.key"), dir.0.join("B.key")).expect("copy");
    let err = NodeTls::load(&s, "B", &[])
        .expect_err("A's key")
        .to_string();
    assert!(err.contains("B.pem and") && err.contains("B.key"), "{err}");
    std::fs::write(dir.0.join("ca.pem"), "not pem").expect("write");
    let err = NodeTls::load(&s, "A", &[]).expect_err("no CA").to_string();
    assert!(err.contains("ca.pem holds no PEM certificate"), "{err}");
}
