//! Places near a position, for WHATSAT.
//!
//! A [`PlacesBackend`] answers a [`NearbyQuery`] with the JSON body of a
//! Google Places Nearby Search (legacy) response. The offline backend
//! ([`OfflinePlaces`]) ships with the program; the online one
//! ([`GooglePlaces`]) asks Google.

mod backend;
mod geo;
mod google;
mod offline;
mod reply;

pub use backend::{NearbyQuery, PlacesBackend, PlacesFuture, PlacesStats};
pub use geo::haversine_m;
pub use google::{GoogleApi, GooglePlaces, GoogleSettings, SetupError};
pub use offline::{LoadError, OfflinePlaces, Place, PlaceKind};
pub use reply::{PlaceResult, error_json, nearby_json};
