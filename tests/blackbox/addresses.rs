//! Addresses by name, `bind`, and where a node's name comes from (contract
//! sections 3, 4 and 7).

use std::time::Duration;

use herd_blackbox::*;

#[test]
fn a_herd_written_by_host_name_links_and_floods() {
    // A listens where `localhost` resolves; B on its `bind` IP.
    let mut herd = Herd::by_host_name(&["A", "B"], &[("A", "B")], |name| {
        if name == "B" {
            "bind = \"127.0.0.1\"\n".to_owned()
        } else {
            String::new()
        }
    });
    herd.start("A");
    herd.start("B");
    herd.wait_connected();

    let at = one_shot(herd.client_addr("A"), &iamat("by-name", "+1+1", now_text()));
    assert!(at.starts_with("AT A "), "{at}");
    assert!(
        wait_until(Duration::from_secs(5), || one_shot(
            herd.client_addr("B"),
            "WHATSAT by-name 1 1"
        )
        .starts_with(at.trim_end())),
        "the update never reached B"
    );

    // The snapshot shows the addresses as written.
    let (a, b) = (herd.node("A").clone(), herd.node("B").clone());
    let snapshot = herd.snapshot("A");
    let addresses = &snapshot["addresses"];
    assert_eq!(
        addresses["client"],
        format!("localhost:{}", a.client.port())
    );
    assert_eq!(addresses["peer"], format!("localhost:{}", a.peer.port()));
    assert_eq!(addresses["admin"], format!("localhost:{}", a.admin.port()));
    assert_eq!(
        herd.link_status("A", "B")["peer_addr"],
        format!("localhost:{}", b.peer.port())
    );
    // The banner says where each address listens; localhost is loopback,
    // so nothing is warned about.
    for name in ["A", "B"] {
        let stderr = herd.stderr(name);
        let node = herd.node(name);
        assert!(
            stderr.contains(&format!(
                "client localhost:{} (on {})",
                node.client.port(),
                node.client
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("warning"), "{stderr}");
    }
}

#[test]
fn herd_node_takes_its_name_from_herd_node_or_the_host_name() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let label = host.trim().split('.').next().unwrap_or_default().to_owned();
    let mut names = vec!["by-env"];
    if !label.is_empty() && label != "by-env" {
        names.push(&label);
    }
    let mut herd = Herd::with_topology(&names, &[], "");
    herd.start_by_env("by-env");
    assert_eq!(herd.snapshot("by-env")["node"], "by-env");
    if names.len() == 2 {
        herd.start_by_host_name(&label);
        assert_eq!(herd.snapshot(&label)["node"], label.as_str());
    } else {
        eprintln!("--name-from-hostname not tried: no usable host name ({host:?})");
    }

    let config = herd.config.to_str().unwrap_or_default().to_owned();
    let dir = herd.dir.path();
    let none = run_node_env(&["--config", &config, "--data-dir", "d"], &[], dir);
    assert_one_line_error(
        &none,
        2,
        &["no node name given: pass NAME, set HERD_NODE, or use --name-from-hostname"],
    );
    // An empty HERD_NODE is no name either.
    let empty = run_node_env(&["--config", &config], &[("HERD_NODE", "")], dir);
    assert_one_line_error(&empty, 2, &["no node name given"]);
    let unknown = run_node_env(&["--config", &config], &[("HERD_NODE", "Nobody")], dir);
    assert_one_line_error(
        &unknown,
        2,
        &["no node named \"Nobody\"", "(the name is from HERD_NODE)"],
    );
    // NAME and --name-from-hostname together: a usage error.
    let both = run_node_env(
        &["--config", &config, "--name-from-hostname", "by-env"],
        &[],
        dir,
    );
    assert_eq!(both.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
}

/// Node A started with the config `text`, written to `file` in `dir`.
fn start_a_with(dir: &std::path::Path, file: &str, text: &str) -> std::process::Output {
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write");
    run_node(&["--config", path.to_str().unwrap_or_default(), "A"], dir)
}

#[test]
fn bad_addresses_exit_2_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in ["clark:", "clark", "::1:12003", "bad_name!:1200", "clark:0"] {
        let text = format!(
            "[herd]\nname = \"t\"\n[[node]]\nname = \"A\"\nclient = \"127.0.0.1:1\"\npeer = \"{bad}\"\nadmin = \"127.0.0.1:3\"\n"
        );
        let output = start_a_with(dir.path(), "bad.toml", &text);
        assert_one_line_error(
            &output,
            2,
            &[&format!(
                "line 6: node \"A\": peer address {bad:?} is not IP:PORT or HOST:PORT"
            )],
        );
    }
    let text = "[herd]\nname = \"t\"\n[[node]]\nname = \"A\"\nclient = \"127.0.0.1:1\"\npeer = \"127.0.0.1:2\"\nadmin = \"127.0.0.1:3\"\nbind = \"everywhere\"\n";
    let output = start_a_with(dir.path(), "bind.toml", text);
    assert_one_line_error(
        &output,
        2,
        &["line 8: node \"A\": bind \"everywhere\" is not an IP address"],
    );
}
