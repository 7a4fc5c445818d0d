//! The online backend: Google Places, Nearby Search (legacy) or the Places
//! API (New) converted to the legacy shape (docs/places.md).
//!
//! A WHATSAT never fails and never stalls other clients: whatever happens
//! (Google's error statuses, a network failure, no answer within the
//! timeout) the client gets a well-formed Nearby Search JSON, and only the
//! asking connection waits. A small cache and a limit on requests in flight
//! keep a burst of WHATSATs from becoming a burst of paid calls. The key is
//! never logged, shown, or put in an error message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use crate::backend::{NearbyQuery, PlacesBackend, PlacesFuture, PlacesStats};
use crate::reply::error_json;

/// Why the backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Without its URL (which would hold the key).
    #[error("cannot set up HTTPS for Google: {0}")]
    Https(reqwest::Error),
}

/// Why one call got no usable answer from Google. The client gets the text
/// in an `UNKNOWN_ERROR` JSON; the key is in none of it.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("bad google_endpoint: {0}")]
    Endpoint(<reqwest::Url as std::str::FromStr>::Err),
    /// A network failure, its URL removed.
    #[error("{}", network_message(.0))]
    Network(reqwest::Error),
    #[error("Google answered HTTP {status} without a Nearby Search JSON")]
    NotNearbySearch { status: u16 },
    #[error("Google answered HTTP {status} without a Places JSON")]
    NotPlaces { status: u16 },
}

impl From<reqwest::Error> for FetchError {
    fn from(err: reqwest::Error) -> FetchError {
        FetchError::Network(err.without_url())
    }
}

/// Which of Google's APIs to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoogleApi {
    Legacy,
    New,
}

/// How to reach Google. `Debug` leaves the key out.
#[derive(Clone)]
pub struct GoogleSettings {
    pub key: String,
    /// Base URL, no trailing `/`.
    pub endpoint: String,
    pub api: GoogleApi,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    pub max_concurrent: usize,
}

impl std::fmt::Debug for GoogleSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleSettings")
            .field("key", &"<redacted>")
            .field("endpoint", &self.endpoint)
            .field("api", &self.api)
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("max_concurrent", &self.max_concurrent)
            .finish()
    }
}

/// Fields the Places API (New) is asked for: what the legacy shape shows.
const FIELD_MASK: &str = "places.id,places.displayName,places.location,places.types,\
places.formattedAddress,places.shortFormattedAddress,places.rating,\
places.userRatingCount,places.businessStatus";
/// Cached answers kept at most (each a few KiB).
const CACHE_ENTRIES: usize = 4096;

pub struct GooglePlaces {
    settings: GoogleSettings,
    client: reqwest::Client,
    cache: Mutex<HashMap<CacheKey, (Instant, Arc<str>)>>,
    slots: Semaphore,
    requests: AtomicU64,
    cache_hits: AtomicU64,
    errors: AtomicU64,
}

/// Same position (rounded to 1e-4 degrees, about 11 m), radius and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CacheKey {
    lat: i64,
    lng: i64,
    radius_m: u64,
    bound: usize,
}

impl CacheKey {
    fn of(query: &NearbyQuery) -> CacheKey {
        CacheKey {
            lat: (query.lat * 1e4).round() as i64,
            lng: (query.lng * 1e4).round() as i64,
            radius_m: query.radius_m.round() as u64,
            bound: query.bound,
        }
    }
}

/// What came back from Google, ready for the client.
struct Answer {
    json: String,
    /// OK or ZERO_RESULTS: worth reusing.
    cacheable: bool,
}

impl GooglePlaces {
    pub fn build(settings: GoogleSettings) -> Result<GooglePlaces, SetupError> {
        // Err: a provider is installed already, which is all we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The WHATSAT's own deadline (queueing included) is the one that
        // answers the client; the client's, a little later, only makes sure
        // no request outlives it for long.
        let backstop = settings.timeout + Duration::from_secs(1);
        let client = reqwest::Client::builder()
            .timeout(backstop)
            .connect_timeout(backstop)
            .user_agent(concat!("herd-node/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| SetupError::Https(err.without_url()))?;
        Ok(GooglePlaces {
            slots: Semaphore::new(settings.max_concurrent.max(1)),
            settings,
            client,
            cache: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }

    async fn answer(&self, query: NearbyQuery) -> String {
        let key = CacheKey::of(&query);
        if let Some(hit) = self.cached(&key) {
            return hit;
        }
        match tokio::time::timeout(self.settings.timeout, self.fetch(query, key)).await {
            Ok(json) => json,
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                error_json(
                    "UNKNOWN_ERROR",
                    &format!(
                        "no answer from Google within {} ms",
                        self.settings.timeout.as_millis()
                    ),
                )
            }
        }
    }

    /// Asks Google once a request slot is free.
    async fn fetch(&self, query: NearbyQuery, key: CacheKey) -> String {
        // Err only when the semaphore is closed, which it never is.
        let _slot = self.slots.acquire().await;
        // Filled while this one queued: a burst for one place costs one call.
        if let Some(hit) = self.cached(&key) {
            return hit;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let result = match self.settings.api {
            GoogleApi::Legacy => self.legacy(&query).await,
            GoogleApi::New => self.new_api(&query).await,
        };
        let answer = match result {
            Ok(answer) => answer,
            Err(error) => Answer {
                json: error_json("UNKNOWN_ERROR", &error.to_string()),
                cacheable: false,
            },
        };
        if !answer.cacheable {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let json = self.redact(answer.json);
        if answer.cacheable {
            self.remember(key, &json);
        }
        json
    }

    /// `GET {endpoint}/maps/api/place/nearbysearch/json?location=&radius=&key=`
    async fn legacy(&self, query: &NearbyQuery) -> Result<Answer, FetchError> {
        let mut url = self.url("/maps/api/place/nearbysearch/json")?;
        url.query_pairs_mut()
            .append_pair("location", &format!("{},{}", query.lat, query.lng))
            .append_pair("radius", &format_metres(query.radius_m))
            .append_pair("key", &self.settings.key);
        let response = self.client.get(url).send().await?;
        let status = response.status();
        let body = response.text().await?;
        match serde_json::from_str::<Value>(&body) {
            Ok(Value::Object(object)) if object.contains_key("status") => {
                Ok(legacy_answer(object, query.bound))
            }
            _ => Err(FetchError::NotNearbySearch {
                status: status.as_u16(),
            }),
        }
    }

    /// `POST {endpoint}/v1/places:searchNearby`, converted to the legacy
    /// shape.
    async fn new_api(&self, query: &NearbyQuery) -> Result<Answer, FetchError> {
        let url = self.url("/v1/places:searchNearby")?;
        let body = json!({
            "maxResultCount": query.bound.clamp(1, 20),
            "locationRestriction": {"circle": {
                "center": {"latitude": query.lat, "longitude": query.lng},
                "radius": query.radius_m,
            }},
        });
        let response = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-Goog-Api-Key", &self.settings.key)
            .header("X-Goog-FieldMask", FIELD_MASK)
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(object)) => Ok(new_api_answer(&object, query.bound)),
            _ => Err(FetchError::NotPlaces {
                status: status.as_u16(),
            }),
        }
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, FetchError> {
        reqwest::Url::parse(&format!("{}{path}", self.settings.endpoint))
            .map_err(FetchError::Endpoint)
    }

    fn cached(&self, key: &CacheKey) -> Option<String> {
        if self.settings.cache_ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (at, json) = cache.get(key)?;
        if at.elapsed() > self.settings.cache_ttl {
            return None;
        }
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
        Some(json.to_string())
    }

    fn remember(&self, key: CacheKey, json: &str) {
        if self.settings.cache_ttl.is_zero() {
            return;
        }
        let ttl = self.settings.cache_ttl;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (at, _)| at.elapsed() <= ttl);
        }
        if cache.len() < CACHE_ENTRIES {
            cache.insert(key, (Instant::now(), Arc::from(json)));
        }
    }

    /// The key never reaches a client, even if a proxy or Google echoed it.
    fn redact(&self, json: String) -> String {
        if !self.settings.key.is_empty() && json.contains(&self.settings.key) {
            json.replace(&self.settings.key, "<redacted>")
        } else {
            json
        }
    }
}

impl PlacesBackend for GooglePlaces {
    fn nearby(&self, query: NearbyQuery) -> PlacesFuture<'_> {
        Box::pin(self.answer(query))
    }

    fn describe(&self) -> String {
        let s = &self.settings;
        format!(
            "google places ({}) at {}: timeout {} ms, {} requests at a time, cache {}",
            match s.api {
                GoogleApi::Legacy => "Nearby Search (legacy)",
                GoogleApi::New => "Places API (New)",
            },
            s.endpoint,
            s.timeout.as_millis(),
            s.max_concurrent,
            if s.cache_ttl.is_zero() {
                "off".to_owned()
            } else {
                format!("{} s", s.cache_ttl.as_secs_f64())
            }
        )
    }

    fn stats(&self) -> Option<PlacesStats> {
        Some(PlacesStats {
            backend: "google",
            requests: self.requests.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        })
    }
}

/// A network error in words, with its causes ("connection refused" says
/// more than "error sending request"). The URL (it holds the key) was
/// removed when the error was made a [`FetchError`].
fn network_message(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut message = format!("Google {kind}: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Google's legacy JSON as Google sent it, `results` trimmed to `bound`.
fn legacy_answer(mut object: Map<String, Value>, bound: usize) -> Answer {
    if let Some(Value::Array(results)) = object.get_mut("results") {
        results.truncate(bound);
    }
    let status = object.get("status").and_then(Value::as_str).unwrap_or("");
    let cacheable = matches!(status, "OK" | "ZERO_RESULTS");
    Answer {
        json: pretty(&Value::Object(object)),
        cacheable,
    }
}

/// The Places API (New) answer in the legacy shape.
fn new_api_answer(object: &Map<String, Value>, bound: usize) -> Answer {
    if let Some(error) = object.get("error") {
        let status = match error.get("status").and_then(Value::as_str) {
            Some("PERMISSION_DENIED" | "UNAUTHENTICATED") => "REQUEST_DENIED",
            Some("RESOURCE_EXHAUSTED") => "OVER_QUERY_LIMIT",
            Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION") => "INVALID_REQUEST",
            _ => "UNKNOWN_ERROR",
        };
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("Google reported an error");
        return Answer {
            json: error_json(status, message),
            cacheable: false,
        };
    }
    let results: Vec<Value> = object
        .get("places")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(bound)
        .map(legacy_place)
        .collect();
    let status = if results.is_empty() {
        "ZERO_RESULTS"
    } else {
        "OK"
    };
    Answer {
        json: pretty(&json!({
            "html_attributions": [],
            "results": results,
            "status": status,
        })),
        cacheable: true,
    }
}

/// One place of the new API as a legacy result.
fn legacy_place(place: &Value) -> Value {
    let mut result = Map::new();
    if let Some(status) = place.get("businessStatus") {
        result.insert("business_status".into(), status.clone());
    }
    let location = place.get("location");
    result.insert(
        "geometry".into(),
        json!({"location": {
            "lat": location.and_then(|l| l.get("latitude")).cloned().unwrap_or(Value::Null),
            "lng": location.and_then(|l| l.get("longitude")).cloned().unwrap_or(Value::Null),
        }}),
    );
    let name = place
        .get("displayName")
        .and_then(|n| n.get("text"))
        .cloned()
        .unwrap_or(Value::String(String::new()));
    result.insert("name".into(), name);
    result.insert(
        "place_id".into(),
        place
            .get("id")
            .cloned()
            .unwrap_or(Value::String(String::new())),
    );
    if let Some(rating) = place.get("rating") {
        result.insert("rating".into(), rating.clone());
    }
    result.insert(
        "types".into(),
        place.get("types").cloned().unwrap_or(json!([])),
    );
    if let Some(count) = place.get("userRatingCount") {
        result.insert("user_ratings_total".into(), count.clone());
    }
    let vicinity = place
        .get("shortFormattedAddress")
        .or_else(|| place.get("formattedAddress"))
        .cloned()
        .unwrap_or(Value::String(String::new()));
    result.insert("vicinity".into(), vicinity);
    Value::Object(result)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_owned())
}

/// Metres as Google reads them: no exponent, no needless decimals.
fn format_metres(metres: f64) -> String {
    let text = format!("{metres:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Map<String, Value> {
        match serde_json::from_str(text) {
            Ok(Value::Object(object)) => object,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn legacy_results_are_trimmed_and_the_rest_kept_in_order() {
        let answer = legacy_answer(
            object(
                r#"{"html_attributions":[],"next_page_token":"abc","results":[{"name":"a"},{"name":"b"},{"name":"c"}],"status":"OK"}"#,
            ),
            2,
        );
        assert!(answer.cacheable);
        let keys: Vec<String> = object(&answer.json).keys().cloned().collect();
        assert_eq!(
            keys,
            ["html_attributions", "next_page_token", "results", "status"]
        );
        assert_eq!(
            object(&answer.json)["results"].as_array().map(Vec::len),
            Some(2)
        );
        assert!(!answer.json.contains("\n\n"));
        assert!(!answer.json.ends_with('\n'));
    }

    #[test]
    fn legacy_error_statuses_pass_through_and_are_not_cached() {
        let answer = legacy_answer(
            object(
                r#"{"error_message":"The provided API key is invalid.","html_attributions":[],"results":[],"status":"REQUEST_DENIED"}"#,
            ),
            5,
        );
        assert!(!answer.cacheable);
        assert_eq!(object(&answer.json)["status"], "REQUEST_DENIED");
    }

    #[test]
    fn new_api_places_become_legacy_results() {
        let answer = new_api_answer(
            &object(
                r#"{"places":[
                  {"id":"p1","displayName":{"text":"Royce Hall","languageCode":"en"},
                   "location":{"latitude":34.07,"longitude":-118.44},"types":["university"],
                   "shortFormattedAddress":"340 Royce Dr","rating":4.8,"userRatingCount":12,
                   "businessStatus":"OPERATIONAL"},
                  {"id":"p2","displayName":{"text":"B"},"location":{"latitude":1,"longitude":2},"formattedAddress":"Far Away"},
                  {"id":"p3"}]}"#,
            ),
            2,
        );
        let json = object(&answer.json);
        assert_eq!(json["status"], "OK");
        let results = json["results"].as_array().cloned().unwrap_or_default();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["name"], "Royce Hall");
        assert_eq!(results[0]["place_id"], "p1");
        assert_eq!(results[0]["geometry"]["location"]["lat"], 34.07);
        assert_eq!(results[0]["vicinity"], "340 Royce Dr");
        assert_eq!(results[0]["user_ratings_total"], 12);
        assert_eq!(results[1]["vicinity"], "Far Away");
        assert_eq!(results[1]["types"], json!([]));
        let empty = new_api_answer(&object("{}"), 5);
        assert_eq!(object(&empty.json)["status"], "ZERO_RESULTS");
    }

    #[test]
    fn new_api_errors_map_to_legacy_statuses() {
        for (status, legacy) in [
            ("PERMISSION_DENIED", "REQUEST_DENIED"),
            ("RESOURCE_EXHAUSTED", "OVER_QUERY_LIMIT"),
            ("INVALID_ARGUMENT", "INVALID_REQUEST"),
            ("INTERNAL", "UNKNOWN_ERROR"),
        ] {
            let answer = new_api_answer(
                &object(&format!(
                    r#"{{"error":{{"code":400,"message":"nope","status":"{status}"}}}}"#
                )),
                5,
            );
            assert!(!answer.cacheable);
            let json = object(&answer.json);
            assert_eq!(json["status"], legacy);
            assert_eq!(json["error_message"], "nope");
        }
    }

    #[test]
    fn metres_are_plain_numbers() {
        assert_eq!(format_metres(10_000.0), "10000");
        assert_eq!(format_metres(1_500.0), "1500");
        assert_eq!(format_metres(0.5), "0.5");
        assert_eq!(format_metres(50_000.0), "50000");
    }

    #[test]
    fn settings_never_print_the_key() {
        let settings = GoogleSettings {
            key: "secret-key-123".into(),
            endpoint: "http://127.0.0.1:1".into(),
            api: GoogleApi::Legacy,
            timeout: Duration::from_secs(1),
            cache_ttl: Duration::ZERO,
            max_concurrent: 1,
        };
        assert!(!format!("{settings:?}").contains("secret-key-123"));
        let places = GooglePlaces::build(settings).map_err(|e| e.to_string());
        let describe = places.map(|p| p.describe()).unwrap_or_default();
        assert!(describe.contains("127.0.0.1:1") && !describe.contains("secret"));
    }
}
