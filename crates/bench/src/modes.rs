//! The benchmark modes.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use herd_admin::client::{AdminClient, Identity, Options};
use herd_admin::{AdminState, EventClass, EventKind};
use herd_config::{Address, Config};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::args::{HerdArgs, LoadArgs};
use crate::load::{LineMaker, Load, ReplyShape, now_text};
use crate::report::{Summary, new_histogram, print};

pub async fn iamat(args: &LoadArgs, json: bool) -> anyhow::Result<()> {
    let make_line: LineMaker = {
        let clients = args.clients.max(1);
        Arc::new(move |rng: &mut fastrand::Rng| {
            format!(
                "IAMAT bench-{} +34.068930-118.445127 {}\n",
                rng.u64(..clients),
                now_text()
            )
        })
    };
    measure("iamat", args, ReplyShape::Line, make_line, json).await
}

pub async fn whatsat(args: &LoadArgs, json: bool) -> anyhow::Result<()> {
    if args.spread {
        // Its clients are located at one node; another may not hold them yet.
        bail!("--spread is for iamat");
    }
    // Locate the clients first (at most 1,000 of them).
    let located = args.clients.clamp(1, 1000);
    let stream = TcpStream::connect(args.addr)
        .await
        .with_context(|| format!("client port {}", args.addr))?;
    let (reader, mut writer) = stream.into_split();
    let mut batch = String::new();
    for i in 0..located {
        batch.push_str(&format!(
            "IAMAT whatsat-{i} +34.0{:04}-118.44{:04} {}\n",
            i % 10_000,
            i % 10_000,
            now_text()
        ));
    }
    writer.write_all(batch.as_bytes()).await?;
    let mut lines = BufReader::new(reader).lines();
    for _ in 0..located {
        lines.next_line().await?;
    }
    let make_line: LineMaker = Arc::new(move |rng: &mut fastrand::Rng| {
        format!("WHATSAT whatsat-{} 10 5\n", rng.u64(..located))
    });
    measure("whatsat", args, ReplyShape::UntilEmptyLine, make_line, json).await
}

/// Runs the load against the echo ceiling (if asked) and the node.
async fn measure(
    what: &str,
    args: &LoadArgs,
    shape: ReplyShape,
    make_line: LineMaker,
    json: bool,
) -> anyhow::Result<()> {
    let mode = match args.mode {
        crate::load::Mode::Session => "session",
        crate::load::Mode::Oneshot => "one-shot",
    };
    let targets = if args.spread {
        let config = load_config(&HerdArgs {
            config: args.config.clone(),
            token: None,
        })?;
        let mut addrs = Vec::new();
        for node in &config.nodes {
            addrs.push(resolved(&node.client).await?);
        }
        addrs
    } else {
        vec![args.addr]
    };
    let label = if args.spread {
        format!("{} nodes", targets.len())
    } else {
        args.addr.to_string()
    };
    let run = |addrs: Vec<SocketAddr>, reply: ReplyShape| Load {
        addrs,
        connections: args.connections,
        duration: Duration::from_secs(args.seconds),
        mode: args.mode,
        reply,
        make_line: make_line.clone(),
    };
    let mut summaries = Vec::new();
    if args.echo {
        let ceiling = EchoProcess::start().await?;
        let outcome = run(vec![ceiling.addr], ReplyShape::Line).run().await;
        summaries.push(Summary::new(
            format!("echo ceiling, {mode}, {} conns", args.connections),
            &outcome.histogram,
            outcome.errors,
            outcome.elapsed,
        ));
    }
    let outcome = run(targets, shape).run().await;
    summaries.push(Summary::new(
        format!("{what} {label}, {mode}, {} conns", args.connections),
        &outcome.histogram,
        outcome.errors,
        outcome.elapsed,
    ));
    print(&summaries, json);
    if let [ceiling, node] = &summaries[..] {
        let ratio = node.per_second / ceiling.per_second.max(1e-9);
        if json {
            println!("{}", json!({"ratio_to_echo": ratio}));
        } else {
            println!("ratio to the echo ceiling: {ratio:.2}");
        }
    }
    Ok(())
}

/// `herd-bench echo` as a child process, killed when dropped.
pub(crate) struct EchoProcess {
    child: tokio::process::Child,
    pub(crate) addr: SocketAddr,
}

impl EchoProcess {
    pub(crate) async fn start() -> anyhow::Result<EchoProcess> {
        let exe = std::env::current_exe().context("own path")?;
        let mut child = tokio::process::Command::new(exe)
            .arg("echo")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("start the echo server")?;
        let stdout = child.stdout.take().context("echo server output")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next_line()
            .await?
            .context("echo server said nothing")?;
        let addr = first
            .trim()
            .parse()
            .with_context(|| format!("echo server said {first:?}"))?;
        Ok(EchoProcess { child, addr })
    }
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub async fn echo(listen: SocketAddr) -> anyhow::Result<()> {
    crate::echo::serve(listen, |addr| println!("{addr}")).await?;
    Ok(())
}

pub(crate) fn load_config(args: &HerdArgs) -> anyhow::Result<Config> {
    let mut config =
        Config::load(args.config.as_deref()).map_err(|err| anyhow::anyhow!("{err}"))?;
    config.apply_env(|name| std::env::var(name).ok());
    Ok(config)
}

/// A loaded node may be slow to answer: a generous bound on each request.
const ADMIN_LIMIT: Duration = Duration::from_secs(30);

pub(crate) async fn admin_of(
    config: &Config,
    args: &HerdArgs,
    node: &str,
) -> anyhow::Result<AdminClient> {
    let spec = config
        .node(node)
        .with_context(|| format!("no node {node:?} in the config"))?;
    let token = args.token.clone().or_else(|| {
        config
            .herd
            .admin_token
            .as_ref()
            .map(|t| t.expose().to_owned())
    });
    // With `[tls] admin = true`, as herdctl does: herdctl's certificate.
    let tls = match &config.tls {
        Some(tls) if tls.admin => Some(herd_admin::client::AdminTls {
            config: herd_tls::admin_connector(tls).context("[tls]")?,
            node: node.to_owned(),
        }),
        _ => None,
    };
    let options = Options::new(&spec.admin)
        .token(token.as_deref())
        .expecting(Identity::in_herd(node, &config.herd.name))
        .timeout(ADMIN_LIMIT)
        .tls(tls);
    AdminClient::connect(options)
        .await
        .with_context(|| format!("admin port of {node} at {}", spec.admin))
}

/// Hops from `from` to every node (breadth first over the links).
fn hops_from(config: &Config, from: &str) -> HashMap<String, usize> {
    let mut hops = HashMap::from([(from.to_owned(), 0)]);
    let mut queue = VecDeque::from([from.to_owned()]);
    while let Some(at) = queue.pop_front() {
        let here = hops[&at];
        for peer in config.peers_of(&at) {
            if !hops.contains_key(&peer.name) {
                hops.insert(peer.name.clone(), here + 1);
                queue.push_back(peer.name.clone());
            }
        }
    }
    hops
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// What one node's event stream showed of the run.
struct Arrivals {
    node: String,
    /// Update number → the node's time when it merged it (µs).
    merged_at: HashMap<u64, u64>,
    lagged: u64,
}

/// What `propagate` subscribes to at each node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Watch {
    /// Only `records` events: one per update per node, and no flood turned
    /// into JSON (the measurement loads the herd little).
    Records,
    /// Every event (as `herdctl watch` does): three to four per update per
    /// node, which loads what it measures at high rates.
    All,
}

pub async fn propagate(
    args: &HerdArgs,
    from: &str,
    rate: u64,
    seconds: u64,
    watch: Watch,
    json: bool,
) -> anyhow::Result<()> {
    let config = load_config(args)?;
    let hops = hops_from(&config, from);
    let source = client_of(&config, from).await?;
    let prefix = format!("prop{}-", fastrand::u32(..));
    let total = rate.max(1) * seconds.max(1);
    let started = Instant::now();
    // Event streams may run seconds behind a loaded node: listen well past
    // the end (a watcher stops early once it has seen every update).
    let listen_until = started + Duration::from_secs(seconds + 10);

    let mut floods_before = 0;
    let mut watchers = Vec::new();
    for node in &config.nodes {
        let mut admin = admin_of(&config, args, &node.name).await?;
        floods_before += admin.snapshot().await?.counters.floods_out;
        if node.name == from {
            continue;
        }
        let kinds = match watch {
            Watch::Records => Some(vec![EventClass::Records]),
            Watch::All => None,
        };
        admin.subscribe_to(kinds).await?;
        let (name, prefix) = (node.name.clone(), prefix.clone());
        watchers.push(tokio::spawn(async move {
            watch_merges(admin, name, &prefix, total, listen_until).await
        }));
    }

    // The sender: IAMATs on one connection at `rate`, replies read aside.
    let stream = TcpStream::connect(source).await?;
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let replies = tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        let mut answered = 0u64;
        while answered < total {
            match lines.next_line().await {
                Ok(Some(_)) => answered += 1,
                _ => break,
            }
        }
        answered
    });
    let mut sent_at = Vec::with_capacity(total as usize);
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut batch = String::new();
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        if due > Instant::now() {
            if !batch.is_empty() {
                writer.write_all(batch.as_bytes()).await?;
                batch.clear();
            }
            tokio::time::sleep_until(due.into()).await;
        }
        sent_at.push(now_us());
        batch.push_str(&format!("IAMAT {prefix}{i} +1.5+2.5 {}\n", now_text()));
    }
    writer.write_all(batch.as_bytes()).await?;
    let answered = replies.await.unwrap_or(0);

    let mut rows = Vec::new();
    for watcher in watchers {
        let arrivals = watcher.await.context("watcher")??;
        let mut histogram = new_histogram();
        for (&i, &merged) in &arrivals.merged_at {
            if let Some(&sent) = sent_at.get(i as usize) {
                let _ = histogram.record(merged.saturating_sub(sent).max(1));
            }
        }
        let seen = arrivals.merged_at.len() as u64;
        rows.push((
            hops.get(&arrivals.node).copied().unwrap_or(0),
            arrivals,
            histogram,
            seen,
        ));
    }
    rows.sort_by_key(|(hops, arrivals, ..)| (*hops, arrivals.node.clone()));

    // No loss: every node holds every update (digests equal) soon after.
    let converged = wait_converged(&config, args, Duration::from_secs(10)).await?;
    let mut floods_after = 0;
    for node in &config.nodes {
        floods_after += admin_of(&config, args, &node.name)
            .await?
            .snapshot()
            .await?
            .counters
            .floods_out;
    }
    let per_update = (floods_after - floods_before) as f64 / total as f64;
    let bound = 2 * config.links.len() + 1 - config.nodes.len();

    if json {
        for (hops, arrivals, h, seen) in &rows {
            println!(
                "{}",
                json!({"node": arrivals.node, "hops": hops, "sent": total, "seen": seen,
                       "events_lagged": arrivals.lagged, "p50_us": h.value_at_quantile(0.5),
                       "p99_us": h.value_at_quantile(0.99), "max_us": h.max()})
            );
        }
        println!(
            "{}",
            json!({"rate": rate, "seconds": seconds, "sent": total, "answered": answered,
                   "converged": converged, "messages_per_update": per_update, "bound": bound})
        );
    } else {
        println!(
            "{total} updates to {from} at {rate}/s ({answered} answered); time until merged at each node:"
        );
        println!(
            "{:<12} {:>4} {:>8} {:>9} {:>9} {:>9}",
            "NODE", "HOPS", "SEEN", "P50 µs", "P99 µs", "MAX µs"
        );
        for (hops, arrivals, h, seen) in &rows {
            let lag = if arrivals.lagged > 0 {
                format!(
                    "  (event stream lost {} events: SEEN is a floor)",
                    arrivals.lagged
                )
            } else {
                String::new()
            };
            println!(
                "{:<12} {:>4} {:>8} {:>9} {:>9} {:>9}{lag}",
                arrivals.node,
                hops,
                seen,
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.max()
            );
        }
        println!(
            "all digests equal afterwards: {converged}; flood messages per update: {per_update:.2} (bound 2|E|-N+1 = {bound})"
        );
    }
    Ok(())
}

/// Reads a node's events until `until`: when each of the run's updates
/// won the merge there.
async fn watch_merges(
    mut admin: AdminClient,
    node: String,
    prefix: &str,
    total: u64,
    until: Instant,
) -> anyhow::Result<Arrivals> {
    let mut arrivals = Arrivals {
        node,
        merged_at: HashMap::new(),
        lagged: 0,
    };
    while (arrivals.merged_at.len() as u64) < total {
        let event = match tokio::time::timeout_at(until.into(), admin.next_event()).await {
            Err(_) => return Ok(arrivals),
            Ok(event) => event?,
        };
        match &event.kind {
            EventKind::Lagged { missed } => arrivals.lagged += missed,
            // Published when the update is merged (won) at this node.
            EventKind::Records { client, .. } => {
                let number = client
                    .strip_prefix(prefix)
                    .and_then(|n| n.parse::<u64>().ok());
                if let Some(number) = number {
                    arrivals.merged_at.insert(number, event.ts_us);
                }
            }
            _ => {}
        }
    }
    Ok(arrivals)
}

async fn digests(config: &Config, args: &HerdArgs) -> anyhow::Result<Vec<String>> {
    let mut digests = Vec::new();
    for node in &config.nodes {
        let snapshot = admin_of(config, args, &node.name).await?.snapshot().await?;
        digests.push(snapshot.digest);
    }
    Ok(digests)
}

async fn wait_converged(config: &Config, args: &HerdArgs, limit: Duration) -> anyhow::Result<bool> {
    let deadline = Instant::now() + limit;
    loop {
        let digests = digests(config, args).await?;
        if digests.iter().all(|d| *d == digests[0]) {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn set_links(
    config: &Config,
    args: &HerdArgs,
    node: &str,
    state: AdminState,
) -> anyhow::Result<()> {
    for peer in config.peers_of(node) {
        for (me, other) in [(node, peer.name.as_str()), (peer.name.as_str(), node)] {
            admin_of(config, args, me)
                .await?
                .set_link(other, state)
                .await?;
        }
    }
    Ok(())
}

/// A node's address from the config, resolved once: a run's many
/// connections all go to the same node, and resolving each would be
/// measured too.
/// The client address of node `name`, resolved once (so a run does not
/// time DNS).
async fn client_of(config: &herd_config::Config, name: &str) -> anyhow::Result<SocketAddr> {
    let node = config
        .node(name)
        .with_context(|| format!("no node {name:?} in the config"))?;
    resolved(&node.client).await
}

pub(crate) async fn resolved(address: &Address) -> anyhow::Result<SocketAddr> {
    tokio::net::lookup_host(address.host_port())
        .await
        .with_context(|| format!("cannot resolve {address}"))?
        .next()
        .with_context(|| format!("{address} resolves to no address"))
}

/// Loads `count` clients named `prefix-N` into the node at `addr`, pipelined
/// over 8 connections.
async fn load_clients(addr: SocketAddr, prefix: &str, count: usize) -> anyhow::Result<()> {
    let per = count.div_ceil(8);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await?;
            let (reader, mut writer) = stream.into_split();
            let mut lines = BufReader::new(reader).lines();
            let (start, end) = (t * per, ((t + 1) * per).min(count));
            let mut i = start;
            while i < end {
                let chunk_end = (i + 1000).min(end);
                let time = now_text();
                let mut batch = String::new();
                for n in i..chunk_end {
                    batch.push_str(&format!(
                        "IAMAT {prefix}-{n} +34.068930-118.445127 {time}\n"
                    ));
                }
                writer.write_all(batch.as_bytes()).await?;
                for _ in i..chunk_end {
                    lines.next_line().await?;
                }
                i = chunk_end;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

pub async fn heal(args: &HerdArgs, node: &str, records: usize, json: bool) -> anyhow::Result<()> {
    let config = load_config(args)?;
    let addr = client_of(&config, node).await?;
    if !wait_converged(&config, args, Duration::from_secs(30)).await? {
        bail!("the herd is not converged to start with");
    }
    set_links(&config, args, node, AdminState::Down).await?;
    let loading = Instant::now();
    load_clients(addr, &format!("heal{}", fastrand::u32(..)), records).await?;
    let loaded = loading.elapsed();
    let healed = Instant::now();
    set_links(&config, args, node, AdminState::Up).await?;
    let converged = wait_converged(&config, args, Duration::from_secs(300)).await?;
    let took = healed.elapsed();
    if json {
        println!(
            "{}",
            json!({"node": node, "records": records, "converged": converged,
                   "heal_ms": took.as_secs_f64() * 1e3, "load_ms": loaded.as_secs_f64() * 1e3})
        );
    } else {
        println!(
            "{node} cut off, {records} updates loaded into it in {:.0} ms; after the heal every digest was equal in {:.0} ms{}",
            loaded.as_secs_f64() * 1e3,
            took.as_secs_f64() * 1e3,
            if converged {
                ""
            } else {
                " (NOT converged: gave up)"
            }
        );
    }
    Ok(())
}

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: u64) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("/proc/{pid}/status (is the node on this machine?)"))?;
    let kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .context("no VmRSS")?;
    Ok(kb * 1024)
}

pub async fn memory(args: &HerdArgs, node: &str, records: usize, json: bool) -> anyhow::Result<()> {
    let config = load_config(args)?;
    let addr = client_of(&config, node).await?;
    let mut admin = admin_of(&config, args, node).await?;
    let snapshot = admin.snapshot().await?;
    if snapshot.pid == 0 {
        bail!("no pid in the snapshot");
    }
    let pid = u64::from(snapshot.pid);
    let held_before = snapshot.records as u64;
    let before = rss_bytes(pid)?;
    load_clients(addr, &format!("mem{}", fastrand::u32(..)), records).await?;
    let held_after = admin.snapshot().await?.records as u64;
    let after = rss_bytes(pid)?;
    let added = held_after.saturating_sub(held_before).max(1);
    let per_record = after.saturating_sub(before) as f64 / added as f64;
    if json {
        println!(
            "{}",
            json!({"node": node, "records_added": added, "rss_before": before,
                   "rss_after": after, "bytes_per_record": per_record})
        );
    } else {
        println!(
            "{node}: {added} records added; RSS {:.1} MB -> {:.1} MB: {per_record:.0} bytes per record",
            before as f64 / 1e6,
            after as f64 / 1e6
        );
    }
    Ok(())
}

pub async fn startup(node_binary: &Path, runs: usize, json: bool) -> anyhow::Result<()> {
    if !node_binary.exists() {
        bail!(
            "{} not found (cargo build --release)",
            node_binary.display()
        );
    }
    let dir = std::env::temp_dir().join(format!("herd-bench-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut timings = Vec::new();
    for _ in 0..runs.max(1) {
        let port = |_: u8| -> anyhow::Result<SocketAddr> {
            Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?)
        };
        let (client, peer, admin) = (port(0)?, port(1)?, port(2)?);
        let config = dir.join("herd.toml");
        std::fs::write(
            &config,
            format!(
                "[herd]\nname = \"startup\"\n[[node]]\nname = \"S\"\nclient = \"{client}\"\npeer = \"{peer}\"\nadmin = \"{admin}\"\n"
            ),
        )?;
        let started = Instant::now();
        let mut child = tokio::process::Command::new(node_binary)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("S")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let limit = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(client).await.is_err() {
            if Instant::now() > limit {
                bail!("the node did not start listening within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        timings.push(started.elapsed());
        let _ = child.kill().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    timings.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let median = ms(&timings[timings.len() / 2]);
    if json {
        println!(
            "{}",
            json!({"runs": timings.len(), "median_ms": median,
                   "min_ms": ms(&timings[0]), "max_ms": ms(&timings[timings.len() - 1])})
        );
    } else {
        println!(
            "start-up to listening, {} runs: median {median:.0} ms, min {:.0} ms, max {:.0} ms",
            timings.len(),
            ms(&timings[0]),
            ms(&timings[timings.len() - 1])
        );
    }
    Ok(())
}
