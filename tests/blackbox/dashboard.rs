//! The dashboard as a person uses it: the real herdctl in a real terminal
//! (tmux), driven by keys, against real nodes.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use herd_blackbox::*;
use serde_json::Value;

/// A tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// None (with the reason printed) where tmux cannot run. .ci/run
    /// installs tmux where it can, and says so where it cannot.
    fn start(command: &str, cwd: &Path) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIPPED: tmux is not installed");
            return None;
        }
        let tmux = Tmux {
            socket: format!("herd-test-{}-{}", std::process::id(), fastrand::u32(..)),
        };
        let status = tmux
            .command()
            .args(["new-session", "-d", "-x", "120", "-y", "40", "-c"])
            .arg(cwd)
            .arg(command)
            .status();
        assert!(status.is_ok_and(|s| s.success()), "tmux new-session failed");
        Some(tmux)
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    fn keys(&self, keys: &[&str]) {
        let status = self
            .command()
            .args(["send-keys", "-t", "0"])
            .args(keys)
            .status();
        assert!(status.is_ok_and(|s| s.success()), "send-keys {keys:?}");
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        let status = self
            .command()
            .args(["send-keys", "-t", "0", "-l", text])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "send-keys -l {text:?}");
    }

    fn screen(&self) -> String {
        self.command()
            .args(["capture-pane", "-p", "-t", "0"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    fn wait_for(&self, needle: &str) {
        let seen = wait_until(Duration::from_secs(20), || self.screen().contains(needle));
        assert!(
            seen,
            "never saw {needle:?} on the screen:\n{}",
            self.screen()
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

/// herdctl with `args` and the herd's config in a tmux of its own; the
/// exit status lands in the file returned, for [`quits_cleanly`].
fn herdctl_in_tmux(herd: &Herd, args: &str) -> Option<(Tmux, std::path::PathBuf)> {
    let exit_file = herd.dir.path().join("exit");
    // The console's history goes to a state directory of the test's own.
    let command = format!(
        "XDG_STATE_HOME={} {} {args} --config {}; echo $? > {}; sleep 30",
        herd.dir.path().join("state").display(),
        binary("herdctl").display(),
        herd.config.display(),
        exit_file.display()
    );
    Tmux::start(&command, herd.dir.path()).map(|tmux| (tmux, exit_file))
}

/// `q`, and herdctl exits with status 0 within `limit`.
fn quits_cleanly(tmux: &Tmux, exit_file: &std::path::Path, limit: Duration) {
    tmux.keys(&["q"]);
    let exited = wait_until(limit, || {
        std::fs::read_to_string(exit_file).is_ok_and(|s| s.trim() == "0")
    });
    assert!(exited, "herdctl did not quit cleanly:\n{}", tmux.screen());
}

#[test]
fn an_operator_cuts_a_link_by_keys_and_sends_an_update_from_the_console() {
    let mut herd = Herd::with_topology(&["A", "B", "C"], &[("A", "B"), ("B", "C")], "");
    herd.start_all_connected();
    let Some((tmux, exit_file)) = herdctl_in_tmux(&herd, "") else {
        return;
    };
    tmux.wait_for("3/3 nodes");
    tmux.wait_for("CONVERGED");
    tmux.wait_for("A-B");

    // The link table's first row (A-B) is selected: Enter, then y.
    tmux.keys(&["Enter"]);
    tmux.wait_for("cut A-B? y/n");
    tmux.keys(&["y"]);
    let cut = wait_until(Duration::from_secs(10), || {
        let output = herd.herdctl(&["status", "--json"]);
        let status: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        let admin = |node: &str, peer: &str| {
            status["nodes"]
                .as_array()
                .and_then(|nodes| nodes.iter().find(|n| n["name"] == node))
                .and_then(|n| n["links"].as_array().cloned())
                .and_then(|links| links.into_iter().find(|l| l["peer"] == peer))
                .map(|l| l["admin"].clone())
        };
        admin("A", "B") == Some(Value::from("down")) && admin("B", "A") == Some(Value::from("down"))
    });
    assert!(cut, "the link was not cut:\n{}", tmux.screen());
    tmux.wait_for("CUT");

    // Restore it with a command, then send an IAMAT from the console to C.
    tmux.type_text(":heal");
    tmux.keys(&["Enter"]);
    tmux.wait_for("done: A-B up");
    herd.wait_connected();
    tmux.keys(&["4"]);
    tmux.wait_for("send to A");
    // While the line has the focus, the footer offers no view digits.
    tmux.wait_for("typing: Enter send");
    assert!(!tmux.screen().contains("1 herd"), "{}", tmux.screen());
    tmux.keys(&["C-n", "C-n"]);
    tmux.wait_for("send to C");
    // Typed with a slip, mended with the cursor keys.
    tmux.type_text("IAMAT e2e-clint +34.068930-118.445127");
    tmux.keys(&["Home", "C-Right"]);
    for _ in 0.."e2e-cli".len() {
        tmux.keys(&["Right"]);
    }
    tmux.type_text("e");
    tmux.keys(&["End", "C-t"]);
    // C-t: the time with nine decimals.
    let stamped = |screen: &str| {
        let time = screen
            .lines()
            .find_map(|l| l.split("IAMAT e2e-client +34.068930-118.445127 ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("");
        time.split_once('.').is_some_and(|(s, f)| {
            s.len() >= 10 && f.len() == 9 && f.bytes().all(|b| b.is_ascii_digit())
        })
    };
    assert!(
        wait_until(Duration::from_secs(10), || stamped(&tmux.screen())),
        "no time with nine decimals: {}",
        tmux.screen()
    );
    tmux.keys(&["Enter"]);
    tmux.wait_for("AT C ");
    // It reached A across the herd, and the Records view shows it.
    let reached = wait_until(Duration::from_secs(10), || {
        one_shot(herd.client_addr("A"), "WHATSAT e2e-client 1 1").starts_with("AT C ")
    });
    assert!(reached);
    tmux.keys(&["Tab", "2"]);
    tmux.wait_for("e2e-client");
    tmux.wait_for("3 agree");

    // q quits with status 0; the line sent is in the history file.
    quits_cleanly(&tmux, &exit_file, Duration::from_secs(10));
    let history =
        std::fs::read_to_string(herd.dir.path().join("state/herdctl/history")).unwrap_or_default();
    assert!(
        history.lines().any(|l| l.starts_with("IAMAT e2e-client ")),
        "{history:?}"
    );
}

#[test]
fn up_opens_the_dashboard_and_quitting_stops_the_nodes() {
    let herd = Herd::with_topology(&["A", "B"], &[("A", "B")], "");
    let up = format!("up --data-dir {}", herd.data_dir().display());
    let Some((tmux, exit_file)) = herdctl_in_tmux(&herd, &up) else {
        return;
    };
    tmux.wait_for("2/2 nodes");
    tmux.wait_for("CONVERGED");
    // The nodes' start-up lines went to the log, not over the dashboard.
    let log = std::fs::read_to_string(herd.data_dir().join("up.log")).unwrap_or_default();
    assert!(log.contains("[A] herd-node: node A"), "{log}");
    assert!(!tmux.screen().contains("herd-node:"), "{}", tmux.screen());

    // A drill from the dashboard: its steps, then its verdict.
    // In the directory herdctl runs in: a short name keeps the verdict
    // line on the screen.
    let scenario = herd.dir.path().join("drill.toml");
    std::fs::write(
        &scenario,
        "[[step]]\ncut = [\"A\", \"B\"]\n[[step]]\nload = { updates = 200, at = [\"A\", \"B\"], both_sides = 20 }\n\
         [[step]]\nrestart = \"B\"\n[[step]]\nheal = true\n[[step]]\nexpect = { converged_within = \"5s\" }\n",
    )
    .expect("write the scenario");
    let pid_before = herd.snapshot("B")["pid"].clone();
    tmux.type_text(":drill drill.toml");
    tmux.keys(&["Enter"]);
    tmux.wait_for("run the drill");
    tmux.keys(&["y"]);
    tmux.wait_for("PASSED: 200 acknowledged, 0 lost");
    assert_ne!(
        herd.snapshot("B")["pid"],
        pid_before,
        "the drill restarted B"
    );
    // The flood feed kept its steps.
    tmux.keys(&["3", "/"]);
    tmux.type_text("drill:");
    tmux.keys(&["Enter"]);
    tmux.wait_for("drill: step 3/5: restart B");
    tmux.keys(&["1"]);

    // :restart, then a node that dies shows why.
    let pid_before = herd.snapshot("A")["pid"].clone();
    tmux.type_text(":restart A");
    tmux.keys(&["Enter"]);
    tmux.wait_for("restart A (kill -9");
    tmux.keys(&["y"]);
    tmux.wait_for("A restarted: pid");
    assert_ne!(herd.snapshot("A")["pid"], pid_before);
    // Neither restart was taken for a death: up reported nothing.
    tmux.keys(&["3", "/"]);
    tmux.type_text("up:");
    tmux.keys(&["Enter"]);
    tmux.wait_for("flood: 0 events");
    tmux.keys(&["Escape", "1"]);
    let pid = herd.snapshot("A")["pid"].to_string();
    let killed = Command::new("kill").args(["-KILL", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    tmux.wait_for("node A exited (killed by signal 9)");
    // One that fails to start shows its error: B restarted over a config
    // that no longer parses.
    std::fs::write(&herd.config, "links = [\n").expect("break the config");
    tmux.type_text(":restart B");
    tmux.keys(&["Enter"]);
    tmux.wait_for("restart B (kill -9");
    tmux.keys(&["y"]);
    tmux.wait_for("node B exited (exit status");
    let config_name = herd
        .config
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    tmux.wait_for(&config_name.unwrap_or_default());
    quits_cleanly(&tmux, &exit_file, Duration::from_secs(15));
    for name in ["A", "B"] {
        assert!(
            std::net::TcpListener::bind(herd.node(name).admin).is_ok(),
            "{name} still runs after quitting"
        );
    }
}

#[test]
fn the_dashboard_watches_a_herd_over_tls_admin_ports() {
    let mut herd = Herd::with_topology(&["A", "B", "C"], &[("A", "B"), ("B", "C")], "");
    herd.use_tls(true);
    herd.start_all();
    let Some((tmux, exit_file)) = herdctl_in_tmux(&herd, "") else {
        return;
    };
    // Every node reached over TLS (its certificate checked, herdctl's
    // presented), the links up.
    tmux.wait_for("3/3 nodes");
    tmux.wait_for("CONVERGED");
    quits_cleanly(&tmux, &exit_file, Duration::from_secs(10));
}
