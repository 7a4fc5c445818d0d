//! Responses: `{"id": 1, "ok": true, "result": ...}` or
//! `{"id": 1, "ok": false, "error": "..."}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    #[serde(default)]
    pub id: Value,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// With `error`: what kind of error, for programs (see [`ErrorCode`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
}

/// Kinds of error, so that programs need not read the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not an object, an unknown command or bad fields.
    BadRequest,
    /// A token is required and was not presented first; the node closes.
    AuthRequired,
    /// The token was wrong; the node closes.
    AuthFailed,
    /// The request named something the node does not have (a peer).
    NotFound,
    /// The node could not do it (a file it could not write).
    Failed,
    /// A code this program does not know (from a newer node).
    #[serde(other)]
    Other,
}

impl Response {
    pub fn ok(id: Value, result: Value) -> Response {
        Response {
            id,
            ok: true,
            result: Some(result),
            error: None,
            code: None,
        }
    }

    pub fn error(id: Value, code: ErrorCode, message: impl Into<String>) -> Response {
        Response {
            id,
            ok: false,
            result: None,
            error: Some(message.into()),
            code: Some(code),
        }
    }
}

/// The result of `records`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordsPage {
    pub records: Vec<RecordEntry>,
    /// How many records match the filter, on every page.
    pub matching: usize,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One record as the admin port shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordEntry {
    pub client: String,
    /// ISO 6709, as the client sent it.
    pub position: String,
    pub lat: f64,
    pub lng: f64,
    /// The client's time, as the client sent it (decimal seconds).
    pub client_time: String,
    /// The node that received the IAMAT.
    pub received_by: String,
    /// When that node received it, POSIX microseconds.
    pub received_us: u64,
    /// The AT line every node answers with.
    pub at: String,
}

/// The result of `auth`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthResult {
    pub schema: u32,
    pub node: String,
}

/// The result of `subscribe`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscribeResult {
    pub subscribed: bool,
    pub node: String,
}

/// The result of `reload`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReloadResult {
    /// False: refused, and the node keeps the config it had.
    pub applied: bool,
    /// What changed, or why it was refused.
    pub detail: String,
    /// The config the node runs now (`Snapshot::config_generation`).
    pub generation: String,
}

/// The result of `link`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkResult {
    #[serde(default)]
    pub peer: String,
    #[serde(default)]
    pub admin: crate::snapshot::AdminState,
    /// False when the link already was in that state. An older node that
    /// does not say counts as changed.
    #[serde(default = "changed_by_default")]
    pub changed: bool,
}

fn changed_by_default() -> bool {
    true
}

/// The result of `log`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogResult {
    /// The filter in force now, and the one it replaced.
    pub filter: String,
    pub previous: String,
}

/// The result of `forget`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForgetResult {
    /// The node that recorded the tombstone.
    pub node: String,
    /// The hash of the client id the tombstone keeps (32 hex digits).
    pub client_hash: String,
    /// The tombstone's time (seconds): every update of the client up to it
    /// is gone, a later one is a new record.
    pub time: String,
    /// False: the client was already forgotten up to that time (nothing
    /// new was flooded).
    pub new: bool,
    /// The node held a record of the client (now gone).
    pub had_record: bool,
}
