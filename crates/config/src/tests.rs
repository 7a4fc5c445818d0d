use super::*;
use std::time::Duration;

const TWO_NODES: &str = r#"
links = [["A", "B"]]

[herd]
name = "t"

[[node]]
name = "A"
client = "127.0.0.1:1"
peer = "127.0.0.1:2"
admin = "127.0.0.1:3"

[[node]]
name = "B"
client = "127.0.0.1:4"
peer = "127.0.0.1:5"
admin = "127.0.0.1:6"
"#;

fn error_of(text: &str) -> String {
    match Config::parse(text, "t.toml") {
        Ok(_) => panic!("config must be refused:\n{text}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn default_herd_is_valid_and_matches_the_contract() {
    let config = Config::default_herd();
    let names: Vec<_> = config.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"]);
    for (i, node) in config.nodes.iter().enumerate() {
        assert_eq!(node.client.port(), 12000 + i as u16);
        assert_eq!(node.peer.port(), 12100 + i as u16);
        assert_eq!(node.admin.port(), 12200 + i as u16);
        assert!(node.client.ip().is_some_and(|ip| ip.is_loopback()));
        assert_eq!(node.bind, None);
        let metrics = node
            .metrics
            .as_ref()
            .expect("the default herd serves metrics");
        assert_eq!(metrics.port(), 12300 + i as u16);
        assert!(metrics.ip().is_some_and(|ip| ip.is_loopback()));
    }
    assert_eq!(config.log, LogSettings::default());
    assert!(!config.client.one_request);
    let peers = |n: &str| -> Vec<String> {
        let mut p: Vec<String> = config.peers_of(n).iter().map(|p| p.name.clone()).collect();
        p.sort();
        p
    };
    assert_eq!(peers("Clark"), ["Bona", "Jaquez"]);
    assert_eq!(peers("Campbell"), ["Bailey", "Bona", "Jaquez"]);
    assert_eq!(peers("Bona"), ["Bailey", "Campbell", "Clark"]);
    assert_eq!(config.links.len(), 6);
    assert!(config.warnings.is_empty());
    assert_eq!(config.herd.max_future_skew.as_secs(), 3600);
}

#[test]
fn minimal_config_gets_defaults() {
    let config = Config::parse(TWO_NODES, "t").expect("valid");
    assert_eq!(config.herd.name, "t");
    assert_eq!(config.places.backend, PlacesBackendKind::Offline);
    assert!(config.are_linked("A", "B") && config.are_linked("B", "A"));
    assert_eq!(config.herd.fsync, FsyncPolicy::Off);
}

#[test]
fn google_settings_and_their_defaults() {
    let config = Config::parse(TWO_NODES, "t").expect("valid");
    let places = &config.places;
    assert_eq!(places.google_endpoint, "https://maps.googleapis.com");
    assert_eq!(places.google_api, GoogleApi::Legacy);
    assert_eq!(places.timeout.as_secs(), 5);
    assert_eq!(places.cache_ttl.as_secs(), 60);
    assert_eq!(places.max_concurrent, 4);
    let toml = TWO_NODES.replace(
        "[herd]",
        "[places]\nbackend = \"google\"\ngoogle_endpoint = \"http://127.0.0.1:9/\"\ngoogle_api = \"new\"\ntimeout = \"250ms\"\ncache_ttl = \"0s\"\nmax_concurrent = 2\n[herd]",
    );
    let places = Config::parse(&toml, "t").expect("valid").places;
    assert_eq!(places.google_endpoint, "http://127.0.0.1:9");
    assert_eq!(places.google_api, GoogleApi::New);
    assert_eq!(places.timeout.as_millis(), 250);
    assert!(places.cache_ttl.is_zero());
    assert_eq!(places.max_concurrent, 2);
    for local in [
        "http://localhost:8080",
        "http://[::1]:80",
        "https://maps.example.com",
    ] {
        let toml = TWO_NODES.replace(
            "[herd]",
            &format!("[places]\ngoogle_endpoint = \"{local}\"\n[herd]"),
        );
        assert!(Config::parse(&toml, "t").is_ok(), "{local}");
    }
}

#[test]
fn limits_and_their_defaults() {
    let config = Config::parse(TWO_NODES, "t").expect("valid");
    assert_eq!(config.limits, Limits::default());
    assert_eq!(config.limits.max_line, 8192);
    let toml = TWO_NODES.replace(
        "[herd]",
        "[limits]\nmax_line = 1024\nmax_clients = 3\nclient_idle = \"2s\"\nline_deadline = \"500ms\"\n[herd]",
    );
    let limits = Config::parse(&toml, "t").expect("valid").limits;
    assert_eq!(limits.max_line, 1024);
    assert_eq!(limits.max_clients, 3);
    assert_eq!(limits.client_idle.as_secs(), 2);
    assert_eq!(limits.line_deadline.as_millis(), 500);
    let toml = TWO_NODES.replace(
        "[herd]",
        "[limits]\nmax_client_id = 64\npeer_queue = 1000\n[herd]",
    );
    let limits = Config::parse(&toml, "t").expect("valid").limits;
    assert_eq!((limits.max_client_id, limits.peer_queue), (64, 1000));
    let toml = TWO_NODES.replace("[herd]", "[limits]\nmax_client_id = 300\n[herd]");
    assert!(Config::parse(&toml, "t").is_err());
}

#[test]
fn fsync_policies() {
    for (text, policy) in [
        ("off", FsyncPolicy::Off),
        ("always", FsyncPolicy::Always),
        (
            "250ms",
            FsyncPolicy::Every(std::time::Duration::from_millis(250)),
        ),
    ] {
        let toml = TWO_NODES.replace("name = \"t\"", &format!("name = \"t\"\nfsync = \"{text}\""));
        let config = Config::parse(&toml, "t").expect("valid");
        assert_eq!(config.herd.fsync, policy, "{text}");
    }
}

#[test]
fn unknown_key_names_its_line() {
    let text = TWO_NODES.replace("name = \"t\"", "name = \"t\"\ncolour = \"red\"");
    let err = error_of(&text);
    assert!(err.starts_with("config t.toml line 6:"), "{err}");
    assert!(err.contains("colour"), "{err}");
    assert!(!err.contains('\n'));
}

#[test]
fn semantic_errors_name_the_line_and_the_problem() {
    let cases = [
        (
            TWO_NODES.replace("name = \"B\"", "name = \"A\""),
            "line 14: duplicate node name \"A\"",
        ),
        (
            TWO_NODES.replace("127.0.0.1:5", "127.0.0.1:1"),
            "line 16: address 127.0.0.1:1 of node \"B\" (peer) is already used by A client",
        ),
        (
            TWO_NODES.replace("[\"A\", \"B\"]", "[\"A\", \"C\"]"),
            "line 2: link names unknown node \"C\"",
        ),
        (
            TWO_NODES.replace("[\"A\", \"B\"]", "[\"A\", \"A\"]"),
            "line 2: node \"A\" is linked to itself",
        ),
        (
            TWO_NODES.replace("[\"A\", \"B\"]]", "[\"A\", \"B\"], [\"B\", \"A\"]]"),
            "line 2: duplicate link",
        ),
        (
            TWO_NODES.replace("[\"A\", \"B\"]", "[\"A\"]"),
            "line 2: a link is a pair",
        ),
        (
            TWO_NODES.replace("127.0.0.1:4", "localhost"),
            "line 15: node \"B\": client address \"localhost\" is not IP:PORT or HOST:PORT (it has no port)",
        ),
        (
            TWO_NODES.replace("name = \"B\"", "name = \"B x\""),
            "line 14: node name \"B x\" contains white space",
        ),
        (
            TWO_NODES.replace("name = \"t\"", "name = \"t\"\nmax_future_skew = \"soon\""),
            "line 6: max_future_skew \"soon\"",
        ),
        (
            TWO_NODES.replace(
                "[herd]",
                "[places]\ngoogle_endpoint = \"http://maps.example.com\"\n[herd]",
            ),
            "line 5: google_endpoint \"http://maps.example.com\" uses plain http",
        ),
        (
            TWO_NODES.replace("[herd]", "[places]\ngoogle_endpoint = \"ftp://x\"\n[herd]"),
            "line 5: google_endpoint \"ftp://x\" must start with https://",
        ),
        (
            TWO_NODES.replace("[herd]", "[places]\ngoogle_api = \"v2\"\n[herd]"),
            "line 5: google_api \"v2\" is unknown",
        ),
        (
            TWO_NODES.replace("[herd]", "[limits]\nmax_line = 100\n[herd]"),
            "line 5: max_line 100 must be between 512 and 12288",
        ),
        (
            TWO_NODES.replace("[herd]", "[limits]\nclient_idle = \"0s\"\n[herd]"),
            "line 5: client_idle \"0s\" is not a duration above zero",
        ),
        (
            TWO_NODES.replace("[herd]", "[limits]\nmax_clients = -1\n[herd]"),
            "line 5: max_clients -1 must be between 1 and 1000000",
        ),
        (
            TWO_NODES.replace("[herd]", "[places]\nmax_concurrent = 0\n[herd]"),
            "line 5: max_concurrent 0 must be between 1 and 256",
        ),
        (
            TWO_NODES.replace("[herd]", "[places]\ntimeout = \"soon\"\n[herd]"),
            "line 5: timeout \"soon\"",
        ),
        (
            TWO_NODES.replace("name = \"t\"", "name = \"t\"\nfsync = \"sometimes\""),
            "line 6: fsync \"sometimes\" is not",
        ),
        (
            TWO_NODES.replace("name = \"t\"", "name = \"t\"\nfsync = \"0s\""),
            "line 6: fsync \"0s\" is not",
        ),
        (
            TWO_NODES.replace("[herd]", "[places]\nbackend = \"bing\"\n[herd]"),
            "line 5: places backend \"bing\" is unknown",
        ),
        (
            TWO_NODES.replace("admin = \"127.0.0.1:6\"", ""),
            "missing field `admin`",
        ),
        ("links = []\n".to_owned(), "no [[node]] defined"),
        ("links = [\n".to_owned(), "line 1: unclosed array"),
    ];
    for (text, expected) in cases {
        let err = error_of(&text);
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
        assert!(!err.contains('\n'), "one line: {err:?}");
    }
}

/// B's client address replaced by `address` (line 15).
fn with_b_client(address: &str) -> String {
    TWO_NODES.replace("\"127.0.0.1:4\"", &format!("\"{address}\""))
}

#[test]
fn addresses_by_ip_or_name() {
    for (text, shown, ip) in [
        ("127.0.0.1:12003", "127.0.0.1:12003", true),
        ("[::1]:12003", "[::1]:12003", true),
        ("[0::1]:12003", "[::1]:12003", true),
        ("localhost:12003", "localhost:12003", false),
        (
            "clark.herd.internal:12003",
            "clark.herd.internal:12003",
            false,
        ),
        (
            "Clark.Herd.Internal.:12003",
            "Clark.Herd.Internal.:12003",
            false,
        ),
        ("herd-2:12003", "herd-2:12003", false),
    ] {
        let config = Config::parse(&with_b_client(text), "t").expect(text);
        let client = &config.nodes[1].client;
        assert_eq!(client.to_string(), shown);
        assert_eq!(client.port(), 12003);
        assert_eq!(client.ip().is_some(), ip, "{text}");
    }
    let config = Config::parse(&with_b_client("Clark.Herd:9"), "t").expect("valid");
    assert_eq!(config.nodes[1].client.host(), "Clark.Herd");
}

#[test]
fn bad_addresses_name_the_line() {
    for (text, why) in [
        ("clark:", "the port is missing after ':'"),
        ("clark", "it has no port"),
        ("clark:0", "port \"0\" is not a number from 1 to 65535"),
        ("clark:65536", "port \"65536\" is not a number"),
        ("clark:http", "port \"http\" is not a number"),
        (":12003", "the host is missing"),
        ("::1:12003", "an IPv6 address needs brackets"),
        ("[127.0.0.1]:1", "[127.0.0.1] is not an IPv6 address"),
        ("bad_name!:1200", "\"bad_name!\" is not a valid host name"),
        ("-clark:1", "\"-clark\" is not a valid host name"),
        ("127.0.0.01:1", "\"127.0.0.01\" is not a valid host name"),
    ] {
        let err = error_of(&with_b_client(text));
        let expected = format!(
            "config t.toml line 15: node \"B\": client address {text:?} is not IP:PORT or HOST:PORT ({why}"
        );
        assert!(
            err.starts_with(&expected),
            "expected {expected:?}, got {err:?}"
        );
        assert!(!err.contains('\n'), "one line: {err:?}");
    }
}

#[test]
fn bind_is_an_ip_literal() {
    for (text, ip) in [
        ("0.0.0.0", "0.0.0.0"),
        ("::", "::"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
    ] {
        let toml = TWO_NODES.replace(
            "admin = \"127.0.0.1:6\"",
            &format!("admin = \"127.0.0.1:6\"\nbind = \"{text}\""),
        );
        let config = Config::parse(&toml, "t").expect(text);
        assert_eq!(config.nodes[1].bind, ip.parse().ok(), "{text}");
        assert_eq!(config.nodes[0].bind, None);
    }
    for text in ["localhost", "0.0.0.0:1", "[::]", "", "*"] {
        let toml = TWO_NODES.replace(
            "admin = \"127.0.0.1:6\"",
            &format!("admin = \"127.0.0.1:6\"\nbind = \"{text}\""),
        );
        let err = error_of(&toml);
        let expected =
            format!("config t.toml line 18: node \"B\": bind {text:?} is not an IP address");
        assert!(
            err.starts_with(&expected),
            "expected {expected:?}, got {err:?}"
        );
    }
}

#[test]
fn with_bind_a_node_needs_three_ports() {
    // Different names but one port: both would listen on bind:4.
    let toml = TWO_NODES
        .replace("\"127.0.0.1:4\"", "\"b-client.example:4\"")
        .replace("\"127.0.0.1:5\"", "\"b-peer.example:4\"")
        .replace(
            "admin = \"127.0.0.1:6\"",
            "admin = \"127.0.0.1:6\"\nbind = \"0.0.0.0\"",
        );
    let err = error_of(&toml);
    assert!(
        err.contains("line 16: node \"B\": peer port 4 is also its client port, and both listen on bind 0.0.0.0"),
        "{err}"
    );
    // Without bind they are two addresses, possibly two interfaces.
    let toml = TWO_NODES
        .replace("\"127.0.0.1:4\"", "\"b-client.example:4\"")
        .replace("\"127.0.0.1:5\"", "\"b-peer.example:4\"");
    assert!(Config::parse(&toml, "t").is_ok());
}

#[test]
fn duplicate_addresses_compare_what_they_can() {
    // The same name in another case, or the same IP spelt otherwise.
    let toml = TWO_NODES
        .replace("\"127.0.0.1:1\"", "\"clark.example:1\"")
        .replace("\"127.0.0.1:4\"", "\"CLARK.example:1\"");
    let err = error_of(&toml);
    assert!(
        err.contains(
            "line 15: address CLARK.example:1 of node \"B\" (client) is already used by A client"
        ),
        "{err}"
    );
    let toml = TWO_NODES
        .replace("\"127.0.0.1:1\"", "\"[::1]:1\"")
        .replace("\"127.0.0.1:5\"", "\"[0:0::1]:1\"");
    let err = error_of(&toml);
    assert!(
        err.contains("line 16: address [::1]:1 of node \"B\" (peer) is already used by A client"),
        "{err}"
    );
    // A name and an IP are not compared: localhost may or may not be it.
    let toml = TWO_NODES.replace("\"127.0.0.1:4\"", "\"localhost:1\"");
    assert!(Config::parse(&toml, "t").is_ok());
    // Same name, other port: fine.
    let toml = TWO_NODES
        .replace("\"127.0.0.1:1\"", "\"clark.example:1\"")
        .replace("\"127.0.0.1:4\"", "\"clark.example:4\"");
    assert!(Config::parse(&toml, "t").is_ok());
}

#[test]
fn disconnected_graph_is_a_warning() {
    let config = Config::parse(
        &TWO_NODES.replace("links = [[\"A\", \"B\"]]", "links = []"),
        "t",
    )
    .expect("valid");
    assert_eq!(config.warnings.len(), 1);
    assert!(
        config.warnings[0].contains("cannot reach B"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn environment_overrides_and_secrets_stay_hidden() {
    let mut config = Config::parse(
        &TWO_NODES.replace("name = \"t\"", "name = \"t\"\nsecret = \"file-secret\""),
        "t",
    )
    .expect("valid");
    config.apply_env(|var| match var {
        "HERD_ADMIN_TOKEN" => Some("env-token".to_owned()),
        "HERD_SECRET" => Some(String::new()),
        _ => None,
    });
    assert_eq!(
        config
            .herd
            .secrets
            .iter()
            .map(Secret::expose)
            .collect::<Vec<_>>(),
        ["file-secret"]
    );
    assert_eq!(
        config.herd.admin_token.as_ref().map(Secret::expose),
        Some("env-token")
    );
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("file-secret") && !debug.contains("env-token"),
        "{debug}"
    );
}

#[test]
fn a_secret_may_be_a_list_while_it_rotates() {
    let with = |value: &str| {
        Config::parse(
            &TWO_NODES.replace("name = \"t\"", &format!("name = \"t\"\nsecret = {value}")),
            "t",
        )
    };
    let secrets = |value: &str| -> Vec<String> {
        with(value)
            .expect("valid")
            .herd
            .secrets
            .iter()
            .map(|s| s.expose().to_owned())
            .collect()
    };
    assert_eq!(secrets(r#"["new", "old"]"#), ["new", "old"]);
    assert_eq!(secrets(r#""one""#), ["one"]);
    assert!(secrets("\"\"").is_empty(), "an empty string is no secret");
    for bad in ["[]", r#"["new", ""]"#, "3"] {
        let err = with(bad).expect_err(bad).to_string();
        assert!(err.contains("line "), "{bad}: {err}");
    }
    let mut config = with(r#"["new", "old"]"#).expect("valid");
    config.apply_env(|var| (var == "HERD_SECRET").then(|| "env".to_owned()));
    assert_eq!(
        config.herd.secrets.len(),
        1,
        "the environment's one secret wins"
    );
}

const TLS: &str =
    "[tls]\nca = \"certs/ca.pem\"\ncert = \"certs/{name}.pem\"\nkey = \"certs/{name}.key\"\n";

#[test]
fn tls_needs_its_files_templates_and_dns_node_names() {
    let config = Config::parse(&format!("{TWO_NODES}{TLS}admin = true\n"), "t").expect("valid");
    let settings = config.tls.expect("tls");
    assert!(settings.admin);
    assert_eq!(
        settings.cert_path("A"),
        std::path::PathBuf::from("certs/A.pem")
    );
    assert!(Config::parse(TWO_NODES, "t").expect("valid").tls.is_none());
    let renamed = |to: &str| TWO_NODES.replace("\"B\"", to);
    for (text, says) in [
        (
            format!("{TWO_NODES}[tls]\nca = \"ca.pem\"\n"),
            "[tls] needs cert",
        ),
        (
            format!("{TWO_NODES}{}", TLS.replace("{name}.pem", "node.pem")),
            "has no {name}",
        ),
        (
            format!("{TWO_NODES}{TLS}admin = \"yes\"\n"),
            "expected a boolean",
        ),
        (format!("{TWO_NODES}{TLS}crl = \"x\"\n"), "crl"),
        (
            format!("{}{TLS}", renamed("\"B_2\"")),
            "node name \"B_2\" is not a DNS name (only letters",
        ),
        (format!("{}{TLS}", renamed("\"a\"")), "only in case"),
        (
            format!("{}{TLS}", renamed("\"herdctl\"")),
            "herdctl's own certificate",
        ),
    ] {
        let err = error_of(&text);
        assert!(err.contains(says), "{err}");
        assert!(!err.contains('\n'));
    }
}

#[test]
fn tls_paths_start_from_the_config_files_directory() {
    let dir = std::env::temp_dir().join(format!("herd-config-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("herd.toml");
    let tls = "[tls]\nca = \"certs/ca.pem\"\ncert = \"/abs/{name}.pem\"\nkey = \"k/{name}.key\"\n";
    std::fs::write(&path, format!("{TWO_NODES}{tls}")).expect("write");
    let config = Config::load(Some(&path)).expect("valid");
    let _ = std::fs::remove_dir_all(&dir);
    let tls = config.tls.expect("tls");
    assert_eq!(tls.ca_path(), dir.join("certs/ca.pem"));
    assert_eq!(tls.cert_path("A"), std::path::PathBuf::from("/abs/A.pem"));
    assert_eq!(tls.key_path("B"), dir.join("k/B.key"));
}

mod any_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the file holds, loading it gives a config or a one-line
        /// error, never a panic (the same inputs as fuzz/config).
        #[test]
        fn any_text_gives_a_config_or_a_one_line_error(
            text in "\\PC{0,300}",
            edits in prop::collection::vec((any::<usize>(), any::<char>()), 0..8),
        ) {
            let mut mutated: Vec<char> = TWO_NODES.chars().collect();
            for (at, c) in edits {
                let at = at % (mutated.len() + 1);
                if at < mutated.len() && (c as u32).is_multiple_of(2) {
                    mutated[at] = c;
                } else {
                    mutated.insert(at, c);
                }
            }
            let mutated: String = mutated.into_iter().collect();
            for input in [text.as_str(), mutated.as_str()] {
                if let Err(err) = Config::parse(input, "fuzz.toml") {
                    let message = err.to_string();
                    prop_assert!(!message.contains('\n'), "{}", message);
                }
            }
        }
    }
}

#[test]
fn metrics_address_is_optional_and_checked_like_the_others() {
    let config = Config::parse(TWO_NODES, "t").expect("valid");
    assert!(config.nodes.iter().all(|node| node.metrics.is_none()));
    let with = TWO_NODES.replace(
        "admin = \"127.0.0.1:3\"",
        "admin = \"127.0.0.1:3\"\nmetrics = \"127.0.0.1:7\"",
    );
    let config = Config::parse(&with, "t").expect("valid");
    assert_eq!(
        config.nodes[0].metrics.as_ref().map(ToString::to_string),
        Some("127.0.0.1:7".to_owned())
    );
    let taken = with.replace("127.0.0.1:7", "127.0.0.1:4");
    let error = error_of(&taken);
    assert!(
        error.contains("line 16") && error.contains("(client) is already used by A metrics"),
        "{error}"
    );
    let bad = with.replace("127.0.0.1:7", "seven");
    assert!(
        error_of(&bad).contains("metrics address \"seven\""),
        "{}",
        error_of(&bad)
    );
}

#[test]
fn record_and_tombstone_lifetimes() {
    let records =
        |section: &str| Config::parse(&format!("{TWO_NODES}[records]\n{section}\n"), "t.toml");
    let settings = records("ttl = \"24h\"\ntombstone_ttl = \"3d\"")
        .expect("valid")
        .records;
    assert_eq!(settings.ttl, Some(Duration::from_secs(24 * 3600)));
    assert_eq!(settings.tombstone_ttl, Duration::from_secs(3 * 24 * 3600));
    let short = records("tombstone_ttl = \"3s\"").expect("valid");
    assert!(
        short
            .warnings
            .iter()
            .any(|w| w.contains("tombstone_ttl 3s is short")),
        "{:?}",
        short.warnings
    );
    let defaults = records("").expect("valid").records;
    assert_eq!(defaults, RecordsSettings::default());
    assert_eq!(defaults.ttl, None, "records never expire by default");
    assert_eq!(defaults.tombstone_ttl, Duration::from_secs(7 * 24 * 3600));
    for (section, wanted) in [
        (
            "ttl = \"0s\"",
            "[records] ttl \"0s\" is not a duration above zero",
        ),
        ("ttl = \"forever\"", "[records] ttl \"forever\""),
        ("tombstone_ttl = \"\"", "[records] tombstone_ttl \"\""),
        ("keep = \"1d\"", "unknown field `keep`"),
    ] {
        let error = records(section)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains(wanted) && error.starts_with("config t.toml line"),
            "{section}: {error}"
        );
    }
}

#[test]
fn log_format_and_retention() {
    let log = |section: &str| Config::parse(&format!("{TWO_NODES}[log]\n{section}\n"), "t.toml");
    let settings = log("format = \"json\"\nkeep = \"7d\"").expect("valid").log;
    assert_eq!(settings.format, LogFormat::Json);
    assert_eq!(settings.keep_days, Some(7));
    assert_eq!(
        log("keep = \"2weeks\"").expect("valid").log.keep_days,
        Some(14)
    );
    assert_eq!(log("").expect("valid").log, LogSettings::default());
    for (section, wanted) in [
        (
            "format = \"xml\"",
            "[log] format \"xml\" is not \"text\" or \"json\"",
        ),
        (
            "keep = \"12h\"",
            "[log] keep \"12h\" is not a whole number of days",
        ),
        ("keep = \"0d\"", "[log] keep \"0d\""),
        ("keep = \"soon\"", "[log] keep \"soon\""),
        ("level = \"debug\"", "unknown field `level`"),
    ] {
        let error = log(section)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains(wanted) && error.starts_with("config t.toml line"),
            "{section}: {error}"
        );
    }
}

#[test]
fn one_request_is_a_boolean_in_client() {
    let with =
        |section: &str| Config::parse(&format!("{TWO_NODES}[client]\n{section}\n"), "t.toml");
    assert!(with("one_request = true").is_ok_and(|c| c.client.one_request));
    assert!(with("").is_ok_and(|c| !c.client.one_request));
    let error = with("one_request = \"yes\"")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("invalid type") && error.contains("line 19"),
        "{error}"
    );
    let error = with("one_requests = true")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("unknown field `one_requests`"), "{error}");
}

#[test]
fn the_dashboard_theme_is_dark_or_light() {
    let with =
        |section: &str| Config::parse(&format!("{TWO_NODES}[dashboard]\n{section}\n"), "t.toml");
    assert_eq!(
        with("theme = \"light\"").map(|c| c.dashboard.theme).ok(),
        Some(Some(crate::DashboardTheme::Light))
    );
    assert_eq!(with("").map(|c| c.dashboard.theme).ok(), Some(None));
    let error = with("theme = \"solarized\"")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("[dashboard] theme \"solarized\" is not \"dark\" or \"light\"")
            && error.contains("line 19"),
        "{error}"
    );
    assert!(
        with("colour = \"light\"").is_err(),
        "unknown keys are refused"
    );
}
