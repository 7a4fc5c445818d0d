//! Support for the black-box tests: real `herd-node` processes on loopback,
//! spoken to over real TCP.
//!
//! Every herd gets its own random loopback address (127.x.y.z), so tests can
//! run in parallel with the contract's fixed port numbers and never collide
//! with each other or with a herd a developer is running on 127.0.0.1.

pub mod google_stand_in;
pub mod http;
pub mod prometheus;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The default herd's links (contract section 3).
pub const DEFAULT_LINKS: [(&str, &str); 6] = [
    ("Clark", "Jaquez"),
    ("Clark", "Bona"),
    ("Campbell", "Bailey"),
    ("Campbell", "Bona"),
    ("Campbell", "Jaquez"),
    ("Bona", "Bailey"),
];
pub const DEFAULT_NODES: [&str; 5] = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];

/// Where cargo put the binary: next to the test executable's `deps/`.
pub fn binary(name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(format!("{}_BIN", name.to_uppercase().replace('-', "_"))) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build it first (cargo build --workspace)",
        path.display()
    );
    path
}

/// Runs `herd-node` with `args` to completion (for start-up failures).
pub fn run_node(args: &[&str], cwd: &Path) -> Output {
    run_node_env(args, &[], cwd)
}

/// [`run_node`] with extra environment variables.
pub fn run_node_env(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Output {
    Command::new(binary("herd-node"))
        .args(args)
        .env_remove("GOOGLE_PLACES_API_KEY")
        .env_remove("HERD_NODE")
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run herd-node")
}

#[derive(Debug, Clone)]
pub struct NodeAddrs {
    pub name: String,
    pub client: SocketAddr,
    pub peer: SocketAddr,
    pub admin: SocketAddr,
}

impl NodeAddrs {
    /// The `index`-th node on `ip` at the contract's ports: client 12000,
    /// peer 12100 and admin 12200, each plus `index`.
    pub fn at_contract_ports(name: &str, ip: IpAddr, index: u16) -> NodeAddrs {
        let at = |base: u16| SocketAddr::new(ip, base + index);
        NodeAddrs {
            name: name.to_owned(),
            client: at(12000),
            peer: at(12100),
            admin: at(12200),
        }
    }
}

/// Node `name` of a `herdctl status --json` report (Null when absent).
pub fn node_in(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|node| node["name"] == name)
        .cloned()
        .unwrap_or_default()
}

/// The peers a snapshot lists links to, sorted.
pub fn link_peers(snapshot: &serde_json::Value) -> Vec<String> {
    let mut peers: Vec<String> = snapshot["links"]
        .as_array()
        .map(|links| {
            links
                .iter()
                .filter_map(|link| link["peer"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    peers.sort();
    peers
}

/// A program's refusal as a user sees it: exit status `code` and one line
/// on stderr holding every one of `needles`, no panic.
pub fn assert_one_line_error(output: &Output, code: i32, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit status; stderr: {stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} in {stderr:?}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A herd of real processes, killed when dropped.
pub struct Herd {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub herd_name: String,
    pub nodes: Vec<NodeAddrs>,
    pub links: Vec<(String, String)>,
    children: Vec<(String, Child)>,
    /// Nodes started without NAME: the arguments that name them instead.
    name_args: std::collections::HashMap<String, Vec<String>>,
    /// With `[tls]`: its certificates (in `dir/certs`).
    pub certs: Option<tls::Certs>,
    /// The nodes' `metrics` addresses, once [`Herd::serve_metrics`] gave
    /// them some.
    metrics: std::collections::HashMap<String, SocketAddr>,
}

/// `HERD_TEST_TLS=1`: every herd's peer links speak TLS unless its test
/// speaks the peer protocol itself (CI runs the flooding and repair tests
/// again so).
fn tls_by_env() -> bool {
    std::env::var("HERD_TEST_TLS").is_ok_and(|v| v == "1")
}

/// A herd config: `written` gives a node's client, peer and admin address
/// as the file says them, `node_toml` more lines of its table.
fn config_text(
    herd_name: &str,
    nodes: &[NodeAddrs],
    links: &[(&str, &str)],
    extra_herd_toml: &str,
    written: impl Fn(&NodeAddrs) -> [String; 3],
    node_toml: impl Fn(&NodeAddrs) -> String,
) -> String {
    let mut toml = String::from("links = [\n");
    for (a, b) in links {
        toml.push_str(&format!("  [\"{a}\", \"{b}\"],\n"));
    }
    toml.push_str(&format!(
        "]\n\n[herd]\nname = \"{herd_name}\"\n{extra_herd_toml}\n"
    ));
    for node in nodes {
        let [client, peer, admin] = written(node);
        toml.push_str(&format!(
            "\n[[node]]\nname = \"{}\"\nclient = \"{client}\"\npeer = \"{peer}\"\nadmin = \"{admin}\"\n{}",
            node.name,
            node_toml(node)
        ));
    }
    toml
}

fn free_loopback_ip() -> Ipv4Addr {
    loop {
        let ip = Ipv4Addr::new(
            127,
            fastrand::u8(1..255),
            fastrand::u8(0..255),
            fastrand::u8(1..255),
        );
        if TcpListener::bind((ip, 12000)).is_ok() {
            return ip;
        }
    }
}

impl Herd {
    /// The contract's default herd (names, ports, links) on a fresh
    /// loopback address, not started.
    pub fn default_topology() -> Herd {
        Herd::with_topology(&DEFAULT_NODES, &DEFAULT_LINKS, "")
    }

    /// Any herd; `extra_herd_toml` lines go into the `[herd]` table.
    pub fn with_topology(names: &[&str], links: &[(&str, &str)], extra_herd_toml: &str) -> Herd {
        let ip = free_loopback_ip();
        let nodes: Vec<NodeAddrs> = names
            .iter()
            .enumerate()
            .map(|(i, name)| NodeAddrs::at_contract_ports(name, IpAddr::V4(ip), i as u16))
            .collect();
        Herd::write(
            nodes,
            links,
            extra_herd_toml,
            |node| [node.client, node.peer, node.admin].map(|addr| addr.to_string()),
            |_| String::new(),
        )
    }

    /// A herd whose addresses are written by name, `localhost:PORT`, at
    /// free ports of the address `localhost` resolves to first here (where
    /// a node without `bind` listens); `node_toml(name)` adds lines to a
    /// node's table (such as `bind = "127.0.0.1"`).
    pub fn by_host_name(
        names: &[&str],
        links: &[(&str, &str)],
        node_toml: impl Fn(&str) -> String,
    ) -> Herd {
        use std::net::ToSocketAddrs;
        let ip = ("localhost", 1)
            .to_socket_addrs()
            .ok()
            .and_then(|mut found| found.next())
            .expect("localhost resolves")
            .ip();
        let free = || {
            TcpListener::bind((ip, 0))
                .and_then(|listener| listener.local_addr())
                .expect("a free port on localhost")
        };
        let nodes: Vec<NodeAddrs> = names
            .iter()
            .map(|name| NodeAddrs {
                name: (*name).to_owned(),
                client: free(),
                peer: free(),
                admin: free(),
            })
            .collect();
        Herd::write(
            nodes,
            links,
            "",
            |node| {
                [node.client, node.peer, node.admin]
                    .map(|addr| format!("localhost:{}", addr.port()))
            },
            |node| node_toml(&node.name),
        )
    }

    /// Writes the config of `nodes`: `written` gives a node's client, peer
    /// and admin address as the file says them, `node_toml` more lines of
    /// its table.
    fn write(
        nodes: Vec<NodeAddrs>,
        links: &[(&str, &str)],
        extra_herd_toml: &str,
        written: impl Fn(&NodeAddrs) -> [String; 3],
        node_toml: impl Fn(&NodeAddrs) -> String,
    ) -> Herd {
        let dir = tempfile::tempdir().expect("temp dir");
        let herd_name = format!("test-{}", fastrand::u32(..));
        let toml = config_text(
            &herd_name,
            &nodes,
            links,
            extra_herd_toml,
            written,
            node_toml,
        );
        let config = dir.path().join("herd.toml");
        std::fs::write(&config, toml).expect("write config");
        let mut herd = Herd {
            dir,
            config,
            herd_name,
            nodes,
            links: links
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
            children: Vec::new(),
            name_args: std::collections::HashMap::new(),
            certs: None,
            metrics: std::collections::HashMap::new(),
        };
        if tls_by_env() {
            herd.use_tls(false);
        }
        herd
    }

    /// Gives every node a `metrics` address: its admin port plus 100 on
    /// the herd's address (12300 and up, as in the default herd). Before
    /// the nodes start.
    pub fn serve_metrics(&mut self) {
        let mut text = std::fs::read_to_string(&self.config).expect("read config");
        for node in &self.nodes {
            let at = SocketAddr::new(node.admin.ip(), node.admin.port() + 100);
            let admin = format!("admin = \"{}\"\n", node.admin);
            text = text.replace(&admin, &format!("{admin}metrics = \"{at}\"\n"));
            self.metrics.insert(node.name.clone(), at);
        }
        self.write_config_text(&text);
    }

    /// `name`'s metrics address (after [`Herd::serve_metrics`]).
    pub fn metrics_addr(&self, name: &str) -> SocketAddr {
        *self
            .metrics
            .get(name)
            .unwrap_or_else(|| panic!("{name} has no metrics address"))
    }

    /// Adds a table (such as `[log]`) to the config, ahead of any `[tls]`.
    pub fn add_config_table(&self, table: &str) {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        let text = match text.find("\n[tls]\n") {
            Some(at) => format!("{}\n{table}\n{}", &text[..at], &text[at..]),
            None => format!("{text}\n{table}\n"),
        };
        self.write_config_text(&text);
    }

    /// The files in `name`'s data directory whose names start with
    /// `prefix`, sorted.
    pub fn files_of(&self, name: &str, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.data_dir().join(name))
            .map(|dir| {
                dir.filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                    .filter(|file| file.starts_with(prefix))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Turns on `[tls]` (peer links; with `admin`, the admin port too):
    /// a CA and certificates for every node and herdctl in `dir/certs`.
    /// Before the nodes start.
    pub fn use_tls(&mut self, admin: bool) {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        let certs = tls::Certs::new(&self.dir.path().join("certs"), &names, admin);
        let text = self.config_without_tls();
        self.certs = Some(certs);
        self.write_config_text(&text);
    }

    /// No `[tls]`, whatever `HERD_TEST_TLS` says: for tests that speak
    /// the peer protocol themselves.
    pub fn plain_peers(mut self) -> Herd {
        let text = self.config_without_tls();
        self.certs = None;
        self.write_config_text(&text);
        self
    }

    fn config_without_tls(&self) -> String {
        let text = std::fs::read_to_string(&self.config).expect("read config");
        match text.find("\n[tls]\n") {
            Some(at) => text[..at].to_owned(),
            None => text,
        }
    }

    /// Rewrites the config file in place (atomically, as an operator's
    /// tooling would) for another set of nodes and links: nodes kept keep
    /// their addresses, new ones get the next ports on the herd's loopback
    /// address. For herds made by [`Herd::with_topology`].
    pub fn rewrite_config(
        &mut self,
        names: &[&str],
        links: &[(&str, &str)],
        extra_herd_toml: &str,
    ) {
        let ip = self.nodes[0].client.ip();
        let mut next = self.nodes.len() as u16;
        let nodes: Vec<NodeAddrs> = names
            .iter()
            .map(|name| {
                self.nodes
                    .iter()
                    .find(|n| n.name == *name)
                    .cloned()
                    .unwrap_or_else(|| {
                        next += 1;
                        NodeAddrs::at_contract_ports(name, ip, next - 1)
                    })
            })
            .collect();
        let toml = config_text(
            &self.herd_name,
            &nodes,
            links,
            extra_herd_toml,
            |node| [node.client, node.peer, node.admin].map(|addr| addr.to_string()),
            |_| String::new(),
        );
        self.nodes = nodes;
        self.write_config_text(&toml);
        self.links = links
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
    }

    /// Replaces the config file's text atomically (a node reading it on
    /// SIGHUP sees the old file or the new, never half of one).
    pub fn write_config_text(&self, text: &str) {
        let staged = self.dir.path().join("herd.toml.new");
        // A herd with TLS keeps it (and certificates for new nodes).
        let text = match &self.certs {
            Some(certs) if !text.contains("\n[tls]\n") => {
                for node in &self.nodes {
                    if !certs.has(&node.name) {
                        certs.issue(&node.name);
                    }
                }
                format!("{text}{}", certs.section())
            }
            _ => text.to_owned(),
        };
        std::fs::write(&staged, text).expect("write config");
        std::fs::rename(&staged, &self.config).expect("replace config");
    }

    /// Sends SIGHUP to a running node.
    pub fn hangup(&self, name: &str) {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.pid(name).to_string())
            .status();
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "kill -HUP failed"
        );
    }

    /// How `name` is named on its command line: NAME unless a test chose
    /// `HERD_NODE` or the host name.
    fn name_args(&self, name: &str) -> Vec<String> {
        self.name_args
            .get(name)
            .cloned()
            .unwrap_or_else(|| vec![name.to_owned()])
    }

    pub fn node(&self, name: &str) -> &NodeAddrs {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    pub fn client_addr(&self, name: &str) -> SocketAddr {
        self.node(name).client
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one node of this herd to completion (for start-up failures:
    /// the exit status and what it printed).
    pub fn run_to_exit(&self, name: &str) -> Output {
        run_node(
            &[
                "--config",
                self.config.to_str().unwrap_or_default(),
                "--data-dir",
                self.data_dir().to_str().unwrap_or_default(),
                name,
            ],
            self.dir.path(),
        )
    }

    /// Starts one node and waits until its client port answers.
    pub fn start(&mut self, name: &str) {
        self.start_with_env(name, &[]);
    }

    /// Starts one node; returns when its client port first answered.
    pub fn start_timed(&mut self, name: &str) -> Instant {
        self.start_with_env(name, &[])
    }

    /// Starts one node with extra environment variables; returns when its
    /// client port first answered.
    pub fn start_with_env(&mut self, name: &str, env: &[(&str, &str)]) -> Instant {
        self.spawn_with_env(name, env);
        self.wait_started(name)
    }

    /// Starts one node and returns at once, without waiting for it.
    pub fn spawn(&mut self, name: &str) {
        self.spawn_with_env(name, &[]);
    }

    fn spawn_with_env(&mut self, name: &str, env: &[(&str, &str)]) {
        let stderr = std::fs::File::create(self.dir.path().join(format!("{name}.stderr")))
            .expect("stderr file");
        let child = Command::new(binary("herd-node"))
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(self.name_args(name))
            .env_remove("HERD_NODE")
            .env_remove("HERD_ADMIN_TOKEN")
            // The tests read the log at its default filter.
            .env_remove("HERD_LOG")
            .env_remove("GOOGLE_PLACES_API_KEY")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn herd-node");
        self.children.push((name.to_owned(), child));
    }

    /// Waits until a node just spawned listens and has printed its
    /// start-up line; returns when its client port first answered.
    pub fn wait_started(&self, name: &str) -> Instant {
        let node = self.node(name);
        let mut client_open = None;
        for addr in [node.client, node.peer, node.admin] {
            let up = wait_until(Duration::from_secs(20), || TcpStream::connect(addr).is_ok());
            assert!(
                up,
                "{name} did not start listening on {addr}; stderr: {}",
                self.stderr(name)
            );
            client_open.get_or_insert_with(Instant::now);
        }
        // The ports accept (into the kernel's backlog) as soon as they are
        // bound, a moment before the node prints its start-up line.
        let banner = format!("herd-node: node {name} of herd");
        assert!(
            wait_until(Duration::from_secs(20), || self
                .stderr(name)
                .contains(&banner)),
            "{name} never printed its start-up line; stderr: {}",
            self.stderr(name)
        );
        client_open.unwrap_or_else(Instant::now)
    }

    pub fn start_all(&mut self) {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for name in &names {
            self.start(name);
        }
    }

    /// Starts one node named by `HERD_NODE` only, without the NAME
    /// argument.
    pub fn start_by_env(&mut self, name: &str) {
        self.name_args.insert(name.to_owned(), Vec::new());
        self.start_with_env(name, &[("HERD_NODE", name)]);
    }

    /// Starts the node `name`, which must be this machine's host name's
    /// first label, with `--name-from-hostname` instead of NAME.
    pub fn start_by_host_name(&mut self, name: &str) {
        self.name_args
            .insert(name.to_owned(), vec!["--name-from-hostname".to_owned()]);
        self.start_with_env(name, &[]);
    }

    /// Starts every node and waits until an update from every node has
    /// reached every other node (so every link that matters is up).
    pub fn start_all_connected(&mut self) {
        self.start_all();
        self.wait_connected();
    }

    /// Waits until both ends of every link report it connected on their
    /// admin ports, then until every node's probe update is known everywhere.
    pub fn wait_connected(&self) {
        for (a, b) in &self.links {
            for (me, peer) in [(a, b), (b, a)] {
                let up = wait_until(Duration::from_secs(20), || {
                    self.link_status(me, peer)["connected"] == true
                });
                assert!(
                    up,
                    "link {me} - {peer} never came up; log of {me}:\n{}",
                    self.log(me)
                );
            }
        }
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for from in &names {
            let probe = format!("probe-{from}-{}", fastrand::u64(..));
            let reply = one_shot(self.client_addr(from), &iamat(&probe, "+0+0", now_text()));
            assert!(reply.starts_with("AT "), "probe at {from}: {reply:?}");
            for to in &names {
                let addr = self.client_addr(to);
                let known = wait_until(Duration::from_secs(15), || {
                    one_shot(addr, &format!("WHATSAT {probe} 1 1")).starts_with("AT ")
                });
                assert!(known, "update from {from} never reached {to}");
            }
        }
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self, name: &str) {
        for (n, child) in &mut self.children {
            if n == name {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.children.retain(|(n, _)| n != name);
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(&mut self, name: &str) -> std::process::ExitStatus {
        let index = self
            .children
            .iter()
            .position(|(n, _)| n == name)
            .expect("running node");
        let (_, mut child) = self.children.remove(index);
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "kill -TERM failed"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{name} did not stop within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A fresh connection to `name`'s admin port.
    pub fn admin(&self, name: &str) -> Admin {
        Admin::connect(self.node(name).admin)
    }

    /// `name`'s snapshot (the `result` of the admin `snapshot` request).
    pub fn snapshot(&self, name: &str) -> serde_json::Value {
        let response = self
            .admin(name)
            .request(serde_json::json!({"cmd": "snapshot"}));
        assert_eq!(response["ok"], true, "snapshot of {name}: {response}");
        response["result"].clone()
    }

    /// What `name`'s snapshot says about its link to `peer`.
    pub fn link_status(&self, name: &str, peer: &str) -> serde_json::Value {
        let snapshot = self.snapshot(name);
        let links = snapshot["links"].as_array().cloned().unwrap_or_default();
        links
            .into_iter()
            .find(|link| link["peer"] == peer)
            .unwrap_or_else(|| panic!("{name} has no link to {peer}: {snapshot}"))
    }

    /// Runs herdctl against this herd, `--config` last (options may come
    /// after positional arguments).
    pub fn herdctl(&self, args: &[&str]) -> Output {
        self.herdctl_env(args, &[])
    }

    pub fn herdctl_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(binary("herdctl"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            // A token in the developer's environment must not leak in.
            .env_remove("HERD_ADMIN_TOKEN")
            .envs(env.iter().copied())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run herdctl")
    }

    /// The pid of a node this herd started.
    pub fn pid(&self, name: &str) -> u32 {
        self.children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, child)| child.id())
            .unwrap_or_else(|| panic!("{name} is not running"))
    }

    pub fn stderr(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.stderr"))).unwrap_or_default()
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.data_dir().join(name).join("node.log")).unwrap_or_default()
    }

    /// Does `name`'s log come to hold `needle` within 5 s? The log is
    /// written by a thread of its own, so a line can land a moment after
    /// what it tells of is visible on the admin port.
    pub fn log_shows(&self, name: &str, needle: &str) -> bool {
        wait_until(Duration::from_secs(5), || self.log(name).contains(needle))
    }
}

impl Drop for Herd {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The current time as the protocol writes it, with nine decimals.
pub fn now_text() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

pub fn iamat(client: &str, position: &str, time: String) -> String {
    format!("IAMAT {client} {position} {time}")
}

/// The original assignment's grading client: connect, send one request
/// without a newline, half-close, read everything.
pub fn one_shot(addr: SocketAddr, request: &str) -> String {
    let bytes = one_shot_bytes(addr, request.as_bytes());
    String::from_utf8(bytes).expect("UTF-8 reply")
}

pub fn one_shot_bytes(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("send");
    stream.shutdown(Shutdown::Write).expect("half-close");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read reply");
    reply
}

/// A long-lived client connection reading replies line by line.
pub struct Session {
    stream: TcpStream,
    buffered: Vec<u8>,
}

impl Session {
    pub fn connect(addr: SocketAddr) -> Session {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Session {
            stream,
            buffered: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// One reply line, without its `\n`.
    pub fn read_line(&mut self) -> String {
        loop {
            if let Some(end) = self.buffered.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffered.drain(..=end).collect();
                return String::from_utf8_lossy(&line[..end]).into_owned();
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read reply");
            assert!(n > 0, "connection closed while waiting for a reply line");
            self.buffered.extend_from_slice(&chunk[..n]);
        }
    }

    /// A whole WHATSAT reply: the AT line and the JSON, up to the blank line.
    pub fn read_whatsat(&mut self) -> (String, serde_json::Value) {
        let at = self.read_line();
        let json = self.read_whatsat_body();
        let value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("bad JSON ({e}): {json}"));
        (at, value)
    }

    /// After a WHATSAT reply's AT line (or a `?` line, which has no body):
    /// reads the JSON up to the blank line.
    pub fn read_whatsat_body(&mut self) -> String {
        let mut json = String::new();
        loop {
            let line = self.read_line();
            if line.is_empty() {
                return json;
            }
            json.push_str(&line);
            json.push('\n');
        }
    }

    /// Everything until the node closes the connection.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.buffered);
        self.stream.read_to_end(&mut rest).expect("read to end");
        rest
    }

    /// Sends, ignoring errors (for peers that may stop reading).
    pub fn send_lossy(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    pub fn half_close(&mut self) {
        self.stream.shutdown(Shutdown::Write).expect("half-close");
    }
}

/// A connection to a node's admin port (JSON lines).
pub struct Admin {
    session: Session,
    next_id: u64,
}

impl Admin {
    pub fn connect(addr: SocketAddr) -> Admin {
        Admin {
            session: Session::connect(addr),
            next_id: 1,
        }
    }

    /// How long a read may wait (10 s unless changed).
    pub fn set_read_timeout(&mut self, limit: Duration) {
        self.session
            .stream
            .set_read_timeout(Some(limit))
            .expect("set the read timeout");
    }

    /// Sends one line as is.
    pub fn send_line(&mut self, line: &str) {
        self.session.send(format!("{line}\n").as_bytes());
    }

    pub fn read_json(&mut self) -> serde_json::Value {
        let line = self.session.read_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("admin sent bad JSON ({e}): {line}"))
    }

    /// Sends `request` with a fresh id and returns its response, skipping
    /// events that come first.
    pub fn request(&mut self, mut request: serde_json::Value) -> serde_json::Value {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = serde_json::Value::from(id);
        self.send_line(&request.to_string());
        loop {
            let value = self.read_json();
            if value.get("event").is_none() && value["id"] == id {
                return value;
            }
        }
    }

    /// The next event line, skipping responses.
    pub fn next_event(&mut self) -> serde_json::Value {
        loop {
            let value = self.read_json();
            if value.get("event").is_some() {
                return value;
            }
        }
    }

    /// Everything until the node closes the connection.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        self.session.read_to_end()
    }
}

/// Loads `records` clients named `PREFIX-N` into the node at `client`
/// (pipelined IAMATs over 8 connections); returns the bytes of their AT
/// lines. For the measuring examples.
pub fn load_clients(client: SocketAddr, prefix: &str, records: usize) -> u64 {
    let per = records.div_ceil(8);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|t| {
                scope.spawn(move || {
                    let mut bytes = 0u64;
                    let mut session = Session::connect(client);
                    let start = t * per;
                    let end = ((t + 1) * per).min(records);
                    for chunk in (start..end).collect::<Vec<_>>().chunks(1000) {
                        let mut batch = String::new();
                        let time = now_text();
                        for i in chunk {
                            batch.push_str(&format!(
                                "IAMAT {prefix}-{i} +34.068930-118.445127 {time}\n"
                            ));
                        }
                        session.send(batch.as_bytes());
                        for _ in chunk {
                            bytes += session.read_line().len() as u64 + 1;
                        }
                    }
                    bytes
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    })
}

/// `herdctl up --no-tui` over `herd`'s config, as a child process whose
/// stdout and stderr are collected in the background.
pub struct Up {
    pub child: std::process::Child,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Up {
    pub fn start(herd: &Herd) -> Up {
        let mut child = Command::new(binary("herdctl"))
            .args(["up", "--no-tui", "--data-dir"])
            .arg(herd.data_dir())
            .arg("--config")
            .arg(&herd.config)
            .env_remove("HERD_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start herdctl up");
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let streams: Vec<Box<dyn Read + Send>> = vec![
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for stream in streams {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut text) = output.lock() {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
            });
        }
        Up { child, output }
    }

    pub fn output(&self) -> String {
        self.output.lock().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn wait_for_output(&self, needle: &str, limit: Duration) -> bool {
        wait_until(limit, || self.output().contains(needle))
    }

    /// Waits until the herd is up (`up` printed its closing hint).
    pub fn wait_running(&self) {
        assert!(
            self.wait_for_output("is running", Duration::from_secs(30)),
            "up did not start the herd: {}",
            self.output()
        );
    }

    /// Waits for `up` to exit (at most `limit`) and checks how.
    pub fn assert_exits(&mut self, success: bool, limit: Duration) {
        let exit = self.wait(limit);
        assert!(
            exit.is_some_and(|s| s.success() == success),
            "{exit:?}: {}",
            self.output()
        );
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill {signal} failed");
    }

    /// Waits for the exit status (at most `limit`).
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
