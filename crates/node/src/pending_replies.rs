//! The replies to the lines one read of a client connection brought in,
//! held until the updates they acknowledge are written: to the record log
//! (at least to the operating system) and to the peer links, by the
//! node's [`crate::write_combiner::WriteCombiner`] for every connection
//! about to answer, and with `fsync = "always"` synced too. Then they go
//! out in one write. If the log write failed, the AT replies that would
//! have acknowledged its updates become `? line`: an update is acknowledged
//! only once stored (contract, IAMAT).

use std::ops::Range;

use tracing::error;

use crate::node::Node;

#[derive(Default)]
pub struct PendingReplies {
    /// A reply relies on something appended or queued: a flush is due.
    flush_due: bool,
    /// Where in the output each AT reply acknowledging an update is, and
    /// the line it answers.
    acks: Vec<(Range<usize>, Box<[u8]>)>,
}

impl PendingReplies {
    /// The reply in `out[range]` acknowledges an update appended for the
    /// request `line`.
    pub fn acknowledge(&mut self, range: Range<usize>, line: &[u8]) {
        self.flush_due = true;
        self.acks.push((range, line.into()));
    }

    /// A reply shows a record that may still be on its way to the log.
    pub fn rely_on_store(&mut self) {
        self.flush_due = true;
    }

    /// Waits until every reply in `out` may be written; rewrites the
    /// acknowledgements of updates that could not be stored.
    pub async fn settle(&mut self, node: &Node, out: &mut Vec<u8>) {
        if !std::mem::take(&mut self.flush_due) {
            return;
        }
        let flushed = node.write_combiner.flush(node).await;
        let acks = std::mem::take(&mut self.acks);
        if !flushed.stored {
            error!(
                target: "client",
                "{} updates not stored: their replies are `?`",
                acks.len()
            );
            // From the end, so earlier ranges stay where they are.
            for (range, line) in acks.into_iter().rev() {
                let mut question = Vec::with_capacity(line.len() + 3);
                question.extend_from_slice(b"? ");
                question.extend_from_slice(&line);
                question.push(b'\n');
                out.splice(range, question);
            }
            return;
        }
        // With `fsync = "always"`, on disk before the replies.
        node.group_commit.durable(flushed.written).await;
    }
}
