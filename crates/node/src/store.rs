//! Where a node keeps its records besides memory.
//!
//! The node calls [`RecordStore::save`] for every update that wins, before it
//! acknowledges or floods it, and [`RecordStore::load`] once at start-up. The
//! durability issue adds a store that writes to `--data-dir`; until then the
//! [`VolatileStore`] keeps nothing beyond the node's in-memory records, so a
//! restarted node starts empty and relearns from new floods.

use std::io;
use std::sync::Arc;

use herd_proto::Record;

pub trait RecordStore: Send {
    /// Persists one winning update. An error refuses the update.
    fn save(&mut self, record: &Arc<Record>) -> io::Result<()>;

    /// Every record saved before, for start-up.
    fn load(&mut self) -> io::Result<Vec<Arc<Record>>>;

    /// One line for the start-up log.
    fn describe(&self) -> String;
}

/// Records in memory only.
#[derive(Debug, Default)]
pub struct VolatileStore;

impl RecordStore for VolatileStore {
    fn save(&mut self, _record: &Arc<Record>) -> io::Result<()> {
        Ok(())
    }

    fn load(&mut self) -> io::Result<Vec<Arc<Record>>> {
        Ok(Vec::new())
    }

    fn describe(&self) -> String {
        "records in memory only (not kept across restarts)".to_owned()
    }
}
