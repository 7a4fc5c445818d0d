//! Line framing with a bound: tokio-util's `LinesCodec` with a maximum
//! length, wrapped so that an over-long line (or one that is not UTF-8) is
//! an item, not an error. `FramedRead` ends the stream after a decoder
//! error, so without the wrapper the client would see an over-long line as
//! a connection that quietly closed.

use std::io;

use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, LinesCodec, LinesCodecError};

/// One line from the node.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    Text(String),
    /// Longer than the bound; its bytes were discarded up to its `\n`.
    TooLong,
    NotUtf8,
}

pub(crate) struct BoundedLines {
    inner: LinesCodec,
}

impl BoundedLines {
    pub(crate) fn new(max_length: usize) -> BoundedLines {
        BoundedLines {
            inner: LinesCodec::new_with_max_length(max_length),
        }
    }
}

impl Decoder for BoundedLines {
    type Item = Line;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, io::Error> {
        lift(self.inner.decode(buf))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, io::Error> {
        lift(self.inner.decode_eof(buf))
    }
}

fn lift(decoded: Result<Option<String>, LinesCodecError>) -> Result<Option<Line>, io::Error> {
    match decoded {
        Ok(line) => Ok(line.map(Line::Text)),
        Err(LinesCodecError::MaxLineLengthExceeded) => Ok(Some(Line::TooLong)),
        // The codec's only error of its own: the line (already consumed)
        // is not UTF-8. Read errors reach FramedRead, not the decoder.
        Err(LinesCodecError::Io(err)) if err.kind() == io::ErrorKind::InvalidData => {
            Ok(Some(Line::NotUtf8))
        }
        Err(LinesCodecError::Io(err)) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_over_long_line_is_an_item_and_the_next_line_still_comes() {
        let mut codec = BoundedLines::new(8);
        let mut buf = BytesMut::from(&b"short\n0123456789abcdef\nnext\n\xff\xfe\n"[..]);
        let mut lines = Vec::new();
        while let Ok(Some(line)) = codec.decode(&mut buf) {
            lines.push(line);
        }
        assert_eq!(
            lines,
            [
                Line::Text("short".to_owned()),
                Line::TooLong,
                Line::Text("next".to_owned()),
                Line::NotUtf8,
            ]
        );
    }
}
