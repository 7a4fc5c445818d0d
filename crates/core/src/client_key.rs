//! Records keyed by client id without a second copy of the id.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use herd_proto::Record;

/// A record keyed by its client id, so the set needs no second copy of the
/// id as a map key.
#[derive(Clone, Debug)]
pub(crate) struct ByClient(pub(crate) Arc<Record>);

impl Hash for ByClient {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.client().hash(state);
    }
}

impl PartialEq for ByClient {
    fn eq(&self, other: &Self) -> bool {
        self.0.client() == other.0.client()
    }
}

impl Eq for ByClient {}

impl Borrow<str> for ByClient {
    fn borrow(&self) -> &str {
        self.0.client()
    }
}
