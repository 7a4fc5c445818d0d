//! A herd across hosts: each node in its own network namespace with its
//! own address, joined by a bridge, as on separate machines. Needs Linux
//! and root (`ip netns`); skipped, saying why, where that is not available.
//!
//! - Five hosts by IP: one host's network is cut (its link goes down, not
//!   the admin command) and restored.
//! - Five hosts by name (every address in the config a host name, resolved
//!   through each namespace's own `/etc/netns/NS/hosts`): one host moves to
//!   a new IP with nothing restarted, and a sixth host joins by SIGHUP;
//!   a node's own name that resolves to nothing stops its start (exit 1),
//!   a peer's is a failed dial said on the link.
//!
//! No name leaves the machine: every namespace gets a `resolv.conf` naming
//! 127.0.0.1, where nothing listens, and the namespaces have no route but
//! their bridge's subnet. The test process and herdctl (in the root
//! namespace) only use IP literals.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use herd_blackbox::*;

/// Namespaces, links, `/etc/netns` files and processes of one test,
/// removed when dropped.
struct Hosts {
    tag: String,
    subnet: (u8, u8),
    /// Hosts made (their namespaces may exist).
    count: usize,
    children: Vec<Child>,
    /// `/etc/netns/NS` directories made.
    etc_dirs: Vec<PathBuf>,
    /// Whether this test made `/etc/netns` itself.
    made_etc_netns: bool,
}

/// Runs `ip` with `args`; its complaint, as an error, when it fails.
fn ip(args: &[&str]) -> std::io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Rewrites `path` in place: `ip netns exec` bind-mounts the file itself
/// over `/etc/hosts`, so a running node sees a new content of the same
/// file (inode) but never a file renamed over it.
fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    // One write of the whole text, then the length: a reader in between
    // sees the old text or the new one (plus, were it shorter, old bytes).
    file.write_all(text.as_bytes())?;
    file.set_len(text.len() as u64)
}

impl Hosts {
    fn ns(&self, host: usize) -> String {
        format!("{}h{host}", self.tag)
    }

    fn switch(&self) -> String {
        format!("{}sw", self.tag)
    }

    /// Host `host`'s address at the start.
    fn addr(&self, host: usize) -> Ipv4Addr {
        self.in_subnet(host as u8 + 1)
    }

    fn in_subnet(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet.0, self.subnet.1, last)
    }

    fn inside(&self, host: usize) -> String {
        format!("{}e{host}", self.tag)
    }

    /// A bridge in a "switch" namespace, one namespace per host on it, and
    /// this (the root) namespace on it too so the test can reach every host.
    fn build(hosts: usize) -> std::io::Result<Hosts> {
        let tag = format!("hd{}x{}", std::process::id() % 100_000, fastrand::u16(..));
        let mut set = Hosts {
            tag,
            subnet: (fastrand::u8(100..200), fastrand::u8(1..250)),
            count: 0,
            children: Vec::new(),
            etc_dirs: Vec::new(),
            made_etc_netns: false,
        };
        let sw = set.switch();
        ip(&["netns", "add", &sw])?;
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for host in 0..hosts {
            set.add_host(host, set.addr(host))?;
        }
        let (here, there) = (format!("{}rt", set.tag), format!("{}sr", set.tag));
        ip(&["link", "add", &here, "type", "veth", "peer", "name", &there])?;
        ip(&["link", "set", &there, "netns", &sw])?;
        ip(&["-n", &sw, "link", "set", &there, "master", "br0"])?;
        ip(&["-n", &sw, "link", "set", &there, "up"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", set.in_subnet(200)),
            "dev",
            &here,
        ])?;
        ip(&["link", "set", &here, "up"])?;
        Ok(set)
    }

    /// One more host (the next number) on the bridge, at `addr`.
    fn add_host(&mut self, host: usize, addr: Ipv4Addr) -> std::io::Result<()> {
        assert_eq!(host, self.count, "hosts are added in order");
        let (ns, sw) = (self.ns(host), self.switch());
        let (inside, outside) = (self.inside(host), format!("{}s{host}", self.tag));
        self.count += 1;
        ip(&["netns", "add", &ns])?;
        ip(&[
            "link", "add", &inside, "type", "veth", "peer", "name", &outside,
        ])?;
        ip(&["link", "set", &inside, "netns", &ns])?;
        ip(&["link", "set", &outside, "netns", &sw])?;
        ip(&["-n", &sw, "link", "set", &outside, "master", "br0"])?;
        ip(&["-n", &sw, "link", "set", &outside, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            &inside,
        ])?;
        ip(&["-n", &ns, "link", "set", &inside, "up"])?;
        Ok(())
    }

    /// Takes host `host`'s network link down or up (like a cable).
    fn cable(&self, host: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&[
            "-n",
            &self.ns(host),
            "link",
            "set",
            &self.inside(host),
            state,
        ])
        .expect("set the link");
    }

    /// Moves host `host` from `from` to `to` (the old address removed
    /// first: removing a primary address would take a secondary with it).
    fn readdress(&self, host: usize, from: Ipv4Addr, to: Ipv4Addr) {
        let (ns, dev) = (self.ns(host), self.inside(host));
        ip(&["-n", &ns, "addr", "del", &format!("{from}/24"), "dev", &dev])
            .expect("remove the old address");
        ip(&["-n", &ns, "addr", "add", &format!("{to}/24"), "dev", &dev])
            .expect("add the new address");
    }

    /// Host `host`'s `/etc/netns/NS/hosts` (rewritten in place) and a
    /// `resolv.conf` that sends any name missing from it to 127.0.0.1,
    /// where nothing answers, instead of this machine's resolver.
    fn name_service(&mut self, host: usize, hosts_text: &str) {
        let etc_netns = Path::new("/etc/netns");
        if !etc_netns.exists() {
            std::fs::create_dir(etc_netns).expect("create /etc/netns");
            self.made_etc_netns = true;
        }
        let dir = etc_netns.join(self.ns(host));
        if !self.etc_dirs.contains(&dir) {
            std::fs::create_dir_all(&dir).expect("create /etc/netns/NS");
            self.etc_dirs.push(dir.clone());
            std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n")
                .expect("write resolv.conf");
        }
        write_in_place(&dir.join("hosts"), hosts_text).expect("write the hosts file");
    }

    /// Starts node `name` in host `host`'s namespace (`ip netns exec` execs
    /// the node in its own process, so the pid is the node's); its stderr
    /// goes to `stderr`.
    fn start(&mut self, host: usize, name: &str, config: &Path, data: &Path, stderr: &Path) -> u32 {
        let stderr = std::fs::File::create(stderr).expect("stderr file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .arg(binary("herd-node"))
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .arg(name)
            .env_remove("HERD_NODE")
            .env_remove("HERD_SECRET")
            .env_remove("HERD_ADMIN_TOKEN")
            .env_remove("GOOGLE_PLACES_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start a node in its namespace");
        let pid = child.id();
        self.children.push(child);
        pid
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = ip(&["link", "del", &format!("{}rt", self.tag)]);
        for host in 0..self.count {
            let _ = ip(&["netns", "del", &self.ns(host)]);
        }
        let _ = ip(&["netns", "del", &self.switch()]);
        for dir in &self.etc_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
        if self.made_etc_netns {
            // Only if empty: another test may have made its own since.
            let _ = std::fs::remove_dir("/etc/netns");
        }
    }
}

fn reachable(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

fn whatsat_line(addr: SocketAddr, client: &str) -> String {
    let reply = one_shot(addr, &format!("WHATSAT {client} 1 1"));
    reply.lines().next().unwrap_or_default().to_owned()
}

/// A herd's config: `host(node)` is the host part of a node's addresses as
/// written (an IP or a name); `extra` more lines of every node's table.
fn herd_toml(
    herd_name: &str,
    nodes: &[&str],
    links: &[(&str, &str)],
    host: impl Fn(&str) -> String,
    extra: &str,
) -> String {
    let mut toml = String::from("links = [\n");
    for (a, b) in links {
        toml.push_str(&format!("  [\"{a}\", \"{b}\"],\n"));
    }
    toml.push_str(&format!(
        "]\n\n[herd]\nname = \"{herd_name}\"\nsecret = \"across hosts\"\n"
    ));
    for name in nodes {
        let at = host(name);
        toml.push_str(&format!(
            "\n[[node]]\nname = \"{name}\"\nclient = \"{at}:12000\"\npeer = \"{at}:12100\"\nadmin = \"{at}:12200\"\n{extra}"
        ));
    }
    toml
}

/// herdctl's exit status and its JSON report (Null if it printed none).
fn herdctl_status(config: &Path) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(binary("herdctl"))
        .args(["status", "--json", "--config"])
        .arg(config)
        .env_remove("HERD_ADMIN_TOKEN")
        .output()
        .expect("herdctl status");
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), report)
}

#[test]
fn a_herd_across_five_hosts_survives_a_cut_cable() {
    five_hosts_and_a_cut_cable("a_herd_across_five_hosts_survives_a_cut_cable", false);
}

/// The same with `[tls]`: every link TLS 1.3 with the hosts' certificates,
/// and herdctl's admin connections too.
#[test]
fn a_tls_herd_across_five_hosts_survives_a_cut_cable() {
    five_hosts_and_a_cut_cable("a_tls_herd_across_five_hosts_survives_a_cut_cable", true);
}

fn five_hosts_and_a_cut_cable(test: &str, tls: bool) {
    // Made first so it is removed last, after the nodes are killed.
    let dir = tempfile::tempdir().expect("temp dir");
    let hosts = match Hosts::build(DEFAULT_NODES.len()) {
        Ok(hosts) => hosts,
        Err(why) => {
            eprintln!("SKIPPED {test}: network namespaces unavailable ({why})");
            return;
        }
    };
    let mut hosts = hosts;
    let herd_name = format!("hosts-{}", fastrand::u32(..));
    let subnet = hosts.subnet;
    let addr = |host: usize, base: u16| {
        SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, subnet.0, subnet.1, host as u8 + 1)),
            base,
        )
    };
    let host_of = |name: &str| DEFAULT_NODES.iter().position(|n| *n == name).unwrap_or(0);
    let toml = herd_toml(
        &herd_name,
        &DEFAULT_NODES,
        &DEFAULT_LINKS,
        |name| addr(host_of(name), 0).ip().to_string(),
        "",
    );
    let toml = match tls {
        true => {
            let certs = tls::Certs::new(&dir.path().join("certs"), &DEFAULT_NODES, true);
            toml + &certs.section()
        }
        false => toml,
    };
    let config = dir.path().join("herd.toml");
    std::fs::write(&config, toml).expect("write config");
    for (host, name) in DEFAULT_NODES.iter().enumerate() {
        hosts.start(
            host,
            name,
            &config,
            &dir.path().join("data"),
            &dir.path().join(format!("{name}.stderr")),
        );
    }
    let client = |name: &str| addr(host_of(name), 12000);
    let herdctl_status = || herdctl_status(&config);
    // Every node up, every link connected (authenticated with the secret).
    assert!(
        wait_until(Duration::from_secs(30), || {
            let (code, report) = herdctl_status();
            code == Some(0) && report["links_connected"] == 6
        }),
        "the herd never came up across the hosts: {}",
        herdctl_status().1
    );
    let at = one_shot(client("Bailey"), &iamat("before-cut", "+1+1", now_text()));
    for name in DEFAULT_NODES {
        assert!(
            wait_until(Duration::from_secs(5), || whatsat_line(
                client(name),
                "before-cut"
            ) == at.trim_end()),
            "{name} did not get the update across hosts"
        );
    }

    // Pull Clark's cable.
    let clark = host_of("Clark");
    hosts.cable(clark, false);
    let cut_at = Instant::now();
    assert!(!reachable(client("Clark")));
    let during = one_shot(client("Bailey"), &iamat("during-cut", "+2+2", now_text()));
    for name in ["Bona", "Campbell", "Jaquez"] {
        assert!(
            wait_until(Duration::from_secs(5), || whatsat_line(
                client(name),
                "during-cut"
            ) == during.trim_end()),
            "{name} did not get an update while Clark was cut off"
        );
    }
    // The cut host is reported: unreachable for herdctl, and its neighbours
    // see their links to it go down (no traffic for 3 s).
    let (code, report) = herdctl_status();
    assert_eq!(code, Some(1), "{report}");
    let clark_report = node_in(&report, "Clark");
    assert_eq!(clark_report["reachable"], false, "{report}");
    assert!(
        wait_until(Duration::from_secs(10), || {
            node_in(&herdctl_status().1, "Jaquez")["links"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|link| link["peer"] == "Clark" && link["connected"] == false)
        }),
        "Jaquez never noticed Clark was gone"
    );
    eprintln!("Jaquez saw the cut within {:?}", cut_at.elapsed());

    // Plug it back: Clark catches up (by repair) and the herd converges.
    hosts.cable(clark, true);
    assert!(
        wait_until(Duration::from_secs(30), || whatsat_line(
            client("Clark"),
            "during-cut"
        ) == during.trim_end()),
        "Clark did not catch up after the cable was back"
    );
    assert!(
        wait_until(Duration::from_secs(15), || {
            let (code, report) = herdctl_status();
            code == Some(0) && report["converged"] == true
        }),
        "the herd did not converge: {}",
        herdctl_status().1
    );
    if tls {
        let log =
            std::fs::read_to_string(dir.path().join("data/Clark/node.log")).unwrap_or_default();
        assert!(
            log.contains("TLS 1.3)"),
            "Clark's links were not TLS:\n{log}"
        );
    }
}

/// The node that joins the named herd by reload, and its links.
const SIXTH: &str = "Hill";
const SIXTH_LINKS: [(&str, &str); 2] = [("Hill", "Clark"), ("Hill", "Bailey")];

fn host_name(node: &str) -> String {
    format!("{}.herd.test", node.to_ascii_lowercase())
}

fn at(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// Every host's hosts file: each node's name at its address now (the same
/// file everywhere, as a DNS zone would be).
fn publish_names(hosts: &mut Hosts, nodes: &[&str], ips: &[Ipv4Addr]) {
    let mut text = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost\n");
    for (name, ip) in nodes.iter().zip(ips) {
        text.push_str(&format!("{ip}\t{}\n", host_name(name)));
    }
    for host in 0..nodes.len() {
        hosts.name_service(host, &text);
    }
}

/// A node's admin snapshot, or None when it does not answer (for polling
/// hosts that may be away).
fn snapshot(admin: SocketAddr) -> Option<serde_json::Value> {
    admin_request(admin, "{\"cmd\": \"snapshot\", \"id\": 1}")
}

/// One admin request (with `"id": 1`) and its result, if it succeeded.
fn admin_request(admin: SocketAddr, request: &str) -> Option<serde_json::Value> {
    let mut stream = TcpStream::connect_timeout(&admin, Duration::from_millis(300)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(format!("{request}\n").as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let value: serde_json::Value = serde_json::from_str(&line).ok()?;
        if value.get("event").is_none() && value["id"] == 1 {
            return (value["ok"] == true).then(|| value["result"].clone());
        }
    }
}

/// What a snapshot says about the link to `peer`.
fn link_to(snapshot: &serde_json::Value, peer: &str) -> Option<serde_json::Value> {
    snapshot["links"]
        .as_array()?
        .iter()
        .find(|link| link["peer"] == peer)
        .cloned()
}

/// Updates (not repair answers) a node received over all its links.
fn updates_in(snapshot: &serde_json::Value) -> u64 {
    snapshot["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|link| link["msgs_in"].as_u64())
        .sum()
}

/// For a failed assertion: herdctl's report and the end of each node's log.
fn report(herdctl_config: &Path, data: &Path, nodes: &[&str]) -> String {
    let (code, status) = herdctl_status(herdctl_config);
    let mut out = format!("\nherdctl status --json (exit {code:?}):\n{status:#}\n");
    for name in nodes {
        let log = std::fs::read_to_string(data.join(name).join("node.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(25)..];
        out.push_str(&format!(
            "--- last lines of {name}'s node.log:\n{}\n",
            tail.join("\n")
        ));
    }
    out
}

/// `wait_until` for checks that start processes: at most every 50 ms.
fn wait_gently(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    wait_until(limit, || {
        condition() || {
            std::thread::sleep(Duration::from_millis(40));
            false
        }
    })
}

#[test]
fn a_herd_by_host_names_finds_a_moved_host_and_takes_a_sixth_by_reload() {
    let begun = Instant::now();
    // Made first so it is removed last, after the nodes are killed.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut hosts = match Hosts::build(DEFAULT_NODES.len()) {
        Ok(hosts) => hosts,
        Err(why) => {
            eprintln!(
                "SKIPPED a_herd_by_host_names_finds_a_moved_host_and_takes_a_sixth_by_reload: network namespaces unavailable ({why})"
            );
            return;
        }
    };
    let data = dir.path().join("data");
    let herd_name = format!("names-{}", fastrand::u32(..));
    let mut nodes: Vec<&str> = DEFAULT_NODES.to_vec();
    let mut links: Vec<(&str, &str)> = DEFAULT_LINKS.to_vec();
    let mut ips: Vec<Ipv4Addr> = (0..nodes.len()).map(|host| hosts.addr(host)).collect();
    let host_of = |nodes: &[&str], name: &str| {
        nodes
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    };
    publish_names(&mut hosts, &nodes, &ips);

    // The nodes' config names every address; each node listens on
    // 0.0.0.0 in its namespace. It is replaced by a rename, as an editor
    // or a config manager does; the node re-reads the path on SIGHUP.
    let config = dir.path().join("herd.toml");
    let write_config = |nodes: &[&str], links: &[(&str, &str)]| {
        let toml = herd_toml(&herd_name, nodes, links, host_name, "bind = \"0.0.0.0\"\n");
        let new = dir.path().join("herd.toml.new");
        std::fs::write(&new, toml).expect("write the config");
        std::fs::rename(&new, &config).expect("replace the config");
    };
    // herdctl runs here, in the root namespace, where the names are not
    // known: its own config gives the same nodes by IP.
    let ctl = dir.path().join("herdctl.toml");
    let write_ctl = |nodes: &[&str], links: &[(&str, &str)], ips: &[Ipv4Addr]| {
        let toml = herd_toml(
            &herd_name,
            nodes,
            links,
            |name| ips[host_of(nodes, name)].to_string(),
            "",
        );
        std::fs::write(&ctl, toml).expect("write herdctl's config");
    };
    write_config(&nodes, &links);
    write_ctl(&nodes, &links, &ips);

    // A name that does not resolve (in no hosts file, and the namespace's
    // resolver at 127.0.0.1 answers nothing, so no query leaves the
    // machine): without `bind` the node must resolve its own address, and
    // it does not start, saying which.
    let unresolvable = dir.path().join("unresolvable.toml");
    let nowhere = |name: &str| {
        if name == nodes[0] {
            "nowhere.herd.test".to_owned()
        } else {
            host_name(name)
        }
    };
    std::fs::write(
        &unresolvable,
        herd_toml(&herd_name, &nodes, &links, nowhere, ""),
    )
    .expect("write a config");
    let refused = Command::new("ip")
        .args(["netns", "exec", &hosts.ns(0)])
        .arg(binary("herd-node"))
        .arg("--config")
        .arg(&unresolvable)
        .arg("--data-dir")
        .arg(&data)
        .arg(nodes[0])
        .env_remove("HERD_NODE")
        .output()
        .expect("run a node in its namespace");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("cannot listen on client address nowhere.herd.test:12000")
            && said.contains("cannot resolve host name \"nowhere.herd.test\""),
        "{said}"
    );

    eprintln!("five namespaces made in {:?}", begun.elapsed());
    let started = Instant::now();
    let mut pids = Vec::new();
    for (host, name) in nodes.iter().enumerate() {
        let stderr = dir.path().join(format!("{name}.stderr"));
        pids.push(hosts.start(host, name, &config, &data, &stderr));
    }
    assert!(
        wait_gently(Duration::from_secs(30), || {
            let (code, status) = herdctl_status(&ctl);
            code == Some(0) && status["links_connected"] == 6
        }),
        "the herd by names never came up: {}",
        report(&ctl, &data, &nodes)
    );
    eprintln!(
        "five nodes by name linked {:?} after they were started",
        started.elapsed()
    );
    // The links were dialled by name, and the pids are the nodes' (so
    // SIGHUP goes to them, not to an `ip` wrapper).
    for (host, name) in nodes.iter().enumerate() {
        let snap = snapshot(at(ips[host], 12200)).expect("a snapshot");
        assert_eq!(snap["pid"], pids[host], "{name}'s pid: {snap}");
        assert_eq!(
            snap["addresses"]["peer"],
            format!("{}:12100", host_name(name)),
            "{snap}"
        );
        for link in snap["links"].as_array().into_iter().flatten() {
            let peer = link["peer"].as_str().unwrap_or_default();
            assert_eq!(
                link["peer_addr"],
                format!("{}:12100", host_name(peer)),
                "{name}: {link}"
            );
        }
    }
    let client =
        |ips: &[Ipv4Addr], nodes: &[&str], name: &str| at(ips[host_of(nodes, name)], 12000);
    let by_name = one_shot(
        client(&ips, &nodes, "Bailey"),
        &iamat("by-name", "+1+1", now_text()),
    );
    for name in &nodes {
        assert!(
            wait_until(Duration::from_secs(5), || whatsat_line(
                client(&ips, &nodes, name),
                "by-name"
            ) == by_name.trim_end()),
            "{name} did not get the update sent to Bailey: {}",
            report(&ctl, &data, &nodes)
        );
    }

    // Campbell (three links) moves to a new address: nothing restarts, the
    // names are pointed at it, and its old connections die (3 s without
    // traffic) and are redialled by name.
    let moved = host_of(&nodes, "Campbell");
    let boot_id = snapshot(at(ips[moved], 12200)).expect("Campbell's snapshot")["boot_id"].clone();
    let neighbours: Vec<&str> = links
        .iter()
        .filter_map(|&(a, b)| match (a == "Campbell", b == "Campbell") {
            (true, _) => Some(b),
            (_, true) => Some(a),
            _ => None,
        })
        .collect();
    let (old, new) = (ips[moved], hosts.in_subnet(9));
    hosts.readdress(moved, old, new);
    let moved_at = Instant::now();
    ips[moved] = new;
    publish_names(&mut hosts, &nodes, &ips);
    write_ctl(&nodes, &links, &ips);
    assert!(
        !reachable(at(old, 12000)),
        "Campbell still answers at {old}"
    );
    for peer in &neighbours {
        let admin = at(ips[host_of(&nodes, peer)], 12200);
        // Which end dialled the new connection is a race: both do, the
        // peer by Campbell's name, Campbell by the peer's.
        let mut relinked = serde_json::Value::Null;
        assert!(
            wait_until(Duration::from_secs(20), || {
                relinked = snapshot(admin)
                    .and_then(|snap| link_to(&snap, "Campbell"))
                    .unwrap_or_default();
                relinked["connected"] == true
                    && relinked["remote"]
                        .as_str()
                        .is_some_and(|remote| remote.starts_with(&format!("{new}:")))
            }),
            "{peer} never found Campbell again at {new} (its link: {relinked}): {}",
            report(&ctl, &data, &nodes)
        );
        let dialler = if relinked["dials"] == true {
            peer
        } else {
            "Campbell"
        };
        eprintln!(
            "{peer} linked to Campbell at its new address {:?} after the move (dialled by {dialler})",
            moved_at.elapsed()
        );
    }
    let campbell = snapshot(at(new, 12200)).expect("Campbell's snapshot at its new address");
    assert_eq!(
        campbell["boot_id"], boot_id,
        "Campbell restarted: {campbell}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            snapshot(at(new, 12200)).is_some_and(|snap| {
                neighbours
                    .iter()
                    .all(|peer| link_to(&snap, peer).is_some_and(|link| link["connected"] == true))
            })
        }),
        "Campbell's own links did not come back: {}",
        report(&ctl, &data, &nodes)
    );
    // Updates flood to and from the moved host.
    for (sent_to, client_name) in [("Campbell", "after-move"), ("Jaquez", "after-move-2")] {
        let sent_at = Instant::now();
        let line = one_shot(
            client(&ips, &nodes, sent_to),
            &iamat(client_name, "+3+3", now_text()),
        );
        for name in &nodes {
            assert!(
                wait_until(Duration::from_secs(5), || whatsat_line(
                    client(&ips, &nodes, name),
                    client_name
                ) == line.trim_end()),
                "{name} did not get the update sent to {sent_to} after the move: {}",
                report(&ctl, &data, &nodes)
            );
        }
        eprintln!(
            "an update sent to {sent_to} after the move reached every node in {:?}",
            sent_at.elapsed()
        );
    }
    assert!(
        wait_gently(Duration::from_secs(10), || {
            let (code, status) = herdctl_status(&ctl);
            code == Some(0) && status["links_connected"] == 6 && status["converged"] == true
        }),
        "the herd did not settle after the move: {}",
        report(&ctl, &data, &nodes)
    );

    // A sixth host joins: its namespace and name, a new config (the same
    // path) with Hill and two links to it, Hill started with it, and
    // SIGHUP to the five.
    let (_, settled) = herdctl_status(&ctl);
    let (digest, records) = (
        settled["nodes"][0]["digest"].clone(),
        settled["nodes"][0]["records"].clone(),
    );
    let sixth = nodes.len();
    let sixth_ip = hosts.in_subnet(sixth as u8 + 1);
    hosts
        .add_host(sixth, sixth_ip)
        .expect("a sixth namespace on the bridge");
    nodes.push(SIXTH);
    links.extend(SIXTH_LINKS);
    ips.push(sixth_ip);
    publish_names(&mut hosts, &nodes, &ips);
    write_config(&nodes, &links);
    write_ctl(&nodes, &links, &ips);
    let hill_admin = at(sixth_ip, 12200);
    let stderr = dir.path().join(format!("{SIXTH}.stderr"));
    let hill_pid = hosts.start(sixth, SIXTH, &config, &data, &stderr);
    assert!(
        wait_until(Duration::from_secs(20), || snapshot(hill_admin).is_some()),
        "{SIXTH} did not start: {}{}",
        std::fs::read_to_string(&stderr).unwrap_or_default(),
        report(&ctl, &data, &nodes)
    );
    let hill = snapshot(hill_admin).expect("Hill's snapshot");
    assert_eq!(hill["pid"], hill_pid, "{hill}");
    let generation = hill["config_generation"].clone();
    let hup_at = Instant::now();
    for pid in &pids {
        let sent = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .is_ok_and(|status| status.success());
        assert!(sent, "kill -HUP {pid} failed");
    }
    for (host, name) in nodes[..sixth].iter().enumerate() {
        assert!(
            wait_until(Duration::from_secs(10), || snapshot(at(ips[host], 12200))
                .is_some_and(|snap| snap["config_generation"] == generation)),
            "{name} did not reload the config (generation {generation}): {}",
            report(&ctl, &data, &nodes)
        );
    }
    eprintln!("the five reloaded {:?} after SIGHUP", hup_at.elapsed());
    assert!(
        wait_until(Duration::from_secs(20), || {
            SIXTH_LINKS.iter().all(|&(_, peer)| {
                snapshot(hill_admin)
                    .and_then(|snap| link_to(&snap, peer))
                    .is_some_and(|link| link["connected"] == true)
            })
        }),
        "{SIXTH}'s links never came up: {}",
        report(&ctl, &data, &nodes)
    );
    eprintln!("{SIXTH} linked {:?} after SIGHUP", hup_at.elapsed());
    assert!(
        wait_until(Duration::from_secs(20), || snapshot(hill_admin)
            .is_some_and(
                |snap| snap["digest"] == digest && snap["records"] == records
            )),
        "{SIXTH} was not caught up (the herd held {records} records, digest {digest}): {}",
        report(&ctl, &data, &nodes)
    );
    eprintln!(
        "{SIXTH} held the herd's {records} records {:?} after SIGHUP",
        hup_at.elapsed()
    );
    assert!(
        wait_gently(Duration::from_secs(10), || {
            let (code, status) = herdctl_status(&ctl);
            code == Some(0) && status["links_connected"] == 8 && status["converged"] == true
        }),
        "not every link is up after the reload: {}",
        report(&ctl, &data, &nodes)
    );
    for earlier in ["by-name", "after-move", "after-move-2"] {
        assert_eq!(
            whatsat_line(at(sixth_ip, 12000), earlier),
            whatsat_line(client(&ips, &nodes, "Bona"), earlier),
            "{SIXTH} and Bona disagree on {earlier}"
        );
    }
    // New updates reach Hill by flooding: as updates on its links, not
    // (only) as repair answers.
    let before = updates_in(&snapshot(hill_admin).expect("Hill's snapshot"));
    let sent_at = Instant::now();
    let joined = one_shot(
        client(&ips, &nodes, "Bona"),
        &iamat("after-join", "+4+4", now_text()),
    );
    for name in &nodes {
        assert!(
            wait_until(Duration::from_secs(5), || whatsat_line(
                client(&ips, &nodes, name),
                "after-join"
            ) == joined.trim_end()),
            "{name} did not get the update sent after {SIXTH} joined: {}",
            report(&ctl, &data, &nodes)
        );
    }
    eprintln!(
        "an update sent to Bona after the join reached every node in {:?}",
        sent_at.elapsed()
    );
    let after = updates_in(&snapshot(hill_admin).expect("Hill's snapshot"));
    assert!(
        after > before,
        "{SIXTH} got the update by repair only (updates in: {before} before, {after} after): {}",
        report(&ctl, &data, &nodes)
    );

    // A peer's name that resolves to nothing at a dial: Clark alone is
    // told (SIGHUP) that Hill lives at a name no hosts file knows. Its
    // connection stays until the link is cut; restored at Clark's end
    // only (Hill's stays cut, so only Clark dials), Clark's dial fails by
    // name, said on the link; restored at Hill's end too, Hill's own dial
    // brings the link back.
    let clark = host_of(&nodes, "Clark");
    let gone = |name: &str| {
        if name == SIXTH {
            "hill-gone.herd.test".to_owned()
        } else {
            host_name(name)
        }
    };
    let toml = herd_toml(&herd_name, &nodes, &links, gone, "bind = \"0.0.0.0\"\n");
    let new = dir.path().join("herd.toml.new");
    std::fs::write(&new, toml).expect("write the config");
    std::fs::rename(&new, &config).expect("replace the config");
    let sent = Command::new("kill")
        .args(["-HUP", &pids[clark].to_string()])
        .status()
        .is_ok_and(|status| status.success());
    assert!(sent, "kill -HUP Clark failed");
    let clark_admin = at(ips[clark], 12200);
    assert!(
        wait_until(Duration::from_secs(5), || snapshot(clark_admin)
            .and_then(|snap| link_to(&snap, SIXTH))
            .is_some_and(
                |link| link["peer_addr"] == "hill-gone.herd.test:12100"
            )),
        "Clark did not take Hill's new address: {}",
        report(&ctl, &data, &nodes)
    );
    let herdctl_link = |state: &str| {
        let out = Command::new(binary("herdctl"))
            .args(["link", "Clark", SIXTH, state, "--config"])
            .arg(&ctl)
            .output()
            .expect("run herdctl");
        assert!(out.status.success(), "herdctl link {state}: {out:?}");
    };
    herdctl_link("down");
    let restored = admin_request(
        clark_admin,
        &format!("{{\"cmd\": \"link\", \"id\": 1, \"peer\": \"{SIXTH}\", \"state\": \"up\"}}"),
    );
    assert!(restored.is_some(), "Clark did not restore its end");
    assert!(
        wait_until(Duration::from_secs(5), || snapshot(clark_admin)
            .and_then(|snap| link_to(&snap, SIXTH))
            .is_some_and(|link| link["last_error"].as_str().is_some_and(
                |error| error.contains("cannot resolve host name \"hill-gone.herd.test\"")
            ))),
        "Clark's dial to an unknown name did not say so: {}",
        report(&ctl, &data, &nodes)
    );
    herdctl_link("up");
    assert!(
        wait_until(Duration::from_secs(10), || snapshot(clark_admin)
            .and_then(|snap| link_to(&snap, SIXTH))
            .is_some_and(|link| link["connected"] == true)),
        "Hill's own dial did not bring the link back: {}",
        report(&ctl, &data, &nodes)
    );
    eprintln!("the named herd's test took {:?}", begun.elapsed());
}
