//! The HELLO exchange. The dialling side speaks first; the accepting side
//! answers HELLO or REFUSED. Nothing but the handshake is read before it
//! completes.

use bytes::BytesMut;
use herd_proto::peer::{Hello, PeerMessage, VERSION, hello_line, parse_peer_line, refused_line};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::auth::{Parties, authenticate};
use super::connection::{Connected, peer_line_reader};
use super::link::Link;
use crate::line_reader::{Frame, LineReader};
use crate::node::Node;

/// Why a dial failed.
#[derive(Debug)]
pub(super) enum DialError {
    /// The peer answered the handshake with REFUSED and this reason.
    Refused(String),
    /// Anything else: connection refused by the OS, timeouts, a bad reply.
    Failed(String),
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialError::Refused(reason) => write!(f, "refused by the peer: {reason}"),
            DialError::Failed(reason) => f.write_str(reason),
        }
    }
}

impl From<String> for DialError {
    fn from(reason: String) -> Self {
        DialError::Failed(reason)
    }
}

/// Connects to the link's peer and completes the handshake.
pub(super) async fn dial(node: &Node, link: &Link) -> Result<Connected, DialError> {
    let settings = &link.policy;
    let mut stream = timeout(settings.connect_timeout, TcpStream::connect(link.peer_addr))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|err| err.to_string())?;
    let _ = stream.set_nodelay(true);
    let me = &node.settings;
    stream
        .write_all(hello_line(&me.herd, &me.name, &me.boot_id).as_bytes())
        .await
        .map_err(|err| err.to_string())?;
    let mut lines = peer_line_reader();
    let line = timeout(
        settings.handshake_timeout,
        read_line(&mut stream, &mut lines),
    )
    .await
    .map_err(|_| "no handshake reply in time".to_owned())??;
    match parse_peer_line(&line) {
        Ok(PeerMessage::Hello(hello)) => {
            check_hello(node, &hello, Some(&link.peer))?;
            let peer_boot_id = hello.boot_id.to_owned();
            if let Some(parties) = Parties::of(me, &link.peer, true)
                && let Err(reason) = authenticate(
                    &mut stream,
                    &mut lines,
                    &parties,
                    settings.handshake_timeout,
                )
                .await
            {
                refuse(stream, "authentication failed").await;
                return Err(format!("{}: {reason}", link.peer_addr).into());
            }
            Ok(Connected {
                stream,
                lines,
                peer_boot_id,
            })
        }
        Ok(PeerMessage::Refused(reason)) => Err(DialError::Refused(reason.to_owned())),
        Ok(_) => Err("unexpected handshake reply".to_owned().into()),
        Err(err) => Err(format!("bad handshake reply: {err}").into()),
    }
}

/// Checks a peer's HELLO: same protocol version, same herd, and (when we
/// know whom we dialled) the expected node.
pub(super) fn check_hello(
    node: &Node,
    hello: &Hello<'_>,
    expected: Option<&str>,
) -> Result<(), String> {
    let me = &node.settings;
    if hello.version != VERSION {
        return Err(format!(
            "peer speaks protocol version {}, this node speaks {VERSION}",
            hello.version
        ));
    }
    if hello.herd != me.herd {
        return Err(format!(
            "peer belongs to herd {:?}, this node to herd {:?}",
            hello.herd, me.herd
        ));
    }
    if let Some(expected) = expected
        && hello.node != expected
    {
        return Err(format!(
            "expected node {expected:?} but {:?} answered",
            hello.node
        ));
    }
    Ok(())
}

/// Reads one handshake line as text.
pub(super) async fn read_line(
    stream: &mut TcpStream,
    lines: &mut LineReader,
) -> Result<String, String> {
    loop {
        match lines.next_frame() {
            Some(Frame::Line(line)) => return text(line),
            Some(Frame::TooLong(_)) => return Err("handshake line too long".to_owned()),
            None => {}
        }
        match lines.fill(stream).await {
            Ok(0) => return Err("connection closed during the handshake".to_owned()),
            Ok(_) => {}
            Err(err) => return Err(err.to_string()),
        }
    }
}

fn text(line: BytesMut) -> Result<String, String> {
    String::from_utf8(line.to_vec()).map_err(|_| "handshake is not UTF-8".to_owned())
}

/// Tells the peer why and closes.
pub(super) async fn refuse(mut stream: TcpStream, reason: &str) {
    let _ = stream.write_all(refused_line(reason).as_bytes()).await;
    let _ = stream.shutdown().await;
}
