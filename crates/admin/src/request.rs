//! Requests: `{"id": 1, "cmd": "snapshot"}` and friends.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::EventClass;
use crate::snapshot::AdminState;

/// One request line: an id chosen by the client (any JSON value; echoed
/// back) and the command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdminRequest {
    pub id: Value,
    #[serde(flatten)]
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Presents the admin token; must come first when the node has one.
    Auth { token: String },
    /// The node's identity, links, record count, digest and counters.
    Snapshot,
    /// A page of records in client-id order: those whose id starts with
    /// `prefix` and sorts after `after` (the previous page's `next`).
    Records {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
    /// Starts the event stream on this connection: every kind, or only
    /// `kinds`.
    Subscribe {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kinds: Option<Vec<EventClass>>,
    },
    /// Cuts (`down`) or restores (`up`) the link to `peer`.
    Link { peer: String, state: AdminState },
    /// Re-reads the config file the node started with and applies what
    /// changed, or refuses it and keeps the old (as SIGHUP does).
    Reload,
    /// Replaces the node's log filter (an `EnvFilter` directive such as
    /// `debug` or `info,client=warn`) until the node stops.
    Log { filter: String },
    /// Forgets `client` on the whole herd: the node records a tombstone
    /// and floods it (contract section 11).
    Forget { client: String },
}

/// A request line that could not be understood; `id` is set when the line
/// had one, so the error response can carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError {
    pub id: Value,
    pub message: String,
}

/// Parses one request line, with an error message that says what is wrong.
pub fn parse_request(line: &str) -> Result<AdminRequest, RequestError> {
    let value: Value = serde_json::from_str(line).map_err(|err| RequestError {
        id: Value::Null,
        message: format!("not JSON: {err}"),
    })?;
    let Value::Object(mut object) = value else {
        return Err(RequestError {
            id: Value::Null,
            message: "a request is a JSON object".to_owned(),
        });
    };
    let id = object.remove("id").unwrap_or(Value::Null);
    let fail = |message: String| RequestError {
        id: id.clone(),
        message,
    };
    match object.get("cmd") {
        Some(Value::String(_)) => {}
        Some(_) => return Err(fail("\"cmd\" must be a string".to_owned())),
        None => return Err(fail("missing \"cmd\"".to_owned())),
    }
    let command =
        serde_json::from_value(Value::Object(object)).map_err(|err| fail(err.to_string()))?;
    Ok(AdminRequest { id, command })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_command() {
        let request = parse_request(r#"{"id":1,"cmd":"snapshot"}"#);
        assert_eq!(
            request,
            Ok(AdminRequest {
                id: Value::from(1),
                command: Command::Snapshot
            })
        );
        let request = parse_request(r#"{"id":"a","cmd":"link","peer":"Bona","state":"down"}"#);
        assert_eq!(
            request.map(|r| r.command),
            Ok(Command::Link {
                peer: "Bona".to_owned(),
                state: AdminState::Down
            })
        );
        let request = parse_request(r#"{"id":3,"cmd":"log","filter":"info,client=warn"}"#);
        assert_eq!(
            request.map(|r| r.command),
            Ok(Command::Log {
                filter: "info,client=warn".to_owned()
            })
        );
        let request = parse_request(r#"{"id":4,"cmd":"forget","client":"kiwi.cs.ucla.edu"}"#);
        assert_eq!(
            request.map(|r| r.command),
            Ok(Command::Forget {
                client: "kiwi.cs.ucla.edu".to_owned()
            })
        );
        let request = parse_request(r#"{"id":2,"cmd":"records","prefix":"kiwi","limit":5}"#);
        assert_eq!(
            request.map(|r| r.command),
            Ok(Command::Records {
                prefix: Some("kiwi".to_owned()),
                after: None,
                limit: Some(5)
            })
        );
    }

    #[test]
    fn errors_keep_the_id_and_say_what_is_wrong() {
        let err = parse_request(r#"{"id":7,"cmd":"reboot"}"#).err();
        let err = err.as_ref();
        assert_eq!(err.map(|e| e.id.clone()), Some(Value::from(7)));
        assert!(err.is_some_and(|e| e.message.contains("reboot")), "{err:?}");
        let err = parse_request(r#"{"id":8,"cmd":"link","peer":"Bona","state":"sideways"}"#);
        assert!(err.is_err_and(|e| e.id == 8));
        assert!(parse_request("not json").is_err_and(|e| e.message.starts_with("not JSON")));
        assert!(parse_request("[1]").is_err());
        assert!(parse_request(r#"{"id":1}"#).is_err_and(|e| e.message.contains("cmd")));
    }

    #[test]
    fn a_request_round_trips() {
        let request = AdminRequest {
            id: Value::from(3),
            command: Command::Auth {
                token: "t".to_owned(),
            },
        };
        let line = serde_json::to_string(&request).unwrap_or_default();
        assert_eq!(line, r#"{"id":3,"cmd":"auth","token":"t"}"#);
        assert_eq!(parse_request(&line), Ok(request));
    }
}
