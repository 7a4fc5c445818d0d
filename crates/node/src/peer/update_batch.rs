//! What one batch of peer lines (what one read of a link brought in)
//! leaves to do at its end: the record log's appends for the updates it
//! won, written with one `write`, then the floods, queued on their links as
//! they were decided and written once per link. A burst of N updates from a
//! peer costs one log write and one write (and one wake-up) per other peer,
//! not N of each. One update alone is still written at once: a batch of one
//! line ends right after it. (Client connections have their own way to the
//! same writes: `crate::write_combiner`.)

use std::sync::Arc;

use super::Link;
use crate::node::Node;

pub struct UpdateBatch<'a> {
    node: &'a Node,
    /// Updates were appended to the store and await its flush.
    appended: bool,
    links: Vec<Arc<Link>>,
}

impl<'a> UpdateBatch<'a> {
    pub fn new(node: &'a Node) -> UpdateBatch<'a> {
        UpdateBatch {
            node,
            appended: false,
            links: Vec::new(),
        }
    }

    /// An update was appended to the store.
    pub(crate) fn appended(&mut self) {
        self.appended = true;
    }

    /// `link` has updates queued that this batch will write.
    pub(crate) fn flooded(&mut self, link: &Arc<Link>) {
        if !self.links.iter().any(|held| Arc::ptr_eq(held, link)) {
            self.links.push(link.clone());
        }
    }

    /// Writes what the batch left: the store first, then each link once.
    pub fn finish(&mut self) {
        if std::mem::take(&mut self.appended) {
            self.node.write_appended();
        }
        for link in self.links.drain(..) {
            link.write_queued();
        }
    }
}

impl Drop for UpdateBatch<'_> {
    /// A batch cut short (an error ending the drain) still writes what it
    /// left: its updates were merged, and their peers must get them.
    fn drop(&mut self) {
        self.finish();
    }
}
