//! The TOML file as written, before validation. Spans keep line numbers for
//! error messages.

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub links: Vec<Spanned<Vec<Spanned<String>>>>,
    pub herd: Option<Spanned<RawHerd>>,
    #[serde(default)]
    pub places: Option<Spanned<RawPlaces>>,
    #[serde(default)]
    pub limits: Option<Spanned<RawLimits>>,
    #[serde(default)]
    pub node: Vec<Spanned<RawNode>>,
    pub tls: Option<Spanned<RawTls>>,
    pub log: Option<Spanned<RawLog>>,
    pub client: Option<Spanned<RawClient>>,
    pub dashboard: Option<Spanned<RawDashboard>>,
    pub records: Option<Spanned<RawRecords>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRecords {
    pub ttl: Option<Spanned<String>>,
    pub tombstone_ttl: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDashboard {
    pub theme: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub one_request: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<Spanned<String>>,
    pub keep: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca: Option<Spanned<String>>,
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub admin: Option<bool>,
}

/// `secret = "..."`, or a list while it rotates: `["new", "old"]`.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum RawSecret {
    One(String),
    List(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_line: Option<Spanned<i64>>,
    pub max_client_id: Option<Spanned<i64>>,
    pub max_clients: Option<Spanned<i64>>,
    pub peer_queue: Option<Spanned<i64>>,
    pub client_idle: Option<Spanned<String>>,
    pub line_deadline: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHerd {
    pub name: Option<Spanned<String>>,
    pub secret: Option<Spanned<RawSecret>>,
    pub admin_token: Option<String>,
    pub max_future_skew: Option<Spanned<String>>,
    pub fsync: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPlaces {
    pub backend: Option<Spanned<String>>,
    pub file: Option<String>,
    pub google_key: Option<String>,
    pub google_endpoint: Option<Spanned<String>>,
    pub google_api: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub cache_ttl: Option<Spanned<String>>,
    pub max_concurrent: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: Spanned<String>,
    pub client: Spanned<String>,
    pub peer: Spanned<String>,
    pub admin: Spanned<String>,
    pub bind: Option<Spanned<String>>,
    pub metrics: Option<Spanned<String>>,
}
