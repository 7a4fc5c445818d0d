//! The metrics listener (`[[node]] metrics`): a small HTTP/1.1 server on
//! the node's runtime with three read-only paths, for Prometheus and for
//! probes (Kubernetes, load balancers, monitoring):
//! - `GET /metrics`: the text format 0.0.4 ([`super::exposition`]);
//! - `GET /health`: `200 {"status":"ok"}`, or `503` with the problems
//!   (thresholds as query parameters, `?max_queue=1000&max_link_down=10s`);
//! - `GET /ready`: `200` once the records are loaded and every listener
//!   serves, `503` before.
//!
//! Served without TLS or a token, as Prometheus targets usually are: it
//! changes nothing and shows no records; bind it where your scraper is.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::process_collector::ProcessCollector;
use serde_json::json;
use tokio::net::TcpListener;
use tracing::debug;

use super::exposition;
use super::probe::Probe;
use crate::accept::accept_forever;
use crate::health;

/// A scraper that opens a connection and sends nothing is closed after
/// this (as is one that stalls mid-request).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request reads.
pub struct Served {
    pub probe: Arc<Probe>,
    process: ProcessCollector,
}

impl Served {
    pub fn new(probe: Arc<Probe>) -> Arc<Served> {
        Arc::new(Served {
            probe,
            process: ProcessCollector::for_self(),
        })
    }
}

/// Serves `listener` for as long as the node runs.
pub async fn serve_metrics(served: Arc<Served>, listener: Arc<TcpListener>) {
    accept_forever(listener, "metrics", move |stream, remote| {
        let served = served.clone();
        async move {
            let service = service_fn(move |request| {
                let served = served.clone();
                async move { Ok::<_, Infallible>(respond(&served, &request)) }
            });
            let connection = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                debug!("metrics connection from {remote}: {err}");
            }
        }
    })
    .await
}

fn respond(served: &Served, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET (and HEAD) are served here\n",
        );
    }
    let query = request.uri().query().unwrap_or("");
    match request.uri().path() {
        "/metrics" => match exposition::encode(&served.probe, &served.process) {
            Ok(body) => with_type(StatusCode::OK, exposition::CONTENT_TYPE, body),
            Err(err) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{err}\n")),
        },
        "/health" => health(served, query),
        "/ready" => match served.probe.not_ready() {
            None => json_reply(StatusCode::OK, &json!({ "status": "ready" })),
            Some(why) => json_reply(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({ "status": "not ready", "problems": [why] }),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: this listener serves /metrics, /health and /ready\n",
        ),
    }
}

fn health(served: &Served, query: &str) -> Response<Full<Bytes>> {
    let thresholds = match health::thresholds_from_query(query) {
        Ok(thresholds) => thresholds,
        Err(err) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                &json!({ "status": "bad request", "error": err.to_string() }),
            );
        }
    };
    let Some(node) = served.probe.node() else {
        return json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "degraded", "problems": ["loading records"] }),
        );
    };
    let problems = health::problems(node, &thresholds);
    let verdict = health::verdict(&problems);
    if problems.is_empty() {
        json_reply(StatusCode::OK, &json!({ "status": verdict.status }))
    } else {
        json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": verdict.status, "problems": verdict.problems }),
        )
    }
}

fn json_reply(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    with_type(status, "application/json", format!("{body}\n"))
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    with_type(status, "text/plain; charset=utf-8", body.to_owned())
}

fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
