//! `[log] format = "json"`: one JSON object per line, `ts` (RFC 3339 UTC,
//! microseconds), `level`, `target`, `message`, then the event's fields
//! (`conn`, `peer`, `client`, ...) at the top level, which is what log
//! shippers (Vector, Fluent Bit, Promtail) index without a parsing rule.
//!
//! tracing-subscriber's own JSON formatter names the time `timestamp` and
//! nests the fields under `fields`; the contract's names are these.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter for JSON lines.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let line = to_line(event, std::time::SystemTime::now());
        writer.write_str(&line)?;
        writer.write_char('\n')
    }
}

/// The JSON object for one event, without its line ending.
fn to_line(event: &Event<'_>, now: std::time::SystemTime) -> String {
    let metadata = event.metadata();
    let mut object = Map::new();
    object.insert(
        "ts".to_owned(),
        Value::from(humantime::format_rfc3339_micros(now).to_string()),
    );
    object.insert("level".to_owned(), Value::from(metadata.level().as_str()));
    object.insert("target".to_owned(), Value::from(metadata.target()));
    event.record(&mut Fields(&mut object));
    // A Map of strings and numbers always serialises.
    serde_json::to_string(&object).unwrap_or_default()
}

/// Puts each field at the top level; a field named like one of the
/// line's own keys does not replace it.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.entry(field.name()).or_insert(value);
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `message` (and `%display` fields) arrive here as format
        // arguments: their Debug is the text itself.
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Collects what the formatter writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_event_is_one_object_with_the_contracts_keys_and_its_fields() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || writer.clone())
                .event_format(JsonLines),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "client", conn = 7u64, client = "kiwi", "in \"IAMAT\" out \"AT\"");
            tracing::warn!(peer = %"Jaquez", ts = "not the time", "link lost: {}", "reset");
        });
        let text = String::from_utf8(sink.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first = &lines[0];
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["target"], "client");
        assert_eq!(first["message"], "in \"IAMAT\" out \"AT\"");
        assert_eq!(first["conn"], 7);
        assert_eq!(first["client"], "kiwi");
        let ts = first["ts"].as_str().unwrap_or_default();
        assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
        let second = &lines[1];
        assert_eq!(second["peer"], "Jaquez");
        assert_eq!(second["message"], "link lost: reset");
        assert_ne!(second["ts"], "not the time", "a field does not replace ts");
    }
}
