//! The Nearby Search (legacy) response shape.

use serde_json::{Value, json};

/// Attribution required by the GeoNames licence (CC BY 4.0); Google puts
/// attributions in `html_attributions`, so clients already show them.
pub const OFFLINE_ATTRIBUTION: &str = "Places from <a href=\"https://www.geonames.org/\">GeoNames</a> (CC BY 4.0) and airportsdata (MIT)";

/// One place in a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceResult<'a> {
    pub lat: f64,
    pub lng: f64,
    pub name: &'a str,
    pub place_id: &'a str,
    pub types: &'a [&'a str],
    pub vicinity: &'a str,
}

/// The response body: `status` is `OK` with results, `ZERO_RESULTS`
/// without. Pretty-printed JSON never contains an empty line (strings are
/// escaped), and has no trailing newline.
pub fn nearby_json(attributions: &[&str], results: &[PlaceResult<'_>]) -> String {
    let results: Vec<Value> = results
        .iter()
        .map(|place| {
            json!({
                "geometry": { "location": { "lat": place.lat, "lng": place.lng } },
                "name": place.name,
                "place_id": place.place_id,
                "reference": place.place_id,
                "types": place.types,
                "vicinity": place.vicinity,
            })
        })
        .collect();
    let status = if results.is_empty() {
        "ZERO_RESULTS"
    } else {
        "OK"
    };
    let body = json!({
        "html_attributions": attributions,
        "results": results,
        "status": status,
    });
    // Serialising a Value built from strings and finite numbers cannot fail.
    serde_json::to_string_pretty(&body).unwrap_or_else(|_| String::from("{}"))
}

/// An answer that carries an error, as Google words one: no results, the
/// status, and what went wrong in `error_message`.
pub fn error_json(status: &str, message: &str) -> String {
    let body = json!({
        "error_message": message,
        "html_attributions": [],
        "results": [],
        "status": status,
    });
    serde_json::to_string_pretty(&body).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_status() {
        let place = PlaceResult {
            lat: 1.5,
            lng: -2.25,
            name: "Here\n\nThere",
            place_id: "geonames:1",
            types: &["locality", "political"],
            vicinity: "X, US",
        };
        let text = nearby_json(&["a"], &[place]);
        assert!(!text.contains("\n\n") && !text.ends_with('\n'), "{text}");
        let value: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value["status"], "OK");
        assert_eq!(value["results"][0]["geometry"]["location"]["lng"], -2.25);
        assert_eq!(value["results"][0]["name"], "Here\n\nThere");
        let keys: Vec<&String> = value
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["html_attributions", "results", "status"]);

        let empty: Value = serde_json::from_str(&nearby_json(&[], &[])).expect("valid JSON");
        assert_eq!(empty["status"], "ZERO_RESULTS");
        assert_eq!(empty["results"], json!([]));
    }
}
