//! Handshake lines on a raw stream, for the HELLO exchange and the proof
//! exchange alike (before a link's session takes the connection over).

use bytes::BytesMut;
use herd_proto::peer::refused_line;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::error::WireError;
use crate::line_reader::{Frame, LineReader};

/// Reads one handshake line as text.
pub(super) async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    lines: &mut LineReader,
) -> Result<String, WireError> {
    loop {
        match lines.next_frame() {
            Some(Frame::Line(line)) => return text(line),
            Some(Frame::TooLong(_)) => return Err(WireError::LineTooLong),
            None => {}
        }
        match lines.fill(stream).await {
            Ok(0) => return Err(WireError::Closed),
            Ok(_) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

fn text(line: BytesMut) -> Result<String, WireError> {
    String::from_utf8(line.to_vec()).map_err(|_| WireError::NotUtf8)
}

/// Writes a handshake line, all of it on the wire (with TLS, through
/// rustls's buffer too).
pub(super) async fn send<S: AsyncWrite + Unpin>(stream: &mut S, line: &str) -> std::io::Result<()> {
    stream.write_all(line.as_bytes()).await?;
    stream.flush().await
}

/// Tells the peer why and closes.
pub(super) async fn refuse<S: AsyncWrite + Unpin>(mut stream: S, reason: &str) {
    let _ = send(&mut stream, &refused_line(reason)).await;
    let _ = stream.shutdown().await;
}
