//! Live reconfiguration (contract section 7): `herdctl reload` and SIGHUP
//! make running nodes re-read their config file; what may change applies
//! without a restart or a lost record, the rest is refused by name.

use std::process::Output;
use std::time::{Duration, Instant};

use herd_blackbox::*;
use serde_json::Value;

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// herdctl run with the config file at `config` (which may not be the
/// file the nodes read).
fn herdctl_at(config: &std::path::Path, args: &[&str]) -> Output {
    std::process::Command::new(binary("herdctl"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("HERD_ADMIN_TOKEN")
        .output()
        .expect("run herdctl")
}

/// `herdctl status --json` with the config file at `config`.
fn status(config: &std::path::Path) -> Value {
    let output = herdctl_at(config, &["status", "--json"]);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("status --json: {err}: {}", text(&output)))
}

/// The reload line herdctl printed for `node`.
fn line_of<'a>(output: &'a str, node: &str) -> &'a str {
    output
        .lines()
        .find(|line| line.starts_with(&format!("{node}: ")))
        .unwrap_or_else(|| panic!("no line for {node} in {output:?}"))
}

#[test]
fn the_default_herd_grows_to_six_nodes_live_and_the_new_one_catches_up() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    for (i, at) in ["Bailey", "Clark", "Jaquez"].iter().enumerate() {
        let reply = one_shot(
            herd.client_addr(at),
            &iamat(&format!("before-{i}"), "+1+1", now_text()),
        );
        assert!(reply.starts_with("AT "), "{reply}");
    }
    let mut links = DEFAULT_LINKS.to_vec();
    links.extend([("Dale", "Clark"), ("Dale", "Bailey")]);
    let mut names = DEFAULT_NODES.to_vec();
    names.push("Dale");
    herd.rewrite_config(&names, &links, "");
    herd.start("Dale");
    // Before the reload the running nodes are on the old file, and say so.
    let before = status(&herd.config);
    let clark = before["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["name"] == "Clark"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(clark["config_current"], false, "{before}");

    let started = Instant::now();
    let output = herd.herdctl(&["reload"]);
    let took = started.elapsed();
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    for node in DEFAULT_NODES {
        assert!(
            line_of(&said, node).starts_with(&format!("{node}: applied: ")),
            "{said}"
        );
    }
    assert!(
        line_of(&said, "Clark").contains("links added to Dale"),
        "{said}"
    );
    assert!(
        line_of(&said, "Bona").contains("nodes added: Dale"),
        "{said}"
    );
    assert!(
        line_of(&said, "Dale").contains("applied: nothing changed"),
        "{said}"
    );

    // Every link up, the new node caught up by repair, everyone on the file.
    let caught_up = wait_until(Duration::from_secs(10), || {
        let now = status(&herd.config);
        now["converged"] == true
            && now["links_connected"] == 8
            && now["nodes"]
                .as_array()
                .is_some_and(|nodes| nodes.iter().all(|n| n["config_current"] == true))
    });
    assert!(caught_up, "{}", status(&herd.config));
    eprintln!(
        "six-node reload: herdctl reload took {took:?}; linked and caught up {:?} after it started",
        started.elapsed()
    );
    for i in 0..3 {
        assert!(
            one_shot(herd.client_addr("Dale"), &format!("WHATSAT before-{i} 1 1"))
                .starts_with("AT ")
        );
    }
    // And it floods: an update at Dale reaches Jaquez, three hops away.
    let at = one_shot(
        herd.client_addr("Dale"),
        &iamat("from-dale", "+2+2", now_text()),
    );
    assert!(wait_until(Duration::from_secs(5), || {
        one_shot(herd.client_addr("Jaquez"), "WHATSAT from-dale 1 1").starts_with(at.trim_end())
    }));
}

#[test]
fn a_link_removed_live_is_closed_and_not_redialled() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let links: Vec<(&str, &str)> = DEFAULT_LINKS
        .iter()
        .copied()
        .filter(|&link| link != ("Clark", "Bona"))
        .collect();
    herd.rewrite_config(&DEFAULT_NODES, &links, "");
    let output = herd.herdctl(&["reload"]);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(
        line_of(&said, "Clark").contains("links removed to Bona"),
        "{said}"
    );
    assert_eq!(link_peers(&herd.snapshot("Clark")), ["Jaquez"]);
    assert_eq!(link_peers(&herd.snapshot("Bona")), ["Bailey", "Campbell"]);
    // Not redialled by either end: nothing about Bona in Clark's log after
    // the removal but the removal itself and refusals of strangers.
    std::thread::sleep(Duration::from_secs(1));
    let log = herd.log("Clark");
    let after = &log[log
        .find("link removed by a reload")
        .expect("removal logged")..];
    assert!(!after.contains("link up"), "{after}");
    assert_eq!(link_peers(&herd.snapshot("Clark")), ["Jaquez"]);
    // The herd still floods around the gap: Clark - Jaquez - Campbell - Bona.
    let at = one_shot(
        herd.client_addr("Clark"),
        &iamat("around", "+1+1", now_text()),
    );
    assert!(wait_until(Duration::from_secs(5), || {
        one_shot(herd.client_addr("Bona"), "WHATSAT around 1 1").starts_with(at.trim_end())
    }));
}

#[test]
fn a_bad_file_is_refused_by_every_node_and_the_old_graph_keeps_working() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let good = herd.dir.path().join("good.toml");
    std::fs::copy(&herd.config, &good).expect("keep a copy");
    let original = std::fs::read_to_string(&herd.config).expect("read config");
    herd.write_config_text(&original.replace("[herd]", "[herd]\nsecrte = \"typo\""));

    // herdctl reads the file too: with the bad one it says what is wrong.
    let output = herd.herdctl(&["reload"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("secrte"), "{}", text(&output));
    assert!(
        text(&output).contains("no node was asked"),
        "{}",
        text(&output)
    );

    // Asked with a good copy, every node re-reads the bad file and refuses.
    let output = herdctl_at(&good, &["reload"]);
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    for node in DEFAULT_NODES {
        let line = line_of(&said, node);
        assert!(
            line.contains("refused: ") && line.contains("secrte"),
            "{said}"
        );
    }
    // SIGHUP is refused the same way, in the log.
    herd.hangup("Bona");
    assert!(wait_until(Duration::from_secs(5), || herd
        .log("Bona")
        .contains("config reload refused")));
    // The old config still runs: every link up, updates flood.
    let now = status(&good);
    assert_eq!(now["links_connected"], 6, "{now}");
    assert!(
        now["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().all(|n| n["config_current"] == true)),
        "{now}"
    );
    let at = one_shot(
        herd.client_addr("Bailey"),
        &iamat("still", "+1+1", now_text()),
    );
    assert!(wait_until(Duration::from_secs(5), || {
        one_shot(herd.client_addr("Jaquez"), "WHATSAT still 1 1").starts_with(at.trim_end())
    }));
}

#[test]
fn what_cannot_change_live_is_refused_with_the_key_named() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let good = herd.dir.path().join("good.toml");
    std::fs::copy(&herd.config, &good).expect("keep a copy");
    let original = std::fs::read_to_string(&herd.config).expect("read config");
    let reload_clark = || {
        let output = herdctl_at(&good, &["reload", "Clark"]);
        assert!(!output.status.success(), "{}", text(&output));
        line_of(&text(&output), "Clark").to_owned()
    };
    // The node's own name.
    herd.write_config_text(&original.replace("\"Clark\"", "\"Clarke\""));
    let line = reload_clark();
    assert!(line.contains("refused: [[node]] name"), "{line}");
    // The herd's name.
    let other_herd = original.replace(
        &format!("name = \"{}\"", herd.herd_name),
        "name = \"another\"",
    );
    herd.write_config_text(&other_herd);
    let line = reload_clark();
    assert!(line.contains("refused: [herd] name"), "{line}");
    // Its own client address.
    let clark = herd.node("Clark").client.to_string();
    let moved = format!("{}:13999", herd.node("Clark").client.ip());
    herd.write_config_text(&original.replace(&clark, &moved));
    let line = reload_clark();
    assert!(
        line.contains("refused: [[node]] \"Clark\" client"),
        "{line}"
    );
    // Nothing changed meanwhile: still serving on the old address.
    assert!(
        one_shot(
            herd.client_addr("Clark"),
            &iamat("same", "+1+1", now_text())
        )
        .starts_with("AT Clark ")
    );
}
