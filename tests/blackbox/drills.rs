//! `herdctl drill` (contract section 10) against real herds started by
//! `herdctl up`: the shipped scenarios pass, an expectation that cannot hold
//! fails with its reason, a bad scenario exits 2 naming what is wrong and
//! changes nothing, and an interrupted drill puts the links back.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use herd_blackbox::*;
use serde_json::Value;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/drills")
        .join(name)
}

/// `herdctl drill SCENARIO --config ...` (as the contract writes it: the
/// `up` that restarts nodes is found from the config alone).
fn drill(herd: &Herd, scenario: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["drill", scenario.to_str().expect("a UTF-8 path")];
    args.extend_from_slice(extra);
    herd.herdctl(&args)
}

fn report(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!(
            "not one JSON object ({err}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Every end of every link, as `herdctl status --json` says: (node, peer,
/// admin).
fn link_ends(herd: &Herd) -> Vec<(String, String, String)> {
    let output = herd.herdctl(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&output.stdout).expect("status JSON");
    let mut ends = Vec::new();
    for node in status["nodes"].as_array().expect("nodes") {
        for link in node["links"].as_array().expect("links") {
            ends.push((
                node["name"].as_str().unwrap_or("").to_owned(),
                link["peer"].as_str().unwrap_or("").to_owned(),
                link["admin"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    ends.sort();
    ends
}

fn all_up(herd: &Herd) -> bool {
    link_ends(herd).iter().all(|(_, _, admin)| admin == "up")
}

fn write_scenario(herd: &Herd, name: &str, text: &str) -> PathBuf {
    let path = herd.data_dir().join(name);
    std::fs::create_dir_all(herd.data_dir()).expect("data dir");
    std::fs::write(&path, text).expect("write the scenario");
    path
}

#[test]
fn the_shipped_drills_pass_on_the_default_herd_and_leave_it_as_found() {
    let herd = Herd::default_topology();
    let up = Up::start(&herd);
    up.wait_running();
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(example(""))
        .expect("examples/drills")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 4, "{scenarios:?}");
    for scenario in &scenarios {
        let jaquez_before = herd.snapshot("Jaquez")["pid"].clone();
        let output = drill(&herd, scenario, &["--json"]);
        let report = report(&output);
        let name = scenario.display();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {report}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(report["passed"], true, "{name}: {report}");
        assert_eq!(report["lost"], 0, "{name}: {report}");
        assert_eq!(report["newest_violations"], 0, "{name}: {report}");
        let sent = report["sent"].as_u64().expect("sent");
        assert!(sent > 0, "{name}: {report}");
        assert_eq!(
            report["acknowledged"].as_u64(),
            Some(sent),
            "{name}: {report}"
        );
        assert!(
            report["both_sides_clients"].as_u64() > Some(0),
            "{name}: {report}"
        );
        assert!(
            report["converged_after_s"].as_f64().is_some(),
            "{name}: {report}"
        );
        assert_eq!(report["links_restored"], true, "{name}: {report}");
        assert!(
            all_up(&herd),
            "{name} left a link down: {:?}",
            link_ends(&herd)
        );
        if scenario.ends_with("restart-during-partition.toml") {
            assert_ne!(
                herd.snapshot("Jaquez")["pid"],
                jaquez_before,
                "{name}: Jaquez was not restarted"
            );
        }
    }
    // What the drills acknowledged is there, on every node.
    let records: Vec<u64> = DEFAULT_NODES
        .iter()
        .map(|name| herd.snapshot(name)["records"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        records.iter().all(|&n| n == records[0] && n > 0),
        "{records:?}"
    );
}

#[test]
fn an_expectation_that_cannot_hold_exits_1_with_the_reason() {
    let herd = Herd::default_topology();
    let up = Up::start(&herd);
    up.wait_running();
    let scenario = write_scenario(
        &herd,
        "too-fast.toml",
        r#"
[[step]]
partition = [["Clark"], ["Bailey", "Bona", "Campbell", "Jaquez"]]
[[step]]
load = { updates = 5000, at = ["Clark", "Bailey"], rate = 5000 }
[[step]]
heal = true
[[step]]
expect = { converged_within = "1ms" }
"#,
    );
    let output = drill(&herd, &scenario, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("FAILED"), "{stdout}");
    assert!(
        stdout.contains("expect converged within 1ms"),
        "the table names the expectation: {stdout}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .is_some_and(|l| l.contains("drill failed") && l.contains("1ms")),
        "{stderr}"
    );
    // The updates themselves survived; only the time was too short.
    assert!(stdout.contains("lost          0"), "{stdout}");
    assert!(
        stdout.contains("acknowledged  5000 of 5000 sent"),
        "{stdout}"
    );
    assert!(all_up(&herd), "{:?}", link_ends(&herd));

    // The time is measured from the heal, not from when it is looked at: a
    // wait between the heal and the expectation does not count.
    let scenario = write_scenario(
        &herd,
        "wait-then-expect.toml",
        r#"
[[step]]
partition = [["Clark"], ["Bailey", "Bona", "Campbell", "Jaquez"]]
[[step]]
load = { updates = 200, at = ["Clark", "Bailey"], both_sides = 20 }
[[step]]
heal = true
[[step]]
wait = "2s"
[[step]]
expect = { converged_within = "1s" }
"#,
    );
    let output = drill(&herd, &scenario, &["--json"]);
    let report = report(&output);
    assert_eq!(output.status.code(), Some(0), "{report}");
    let after = report["converged_after_s"].as_f64().unwrap_or(f64::MAX);
    assert!(after < 1.0, "{report}");
}

#[test]
fn a_bad_scenario_exits_2_naming_what_is_wrong_and_changes_nothing() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    let cases = [
        (
            "[[step]]\npartition = [[\"Clark\"], [\"Nobody\"]]\n",
            vec!["step 1", "\"Nobody\""],
        ),
        (
            "[[step]]\ncut = [\"Clark\", \"Bailey\"]\n",
            vec!["Clark and Bailey are not linked"],
        ),
        (
            "[[step]]\nheal = true\n[[step]]\npartiton = [[\"Clark\"], [\"Bona\"]]\n",
            vec!["step 2", "partiton"],
        ),
        ("[[step]]\nload = { updates = 10, rat = 5 }\n", vec!["rat"]),
        (
            "[[step]]\nexpect = { converged_within = \"soon\" }\n",
            vec!["soon"],
        ),
        // Restarts need `herdctl up`: this herd was started without it.
        (
            "[[step]]\npartition = [[\"Clark\"], [\"Bona\", \"Jaquez\"]]\n[[step]]\nrestart = \"Clark\"\n",
            vec!["step 2 restarts Clark", "herdctl up"],
        ),
    ];
    for (index, (text, needles)) in cases.iter().enumerate() {
        let scenario = write_scenario(&herd, &format!("bad{index}.toml"), text);
        let output = drill(&herd, &scenario, &[]);
        let needles: Vec<&str> = needles.to_vec();
        assert_one_line_error(&output, 2, &needles);
        assert!(all_up(&herd), "{text}: {:?}", link_ends(&herd));
    }
    let missing = herd.data_dir().join("no-such.toml");
    assert_one_line_error(&drill(&herd, &missing, &[]), 2, &["no-such.toml"]);
}

#[test]
fn an_interrupted_drill_puts_the_links_back_as_found() {
    let mut herd = Herd::default_topology();
    herd.start_all_connected();
    // One link already down before the drill: it must stay down.
    let output = herd.herdctl(&["link", "Clark", "Bona", "down"]);
    assert!(output.status.success(), "{output:?}");
    let found = link_ends(&herd);
    let scenario = write_scenario(
        &herd,
        "long.toml",
        r#"
[[step]]
partition = [["Clark", "Jaquez"], ["Bailey", "Bona", "Campbell"]]
[[step]]
load = { updates = 200, at = ["Jaquez", "Bailey"], rate = 1000 }
[[step]]
wait = "60s"
"#,
    );
    let mut child = Command::new(binary("herdctl"))
        .args(["drill", "--json"])
        .arg(&scenario)
        .arg("--config")
        .arg(&herd.config)
        .env_remove("HERD_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the drill");
    // Its stderr, read on a thread, so a drill that stalls fails the test
    // instead of hanging it.
    let mut stderr = child.stderr.take().expect("stderr");
    let (lines, said) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buffer) {
            if n == 0
                || lines
                    .send(String::from_utf8_lossy(&buffer[..n]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    // Until it is in its wait (the partition is in place).
    let mut heard = String::new();
    while !heard.contains("step 3/3") {
        match said.recv_timeout(Duration::from_secs(30)) {
            Ok(text) => heard.push_str(&text),
            Err(_) => panic!("the drill never reached its wait: {heard}"),
        }
    }
    assert_ne!(link_ends(&herd), found, "the partition is in place");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(status.is_ok_and(|s| s.success()));
    assert!(
        wait_until(Duration::from_secs(10), || child
            .try_wait()
            .ok()
            .flatten()
            .is_some()),
        "the drill did not stop on SIGINT"
    );
    let mut stdout = String::new();
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout);
    let exit = child.wait().expect("exit status");
    assert_eq!(exit.code(), Some(1), "{stdout}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["interrupted"], true, "{report}");
    assert_eq!(report["passed"], false, "{report}");
    assert_eq!(report["links_restored"], true, "{report}");
    assert_eq!(link_ends(&herd), found, "the links as found");

    // A drill on a herd found with a link down: every link comes up for
    // the check (so nothing counts as lost), then goes back as found.
    let scenario = write_scenario(
        &herd,
        "short.toml",
        "[[step]]\nload = { updates = 200, at = [\"Clark\", \"Bona\"], both_sides = 20 }\n",
    );
    let output = drill(&herd, &scenario, &["--json"]);
    let second = self::report(&output);
    assert_eq!(output.status.code(), Some(0), "{second}");
    assert_eq!(second["lost"], 0, "{second}");
    assert_eq!(
        link_ends(&herd),
        found,
        "Clark-Bona down again, the rest up"
    );
}
