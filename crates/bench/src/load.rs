//! Closed-loop load: N connections, each sending a line and waiting for the
//! whole reply before the next, for a fixed time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::report::new_histogram;

/// How a client uses connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// One connection per client, many lines on it.
    Session,
    /// Connect, send one line, half-close, read the reply, close.
    Oneshot,
}

/// What the reply to a line looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyShape {
    /// One line.
    Line,
    /// Lines up to and including an empty one (WHATSAT).
    UntilEmptyLine,
}

/// Makes the next request line (with its `\n`) for connection `conn`.
pub type LineMaker = Arc<dyn Fn(&mut fastrand::Rng) -> String + Send + Sync>;

pub struct Load {
    /// Connection `i` goes to `addrs[i % addrs.len()]`.
    pub addrs: Vec<SocketAddr>,
    pub connections: usize,
    pub duration: Duration,
    pub mode: Mode,
    pub reply: ReplyShape,
    pub make_line: LineMaker,
}

pub struct Outcome {
    pub histogram: Histogram<u64>,
    pub errors: u64,
    pub elapsed: Duration,
}

impl Load {
    pub async fn run(&self) -> Outcome {
        let started = Instant::now();
        let deadline = started + self.duration;
        let tasks: Vec<_> = (0..self.connections)
            .map(|conn| {
                let addr = self.addrs[conn % self.addrs.len().max(1)];
                let (mode, reply, make_line) = (self.mode, self.reply, self.make_line.clone());
                tokio::spawn(async move {
                    let mut rng = fastrand::Rng::with_seed(conn as u64 * 7919 + 1);
                    match mode {
                        Mode::Session => session(addr, deadline, reply, &make_line, &mut rng).await,
                        Mode::Oneshot => oneshot(addr, deadline, reply, &make_line, &mut rng).await,
                    }
                })
            })
            .collect();
        let mut histogram = new_histogram();
        let mut errors = 0;
        for task in tasks {
            match task.await {
                Ok((h, e)) => {
                    let _ = histogram.add(&h);
                    errors += e;
                }
                Err(_) => errors += 1,
            }
        }
        Outcome {
            histogram,
            errors,
            elapsed: started.elapsed(),
        }
    }
}

async fn session(
    addr: SocketAddr,
    deadline: Instant,
    shape: ReplyShape,
    make_line: &LineMaker,
    rng: &mut fastrand::Rng,
) -> (Histogram<u64>, u64) {
    let mut histogram = new_histogram();
    let mut errors = 0;
    let Ok(stream) = TcpStream::connect(addr).await else {
        return (histogram, 1);
    };
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut reply = String::new();
    while Instant::now() < deadline {
        let line = make_line(rng);
        let sent = Instant::now();
        if writer.write_all(line.as_bytes()).await.is_err() {
            errors += 1;
            break;
        }
        if !read_reply(&mut reader, shape, &mut reply).await {
            errors += 1;
            break;
        }
        record(&mut histogram, sent);
    }
    (histogram, errors)
}

async fn oneshot(
    addr: SocketAddr,
    deadline: Instant,
    shape: ReplyShape,
    make_line: &LineMaker,
    rng: &mut fastrand::Rng,
) -> (Histogram<u64>, u64) {
    let mut histogram = new_histogram();
    let mut errors = 0;
    let mut reply = Vec::new();
    while Instant::now() < deadline {
        let line = make_line(rng);
        let sent = Instant::now();
        let answered = async {
            let mut stream = TcpStream::connect(addr).await.ok()?;
            let _ = stream.set_nodelay(true);
            stream.write_all(line.as_bytes()).await.ok()?;
            stream.shutdown().await.ok()?;
            reply.clear();
            stream.read_to_end(&mut reply).await.ok()?;
            let complete = match shape {
                ReplyShape::Line => reply.ends_with(b"\n"),
                ReplyShape::UntilEmptyLine => reply.ends_with(b"\n\n"),
            };
            complete.then_some(())
        }
        .await;
        match answered {
            Some(()) => record(&mut histogram, sent),
            None => {
                errors += 1;
                // A refused connect would spin: back off a little.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    (histogram, errors)
}

async fn read_reply<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    shape: ReplyShape,
    buf: &mut String,
) -> bool {
    loop {
        buf.clear();
        match reader.read_line(buf).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        match shape {
            ReplyShape::Line => return true,
            ReplyShape::UntilEmptyLine if buf == "\n" => return true,
            ReplyShape::UntilEmptyLine => {}
        }
    }
}

fn record(histogram: &mut Histogram<u64>, sent: Instant) {
    let micros = sent.elapsed().as_micros().clamp(1, 60_000_000) as u64;
    let _ = histogram.record(micros);
}

/// The current time as a client writes it: seconds, 9 decimals.
pub fn now_text() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}
