//! herd-node's command line and configuration errors (contract sections 3
//! and 4): one line on stderr, a non-zero exit, never a panic.

use std::net::TcpListener;

use herd_blackbox::*;

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("bad.toml");
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

const GOOD: &str = r#"links = [["A", "B"]]
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

#[test]
fn config_errors_name_the_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            GOOD.replace("name = \"t\"", "name = \"t\"\nfoo = 1"),
            "line 4",
        ),
        (
            GOOD.replace("name = \"B\"", "name = \"A\""),
            "duplicate node name \"A\"",
        ),
        (GOOD.replace("127.0.0.1:5", "127.0.0.1:2"), "already used"),
        (
            GOOD.replace("[\"A\", \"B\"]", "[\"A\", \"Z\"]"),
            "unknown node \"Z\"",
        ),
        (GOOD.replace("127.0.0.1:4", "nowhere"), "not IP:PORT"),
        ("this is not toml".to_owned(), "line 1"),
    ];
    for (text, needle) in cases {
        let path = write_config(dir.path(), &text);
        let output = run_node(&["--config", &path, "--data-dir", "d", "A"], dir.path());
        assert_one_line_error(&output, 2, &[needle]);
    }
}

#[test]
fn unknown_node_name_and_missing_config_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run_node(&["--data-dir", "d", "Nobody"], dir.path());
    assert_one_line_error(&output, 2, &["no node named \"Nobody\""]);
    let output = run_node(&["--config", "missing.toml", "Clark"], dir.path());
    assert_one_line_error(&output, 2, &["missing.toml"]);
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let path = write_config(
        dir.path(),
        &GOOD.replace("127.0.0.1:1\"", &format!("127.0.0.1:{port}\"")),
    );
    let output = run_node(&["--config", &path, "--data-dir", "d", "A"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("cannot listen"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn options_may_follow_the_name_and_help_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run_node(&["Nobody", "--data-dir", "d"], dir.path());
    assert_one_line_error(&output, 2, &["no node named"]);
    let help = run_node(&["--help"], dir.path());
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--data-dir"));
}

#[test]
fn a_disconnected_graph_is_only_a_warning() {
    let mut herd = Herd::with_topology(&["A", "B"], &[], "");
    herd.start("A");
    assert!(
        herd.stderr("A")
            .contains("warning: the link graph is not connected"),
        "{}",
        herd.stderr("A")
    );
}
