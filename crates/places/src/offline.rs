//! The offline backend: GeoNames populated places and airports, shipped as
//! `assets/places.tsv.gz` (see assets/tools/) and indexed in a k-d tree of
//! unit vectors at start-up.

use std::fmt;
use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use kiddo::{ImmutableKdTree, SquaredEuclidean};

use crate::backend::{NearbyQuery, PlacesBackend, PlacesFuture};
use crate::geo::{haversine_m, squared_chord, unit_vector};
use crate::reply::{OFFLINE_ATTRIBUTION, PlaceResult, nearby_json};

/// The data compiled into the program.
const EMBEDDED: &[u8] = include_bytes!("../../../assets/places.tsv.gz");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    Locality,
    Airport,
}

impl PlaceKind {
    /// Google's place types for the kind.
    pub fn types(self) -> &'static [&'static str] {
        match self {
            PlaceKind::Locality => &["locality", "political"],
            PlaceKind::Airport => &["airport", "point_of_interest", "establishment"],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Place {
    pub id: Box<str>,
    pub kind: PlaceKind,
    pub lat: f64,
    pub lng: f64,
    pub name: Box<str>,
    pub vicinity: Box<str>,
}

#[derive(Debug)]
pub struct LoadError(String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

pub struct OfflinePlaces {
    source: String,
    places: Vec<Place>,
    tree: ImmutableKdTree<f64, 3>,
}

impl OfflinePlaces {
    /// The places compiled into the program.
    pub fn embedded() -> Result<OfflinePlaces, LoadError> {
        OfflinePlaces::from_gzip("embedded places", EMBEDDED)
    }

    /// A places file in the same format (gzip-compressed or plain TSV).
    pub fn from_file(path: &Path) -> Result<OfflinePlaces, LoadError> {
        let bytes = std::fs::read(path)
            .map_err(|err| LoadError(format!("places file {}: {err}", path.display())))?;
        let source = path.display().to_string();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            OfflinePlaces::from_gzip(&source, &bytes)
        } else {
            let text = String::from_utf8(bytes)
                .map_err(|_| LoadError(format!("places file {source}: not UTF-8")))?;
            OfflinePlaces::from_tsv(&source, &text)
        }
    }

    fn from_gzip(source: &str, bytes: &[u8]) -> Result<OfflinePlaces, LoadError> {
        let mut text = String::with_capacity(bytes.len() * 3);
        GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .map_err(|err| LoadError(format!("places file {source}: {err}")))?;
        OfflinePlaces::from_tsv(source, &text)
    }

    /// `place_id \t kind \t lat \t lng \t name \t vicinity`, `#` comments.
    pub fn from_tsv(source: &str, text: &str) -> Result<OfflinePlaces, LoadError> {
        let mut places = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad =
                |why: &str| LoadError(format!("places file {source} line {}: {why}", number + 1));
            let columns: Vec<&str> = line.split('\t').collect();
            let [id, kind, lat, lng, name, vicinity] = columns[..] else {
                return Err(bad("expected 6 tab-separated columns"));
            };
            let kind = match kind {
                "locality" => PlaceKind::Locality,
                "airport" => PlaceKind::Airport,
                _ => return Err(bad("kind must be locality or airport")),
            };
            let lat: f64 = lat.parse().map_err(|_| bad("bad latitude"))?;
            let lng: f64 = lng.parse().map_err(|_| bad("bad longitude"))?;
            if !(lat.abs() <= 90.0 && lng.abs() <= 180.0) {
                return Err(bad("coordinates out of range"));
            }
            places.push(Place {
                id: id.into(),
                kind,
                lat,
                lng,
                name: name.into(),
                vicinity: vicinity.into(),
            });
        }
        let points: Vec<[f64; 3]> = places.iter().map(|p| unit_vector(p.lat, p.lng)).collect();
        let tree = ImmutableKdTree::new_from_slice(&points);
        Ok(OfflinePlaces {
            source: source.to_owned(),
            places,
            tree,
        })
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Places within the radius, nearest first (ties by id), at most bound.
    pub fn search(&self, query: NearbyQuery) -> Vec<(&Place, f64)> {
        if self.places.is_empty() {
            return Vec::new();
        }
        let centre = unit_vector(query.lat, query.lng);
        // A little slack on the chord, then the exact great-circle test.
        let reach = squared_chord(query.radius_m) * (1.0 + 1e-9) + 1e-15;
        let mut found: Vec<(&Place, f64)> = self
            .tree
            .within_unsorted::<SquaredEuclidean>(&centre, reach)
            .into_iter()
            .filter_map(|hit| self.places.get(hit.item as usize))
            .map(|place| {
                (
                    place,
                    haversine_m(query.lat, query.lng, place.lat, place.lng),
                )
            })
            .filter(|&(_, distance)| distance <= query.radius_m)
            .collect();
        found.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.id.cmp(&b.0.id)));
        found.truncate(query.bound);
        found
    }

    pub fn nearby_json(&self, query: NearbyQuery) -> String {
        let found = self.search(query);
        let results: Vec<PlaceResult<'_>> = found
            .iter()
            .map(|(place, _)| PlaceResult {
                lat: place.lat,
                lng: place.lng,
                name: &place.name,
                place_id: &place.id,
                types: place.kind.types(),
                vicinity: &place.vicinity,
            })
            .collect();
        nearby_json(&[OFFLINE_ATTRIBUTION], &results)
    }
}

impl PlacesBackend for OfflinePlaces {
    fn nearby(&self, query: NearbyQuery) -> PlacesFuture<'_> {
        let body = self.nearby_json(query);
        Box::pin(std::future::ready(body))
    }

    fn describe(&self) -> String {
        format!("offline places: {} from {}", self.places.len(), self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UCLA: (f64, f64) = (34.068930, -118.445127);

    fn query(radius_km: f64, bound: usize) -> NearbyQuery {
        NearbyQuery {
            lat: UCLA.0,
            lng: UCLA.1,
            radius_m: radius_km * 1000.0,
            bound,
        }
    }

    #[test]
    fn embedded_data_loads_and_answers_near_ucla() {
        let places = OfflinePlaces::embedded().expect("embedded data loads");
        assert!(places.len() > 250_000, "{}", places.len());
        let all = places.search(query(50.0, usize::MAX));
        // 178 places lie within 50 km of UCLA in the shipped data (checked
        // independently with Python when the file was built).
        assert_eq!(all.len(), 178);
        assert!(all.windows(2).all(|w| w[0].1 <= w[1].1), "nearest first");
        assert!(
            all.iter().any(|(p, _)| p.kind == PlaceKind::Airport
                && p.name.contains("Los Angeles International"))
        );
        assert_eq!(places.search(query(50.0, 5)).len(), 5);
    }

    #[test]
    fn tsv_with_brute_force_agreement() {
        let text = "#h\n\
            a\tlocality\t0\t0\tOrigin\tX\n\
            b\tlocality\t0\t0.1\tEast\tX\n\
            c\tairport\t0\t0.5\tFar\tX\n\
            d\tlocality\t0\t179.99\tDateline W\tX\n\
            e\tlocality\t0\t-179.99\tDateline E\tX\n";
        let places = OfflinePlaces::from_tsv("t", text).expect("valid");
        let near = |lat, lng, km: f64| -> Vec<String> {
            places
                .search(NearbyQuery {
                    lat,
                    lng,
                    radius_m: km * 1000.0,
                    bound: 20,
                })
                .iter()
                .map(|(p, _)| p.id.to_string())
                .collect()
        };
        assert_eq!(near(0.0, 0.0, 12.0), ["a", "b"]);
        assert_eq!(near(0.0, 0.0, 60.0), ["a", "b", "c"]);
        assert_eq!(near(0.0, 180.0, 5.0), ["d", "e"]);
        assert!(near(45.0, 45.0, 50.0).is_empty());
        let json = places.nearby_json(NearbyQuery {
            lat: 45.0,
            lng: 45.0,
            radius_m: 1.0,
            bound: 1,
        });
        assert!(json.contains("ZERO_RESULTS"));
    }

    #[test]
    fn bad_files_are_errors_naming_the_line() {
        let err = OfflinePlaces::from_tsv("f", "#h\na\tlocality\tx\t0\tN\tV\n")
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("places file f line 2: bad latitude"));
        assert!(OfflinePlaces::from_tsv("f", "a\tshop\t0\t0\tN\tV").is_err());
        assert!(OfflinePlaces::from_tsv("f", "a\tlocality\t0\t0\tN").is_err());
    }
}
