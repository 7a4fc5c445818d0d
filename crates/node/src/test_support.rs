//! What the node's own unit tests share to build a `Node` without a
//! config file: no places, plain settings, default limits.

use std::net::SocketAddr;
use std::path::Path;

use herd_config::{FsyncPolicy, Limits};
use herd_places::{NearbyQuery, PlacesBackend, PlacesFuture};

use crate::live::Live;
use crate::node::Settings;

/// A places backend that answers every query with an error JSON.
pub struct NoPlaces;

impl PlacesBackend for NoPlaces {
    fn nearby(&self, _query: NearbyQuery) -> PlacesFuture<'_> {
        Box::pin(async { herd_places::error_json("UNKNOWN_ERROR", "no places in this test") })
    }

    fn describe(&self) -> String {
        "none".to_owned()
    }
}

/// Node `name` of herd "test" at `addr`, its files in `dir`, no fsync.
pub fn settings(name: &str, addr: SocketAddr, dir: &Path) -> Settings {
    Settings {
        name: name.to_owned(),
        herd: "test".to_owned(),
        boot_id: format!("{name}-boot"),
        too_long_prefix: 256,
        client_addr: addr.into(),
        peer_addr: addr.into(),
        admin_addr: addr.into(),
        data_dir: dir.to_owned(),
        fsync: FsyncPolicy::Off,
    }
}

/// Default limits, no secrets, no TLS, no admin token.
pub fn live() -> Live {
    Live {
        limits: Limits::default(),
        client: Default::default(),
        secrets: Vec::new(),
        tls: None,
        admin_token: None,
        generation: "test".to_owned(),
    }
}
