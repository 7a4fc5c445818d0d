//! Distances on the Earth, and the 3-D unit vectors the k-d tree indexes
//! (so that "within r metres" is one Euclidean ball query, with no trouble at
//! the poles or the antimeridian).

/// Mean Earth radius in metres (IUGG).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres.
pub fn haversine_m(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// The point on the unit sphere.
pub fn unit_vector(lat: f64, lng: f64) -> [f64; 3] {
    let (phi, lambda) = (lat.to_radians(), lng.to_radians());
    [
        phi.cos() * lambda.cos(),
        phi.cos() * lambda.sin(),
        phi.sin(),
    ]
}

/// The squared straight-line (chord) distance between two unit vectors
/// that are `metres` apart along the surface.
pub fn squared_chord(metres: f64) -> f64 {
    let angle = (metres / EARTH_RADIUS_M).min(std::f64::consts::PI);
    let chord = 2.0 * (angle / 2.0).sin();
    chord * chord
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ucla_to_lax_is_about_fourteen_km() {
        let d = haversine_m(34.068930, -118.445127, 33.9425, -118.40805);
        assert!((14_000.0..14_600.0).contains(&d), "{d}");
    }

    #[test]
    fn chord_matches_arc_for_small_distances() {
        let a = unit_vector(34.0, -118.0);
        let b = unit_vector(34.1, -118.0);
        let squared: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
        let metres = haversine_m(34.0, -118.0, 34.1, -118.0);
        assert!((squared - squared_chord(metres)).abs() < 1e-12);
    }
}
