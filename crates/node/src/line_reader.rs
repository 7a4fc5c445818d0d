//! Line framing with a hard bound on memory.
//!
//! tokio-util's `LinesCodec` ends the stream after an over-long line; the
//! protocol instead wants the over-long line answered, so framing here makes
//! every outcome a value.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// How many bytes one read asks for.
const READ_CHUNK: usize = 8 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without `\n` and without one `\r` before it.
    Line(BytesMut),
    /// A line longer than the limit; holds its first `prefix` bytes. The
    /// reader should not be used after this.
    TooLong(BytesMut),
}

pub struct LineReader {
    buf: BytesMut,
    max_line: usize,
    too_long_prefix: usize,
}

impl LineReader {
    /// Lines longer than `max_line` bytes (without ending) are
    /// [`Frame::TooLong`], reporting their first `too_long_prefix` bytes.
    pub fn new(max_line: usize, too_long_prefix: usize) -> LineReader {
        LineReader {
            buf: BytesMut::with_capacity(1024),
            max_line,
            too_long_prefix,
        }
    }

    /// The next complete line in the buffer, if any.
    pub fn next_frame(&mut self) -> Option<Frame> {
        match memchr(b'\n', &self.buf) {
            Some(end) if end <= self.max_line + 1 => {
                let mut line = self.buf.split_to(end + 1);
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                if line.len() > self.max_line {
                    return Some(self.too_long(line));
                }
                Some(Frame::Line(line))
            }
            Some(_) => {
                let line = self.buf.split();
                Some(self.too_long(line))
            }
            None if self.buf.len() > self.max_line + 1 => {
                let line = self.buf.split();
                Some(self.too_long(line))
            }
            None => None,
        }
    }

    fn too_long(&self, mut line: BytesMut) -> Frame {
        line.truncate(self.too_long_prefix);
        Frame::TooLong(line)
    }

    /// What is left after the peer half-closed: a last line without `\n`
    /// (its ending kept as it is: there was none), or nothing.
    pub fn take_rest(&mut self) -> Option<Frame> {
        if self.buf.is_empty() {
            return None;
        }
        let rest = self.buf.split();
        if rest.len() > self.max_line {
            return Some(self.too_long(rest));
        }
        Some(Frame::Line(rest))
    }

    /// Reads once more from `source`; `Ok(0)` at end of stream. Never grows
    /// the buffer beyond the line limit plus one read.
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, source: &mut R) -> std::io::Result<usize> {
        self.make_room();
        source.read_buf(&mut self.buf).await
    }

    /// Reads once through `read` (a non-blocking read of some source into
    /// the slice it is given), adding what it read: `Ok(0)` at end of
    /// stream, `WouldBlock` when the source has nothing now.
    pub fn fill_from(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        let mut chunk = [0u8; READ_CHUNK];
        let read = read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..read]);
        Ok(read)
    }

    /// Like [`LineReader::fill_from`], with `read` appending to the buffer
    /// itself (a socket's `try_read_buf`: no copy).
    pub fn fill_buf_with(
        &mut self,
        read: impl FnOnce(&mut BytesMut) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        self.make_room();
        read(&mut self.buf)
    }

    fn make_room(&mut self) {
        if self.buf.capacity() - self.buf.len() < 512 {
            self.buf.reserve(READ_CHUNK.min(self.max_line + 2));
        }
    }

    /// Bytes buffered but not yet returned as a line.
    pub fn buffered(&self) -> usize {
        self.buf.remaining()
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader_with(bytes: &[u8], max: usize) -> LineReader {
        let mut r = LineReader::new(max, 4);
        r.buf.extend_from_slice(bytes);
        r
    }

    fn line(s: &str) -> Option<Frame> {
        Some(Frame::Line(BytesMut::from(s)))
    }

    #[test]
    fn splits_lines_and_drops_one_carriage_return() {
        let mut r = reader_with(b"a\nb\r\nc\r\r\nd", 10);
        assert_eq!(r.next_frame(), line("a"));
        assert_eq!(r.next_frame(), line("b"));
        assert_eq!(r.next_frame(), line("c\r"));
        assert_eq!(r.next_frame(), None);
        assert_eq!(r.take_rest(), line("d"));
        assert_eq!(r.take_rest(), None);
    }

    #[test]
    fn line_of_exactly_the_limit_is_fine_one_more_is_too_long() {
        let mut r = reader_with(b"12345\n123456\n", 5);
        assert_eq!(r.next_frame(), line("12345"));
        assert_eq!(r.next_frame(), Some(Frame::TooLong(BytesMut::from("1234"))));
        let mut r = reader_with(b"12345\r\n", 5);
        assert_eq!(r.next_frame(), line("12345"));
    }

    #[test]
    fn endless_line_is_detected_without_a_newline() {
        let mut r = reader_with(b"1234567", 5);
        assert_eq!(r.next_frame(), Some(Frame::TooLong(BytesMut::from("1234"))));
    }

    #[tokio::test]
    async fn memory_stays_bounded_while_reading_an_endless_line() {
        let mut r = LineReader::new(8192, 256);
        let mut source: &[u8] = &[b'x'; 1 << 20];
        loop {
            if let Some(frame) = r.next_frame() {
                assert!(matches!(frame, Frame::TooLong(ref p) if p.len() == 256));
                break;
            }
            assert!(r.buffered() <= 8192 + 1);
            let n = r.fill(&mut source).await.expect("read");
            assert!(n > 0);
        }
        assert!(
            r.buf.capacity() <= 4 * 8192,
            "capacity {}",
            r.buf.capacity()
        );
    }
}
