//! What can go wrong talking to a node's admin port, as values.

use std::fmt;
use std::io;

use serde_json::Value;

use crate::response::ErrorCode;

/// Who the caller means to talk to: a node's name and, when known, its
/// herd's. An answer from another node (or herd) is [`ClientError::WrongNode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub node: String,
    pub herd: Option<String>,
}

impl Identity {
    pub fn node(node: impl Into<String>) -> Identity {
        Identity {
            node: node.into(),
            herd: None,
        }
    }

    pub fn in_herd(node: impl Into<String>, herd: impl Into<String>) -> Identity {
        Identity {
            node: node.into(),
            herd: Some(herd.into()),
        }
    }

    /// Whether `found` is this node: same name, and same herd when both
    /// say which.
    pub(crate) fn admits(&self, found: &Identity) -> bool {
        self.node == found.node
            && match (&self.herd, &found.herd) {
                (Some(want), Some(got)) => want == got,
                _ => true,
            }
    }
}

/// `"Clark" of herd "demo"`, or `"Clark"`.
impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.node)?;
        if let Some(herd) = &self.herd {
            write!(f, " of herd {herd:?}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made.
    #[error("unreachable: {source}")]
    Connect {
        /// As given to [`Options`](super::Options).
        addr: String,
        #[source]
        source: io::Error,
    },
    /// The TLS handshake with the node failed.
    #[error("TLS with {addr}: {reason}")]
    Tls { addr: String, reason: String },
    /// No answer (or no connection) within the time allowed.
    #[error("timed out")]
    Timeout,
    /// The node wants a token and was given none, or a wrong one; it
    /// closes the connection.
    #[error("token rejected: {message}")]
    TokenRefused { code: ErrorCode, message: String },
    /// The node answered the request with an error.
    #[error("{message}")]
    Node {
        /// Absent from nodes older than the codes.
        code: Option<ErrorCode>,
        message: String,
    },
    /// The node said something this client cannot read.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// Another node answered on the address.
    #[error("answered as node {found}, not {expected}")]
    WrongNode { expected: Identity, found: Identity },
    /// The node closed the connection (or an earlier error broke it).
    #[error("unreachable: the node closed the connection")]
    Closed,
    /// The connection broke.
    #[error("unreachable: {0}")]
    Io(#[source] io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("a line longer than {max} bytes")]
    LineTooLong { max: usize },
    #[error("a line that is not UTF-8")]
    NotUtf8,
    /// A response with an id that no request of this connection had.
    #[error("an answer to request {id}, which was never asked")]
    UnexpectedId { id: Value },
    #[error("a reply of another kind than asked")]
    UnexpectedReply,
}

/// What kind of failure, in the few words a dashboard has room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing listens on the address.
    Refused,
    /// Could not connect, or the connection broke or closed.
    Unreachable,
    Timeout,
    /// The token was refused (or missing).
    Token,
    WrongNode,
    /// The node refused the request.
    Node,
    Protocol,
}

impl ClientError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Connect { source, .. }
                if source.kind() == io::ErrorKind::ConnectionRefused =>
            {
                ErrorKind::Refused
            }
            ClientError::Connect { .. }
            | ClientError::Closed
            | ClientError::Io(_)
            | ClientError::Tls { .. } => ErrorKind::Unreachable,
            ClientError::Timeout => ErrorKind::Timeout,
            ClientError::TokenRefused { .. } => ErrorKind::Token,
            ClientError::WrongNode { .. } => ErrorKind::WrongNode,
            ClientError::Node { .. } => ErrorKind::Node,
            ClientError::Protocol(_) => ErrorKind::Protocol,
        }
    }

    /// Why the node is unreachable, without the word "unreachable" (for a
    /// line that says it already); None for the other errors.
    pub fn unreachable_reason(&self) -> Option<String> {
        match self {
            ClientError::Connect { source, .. } | ClientError::Io(source) => {
                Some(source.to_string())
            }
            ClientError::Closed => Some("the node closed the connection".to_owned()),
            ClientError::Tls { reason, .. } => Some(format!("TLS: {reason}")),
            _ => None,
        }
    }

    /// A node's error response as an error: the token codes are their own.
    pub(crate) fn from_node(code: Option<ErrorCode>, message: Option<String>) -> ClientError {
        let message = message.unwrap_or_else(|| "refused".to_owned());
        match code {
            Some(code @ (ErrorCode::AuthRequired | ErrorCode::AuthFailed)) => {
                ClientError::TokenRefused { code, message }
            }
            code => ClientError::Node { code, message },
        }
    }
}
