//! A peer connection's bytes, plain TCP or TLS 1.3: the stream the
//! handshake runs on ([`Handshaking`]), and the socket a connected link
//! reads and writes without waiting ([`PeerSocket`]).
//!
//! The link reads its socket both from its session (through tokio's
//! readiness) and straight from the kernel when a client request must see
//! what has arrived (inbox.rs), and writes from whichever task has lines
//! ready (outbox.rs). So after the handshake a TLS connection is not a
//! tokio-rustls stream but rustls's own state machine under a lock, fed
//! and drained with the same non-blocking reads and writes as plain TCP.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::inbox::ReadVia;
use crate::line_reader::LineReader;

/// Raw bytes read from the socket at a time.
const RAW_CHUNK: usize = 16 * 1024;

/// Raw chunks one read takes while they hold no plaintext.
const TLS_ONLY_CHUNKS: usize = 4;

/// The stream a handshake (HELLO, then the secret's proof) runs on.
pub enum Handshaking {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl Handshaking {
    /// The certificate chain the peer presented (TLS only).
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        match self {
            Handshaking::Plain(_) => None,
            Handshaking::Tls(tls) => tls.get_ref().1.peer_certificates(),
        }
    }

    /// The connection as a link uses it once the handshake is over.
    pub fn into_socket(self) -> PeerSocket {
        match self {
            Handshaking::Plain(tcp) => PeerSocket { tcp, tls: None },
            Handshaking::Tls(tls) => {
                let (tcp, connection): (TcpStream, rustls::Connection) = match *tls {
                    tokio_rustls::TlsStream::Client(client) => {
                        let (tcp, connection) = client.into_inner();
                        (tcp, connection.into())
                    }
                    tokio_rustls::TlsStream::Server(server) => {
                        let (tcp, connection) = server.into_inner();
                        (tcp, connection.into())
                    }
                };
                PeerSocket {
                    tcp,
                    tls: Some(Mutex::new(connection)),
                }
            }
        }
    }
}

impl AsyncRead for Handshaking {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Handshaking::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Handshaking::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Handshaking {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Handshaking::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Handshaking::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Handshaking::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Handshaking::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Handshaking::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Handshaking::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A connected link's socket, shared by its read and write sides.
pub struct PeerSocket {
    tcp: TcpStream,
    /// With TLS: rustls's record layer. Reads and writes each hold the
    /// lock only while they move bytes, never across an await.
    tls: Option<Mutex<rustls::Connection>>,
}

impl PeerSocket {
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Waits until the socket has bytes (or an error) to read.
    pub async fn readable(&self) -> io::Result<()> {
        self.tcp.readable().await
    }

    /// Waits until the socket takes bytes again.
    pub async fn writable(&self) -> io::Result<()> {
        self.tcp.writable().await
    }

    fn tls(tls: &Mutex<rustls::Connection>) -> MutexGuard<'_, rustls::Connection> {
        tls.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads what has arrived into `lines`, without waiting: the bytes
    /// added (plaintext, with TLS), `Ok(0)` when the peer closed,
    /// `WouldBlock` when there is nothing.
    pub fn try_fill(&self, lines: &mut LineReader, via: ReadVia) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return match via {
                ReadVia::Runtime => lines.fill_buf_with(|buf| self.tcp.try_read_buf(buf)),
                ReadVia::Kernel => lines.fill_from(|buf| self.read_raw(buf, via)),
            };
        };
        let mut tls = Self::tls(tls);
        let (mut added, closed) = drain_plaintext(&mut tls, lines)?;
        if added > 0 || closed {
            return Ok(added);
        }
        // Chunks of only TLS's own messages (session tickets, key updates)
        // are read on, up to a bound: a peer sending nothing else must not
        // hold the link's read side (the callers' budgets count plaintext).
        for _ in 0..TLS_ONLY_CHUNKS {
            let mut raw = [0u8; RAW_CHUNK];
            let got = self.read_raw(&mut raw, via)?;
            if got == 0 {
                return Ok(added);
            }
            let mut rest = &raw[..got];
            while !rest.is_empty() {
                // After the peer's close_notify rustls takes nothing more.
                if tls.read_tls(&mut rest)? == 0 {
                    return Ok(added);
                }
                tls.process_new_packets()
                    .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
                let (more, closed) = drain_plaintext(&mut tls, lines)?;
                added += more;
                if closed {
                    // The lines before it count; the next read says closed.
                    return Ok(added);
                }
            }
            if added > 0 {
                return Ok(added);
            }
        }
        // Not the socket's WouldBlock: its readiness stays set, so a task
        // waiting for it comes straight back.
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// Ends the TLS session politely (close_notify), as far as the socket
    /// takes it now; the connection is dropped next.
    pub fn close(&self) {
        if let Some(tls) = &self.tls {
            let mut tls = Self::tls(tls);
            tls.send_close_notify();
            let _ = push_records(&mut tls, &self.tcp);
        }
    }

    fn read_raw(&self, buf: &mut [u8], via: ReadVia) -> io::Result<usize> {
        match via {
            ReadVia::Runtime => self.tcp.try_read(buf),
            // Past tokio's readiness flag, which lags the kernel until the
            // runtime polls.
            ReadVia::Kernel => (&*socket2::SockRef::from(&self.tcp)).read(buf),
        }
    }

    /// TLS has bytes of its own to send (an answer to a key update).
    pub fn wants_flush(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|tls| Self::tls(tls).wants_write())
    }

    /// Writes what TLS holds back; `WouldBlock` when the socket is full.
    pub fn try_flush(&self) -> io::Result<()> {
        match &self.tls {
            Some(tls) => push_records(&mut Self::tls(tls), &self.tcp),
            None => Ok(()),
        }
    }

    /// Takes what it can of `bytes` without waiting. With TLS, bytes taken
    /// are this connection's: they are encrypted at once, and what the
    /// socket does not take yet goes out with the next write or flush.
    pub fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return self.tcp.try_write(bytes);
        };
        let mut tls = Self::tls(tls);
        push_records(&mut tls, &self.tcp)?;
        let taken = tls.writer().write(bytes)?;
        match push_records(&mut tls, &self.tcp) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
        if taken == 0 && !bytes.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(taken)
    }
}

/// Moves decrypted bytes into `lines`: how many, and whether the peer
/// closed the TLS session.
fn drain_plaintext(
    tls: &mut rustls::Connection,
    lines: &mut LineReader,
) -> io::Result<(usize, bool)> {
    let mut added = 0;
    loop {
        match lines.fill_from(|buf| tls.reader().read(buf)) {
            Ok(0) => return Ok((added, true)),
            Ok(read) => added += read,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok((added, false)),
            Err(err) => return Err(err),
        }
    }
}

/// Writes TLS records to the socket until none is left (`Ok`) or the
/// socket is full (`WouldBlock`).
fn push_records(tls: &mut rustls::Connection, tcp: &TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        tls.write_tls(&mut TryWriter(tcp))?;
    }
    Ok(())
}

/// `io::Write` over a tokio socket without waiting (`WouldBlock` clears
/// its readiness, so a task can then wait until it is writable).
struct TryWriter<'a>(&'a TcpStream);

impl Write for TryWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.try_write(buf) {
            Ok(0) if !buf.is_empty() => Err(io::ErrorKind::WriteZero.into()),
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use herd_config::TlsSettings;
    use herd_tls::NodeTls;
    use herd_tls::issue::{Authority, Validity};
    use tokio::net::TcpListener;

    use super::*;
    use crate::line_reader::Frame;

    /// A and B's TLS from certificates made in `dir`.
    fn pair(dir: &std::path::Path) -> (NodeTls, NodeTls) {
        let ca = Authority::new("socket test CA", Validity::days(2)).expect("CA");
        std::fs::write(dir.join("ca.pem"), &ca.cert_pem).expect("write");
        for name in ["A", "B"] {
            let issued = ca.issue(name, Validity::days(1)).expect("issue");
            std::fs::write(dir.join(format!("{name}.pem")), issued.cert_pem).expect("write");
            std::fs::write(dir.join(format!("{name}.key")), issued.key_pem).expect("write");
        }
        let settings = TlsSettings {
            ca: "ca.pem".to_owned(),
            cert: "{name}.pem".to_owned(),
            key: "{name}.key".to_owned(),
            admin: false,
            base: dir.to_path_buf(),
        };
        let load =
            |me: &str, peer: &str| NodeTls::load(&settings, me, &[peer.to_owned()]).expect("loads");
        (load("A", "B"), load("B", "A"))
    }

    /// Writes all of `bytes` without waiting but for writability.
    async fn write_all(socket: &PeerSocket, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match socket.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    socket.writable().await.expect("writable");
                }
                Err(err) => panic!("write: {err}"),
            }
        }
        loop {
            match socket.try_flush() {
                Ok(()) => return,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    socket.writable().await.expect("writable");
                }
                Err(err) => panic!("flush: {err}"),
            }
        }
    }

    #[tokio::test]
    async fn lines_cross_a_tls_socket_in_order_read_either_way() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = pair(dir.path());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor = tokio_rustls::TlsAcceptor::from(b.peer_acceptor.clone());
        let accepting = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            acceptor.accept(tcp).await.expect("TLS accept")
        });
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = herd_tls::server_name("B").expect("name");
        let client = tokio_rustls::TlsConnector::from(a.connector.clone())
            .connect(name, tcp)
            .await
            .expect("TLS connect");
        let server = accepting.await.expect("accepted");
        let dialled = Arc::new(
            Handshaking::Tls(Box::new(tokio_rustls::TlsStream::Client(client))).into_socket(),
        );
        let accepted =
            Handshaking::Tls(Box::new(tokio_rustls::TlsStream::Server(server))).into_socket();
        assert!(dialled.is_tls() && accepted.is_tls());

        // Far more than one TLS record and one socket buffer.
        let lines = 20_000;
        let text: String = (0..lines).map(|i| format!("AT line {i}\n")).collect();
        let writer = {
            let dialled = dialled.clone();
            tokio::spawn(async move { write_all(&dialled, text.as_bytes()).await })
        };
        let mut reader = LineReader::new(1024, 16);
        let mut seen = 0;
        let mut via = ReadVia::Kernel;
        while seen < lines {
            while let Some(frame) = reader.next_frame() {
                assert_eq!(
                    frame,
                    Frame::Line(format!("AT line {seen}").as_str().into())
                );
                seen += 1;
            }
            if seen == lines {
                break;
            }
            match accepted.try_fill(&mut reader, via) {
                Ok(0) => panic!("closed after {seen} lines"),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    accepted.readable().await.expect("readable");
                }
                Err(err) => panic!("read: {err}"),
            }
            // Both ways of reading, in turns, keep the order.
            via = match via {
                ReadVia::Kernel => ReadVia::Runtime,
                ReadVia::Runtime => ReadVia::Kernel,
            };
        }
        writer.await.expect("written");
        assert!(!accepted.wants_flush());
    }
}
