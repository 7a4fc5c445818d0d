//! `herdctl send NODE LINE...`: the lines go to the node's client port, the
//! replies come back on stdout. WHATSAT's JSON is pretty-printed when stdout
//! is a terminal and passed through byte for byte otherwise.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use herd_config::Address;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Failure;
use crate::herd::Herd;

/// Why lines sent to a client port got no reply.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Not all of it within the limit.
    #[error("no reply within {} s", .0.as_secs())]
    NoReply(Duration),
    /// Could not connect, or the connection broke.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub async fn run(
    herd: &Herd,
    node: &str,
    lines: &[String],
    limit: Duration,
) -> Result<(), Failure> {
    let spec = herd.node(node)?;
    let reply = exchange_within(&spec.client, lines, limit)
        .await
        .map_err(|err| match err {
            SendError::NoReply(_) => {
                Failure::failed(format!("{node} did not answer within {limit:?}"))
            }
            SendError::Io(err) => Failure::failed(format!("{node} at {}: {err}", spec.client)),
        })?;
    let text = if std::io::stdout().is_terminal() {
        pretty(&reply)
    } else {
        reply
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&text)
        .and_then(|()| stdout.flush())
        .map_err(|err| Failure::failed(format!("cannot write the reply: {err}")))
}

/// One line and its whole reply (lossy UTF-8), within `limit`: the
/// dashboard's console.
pub async fn ask(addr: Address, line: &str, limit: Duration) -> Result<String, SendError> {
    let reply = exchange_within(&addr, &[line.to_owned()], limit).await?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// [`exchange`] within `limit`.
pub async fn exchange_within(
    addr: &Address,
    lines: &[String],
    limit: Duration,
) -> Result<Vec<u8>, SendError> {
    match tokio::time::timeout(limit, exchange(addr, lines)).await {
        Ok(reply) => Ok(reply?),
        Err(_) => Err(SendError::NoReply(limit)),
    }
}

/// Sends every line, half-closes, reads until the node closes. A host
/// name is resolved now (within the caller's limit).
pub async fn exchange(addr: &Address, lines: &[String]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr.host_port()).await?;
    let mut request = Vec::new();
    for line in lines {
        request.extend_from_slice(line.as_bytes());
        request.push(b'\n');
    }
    stream.write_all(&request).await?;
    stream.shutdown().await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    Ok(reply)
}

/// Re-indents each JSON object of a WHATSAT reply (the text between its AT
/// line and the blank line that ends it); everything else is unchanged.
pub fn pretty(reply: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(reply) else {
        return reply.to_vec();
    };
    let mut out = String::with_capacity(text.len() * 2);
    let mut rest = text;
    while !rest.is_empty() {
        if rest.starts_with('{')
            && let Some(end) = rest.find("\n\n")
        {
            match serde_json::from_str::<serde_json::Value>(&rest[..end]) {
                Ok(value) => {
                    out.push_str(
                        &serde_json::to_string_pretty(&value)
                            .unwrap_or_else(|_| rest[..end].to_owned()),
                    );
                }
                Err(_) => out.push_str(&rest[..end]),
            }
            out.push_str("\n\n");
            rest = &rest[end + 2..];
            continue;
        }
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        out.push_str(&rest[..end]);
        rest = &rest[end..];
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn only_the_json_is_reindented() {
        let reply = b"AT Clark +0.1 k +1-2 3\n{\"a\":[1],\"status\":\"OK\"}\n\n? bad\n";
        let text = String::from_utf8(pretty(reply)).unwrap_or_default();
        assert_eq!(
            text,
            "AT Clark +0.1 k +1-2 3\n{\n  \"a\": [\n    1\n  ],\n  \"status\": \"OK\"\n}\n\n? bad\n"
        );
        assert_eq!(pretty(b"? {not json\n"), b"? {not json\n");
    }
}
