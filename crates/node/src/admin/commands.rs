//! What each admin request does. Free of sockets: the server feeds lines in
//! and writes what comes out, so the token gate and every command can be
//! tested on a node without a network.

use std::sync::Arc;

use herd_admin::{Command, ErrorCode, Response, SCHEMA, parse_request};
use serde_json::{Value, json};

use super::{records_page, snapshot};
use crate::logging::FilterError;
use crate::node::Node;
use crate::reload_request::ReloadOutcome;
use tracing::info;

/// What the connection does after writing the response.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum After {
    Continue,
    /// Start (or keep) streaming events on this connection: every kind,
    /// or those listed.
    Subscribe(Option<Vec<herd_admin::EventClass>>),
    /// Close the connection (a failed or missing authentication).
    Close,
}

/// One connection's position in the protocol.
pub(super) struct Conversation {
    authenticated: bool,
}

impl Conversation {
    pub(super) fn new(node: &Node) -> Conversation {
        Conversation {
            authenticated: node.live().admin_token.is_none(),
        }
    }

    pub(super) fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    pub(super) async fn handle(&mut self, node: &Arc<Node>, line: &[u8]) -> (Response, After) {
        let request = std::str::from_utf8(line)
            .map_err(|_| (Value::Null, "request is not UTF-8".to_owned()))
            .and_then(|text| parse_request(text).map_err(|err| (err.id, err.message)));
        let request = match request {
            Ok(request) => request,
            Err((id, message)) => {
                let after = if self.authenticated {
                    After::Continue
                } else {
                    After::Close
                };
                return (Response::error(id, ErrorCode::BadRequest, message), after);
            }
        };
        let id = request.id;
        if !self.authenticated && !matches!(request.command, Command::Auth { .. }) {
            return (
                Response::error(
                    id,
                    ErrorCode::AuthRequired,
                    "admin token required: send auth first",
                ),
                After::Close,
            );
        }
        match request.command {
            Command::Auth { token } => self.authenticate(node, id, &token),
            Command::Snapshot => (ok(id, &snapshot(node)), After::Continue),
            Command::Records {
                prefix,
                after,
                limit,
            } => {
                // A long pass over the records: on a blocking thread, so the
                // runtime's workers keep serving clients and peers.
                let node = node.clone();
                let page = tokio::task::spawn_blocking(move || {
                    records_page(&node, prefix.as_deref(), after.as_deref(), limit)
                })
                .await;
                match page {
                    Ok(page) => (ok(id, &page), After::Continue),
                    Err(err) => (
                        Response::error(id, ErrorCode::Failed, format!("listing failed: {err}")),
                        After::Continue,
                    ),
                }
            }
            Command::Subscribe { kinds } => (
                Response::ok(id, json!({ "subscribed": true, "node": node.name() })),
                After::Subscribe(kinds),
            ),
            Command::Link { peer, state } => {
                // It writes links.json: a blocking thread, not a worker.
                let node = node.clone();
                let done = tokio::task::spawn_blocking(move || {
                    node.set_link_admin(&peer, state)
                        .map(|changed| (peer, changed))
                })
                .await
                .unwrap_or_else(|err| Err((ErrorCode::Failed, err.to_string())));
                let response = match done {
                    Ok((peer, changed)) => Response::ok(
                        id,
                        json!({ "peer": peer, "admin": state.as_str(), "changed": changed }),
                    ),
                    Err((code, message)) => Response::error(id, code, message),
                };
                (response, After::Continue)
            }
            Command::Reload => {
                let (applied, detail) = match node.request_reload().await {
                    ReloadOutcome::Applied(what) => (true, what),
                    ReloadOutcome::Refused(why) => (false, why),
                };
                let result = json!({
                    "applied": applied,
                    "detail": detail,
                    "generation": node.live().generation,
                });
                (Response::ok(id, result), After::Continue)
            }
            Command::Forget { client } => {
                let response = if !herd_proto::fields::is_client_id(&client) {
                    Response::error(
                        id,
                        ErrorCode::BadRequest,
                        "a client id is 1 to 256 bytes without white space",
                    )
                } else {
                    // It writes the record log: a blocking thread.
                    let forgetting = node.clone();
                    let done = tokio::task::spawn_blocking(move || forgetting.forget(&client))
                        .await
                        .unwrap_or_else(|err| Err((ErrorCode::Failed, err.to_string())));
                    match done {
                        Ok(forgot) => ok(
                            id,
                            &herd_admin::ForgetResult {
                                node: node.name().to_owned(),
                                client_hash: forgot.tombstone.client.to_hex(),
                                time: forgot.tombstone.time.to_seconds_text(),
                                new: forgot.new,
                                had_record: forgot.had_record,
                            },
                        ),
                        Err((code, message)) => Response::error(id, code, message),
                    }
                };
                (response, After::Continue)
            }
            Command::Log { filter } => {
                let Some(log) = node.log_filter() else {
                    let response =
                        Response::error(id, ErrorCode::Failed, "this node has no log to filter");
                    return (response, After::Continue);
                };
                let response = match log.set(&filter) {
                    Ok(previous) => {
                        let now = log.current().unwrap_or(filter);
                        info!("log filter now {now:?} (was {previous:?}), by the operator");
                        Response::ok(id, json!({ "filter": now, "previous": previous }))
                    }
                    Err(err @ FilterError::Invalid { .. }) => {
                        Response::error(id, ErrorCode::BadRequest, err.to_string())
                    }
                    Err(err) => Response::error(id, ErrorCode::Failed, err.to_string()),
                };
                (response, After::Continue)
            }
        }
    }

    fn authenticate(&mut self, node: &Node, id: Value, token: &str) -> (Response, After) {
        let accepted = match &node.live().admin_token {
            None => true,
            Some(expected) => same_secret(expected.expose().as_bytes(), token.as_bytes()),
        };
        if accepted {
            self.authenticated = true;
            let result = json!({ "schema": SCHEMA, "node": node.name() });
            (Response::ok(id, result), After::Continue)
        } else {
            (
                Response::error(id, ErrorCode::AuthFailed, "wrong admin token"),
                After::Close,
            )
        }
    }
}

fn ok(id: Value, result: &impl serde::Serialize) -> Response {
    match serde_json::to_value(result) {
        Ok(value) => Response::ok(id, value),
        Err(err) => Response::error(
            id,
            ErrorCode::Failed,
            format!("cannot encode the result: {err}"),
        ),
    }
}

/// Compares in time that depends only on the lengths, so the comparison
/// does not tell an attacker how much of a guess was right.
fn same_secret(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret(b"token", b"token"));
        assert!(!same_secret(b"token", b"tokem"));
        assert!(!same_secret(b"token", b"token2"));
        assert!(!same_secret(b"token", b""));
    }
}
