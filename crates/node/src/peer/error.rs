//! What can go wrong on a peer connection, as values. The texts are what
//! the log, the admin snapshot's `last_error` and a REFUSED line say.

use herd_proto::peer::{BadPeerLine, Versions};

/// Reading or writing a handshake line.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("handshake line too long")]
    LineTooLong,
    #[error("connection closed during the handshake")]
    Closed,
    #[error("handshake is not UTF-8")]
    NotUtf8,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A HELLO that does not fit this node.
#[derive(Debug, thiserror::Error)]
pub enum HelloMismatch {
    #[error("peer speaks protocol versions {theirs}, this node speaks {ours}")]
    Version { theirs: Versions, ours: Versions },
    #[error("peer belongs to herd {theirs:?}, this node to herd {ours:?}")]
    Herd { theirs: String, ours: String },
    #[error("expected node {expected:?} but {found:?} answered")]
    Node { expected: String, found: String },
    #[error("node {peer:?} is not linked to {me:?} in this herd's config")]
    NotLinked { peer: String, me: String },
    #[error("HELLO claims node {claimed:?} but the TLS certificate does not name it")]
    NotCertified { claimed: String },
    #[error("the link {me}-{peer} is cut by the operator")]
    Cut { me: String, peer: String },
}

/// The proof exchange (auth.rs).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication did not complete in time")]
    Timeout,
    #[error("the OS gave no random bytes")]
    NoRandomness,
    #[error("malformed AUTH")]
    MalformedAuth,
    #[error("refused: {0}")]
    Refused(String),
    #[error("peer did not authenticate (is the herd secret set on both?)")]
    NoAuth,
    #[error("peer echoed our nonce")]
    EchoedNonce,
    #[error("authentication failed: wrong proof of the herd secret")]
    WrongProof,
    #[error("lost during authentication: {0}")]
    Lost(std::io::Error),
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The peer answered the handshake with REFUSED and this reason.
    #[error("refused by the peer: {0}")]
    Refused(String),
    #[error("connect timed out")]
    ConnectTimeout,
    /// The peer's host name gave no address at this dial.
    #[error(transparent)]
    Resolve(#[from] crate::resolve::ResolveError),
    #[error("no handshake reply in time")]
    ReplyTimeout,
    #[error("unexpected handshake reply")]
    Unexpected,
    #[error("bad handshake reply: {0}")]
    BadReply(BadPeerLine),
    #[error(transparent)]
    Hello(#[from] HelloMismatch),
    /// The TLS handshake failed (the peer's certificate, or ours to it).
    #[error("{addr}: TLS: {reason}")]
    Tls {
        addr: herd_config::Address,
        reason: String,
    },
    #[error("{addr}: {reason}")]
    Auth {
        addr: herd_config::Address,
        reason: AuthError,
    },
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl From<crate::resolve::ConnectError> for DialError {
    fn from(err: crate::resolve::ConnectError) -> Self {
        use crate::resolve::ConnectError;
        match err {
            ConnectError::Resolve(err) => DialError::Resolve(err),
            ConnectError::Io(err) => DialError::Wire(WireError::Io(err)),
        }
    }
}

impl From<std::io::Error> for DialError {
    fn from(err: std::io::Error) -> Self {
        DialError::Wire(WireError::Io(err))
    }
}

/// A line on a connected link that ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum PeerLineError {
    #[error("peer sent an over-long line")]
    TooLong,
    #[error("peer sent a line that is not UTF-8")]
    NotUtf8,
    #[error("protocol error: {0}")]
    Protocol(BadPeerLine),
    #[error("{0}")]
    Closed(herd_core::LinkClose),
}
