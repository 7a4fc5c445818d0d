//! `records`: one page of records in client-id order.
//!
//! Records are held in an insertion-ordered hash set (no client-id order,
//! no second index to pay for in memory), so a page is selected with one pass over the records that keeps
//! the `limit` smallest matching client ids in a bounded heap: O(n log limit)
//! time and O(limit) memory, whatever the page. The pass runs on a blocking
//! thread and takes the state lock for [`SCAN_SLICE`] records at a time, so
//! clients and peers are served between slices instead of waiting for the
//! whole pass (about 0.1 s at a million records). A record that changes during the pass is seen in one of
//! its versions; a page is a listing, not a point-in-time snapshot.

use std::collections::BinaryHeap;
use std::sync::Arc;

use herd_admin::{DEFAULT_PAGE, MAX_PAGE, RecordEntry, RecordsPage};
use herd_proto::Record;

use crate::node::Node;

/// Records copied per hold of the state lock (well under a millisecond).
const SCAN_SLICE: usize = 4096;

/// Orders records by client id only, for the heap.
struct ByClientId(Arc<Record>);

impl PartialEq for ByClientId {
    fn eq(&self, other: &Self) -> bool {
        self.0.client() == other.0.client()
    }
}
impl Eq for ByClientId {}
impl PartialOrd for ByClientId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByClientId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.client().cmp(other.0.client())
    }
}

pub fn records_page(
    node: &Node,
    prefix: Option<&str>,
    after: Option<&str>,
    limit: Option<usize>,
) -> RecordsPage {
    let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let prefix = prefix.unwrap_or("");
    // One more than the page, to know whether a next page exists.
    let keep = limit + 1;
    let mut heap: BinaryHeap<ByClientId> = BinaryHeap::with_capacity(keep + 1);
    let mut matching = 0;
    let mut position = 0;
    let mut slice: Vec<Arc<Record>> = Vec::with_capacity(SCAN_SLICE);
    loop {
        // Under the lock only copy the slice's pointers; examine them after.
        // Holding the lock for the whole examination would let this thread
        // take it straight back each time and starve the node's tasks.
        let more = node.read_records(|records| {
            slice.extend(records.slice(position, SCAN_SLICE).cloned());
            position += SCAN_SLICE;
            position < records.len()
        });
        for record in slice.drain(..) {
            let client = record.client();
            if !client.starts_with(prefix) {
                continue;
            }
            matching += 1;
            if after.is_some_and(|after| client <= after) {
                continue;
            }
            if heap.len() < keep {
                heap.push(ByClientId(record));
            } else if heap
                .peek()
                .is_some_and(|largest| client < largest.0.client())
            {
                heap.pop();
                heap.push(ByClientId(record));
            }
        }
        if !more {
            break;
        }
    }
    let more = heap.len() > limit;
    if more {
        heap.pop();
    }
    let records: Vec<RecordEntry> = heap
        .into_sorted_vec()
        .into_iter()
        .map(|ByClientId(record)| entry(&record))
        .collect();
    let next = if more {
        records.last().map(|entry| entry.client.clone())
    } else {
        None
    };
    RecordsPage {
        records,
        matching,
        next,
    }
}

fn entry(record: &Record) -> RecordEntry {
    let position = record.position();
    RecordEntry {
        client: record.client().to_owned(),
        position: record.position_text().to_owned(),
        lat: position.lat,
        lng: position.lng,
        client_time: record.client_time_text().to_owned(),
        received_by: record.origin().to_owned(),
        received_us: record.received().0 / 1000,
        at: record.at_line().to_owned(),
    }
}
