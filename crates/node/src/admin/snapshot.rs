//! `snapshot`: everything about the node that fits on one screen, its
//! health verdict included. Costs O(links): the record count and digest
//! are kept up to date, never scanned.

use herd_admin::{Counters, NodeAddresses, PlacesCounters, SCHEMA, Snapshot, TlsStatus};

use crate::counters::{RequestKind, RequestResult, read};
use crate::node::Node;

pub fn snapshot(node: &Node) -> Snapshot {
    let settings = &node.settings;
    let (records, digest) = node.records_summary();
    let links: Vec<_> = node.links().iter().map(|link| link.snapshot()).collect();
    let c = &node.counters;
    let counters = Counters {
        client_connections: read(&c.client_connections),
        client_connections_open: read(&c.client_connections_open),
        client_refused: read(&c.client_refused),
        client_timeouts: read(&c.client_timeouts),
        client_lines: read(&c.client_lines),
        questions: c.requests.questions(),
        iamat_accepted: c.requests.get(RequestKind::Iamat, RequestResult::Ok),
        iamat_stale: c.requests.get(RequestKind::Iamat, RequestResult::Stale),
        whatsat: c.requests.of_kind(RequestKind::Whatsat),
        floods_in: read(&c.floods_won) + read(&c.floods_stale),
        floods_won: read(&c.floods_won),
        duplicates: read(&c.floods_stale),
        floods_out: links.iter().map(|link| link.msgs_out).sum(),
        queue_overflows: links.iter().map(|link| link.overflows).sum(),
        fsyncs: read(&node.group_commit.syncs),
        fsync_failures: read(&node.group_commit.failures),
        repair_rounds: links.iter().map(|link| link.repair_rounds).sum(),
        repair_records_out: links.iter().map(|link| link.repair_records_out).sum(),
        events_dropped: node.events.dropped(),
        tls_refusals: read(&c.tls_refusals),
    };
    Snapshot {
        schema: SCHEMA,
        node: settings.name.clone(),
        herd: settings.herd.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        boot_id: settings.boot_id.clone(),
        pid: std::process::id(),
        started_us: node.started_us,
        uptime_s: node.started.elapsed().as_secs_f64(),
        addresses: NodeAddresses {
            client: settings.client_addr.to_string(),
            peer: settings.peer_addr.to_string(),
            admin: settings.admin_addr.to_string(),
        },
        records,
        digest: digest.to_hex(),
        tombstones: node.tombstone_count(),
        store: node.store_description(),
        links,
        counters,
        config_generation: node.live().generation.clone(),
        tls: node.live().tls.as_ref().map(|tls| TlsStatus {
            certificate: tls.cert_path.display().to_string(),
            not_after: humantime::format_rfc3339_seconds(tls.certificate.not_after).to_string(),
            days_left: tls.days_left(),
            admin: tls.admin_acceptor.is_some(),
        }),
        places: node.places_stats().map(|stats| PlacesCounters {
            backend: stats.backend.to_owned(),
            requests: stats.requests,
            cache_hits: stats.cache_hits,
            errors: stats.errors,
        }),
        health: Some(crate::health::verdict(&crate::health::problems(
            node,
            &herd_core::health::Thresholds::default(),
        ))),
    }
}
