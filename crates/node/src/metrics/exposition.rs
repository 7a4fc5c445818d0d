//! `GET /metrics`: the node's metrics in the Prometheus text format 0.0.4
//! (contract section 9).
//!
//! Nothing here counts: every value is read at scrape time from what the
//! node already keeps for its admin snapshot (counters, each link's
//! machine and status) and from the two histograms. A scrape costs
//! O(links): the record count and the store's size are kept up to date,
//! never computed by walking the records, and no lock is held across the
//! record set.

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, TextEncoder};

use super::probe::Probe;
use crate::counters::{RequestKind, RequestResult, read};
use crate::node::Node;

/// The content type of what [`encode`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, thiserror::Error)]
#[error("cannot encode the metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// Everything `/metrics` serves, in the text format.
pub fn encode(probe: &Probe, process: &dyn Collector) -> Result<String, MetricsError> {
    let mut families = Families::default();
    families.gauge(
        "herd_build_info",
        "The herd-node version that runs (always 1).",
        &["version"],
        [(vec![env!("CARGO_PKG_VERSION")], 1)],
    )?;
    families.gauge(
        "herd_ready",
        "1 once the records are loaded and every listener serves (GET /ready).",
        &[],
        [(vec![], i64::from(probe.not_ready().is_none()))],
    )?;
    if let Some(node) = probe.node() {
        node_families(node, &mut families)?;
    }
    let mut families = families.0;
    families.extend(process.collect());
    // The encoder refuses a family with no samples (a label set with no
    // links yet); such a family says nothing anyway.
    families.retain(|family| !family.get_metric().is_empty());
    families.sort_by(|a, b| a.name().cmp(b.name()));
    // Series in a stable order (the vectors keep them hashed), so two
    // scrapes read alike.
    for family in &mut families {
        let mut metrics = family.take_metric();
        metrics.sort_by(|a, b| {
            let values = |m: &prometheus::proto::Metric| -> Vec<String> {
                m.get_label().iter().map(|l| l.value().to_owned()).collect()
            };
            values(a).cmp(&values(b))
        });
        family.set_metric(metrics);
    }
    let mut text = String::new();
    TextEncoder::new().encode_utf8(&families, &mut text)?;
    Ok(text)
}

fn node_families(node: &Node, families: &mut Families) -> Result<(), MetricsError> {
    let c = &node.counters;
    let (records, _) = node.records_summary();
    let (store_bytes, _) = node.store_state();
    families.gauge(
        "herd_records",
        "Records (clients) the node holds.",
        &[],
        [(vec![], to_i64(records as u64))],
    )?;
    families.gauge(
        "herd_tombstones",
        "Tombstones (forgotten clients) the node holds, each for tombstone_ttl.",
        &[],
        [(vec![], to_i64(node.tombstone_count() as u64))],
    )?;
    families.gauge(
        "herd_store_bytes",
        "Size of the record log on disk.",
        &[],
        [(vec![], to_i64(store_bytes))],
    )?;
    let mut requests = Vec::new();
    for kind in RequestKind::ALL {
        for &result in kind.results() {
            requests.push((
                vec![kind.as_str(), result.as_str()],
                c.requests.get(kind, result),
            ));
        }
    }
    families.counter(
        "herd_client_requests_total",
        "Client requests answered, by kind (iamat, whatsat, other) and result (ok, stale, unknown_client, invalid).",
        &["kind", "result"],
        requests,
    )?;
    families.counter(
        "herd_client_connections_total",
        "Client connections accepted.",
        &[],
        [(vec![], read(&c.client_connections))],
    )?;
    families.gauge(
        "herd_client_connections_open",
        "Client connections open now.",
        &[],
        [(vec![], to_i64(read(&c.client_connections_open)))],
    )?;
    families.counter(
        "herd_client_refused_total",
        "Client connections refused because max_clients were open.",
        &[],
        [(vec![], read(&c.client_refused))],
    )?;
    families.0.extend(node.latencies.families());
    if let Some(fsync) = &node.group_commit.fsync_seconds {
        families.0.extend(fsync.collect());
    }
    families.counter(
        "herd_fsync_failures_total",
        "fsyncs of the record log that failed.",
        &[],
        [(vec![], read(&node.group_commit.failures))],
    )?;
    families.counter(
        "herd_tls_refusals_total",
        "Peer connections refused in the TLS handshake.",
        &[],
        [(vec![], read(&c.tls_refusals))],
    )?;
    if let Some(tls) = &node.live().tls {
        let expiry = tls
            .certificate
            .not_after
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| to_i64(since.as_secs()));
        families.gauge(
            "herd_tls_certificate_expiry_timestamp_seconds",
            "When the node's certificate stops being valid, in POSIX seconds.",
            &[],
            [(vec![], expiry)],
        )?;
    }
    places_families(node, families)?;
    link_families(node, families)
}

/// `herd_places_requests_total{backend,result}`: what WHATSAT asked of the
/// places backend. The offline backend answers every WHATSAT that found a
/// record; Google's are calls made, failed, and served from the cache.
fn places_families(node: &Node, families: &mut Families) -> Result<(), MetricsError> {
    let rows = match node.places_stats() {
        Some(stats) => vec![
            (
                vec![stats.backend, "ok"],
                stats.requests.saturating_sub(stats.errors),
            ),
            (vec![stats.backend, "error"], stats.errors),
            (vec![stats.backend, "cache_hit"], stats.cache_hits),
        ],
        None => vec![(
            vec!["offline", "ok"],
            node.counters
                .requests
                .get(RequestKind::Whatsat, RequestResult::Ok),
        )],
    };
    families.counter(
        "herd_places_requests_total",
        "Places lookups for WHATSAT, by backend and result (ok, error, cache_hit).",
        &["backend", "result"],
        rows,
    )
}

fn link_families(node: &Node, families: &mut Families) -> Result<(), MetricsError> {
    let links: Vec<_> = node.links().iter().map(|link| link.snapshot()).collect();
    let per_link = |value: LinkValue| -> Vec<(Vec<&str>, u64)> {
        links
            .iter()
            .map(|link| (vec![link.peer.as_str()], value(link)))
            .collect()
    };
    let gauges = |value: LinkValue| -> Vec<(Vec<&str>, i64)> {
        per_link(value)
            .into_iter()
            .map(|(labels, v)| (labels, to_i64(v)))
            .collect()
    };
    families.gauge(
        "herd_link_up",
        "1 while the link to the peer is connected.",
        &["peer"],
        gauges(|link| u64::from(link.connected)),
    )?;
    families.gauge(
        "herd_link_admin_up",
        "1 unless the operator cut the link (herdctl link A B down).",
        &["peer"],
        gauges(|link| u64::from(link.admin == herd_admin::AdminState::Up)),
    )?;
    families.counter(
        "herd_link_flaps_total",
        "Connections to the peer lost (not the operator's cuts, nor a connection replaced by a newer one).",
        &["peer"],
        per_link(|link| link.flaps),
    )?;
    families.counter(
        "herd_floods_sent_total",
        "Updates flooded to the peer.",
        &["peer"],
        per_link(|link| link.msgs_out),
    )?;
    // Two series per link, told apart by a second label.
    let split = |values: [(&'static str, LinkValue); 2]| {
        links
            .iter()
            .flat_map(|link| {
                values.map(|(label, value)| (vec![link.peer.as_str(), label], value(link)))
            })
            .collect::<Vec<_>>()
    };
    families.counter(
        "herd_floods_received_total",
        "Updates received from the peer: won (new here) or stale (held already, or older).",
        &["peer", "result"],
        split([("won", |l| l.floods_won), ("stale", |l| l.floods_stale)]),
    )?;
    families.gauge(
        "herd_queue_depth",
        "Updates queued for the peer.",
        &["peer"],
        gauges(|link| link.queue as u64),
    )?;
    families.counter(
        "herd_queue_overflows_total",
        "Updates dropped because the peer's queue was full (repair sends them).",
        &["peer"],
        per_link(|link| link.overflows),
    )?;
    families.counter(
        "herd_repair_rounds_total",
        "Repair rounds this node started with the peer.",
        &["peer"],
        per_link(|link| link.repair_rounds),
    )?;
    families.counter(
        "herd_repair_records_total",
        "Records sent to (out) and received from (in) the peer by repair.",
        &["peer", "direction"],
        split([
            ("out", |l| l.repair_records_out),
            ("in", |l| l.repair_records_in),
        ]),
    )?;
    Ok(())
}

/// One figure of a link's snapshot.
type LinkValue = fn(&herd_admin::LinkStatus) -> u64;

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Metric families made at scrape time from values read off the node.
#[derive(Default)]
struct Families(Vec<MetricFamily>);

impl Families {
    fn gauge<'a>(
        &mut self,
        name: &str,
        help: &str,
        labels: &[&str],
        rows: impl IntoIterator<Item = (Vec<&'a str>, i64)>,
    ) -> Result<(), MetricsError> {
        self.add(
            IntGaugeVec::new(Opts::new(name, help), labels)?,
            rows,
            |g, v| g.set(v),
        )
    }

    fn counter<'a>(
        &mut self,
        name: &str,
        help: &str,
        labels: &[&str],
        rows: impl IntoIterator<Item = (Vec<&'a str>, u64)>,
    ) -> Result<(), MetricsError> {
        self.add(
            IntCounterVec::new(Opts::new(name, help), labels)?,
            rows,
            |c, v| c.inc_by(v),
        )
    }

    /// One family: `set` gives each row's series its value.
    fn add<'a, M: prometheus::core::Metric, V>(
        &mut self,
        family: prometheus::core::MetricVec<impl prometheus::core::MetricVecBuilder<M = M>>,
        rows: impl IntoIterator<Item = (Vec<&'a str>, V)>,
        set: impl Fn(&M, V),
    ) -> Result<(), MetricsError> {
        for (values, value) in rows {
            set(&family.get_metric_with_label_values(&values)?, value);
        }
        self.0.extend(family.collect());
        Ok(())
    }
}
