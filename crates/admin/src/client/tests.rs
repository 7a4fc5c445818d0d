//! The client against a small in-process stand-in for a node's admin port.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;
use crate::event::EventKind;
use crate::response::ErrorCode;

/// Serves one connection: each request line goes to `answer`, which says
/// what lines to write back. Returns the address to connect to.
async fn stand_in(mut answer: impl FnMut(Value) -> Vec<String> + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (reader, mut writer) = stream.into_split();
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let request: Value = serde_json::from_str(&line).unwrap_or_default();
            for out in answer(request) {
                if writer
                    .write_all(format!("{out}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    addr
}

fn ok(request: &Value, result: Value) -> String {
    json!({"id": request["id"], "ok": true, "result": result}).to_string()
}

fn snapshot_of(node: &str, herd: &str) -> Value {
    json!({"schema": 1, "node": node, "herd": herd, "records": 3, "digest": "abc"})
}

/// A well-behaved node called Clark of herd demo, with token "t".
fn clark(request: Value) -> Vec<String> {
    match request["cmd"].as_str() {
        Some("auth") if request["token"] == "t" => {
            vec![ok(&request, json!({"schema": 1, "node": "Clark"}))]
        }
        Some("auth") => vec![
            json!({"id": request["id"], "ok": false, "error": "wrong admin token", "code": "auth_failed"})
                .to_string(),
        ],
        Some("snapshot") => vec![ok(&request, snapshot_of("Clark", "demo"))],
        Some("subscribe") => vec![
            ok(&request, json!({"subscribed": true, "node": "Clark"})),
            json!({"seq": 1, "ts_us": 5, "event": "lagged", "missed": 2}).to_string(),
        ],
        Some("link") => vec![
            // An event first: the request's reply still comes to it.
            json!({"seq": 2, "ts_us": 6, "event": "link", "peer": "Bona", "change": "cut"})
                .to_string(),
            ok(&request, json!({"peer": "Bona", "admin": "down", "changed": true})),
        ],
        Some("records") => vec![
            json!({"id": request["id"], "ok": false, "error": "no such thing", "code": "not_found"})
                .to_string(),
        ],
        _ => vec![],
    }
}

fn quick(addr: SocketAddr) -> Options {
    Options::new(addr).timeout(Duration::from_secs(2))
}

#[tokio::test]
async fn a_session_authenticates_asks_and_follows_events() {
    let addr = stand_in(clark).await;
    let options = quick(addr)
        .token(Some("t"))
        .expecting(Identity::in_herd("Clark", "demo"));
    let mut client = match AdminClient::connect(options).await {
        Ok(client) => client,
        Err(err) => panic!("{err}"),
    };
    let snapshot = client.snapshot().await.map(|s| (s.node, s.records));
    assert_eq!(snapshot.ok(), Some(("Clark".to_owned(), 3)));
    assert!(client.subscribe().await.is_ok_and(|s| s.subscribed));
    let changed = client.set_link("Bona", AdminState::Down).await;
    assert!(changed.is_ok_and(|r| r.changed && r.admin == AdminState::Down));
    // The events that came before the replies, in order.
    let first = client.next_event().await.map(|e| e.kind);
    assert_eq!(first.ok(), Some(EventKind::Lagged { missed: 2 }));
    let second = client.next_event().await.map(|e| e.seq);
    assert_eq!(second.ok(), Some(2));
    // A refusal of one request is that request's error, not the connection's.
    let refused = client.records(None, None, None).await;
    assert!(
        matches!(&refused, Err(ClientError::Node { code: Some(ErrorCode::NotFound), message }) if message == "no such thing"),
        "{refused:?}"
    );
    assert!(client.snapshot().await.is_ok());
}

#[tokio::test]
async fn requests_can_be_pipelined() {
    let addr = stand_in(clark).await;
    let Ok(mut client) = AdminClient::connect(quick(addr)).await else {
        panic!("no connection");
    };
    let first = client.send(Command::Snapshot).await.ok();
    let second = client
        .send(Command::Records {
            prefix: None,
            after: None,
            limit: None,
        })
        .await
        .ok();
    let mut seen = Vec::new();
    for _ in 0..2 {
        match client.next().await {
            Ok(Incoming::Reply { id, result }) => seen.push((Some(id), result.is_ok())),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, [(first, true), (second, false)]);
}

#[tokio::test]
async fn a_wrong_token_is_refused() {
    let addr = stand_in(clark).await;
    let refused = AdminClient::connect(quick(addr).token(Some("guess")))
        .await
        .err();
    assert!(
        matches!(
            &refused,
            Some(ClientError::TokenRefused {
                code: ErrorCode::AuthFailed,
                ..
            })
        ),
        "{refused:?}"
    );
    let error = refused.map(|e| (e.kind(), e.to_string()));
    assert_eq!(
        error,
        Some((
            ErrorKind::Token,
            "token rejected: wrong admin token".to_owned()
        ))
    );
}

#[tokio::test]
async fn a_missing_token_is_refused_with_a_null_id() {
    let addr = stand_in(|_| {
        vec![json!({"id": null, "ok": false, "error": "admin token required: send auth first", "code": "auth_required"}).to_string()]
    })
    .await;
    let Ok(mut client) = AdminClient::connect(quick(addr)).await else {
        panic!("no connection");
    };
    let refused = client.snapshot().await;
    assert!(
        matches!(
            &refused,
            Err(ClientError::TokenRefused {
                code: ErrorCode::AuthRequired,
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(matches!(client.snapshot().await, Err(ClientError::Closed)));
}

#[tokio::test]
async fn another_node_on_the_address_is_the_wrong_node() {
    let addr = stand_in(|request| vec![ok(&request, snapshot_of("Bona", "demo"))]).await;
    let options = quick(addr).expecting(Identity::in_herd("Clark", "demo"));
    let wrong = fetch_snapshot(options).await;
    let Err(ClientError::WrongNode { expected, found }) = &wrong else {
        panic!("{wrong:?}");
    };
    assert_eq!(expected, &Identity::in_herd("Clark", "demo"));
    assert_eq!(found, &Identity::in_herd("Bona", "demo"));
    assert_eq!(
        wrong.err().map(|e| e.to_string()),
        Some(r#"answered as node "Bona" of herd "demo", not "Clark" of herd "demo""#.to_owned())
    );
    // Another herd's Clark is not ours either.
    let addr = stand_in(|request| vec![ok(&request, snapshot_of("Clark", "other"))]).await;
    let options = quick(addr).expecting(Identity::in_herd("Clark", "demo"));
    assert!(matches!(
        fetch_snapshot(options).await,
        Err(ClientError::WrongNode { .. })
    ));
}

#[tokio::test]
async fn an_answer_to_a_request_never_asked_is_a_protocol_error() {
    let addr = stand_in(|request| {
        let id = request["id"].as_u64().unwrap_or(0) + 40;
        vec![ok(&json!({"id": id}), snapshot_of("Clark", "demo"))]
    })
    .await;
    let result = fetch_snapshot(quick(addr)).await;
    assert!(
        matches!(&result, Err(ClientError::Protocol(ProtocolError::UnexpectedId { id })) if *id == 41),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_over_long_line_is_an_error_not_the_end_of_the_stream() {
    let addr = stand_in(|request| {
        vec![ok(
            &request,
            json!({"node": "Clark", "store": "x".repeat(4096)}),
        )]
    })
    .await;
    let options = quick(addr).max_line(1024);
    let Ok(mut client) = AdminClient::connect(options).await else {
        panic!("no connection");
    };
    let result = client.snapshot().await;
    assert!(
        matches!(
            &result,
            Err(ClientError::Protocol(ProtocolError::LineTooLong {
                max: 1024
            }))
        ),
        "{result:?}"
    );
    assert!(result.is_err_and(|e| e.kind() == ErrorKind::Protocol));
    // The connection is not used again.
    assert!(matches!(client.snapshot().await, Err(ClientError::Closed)));
}

#[tokio::test]
async fn a_node_that_does_not_answer_times_out() {
    let addr = stand_in(|_| vec![]).await;
    let options = Options::new(addr).timeout(Duration::from_millis(200));
    let Ok(mut client) = AdminClient::connect(options).await else {
        panic!("no connection");
    };
    let started = std::time::Instant::now();
    let result = client.snapshot().await;
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(ClientError::Timeout.to_string(), "timed out");
}

#[tokio::test]
async fn a_reply_that_comes_after_its_request_timed_out_is_dropped() {
    // The first snapshot is answered late (with the second's request), the
    // second at once: the second gets its own answer.
    let mut held: Option<Value> = None;
    let addr = stand_in(move |request| match held.take() {
        None => {
            held = Some(request);
            vec![]
        }
        Some(first) => vec![
            ok(&first, snapshot_of("Old", "demo")),
            ok(&request, snapshot_of("Clark", "demo")),
        ],
    })
    .await;
    let options = Options::new(addr).timeout(Duration::from_millis(200));
    let Ok(mut client) = AdminClient::connect(options).await else {
        panic!("no connection");
    };
    assert!(matches!(client.snapshot().await, Err(ClientError::Timeout)));
    let second = client.snapshot().await.map(|s| s.node);
    assert_eq!(second.ok().as_deref(), Some("Clark"));
}

#[tokio::test]
async fn nothing_listening_is_refused() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    };
    let result = AdminClient::connect(quick(addr)).await.err();
    assert_eq!(
        result.as_ref().map(ClientError::kind),
        Some(ErrorKind::Refused)
    );
    assert!(result.and_then(|e| e.unreachable_reason()).is_some());
}

#[tokio::test]
async fn a_node_that_closes_is_closed() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        // Reads the request, then closes without a word.
        if let Ok((stream, _)) = listener.accept().await {
            let mut lines = BufReader::new(stream).lines();
            let _ = lines.next_line().await;
        }
    });
    let Ok(mut client) = AdminClient::connect(quick(addr)).await else {
        panic!("no connection");
    };
    let result = client.snapshot().await;
    assert!(matches!(result, Err(ClientError::Closed)), "{result:?}");
    assert_eq!(
        ClientError::Closed.to_string(),
        "unreachable: the node closed the connection"
    );
}
