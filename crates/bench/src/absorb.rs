//! `herd-bench absorb`: how many updates one node merges per second from a
//! peer. Every node applies every update, so this is the herd's capacity.
//!
//! The bench speaks the peer protocol to the node as the configured peer
//! `--as` would (HELLO, and the secret's proof when the herd has one), then
//! pushes AT lines for `--clients` clients, each newer than the last, as
//! fast as the node reads them (the socket's own back pressure). The rate
//! comes from the node's counters (the link's `floods_won` and
//! `floods_stale` in its admin snapshot): from the first line until the
//! node has handled all that was sent. The echo ceiling is the same push to the echo server, counted by
//! the lines it sends back.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use herd_admin::Snapshot;
use herd_config::Config;
use herd_proto::auth::{Claim, hex};
use herd_proto::peer::{PING_LINE, PeerMessage, VERSIONS, hello_line, parse_peer_line};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::args::HerdArgs;
use crate::modes::{EchoProcess, admin_of, load_config, resolved};

#[derive(clap::Args, Clone)]
pub struct AbsorbArgs {
    #[command(flatten)]
    pub herd: HerdArgs,
    /// The node that absorbs.
    #[arg(long)]
    pub node: String,
    /// The configured peer of `--node` the bench speaks as (no process of
    /// that name may be linked to the node at the time).
    #[arg(long = "as")]
    pub as_peer: String,
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Updates cycle over this many clients, each newer than the last.
    #[arg(long, default_value_t = 100_000)]
    pub clients: u64,
    /// Measure the echo ceiling first, with the same push.
    #[arg(long)]
    pub echo: bool,
}

/// How long the node may take to read what was pushed before the run is
/// called short.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// Lines written per `write` (about 64 KiB).
const LINES_PER_WRITE: u64 = 800;
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(5);

pub async fn absorb(args: &AbsorbArgs, json: bool) -> anyhow::Result<()> {
    let config = load_config(&args.herd)?;
    if config.tls.is_some() {
        bail!("absorb speaks the peer protocol in plain TCP: this herd's peer links use TLS");
    }
    let target = config
        .node(&args.node)
        .with_context(|| format!("no node {:?} in the config", args.node))?;
    if !config
        .peers_of(&args.node)
        .iter()
        .any(|peer| peer.name == args.as_peer)
    {
        bail!(
            "{:?} is not a configured peer of {:?}: the node would refuse it",
            args.as_peer,
            args.node
        );
    }
    let duration = Duration::from_secs(args.seconds.max(1));
    let lines = Lines::new(&args.as_peer, args.clients.max(1));

    let ceiling = if args.echo {
        let echo = EchoProcess::start().await?;
        Some(push_to_echo(echo.addr, &lines, duration).await?)
    } else {
        None
    };

    let mut admin = admin_of(&config, &args.herd, &args.node).await?;
    let before = Taken::from(&admin.snapshot().await?, &args.as_peer);
    let stream = TcpStream::connect(resolved(&target.peer).await?)
        .await
        .with_context(|| format!("peer port of {} at {}", args.node, target.peer))?;
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    handshake(&config, args, &mut reader, &mut writer).await?;
    // What the node sends (heartbeats, repair it will not get answers to)
    // is read and dropped, so its writes never block on us.
    let drain = tokio::spawn(async move {
        let mut line = String::new();
        while matches!(reader.read_line(&mut line).await, Ok(n) if n > 0) {
            line.clear();
        }
    });
    let started = Instant::now();
    let sent = push(&mut writer, &lines, duration, true).await?;
    let pushed = started.elapsed();
    // Done when the node has read every line (merged or not).
    let deadline = Instant::now() + DRAIN_LIMIT;
    let after = loop {
        let taken = Taken::from(&admin.snapshot().await?, &args.as_peer);
        if taken.read() - before.read() >= sent || Instant::now() > deadline {
            break taken;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let elapsed = started.elapsed();
    drop(writer);
    drain.abort();

    let read = after.read() - before.read();
    let merged = after.won - before.won;
    let forwarded = after.forwarded - before.forwarded;
    let fsyncs = after.fsyncs - before.fsyncs;
    let per_second = merged as f64 / elapsed.as_secs_f64().max(1e-9);
    let ratio = ceiling.map(|c| per_second / c.max(1e-9));
    if json {
        if let Some(ceiling) = ceiling {
            println!(
                "{}",
                json!({"label": "echo ceiling, push", "per_second": ceiling})
            );
        }
        println!(
            "{}",
            json!({"label": format!("absorb {} as {}", args.node, args.as_peer),
                   "sent": sent, "read": read, "merged": merged, "forwarded": forwarded,
                   "fsyncs": fsyncs, "push_seconds": pushed.as_secs_f64(),
                   "seconds": elapsed.as_secs_f64(), "per_second": per_second,
                   "ratio_to_echo": ratio})
        );
    } else {
        if let Some(ceiling) = ceiling {
            println!("echo ceiling, the same push: {ceiling:.0} lines/s");
        }
        println!(
            "{} as {}: {sent} updates pushed in {:.2} s; the node read {read} and merged {merged} in {:.2} s: {per_second:.0} merged/s; {forwarded} forwarded, {fsyncs} fsyncs",
            args.node,
            args.as_peer,
            pushed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
        if let Some(ratio) = ratio {
            println!("ratio to the echo ceiling: {ratio:.2}");
        }
    }
    if read < sent {
        bail!(
            "the node read {read} of {sent} updates within {DRAIN_LIMIT:?} of the end: the link was lost or the node stalled"
        );
    }
    Ok(())
}

/// What the node's snapshot says it took from the bench's link.
struct Taken {
    won: u64,
    stale: u64,
    forwarded: u64,
    fsyncs: u64,
}

impl Taken {
    fn from(snapshot: &Snapshot, peer: &str) -> Taken {
        let link = snapshot.links.iter().find(|link| link.peer == peer);
        Taken {
            won: link.map_or(0, |link| link.floods_won),
            stale: link.map_or(0, |link| link.floods_stale),
            forwarded: snapshot.counters.floods_out,
            fsyncs: snapshot.counters.fsyncs,
        }
    }

    /// Updates handled, merged or not.
    fn read(&self) -> u64 {
        self.won + self.stale
    }
}

/// The dialling side of the handshake, as the node's own would do it.
async fn handshake<R: AsyncRead + Unpin>(
    config: &Config,
    args: &AbsorbArgs,
    reader: &mut BufReader<R>,
    writer: &mut OwnedWriteHalf,
) -> anyhow::Result<()> {
    let herd = &config.herd.name;
    let boot_id = format!("{:016x}", fastrand::u64(..));
    writer
        .write_all(hello_line(VERSIONS, herd, &args.as_peer, &boot_id).as_bytes())
        .await?;
    let answer = read_line(reader).await?;
    match parse_peer_line(&answer) {
        Ok(PeerMessage::Hello(_)) => {}
        Ok(PeerMessage::Refused(reason)) => bail!("{} refused the bench: {reason}", args.node),
        _ => bail!("{} answered the HELLO with {answer:?}", args.node),
    }
    let Some(secret) = config.herd.secrets.first() else {
        return Ok(());
    };
    let secret = secret.expose().as_bytes();
    let mine = hex(&fastrand::u128(..).to_be_bytes());
    writer
        .write_all(format!("AUTH {mine}\n").as_bytes())
        .await?;
    let line = read_line(reader).await?;
    let Ok(PeerMessage::Auth(theirs)) = parse_peer_line(&line) else {
        bail!("{} sent {line:?} where its AUTH was due", args.node);
    };
    let theirs = theirs.to_owned();
    let proof = Claim {
        herd,
        from: &args.as_peer,
        to: &args.node,
        from_dials: true,
        from_nonce: &mine,
        to_nonce: &theirs,
    }
    .prove(secret);
    writer
        .write_all(format!("PROOF {proof}\n").as_bytes())
        .await?;
    let line = read_line(reader).await?;
    let node_proves = Claim {
        herd,
        from: &args.node,
        to: &args.as_peer,
        from_dials: false,
        from_nonce: &theirs,
        to_nonce: &mine,
    };
    match parse_peer_line(&line) {
        Ok(PeerMessage::Proof(proof)) if node_proves.verify(secret, proof) => Ok(()),
        Ok(PeerMessage::Refused(reason)) => bail!("{} refused the bench: {reason}", args.node),
        _ => bail!("{} did not prove the herd secret: {line:?}", args.node),
    }
}

async fn read_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> anyhow::Result<String> {
    let mut line = String::new();
    tokio::time::timeout(HANDSHAKE_LIMIT, reader.read_line(&mut line))
        .await
        .context("no answer in the handshake in time")??;
    if line.is_empty() {
        bail!("the node closed the connection in the handshake");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The AT lines of a run: update `i` is for client `i % clients`, at a
/// client time `i` nanoseconds after the run began, so each is newer than
/// the one before for its client.
struct Lines {
    origin: String,
    run: u32,
    clients: u64,
    base: u64,
}

impl Lines {
    fn new(origin: &str, clients: u64) -> Lines {
        let base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Lines {
            origin: origin.to_owned(),
            run: fastrand::u32(..),
            clients,
            base,
        }
    }

    fn push(&self, i: u64, out: &mut String) {
        let time = self.base + i;
        let _ = writeln!(
            out,
            "AT {} +0.000001000 absorb{:08x}-{} +34.068930-118.445127 {}.{:09}",
            self.origin,
            self.run,
            i % self.clients,
            time / 1_000_000_000,
            time % 1_000_000_000
        );
    }
}

/// Writes AT lines for `duration`, and a PING every 500 ms when `pings`
/// (a peer link's heartbeat; the echo server would answer it as a line);
/// how many AT lines.
async fn push(
    writer: &mut OwnedWriteHalf,
    lines: &Lines,
    duration: Duration,
    pings: bool,
) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut last_ping = started;
    let mut sent = 0;
    let mut batch = String::with_capacity(96 * LINES_PER_WRITE as usize);
    while started.elapsed() < duration {
        batch.clear();
        for i in sent..sent + LINES_PER_WRITE {
            lines.push(i, &mut batch);
        }
        writer
            .write_all(batch.as_bytes())
            .await
            .context("the connection was closed")?;
        sent += LINES_PER_WRITE;
        if pings && last_ping.elapsed() >= Duration::from_millis(500) {
            writer.write_all(PING_LINE).await?;
            last_ping = Instant::now();
        }
    }
    Ok(sent)
}

/// The same push to the echo server: lines per second it sent back.
async fn push_to_echo(
    addr: std::net::SocketAddr,
    lines: &Lines,
    duration: Duration,
) -> anyhow::Result<f64> {
    let stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<u64>();
    let started = Instant::now();
    let counter = tokio::spawn(async move {
        let mut reader = reader;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut echoed = 0u64;
        let mut sent_rx = sent_rx;
        let mut sent = None;
        loop {
            if sent.is_some_and(|sent| echoed >= sent) {
                break;
            }
            tokio::select! {
                read = reader.read(&mut chunk) => {
                    let Ok(read @ 1..) = read else {
                        break;
                    };
                    echoed += chunk[..read].iter().filter(|&&b| b == b'\n').count() as u64;
                }
                total = &mut sent_rx, if sent.is_none() => sent = Some(total.unwrap_or(0)),
            }
        }
        (echoed, started.elapsed())
    });
    let sent = push(&mut writer, lines, duration, false).await?;
    let _ = sent_tx.send(sent);
    let (echoed, elapsed) = counter.await.context("echo reader")?;
    if echoed < sent {
        bail!("the echo server answered {echoed} of {sent} lines");
    }
    Ok(echoed as f64 / elapsed.as_secs_f64().max(1e-9))
}
