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
    /// Each AT reply acknowledging an update: where it is in the output,
    /// where the line it answers is in `lines`, and the update's entry in
    /// the store.
    acks: Vec<Ack>,
    /// The request lines of `acks`, one after the other: kept for the `?`
    /// a failed write turns them into, in a buffer the connection reuses
    /// (no allocation per request for a case that hardly ever comes).
    lines: Vec<u8>,
}

struct Ack {
    reply: Range<usize>,
    line: Range<usize>,
    entry: u64,
}

impl PendingReplies {
    /// The reply in `out[reply]` acknowledges an update appended for the
    /// request `line` as the store's entry `entry`.
    pub fn acknowledge(&mut self, reply: Range<usize>, line: &[u8], entry: u64) {
        self.flush_due = true;
        let start = self.lines.len();
        self.lines.extend_from_slice(line);
        self.acks.push(Ack {
            reply,
            line: start..self.lines.len(),
            entry,
        });
    }

    /// A reply shows a record that may still be on its way to the log.
    pub fn rely_on_store(&mut self) {
        self.flush_due = true;
    }

    /// Writes what the replies so far wait for now (before a WHATSAT's
    /// places lookup, which may take a while), without settling them: the
    /// output is only rewritten by [`PendingReplies::settle`], so the reply
    /// being made keeps its place in it.
    pub async fn write_ahead(&mut self, node: &Node) {
        if self.flush_due {
            node.write_combiner.flush(node).await;
        }
    }

    /// Waits until every reply in `out` may be written; rewrites the
    /// acknowledgements of updates that could not be stored.
    pub async fn settle(&mut self, node: &Node, out: &mut Vec<u8>) {
        if !std::mem::take(&mut self.flush_due) {
            return;
        }
        let written = node.write_combiner.flush(node).await;
        let unwritten = self.acks.iter().filter(|ack| ack.entry > written).count();
        if unwritten > 0 {
            error!(
                target: "client",
                "{unwritten} updates not written to the record log: their replies are `?`"
            );
            // From the end, so earlier ranges stay where they are.
            for ack in self.acks.iter().rev().filter(|ack| ack.entry > written) {
                let line = &self.lines[ack.line.clone()];
                let question = [b"? ", line, b"\n"].concat();
                out.splice(ack.reply.clone(), question);
            }
        }
        self.acks.clear();
        self.lines.clear();
        // With `fsync = "always"`, on disk before the replies.
        node.group_commit.durable(written).await;
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use herd_proto::{Nanos, Record};

    use super::*;
    use crate::store::RecordStore;
    use crate::test_support::{NoPlaces, live, settings};

    /// A store whose writes fail while `failing` is set (what failed stays
    /// for the next write, as the record log does).
    struct FlakyStore {
        failing: Arc<AtomicBool>,
        pending: u64,
        written: Arc<AtomicU64>,
    }

    impl RecordStore for FlakyStore {
        fn append(&mut self, _record: &Arc<Record>) -> io::Result<()> {
            self.pending += 1;
            Ok(())
        }

        fn append_tombstone(&mut self, _tombstone: &herd_proto::Tombstone) -> io::Result<()> {
            self.pending += 1;
            Ok(())
        }

        fn flush(&mut self) -> io::Result<()> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(io::Error::other("disk on fire"));
            }
            let pending = std::mem::take(&mut self.pending);
            self.written.fetch_add(pending, Ordering::SeqCst);
            Ok(())
        }

        fn appended(&self) -> u64 {
            self.written.load(Ordering::SeqCst) + self.pending
        }

        fn load(&mut self) -> io::Result<herd_core::Records> {
            Ok(herd_core::Records::default())
        }

        fn written(&self) -> u64 {
            self.written.load(Ordering::SeqCst)
        }

        fn sync_handle(&self) -> Option<std::fs::File> {
            None
        }

        fn bytes(&self) -> u64 {
            0
        }

        fn describe(&self) -> String {
            "flaky".to_owned()
        }
    }

    fn node(failing: Arc<AtomicBool>, written: Arc<AtomicU64>) -> Arc<Node> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let (settings, live) = (settings("Solo", addr, &std::env::temp_dir()), live());
        let store = FlakyStore {
            failing,
            pending: 0,
            written,
        };
        let node = Node::new(
            settings,
            live,
            crate::live::CoreRules::default(),
            Box::new(store),
            Vec::new(),
            Arc::new(NoPlaces),
        );
        Arc::new(node.unwrap_or_else(|err| panic!("a node: {err}")))
    }

    /// What one connection's batch of `lines` gets back.
    async fn answer(node: &Node, lines: &[String]) -> String {
        let mut out = Vec::new();
        let mut pending = PendingReplies::default();
        for line in lines {
            node.answer(line.as_bytes(), 1, &mut out, &mut pending)
                .await;
        }
        pending.settle(node, &mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    fn iamat(client: &str, time: u64) -> String {
        format!(
            "IAMAT {client} +1+1 {}",
            Nanos(time * 1_000_000_000).to_seconds_text()
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replies_wait_for_the_write_and_a_failed_write_acknowledges_nothing() {
        let (failing, written) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let node = node(failing.clone(), written.clone());
        let now = Nanos::now().0 / 1_000_000_000;

        let replies = answer(&node, &[iamat("a", now), iamat("b", now)]).await;
        let lines: Vec<&str> = replies.lines().collect();
        assert!(
            lines.len() == 2 && lines.iter().all(|l| l.starts_with("AT Solo ")),
            "{replies}"
        );
        assert_eq!(
            written.load(Ordering::SeqCst),
            2,
            "both written before the replies"
        );

        // A write that fails: the AT replies of its updates become `?`,
        // and what else the batch answered stands.
        failing.store(true, Ordering::SeqCst);
        let stale = iamat("a", now - 10);
        let replies = answer(&node, &[iamat("c", now), stale.clone(), iamat("d", now)]).await;
        let lines: Vec<&str> = replies.lines().collect();
        assert_eq!(lines.len(), 3, "{replies}");
        assert_eq!(lines[0], format!("? {}", iamat("c", now)));
        assert!(
            lines[1].starts_with("AT Solo ") && lines[1].contains(" a "),
            "{replies}"
        );
        assert_eq!(lines[2], format!("? {}", iamat("d", now)));

        // The disk recovers: what failed is written with the next write
        // (stored, though never acknowledged), and replies are AT again.
        failing.store(false, Ordering::SeqCst);
        let replies = answer(&node, &[iamat("e", now)]).await;
        assert!(replies.starts_with("AT Solo "), "{replies}");
        assert_eq!(written.load(Ordering::SeqCst), 5, "a, b, then c, d and e");

        // Many connections at once: every reply follows its own write.
        let before = written.load(Ordering::SeqCst);
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let node = node.clone();
                tokio::spawn(async move { answer(&node, &[iamat(&format!("m{i}"), now)]).await })
            })
            .collect();
        for task in tasks {
            let reply = task.await.unwrap_or_default();
            assert!(reply.starts_with("AT Solo "), "{reply}");
        }
        assert_eq!(written.load(Ordering::SeqCst) - before, 32);
    }
}
