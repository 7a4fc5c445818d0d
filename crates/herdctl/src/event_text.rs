//! Events in words, the same in `herdctl watch` and the dashboard.

use std::time::Duration;

use herd_admin::EventKind;

/// One event in words (without time and node).
pub fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::Request {
            conn,
            line,
            reply,
            json_bytes,
        } => {
            let json = if *json_bytes > 0 {
                format!(" +{json_bytes}B JSON")
            } else {
                String::new()
            };
            format!("client #{conn} {line} → {reply}{json}")
        }
        EventKind::FloodIn {
            peer, client, won, ..
        } => format!(
            "← {peer} {client} {}",
            if *won { "won" } else { "dup (suppressed)" }
        ),
        EventKind::FloodOut { peers, client, .. } => format!("→ {} {client}", peers.join(", ")),
        EventKind::Link {
            peer,
            change,
            reason,
        } => format!(
            "link {peer} {}{}",
            change.as_str(),
            reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        EventKind::Records {
            client,
            count,
            digest,
        } if client.is_empty() => format!(
            "records {count} ({}) after a forget or an expiry",
            short_digest(digest)
        ),
        EventKind::Records {
            client,
            count,
            digest,
        } => format!("records {count} ({}) after {client}", short_digest(digest)),
        EventKind::Lagged { missed } => format!("!! lost {missed} events (dashboard too slow)"),
        EventKind::Unknown => "(unknown event)".to_owned(),
    }
}

pub fn short_digest(digest: &str) -> &str {
    digest.get(..8).unwrap_or(digest)
}

/// `HH:MM:SS.mmm` (UTC) of a node's event time.
pub fn clock(ts_us: u64) -> String {
    // humantime cannot show years after 9999 (and would panic): clamp.
    const LAST_US: u64 = 253_402_300_799_999_999;
    let time = std::time::UNIX_EPOCH + Duration::from_micros(ts_us.min(LAST_US));
    let text = humantime::format_rfc3339_millis(time).to_string();
    // 2026-11-29T17:04:11.498Z -> 17:04:11.498
    text.get(11..23).unwrap_or(&text).to_owned()
}
