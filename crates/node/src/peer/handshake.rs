//! The HELLO exchange, on both sides: the dialling side speaks first; the
//! accepting side answers HELLO or REFUSED. Nothing but the handshake is
//! read before it completes; with a herd secret the proof exchange
//! (auth.rs) follows. A connection that passes goes to its link's task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herd_admin::{AdminState, EventClass, EventKind, LinkChange};
use herd_core::Opener;
use herd_proto::peer::{
    Hello, LEGACY_HELLO, LEGACY_REFUSAL, PeerMessage, VERSIONS, Versions, hello_line,
    parse_peer_line,
};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::{info, warn};

use super::auth::{Parties, authenticate};
use super::connection::{Arrival, Connected, peer_line_reader};
use super::error::{DialError, HelloMismatch, WireError};
use super::link::Link;
use super::socket::Handshaking;
use super::wire::{read_line, refuse, send};
use crate::counters::bump;
use crate::node::Node;
use crate::resolve::connect;

/// Handshakes under way at once: a stranger opening connections by the
/// thousand is cut off at the door instead of holding descriptors and
/// buffers for the handshake's seconds each.
const MAX_PENDING_HANDSHAKES: usize = 64;
static PENDING_HANDSHAKES: AtomicUsize = AtomicUsize::new(0);

/// At most this many refusals are logged per window; the rest are counted
/// and reported with the next one (a connect loop must not fill the disk).
const REFUSALS_LOGGED_PER_WINDOW: u32 = 20;
const REFUSAL_WINDOW: Duration = Duration::from_secs(10);
static REFUSAL_LOG: Mutex<(Option<Instant>, u32, u64)> = Mutex::new((None, 0, 0));

/// Logs a refused or dropped peer connection, rate-limited.
fn log_refusal(message: std::fmt::Arguments<'_>) {
    let mut log = REFUSAL_LOG.lock().unwrap_or_else(|p| p.into_inner());
    let (window, logged, suppressed) = &mut *log;
    if window.is_none_or(|start| start.elapsed() >= REFUSAL_WINDOW) {
        *window = Some(Instant::now());
        *logged = 0;
    }
    if *logged < REFUSALS_LOGGED_PER_WINDOW {
        *logged += 1;
        if *suppressed > 0 {
            warn!("{message} ({suppressed} more refused peer connections were not logged)");
            *suppressed = 0;
        } else {
            warn!("{message}");
        }
    } else {
        *suppressed += 1;
    }
}

/// One pending handshake, released when dropped.
struct Pending;

impl Pending {
    fn take() -> Option<Pending> {
        let before = PENDING_HANDSHAKES.fetch_add(1, Ordering::AcqRel);
        if before >= MAX_PENDING_HANDSHAKES {
            PENDING_HANDSHAKES.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Pending)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        PENDING_HANDSHAKES.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Connects to the link's peer and completes the handshake.
pub(super) async fn dial(node: &Node, link: &Link) -> Result<Connected, DialError> {
    let settings = &link.policy;
    // Resolved at every dial (a peer that moved is found again), within
    // the connect timeout: a resolver that hangs is a failed dial too.
    let tcp = timeout(settings.connect_timeout, connect(&link.peer_addr()))
        .await
        .map_err(|_| DialError::ConnectTimeout)??;
    let _ = tcp.set_nodelay(true);
    let live = node.live();
    let mut stream = match &live.tls {
        None => Handshaking::Plain(tcp),
        Some(tls) => {
            let failed = |reason: String| DialError::Tls {
                addr: link.peer_addr(),
                reason,
            };
            // The peer's certificate must name the node this link is for.
            let name = herd_tls::server_name(&link.peer).map_err(|err| failed(err.to_string()))?;
            let connector = tokio_rustls::TlsConnector::from(tls.connector.clone());
            let connected = timeout(settings.handshake_timeout, connector.connect(name, tcp))
                .await
                .map_err(|_| failed("no TLS handshake in time".to_owned()))?
                .map_err(|err| failed(herd_tls::handshake_failure(&err)))?;
            Handshaking::Tls(Box::new(tokio_rustls::TlsStream::Client(connected)))
        }
    };
    let me = &node.settings;
    let legacy = link.speaks_legacy_hello();
    let offered = if legacy { LEGACY_HELLO } else { VERSIONS };
    send(
        &mut stream,
        &hello_line(offered, &me.herd, &me.name, &me.boot_id),
    )
    .await?;
    let mut lines = peer_line_reader();
    let line = timeout(
        settings.handshake_timeout,
        read_line(&mut stream, &mut lines),
    )
    .await
    .map_err(|_| DialError::ReplyTimeout)?
    .map_err(|err| match err {
        // TLS 1.3 tells a dialler its certificate was refused only now,
        // after its side of the handshake was done.
        WireError::Io(err) if is_tls(&err) => DialError::Tls {
            addr: link.peer_addr(),
            reason: format!("the peer refused us: {}", herd_tls::handshake_failure(&err)),
        },
        other => DialError::Wire(other),
    })?;
    match parse_peer_line(&line) {
        Ok(PeerMessage::Hello(hello)) => {
            // The answer names the one version agreed.
            let version = check_hello(node, &hello, Some(&link.peer))?;
            let peer_boot_id = hello.boot_id.to_owned();
            if let Some(parties) = Parties::of(me, &live.secrets, &link.peer, true)
                && let Err(reason) = authenticate(
                    &mut stream,
                    &mut lines,
                    &parties,
                    settings.handshake_timeout,
                )
                .await
            {
                refuse(stream, "authentication failed").await;
                return Err(DialError::Auth {
                    addr: link.peer_addr(),
                    reason,
                });
            }
            Ok(Connected {
                socket: stream.into_socket(),
                lines,
                opener: Opener::Me,
                peer_boot_id,
                version,
            })
        }
        Ok(PeerMessage::Refused(reason)) => {
            if reason == LEGACY_REFUSAL && !legacy {
                // A node from before version ranges cannot read ours: the
                // next dial says HERD/2, which it reads (an upgrade from
                // that build goes on one node at a time).
                info!(peer = %link.peer, "peer does not read version ranges (a node from before them): dialling it with HERD/2 from now on");
                link.use_legacy_hello();
            }
            Err(DialError::Refused(reason.to_owned()))
        }
        Ok(_) => Err(DialError::Unexpected),
        Err(err) => Err(DialError::BadReply(err)),
    }
}

/// Checks a peer's HELLO: protocol versions that meet, the same herd, and
/// (when we know whom we dialled) the expected node. Returns the version
/// agreed: the highest both speak.
fn check_hello(
    node: &Node,
    hello: &Hello<'_>,
    expected: Option<&str>,
) -> Result<u32, HelloMismatch> {
    let me = &node.settings;
    let Some(version) = VERSIONS.common(hello.versions) else {
        return Err(HelloMismatch::Version {
            theirs: hello.versions,
            ours: VERSIONS,
        });
    };
    if hello.herd != me.herd {
        return Err(HelloMismatch::Herd {
            theirs: hello.herd.to_owned(),
            ours: me.herd.clone(),
        });
    }
    if let Some(expected) = expected
        && hello.node != expected
    {
        return Err(HelloMismatch::Node {
            expected: expected.to_owned(),
            found: hello.node.to_owned(),
        });
    }
    Ok(version)
}

pub(super) async fn accept(node: Arc<Node>, stream: TcpStream, remote: SocketAddr) {
    let Some(pending) = Pending::take() else {
        log_refusal(format_args!(
            "peer connection from {remote} dropped: {MAX_PENDING_HANDSHAKES} handshakes already under way"
        ));
        return;
    };
    accept_handshake(node, stream, remote, pending).await;
}

async fn accept_handshake(node: Arc<Node>, tcp: TcpStream, remote: SocketAddr, pending: Pending) {
    let _ = tcp.set_nodelay(true);
    let handshake_timeout = herd_core::LinkPolicy::default().handshake_timeout;
    let tls = node.live().tls.clone();
    let mut stream = match tls {
        None => Handshaking::Plain(tcp),
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.peer_acceptor.clone());
            // Nothing is read from a peer that fails here: no HELLO, no line.
            let reason = match timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(accepted)) => Ok(Handshaking::Tls(Box::new(
                    tokio_rustls::TlsStream::Server(accepted),
                ))),
                // Closed before a handshake: a port probe (a load balancer's,
                // a readiness check's), not a peer refused.
                Ok(Err(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                    tracing::debug!(
                        "peer connection from {remote} closed during the TLS handshake"
                    );
                    return;
                }
                Ok(Err(err)) => Err(herd_tls::handshake_failure(&err)),
                Err(_) => Err(format!("no TLS handshake within {handshake_timeout:?}")),
            };
            match reason {
                Ok(stream) => stream,
                Err(reason) => {
                    bump(&node.counters.tls_refusals);
                    log_refusal(format_args!(
                        "peer connection from {remote} refused in the TLS handshake: {reason}"
                    ));
                    return;
                }
            }
        }
    };
    let mut lines = peer_line_reader();
    let line = match timeout(handshake_timeout, read_line(&mut stream, &mut lines)).await {
        Ok(Ok(line)) => line,
        Ok(Err(reason)) => {
            log_refusal(format_args!(
                "peer connection from {remote} dropped: {reason}"
            ));
            return refuse(stream, &reason.to_string()).await;
        }
        Err(_) => {
            log_refusal(format_args!(
                "peer connection from {remote} dropped: no handshake within {handshake_timeout:?}"
            ));
            return refuse(stream, "no handshake in time").await;
        }
    };
    let hello = match parse_peer_line(&line) {
        Ok(PeerMessage::Hello(hello)) => hello,
        _ => {
            log_refusal(format_args!(
                "peer connection from {remote} refused: expected HELLO, got {:?}",
                truncate(&line)
            ));
            return refuse(stream, LEGACY_REFUSAL).await;
        }
    };
    let verdict = check_hello(&node, &hello, None).and_then(|version| {
        // With TLS, the HELLO must claim the node the certificate names.
        if matches!(stream, Handshaking::Tls(_))
            && !herd_tls::names_node(stream.peer_certificates(), hello.node)
        {
            return Err(HelloMismatch::NotCertified {
                claimed: hello.node.to_owned(),
            });
        }
        let link = node
            .link_to(hello.node)
            .ok_or_else(|| HelloMismatch::NotLinked {
                peer: hello.node.to_owned(),
                me: node.name().to_owned(),
            })?;
        if link.admin_state() == AdminState::Down {
            return Err(HelloMismatch::Cut {
                me: node.name().to_owned(),
                peer: link.peer.clone(),
            });
        }
        Ok((link, version))
    });
    let (link, version) = match verdict {
        Ok(agreed) => agreed,
        Err(reason) => {
            let reason = reason.to_string();
            report_refusal(&node, remote, hello.node, &reason);
            return refuse(stream, &reason).await;
        }
    };
    let me = &node.settings;
    // The answer names only the version agreed, so that a node from before
    // version ranges (which reads one number) understands it too.
    let answer = hello_line(Versions::only(version), &me.herd, &me.name, &me.boot_id);
    if let Err(err) = send(&mut stream, &answer).await {
        warn!("peer connection from {remote} lost during the handshake: {err}");
        return;
    }
    let live = node.live();
    if let Some(parties) = Parties::of(me, &live.secrets, &link.peer, false)
        && let Err(reason) =
            authenticate(&mut stream, &mut lines, &parties, handshake_timeout).await
    {
        report_refusal(&node, remote, &link.peer, &reason.to_string());
        return refuse(stream, "authentication failed").await;
    }
    // The handshake is over: no longer counted as pending.
    drop(pending);
    info!(peer = %link.peer, "accepted peer connection from {remote}");
    let peer_boot_id = hello.boot_id.to_owned();
    // The link's task decides whether it takes it (a connection of its own
    // may have come up meanwhile: LinkMachine::prefers).
    let _ = link
        .incoming
        .send(Arrival::Connected(Box::new(Connected {
            socket: stream.into_socket(),
            lines,
            opener: Opener::Peer,
            peer_boot_id,
            version,
        })))
        .await;
}

/// A rustls error inside an I/O error.
fn is_tls(err: &std::io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
}

fn truncate(line: &str) -> &str {
    match line.char_indices().nth(80) {
        Some((at, _)) => &line[..at],
        None => line,
    }
}

/// A refused peer, in the log (rate-limited) and as a link event.
fn report_refusal(node: &Node, remote: SocketAddr, peer: &str, reason: &str) {
    log_refusal(format_args!(
        "peer connection from {remote} ({peer:?}) refused: {reason:?}"
    ));
    node.events
        .publish_with(EventClass::Link, || EventKind::Link {
            peer: peer.to_owned(),
            change: LinkChange::Refused,
            reason: Some(format!("from {remote}: {reason}")),
        });
}
