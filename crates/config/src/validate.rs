//! From the raw TOML to a [`Config`], checking everything a node relies on.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use crate::raw::{
    RawConfig, RawDashboard, RawHerd, RawLimits, RawLog, RawPlaces, RawRecords, RawSecret, RawTls,
};
use crate::tls::dns_name_problem;
use crate::{
    Address, AddressError, ClientSettings, Config, ConfigError, DashboardSettings, DashboardTheme,
    FsyncPolicy, GoogleApi, HerdSettings, Limits, LinkSpec, LogFormat, LogSettings, NodeSpec,
    PlacesBackendKind, PlacesSettings, RecordsSettings, Secret, TlsSettings,
};

/// Names travel inside AT lines and handshakes, so they must be one field.
const MAX_NAME_BYTES: usize = 64;
const DEFAULT_HERD_NAME: &str = "herd";
const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(3600);
const DEFAULT_GOOGLE_ENDPOINT: &str = "https://maps.googleapis.com";
const DEFAULT_PLACES_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);
const DEFAULT_MAX_CONCURRENT: usize = 4;

struct Checker<'a> {
    text: &'a str,
    source: &'a str,
}

impl Checker<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.source, span.map(|s| self.line_of(s.start)), message)
    }

    fn name(&self, what: &str, name: &Spanned<String>) -> Result<String, ConfigError> {
        let value = name.get_ref();
        let problem = if value.is_empty() {
            Some("is empty")
        } else if value.len() > MAX_NAME_BYTES {
            Some("is longer than 64 bytes")
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("contains white space or control characters")
        } else {
            None
        };
        match problem {
            Some(problem) => {
                Err(self.error(Some(name.span()), format!("{what} {value:?} {problem}")))
            }
            None => Ok(value.clone()),
        }
    }

    fn address(
        &self,
        node: &str,
        role: &str,
        text: &Spanned<String>,
    ) -> Result<Address, ConfigError> {
        text.get_ref().parse().map_err(|why: AddressError| {
            self.error(
                Some(text.span()),
                format!(
                    "node {node:?}: {role} address {:?} is not IP:PORT or HOST:PORT ({why})",
                    text.get_ref()
                ),
            )
        })
    }

    fn bind(&self, node: &str, text: &Spanned<String>) -> Result<IpAddr, ConfigError> {
        text.get_ref().parse().map_err(|_| {
            self.error(
                Some(text.span()),
                format!(
                    "node {node:?}: bind {:?} is not an IP address (write e.g. \"0.0.0.0\" or \"::\")",
                    text.get_ref()
                ),
            )
        })
    }
}

pub fn validate(text: &str, source: &str) -> Result<Config, ConfigError> {
    let check = Checker { text, source };
    let raw: RawConfig = toml::from_str(text).map_err(|err| {
        // toml's Display spans several lines with a snippet; keep it to one.
        let message = err.message().trim().replace('\n', " ");
        check.error(err.span(), message)
    })?;

    let herd = herd_settings(&check, raw.herd)?;
    let places = places_settings(&check, raw.places)?;
    let limits = limits(&check, raw.limits)?;

    if raw.node.is_empty() {
        return Err(check.error(None, "no [[node]] defined"));
    }
    let mut nodes = Vec::with_capacity(raw.node.len());
    let mut index_of: HashMap<String, usize> = HashMap::new();
    // Compares what it can without resolving: the same host text (any
    // case) and port, or equal IP literals. A name and an IP that may be
    // the same host are not compared.
    let mut addresses: HashMap<Address, String> = HashMap::new();
    for node in &raw.node {
        let node = node.get_ref();
        let name = check.name("node name", &node.name)?;
        if index_of.insert(name.clone(), nodes.len()).is_some() {
            return Err(check.error(
                Some(node.name.span()),
                format!("duplicate node name {name:?}"),
            ));
        }
        let bind = match &node.bind {
            Some(text) => Some(check.bind(&name, text)?),
            None => None,
        };
        // With `bind`, the node's three ports share one IP: they must differ.
        let mut ports: HashMap<u16, &str> = HashMap::new();
        let mut spec = |role: &'static str,
                        text: &Spanned<String>|
         -> Result<Address, ConfigError> {
            let addr = check.address(&name, role, text)?;
            let owner = format!("{name} {role}");
            if let Some(other) = addresses.insert(addr.clone(), owner) {
                return Err(check.error(
                    Some(text.span()),
                    format!("address {addr} of node {name:?} ({role}) is already used by {other}"),
                ));
            }
            if let Some(bind) = bind
                && let Some(other) = ports.insert(addr.port(), role)
            {
                return Err(check.error(
                    Some(text.span()),
                    format!(
                        "node {name:?}: {role} port {} is also its {other} port, and both listen on bind {bind}",
                        addr.port()
                    ),
                ));
            }
            Ok(addr)
        };
        let client = spec("client", &node.client)?;
        let peer = spec("peer", &node.peer)?;
        let admin = spec("admin", &node.admin)?;
        let metrics = match &node.metrics {
            Some(text) => Some(spec("metrics", text)?),
            None => None,
        };
        nodes.push(NodeSpec {
            name,
            client,
            peer,
            admin,
            bind,
            metrics,
        });
    }

    let mut links = Vec::with_capacity(raw.links.len());
    let mut seen = HashSet::new();
    for link in &raw.links {
        let ends = link.get_ref();
        let [a, b] = &ends[..] else {
            return Err(check.error(
                Some(link.span()),
                "a link is a pair of node names: [\"A\", \"B\"]",
            ));
        };
        let index = |end: &Spanned<String>| {
            index_of.get(end.get_ref()).copied().ok_or_else(|| {
                check.error(
                    Some(end.span()),
                    format!("link names unknown node {:?}", end.get_ref()),
                )
            })
        };
        let (ia, ib) = (index(a)?, index(b)?);
        if ia == ib {
            return Err(check.error(
                Some(link.span()),
                format!("node {:?} is linked to itself", a.get_ref()),
            ));
        }
        if !seen.insert((ia.min(ib), ia.max(ib))) {
            return Err(check.error(
                Some(link.span()),
                format!("duplicate link {:?} - {:?}", a.get_ref(), b.get_ref()),
            ));
        }
        links.push(LinkSpec(ia, ib));
    }

    let tls = match raw.tls {
        Some(section) => Some(tls_settings(&check, section, &raw.node)?),
        None => None,
    };
    let log = log_settings(&check, raw.log)?;
    let client = ClientSettings {
        one_request: raw
            .client
            .and_then(|client| client.into_inner().one_request)
            .unwrap_or(false),
    };
    let dashboard = dashboard_settings(&check, raw.dashboard)?;
    let records = records_settings(&check, raw.records)?;
    let mut warnings = connectivity_warnings(&nodes, &links);
    if records.tombstone_ttl < SHORT_TOMBSTONE_TTL {
        warnings.push(format!(
            "[records] tombstone_ttl {} is short: a node away from the herd (stopped, or without a link) for longer discards its records older than that when it returns, losing any update only it held",
            humantime::format_duration(records.tombstone_ttl)
        ));
    }
    Ok(Config {
        herd,
        places,
        limits,
        tls,
        log,
        client,
        dashboard,
        records,
        nodes,
        links,
        warnings,
        generation: generation(text),
    })
}

/// A duration above zero, or an error naming `key` with `examples`.
fn positive_duration(
    check: &Checker<'_>,
    key: &str,
    value: &Spanned<String>,
    examples: &str,
) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value.get_ref())
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            check.error(
                Some(value.span()),
                format!(
                    "{key} {:?} is not a duration above zero (write e.g. {examples})",
                    value.get_ref()
                ),
            )
        })
}

/// Below this a `tombstone_ttl` is worth a warning.
const SHORT_TOMBSTONE_TTL: Duration = Duration::from_secs(3600);

/// `[records]`: `ttl` and `tombstone_ttl`, durations above zero.
fn records_settings(
    check: &Checker<'_>,
    raw: Option<Spanned<RawRecords>>,
) -> Result<RecordsSettings, ConfigError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let duration = |key: &str, value: &Spanned<String>| {
        positive_duration(check, &format!("[records] {key}"), value, "\"24h\", \"7d\"")
    };
    Ok(RecordsSettings {
        ttl: raw
            .ttl
            .as_ref()
            .map(|ttl| duration("ttl", ttl))
            .transpose()?,
        tombstone_ttl: match &raw.tombstone_ttl {
            Some(value) => duration("tombstone_ttl", value)?,
            None => crate::model::DEFAULT_TOMBSTONE_TTL,
        },
    })
}

fn herd_settings(
    check: &Checker<'_>,
    raw: Option<Spanned<RawHerd>>,
) -> Result<HerdSettings, ConfigError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let name = match &raw.name {
        Some(name) => check.name("herd name", name)?,
        None => DEFAULT_HERD_NAME.to_owned(),
    };
    let max_future_skew = match &raw.max_future_skew {
        None => DEFAULT_MAX_FUTURE_SKEW,
        Some(text) => humantime::parse_duration(text.get_ref()).map_err(|err| {
            check.error(
                Some(text.span()),
                format!(
                    "max_future_skew {:?}: {err} (write e.g. \"1h\", \"30m\", \"90s\")",
                    text.get_ref()
                ),
            )
        })?,
    };
    let fsync = match &raw.fsync {
        None => FsyncPolicy::Off,
        Some(text) => match text.get_ref().as_str() {
            "off" => FsyncPolicy::Off,
            "always" => FsyncPolicy::Always,
            other => match humantime::parse_duration(other) {
                Ok(every) if !every.is_zero() => FsyncPolicy::Every(every),
                _ => {
                    return Err(check.error(
                        Some(text.span()),
                        format!(
                            "fsync {other:?} is not \"off\", \"always\" or a duration such as \"100ms\""
                        ),
                    ));
                }
            },
        },
    };
    Ok(HerdSettings {
        name,
        fsync,
        secrets: secrets(check, raw.secret)?,
        admin_token: raw.admin_token.filter(|s| !s.is_empty()).map(Secret::new),
        max_future_skew,
    })
}

/// `secret`: one string, or a non-empty list of non-empty strings. An
/// empty string alone means no secret, as it always has.
fn secrets(
    check: &Checker<'_>,
    raw: Option<Spanned<RawSecret>>,
) -> Result<Vec<Secret>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let span = raw.span();
    match raw.into_inner() {
        RawSecret::One(secret) if secret.is_empty() => Ok(Vec::new()),
        RawSecret::One(secret) => Ok(vec![Secret::new(secret)]),
        RawSecret::List(list) if list.is_empty() => Err(check.error(
            Some(span),
            "secret is an empty list (leave it out for no secret)",
        )),
        RawSecret::List(list) if list.iter().any(String::is_empty) => {
            Err(check.error(Some(span), "secret list holds an empty string"))
        }
        RawSecret::List(list) => Ok(list.into_iter().map(Secret::new).collect()),
    }
}

/// `[tls]`: all of `ca`, `cert` and `key`, templates that can tell nodes
/// apart, and node names a certificate can carry.
fn tls_settings(
    check: &Checker<'_>,
    section: Spanned<RawTls>,
    nodes: &[Spanned<crate::raw::RawNode>],
) -> Result<TlsSettings, ConfigError> {
    let span = section.span();
    let raw = section.into_inner();
    let required = |key: &str, value: Option<Spanned<String>>| match value {
        Some(text) if !text.get_ref().is_empty() => Ok(text),
        _ => Err(check.error(
            Some(span.clone()),
            format!("[tls] needs {key} (a file path)"),
        )),
    };
    let ca = required("ca", raw.ca)?;
    let cert = required("cert", raw.cert)?;
    let key = required("key", raw.key)?;
    for (what, template) in [("cert", &cert), ("key", &key)] {
        if !template.get_ref().contains(crate::NAME_PLACEHOLDER) {
            return Err(check.error(
                Some(template.span()),
                format!(
                    "[tls] {what} {:?} has no {} (every node has its own)",
                    template.get_ref(),
                    crate::NAME_PLACEHOLDER
                ),
            ));
        }
    }
    if cert.get_ref() == key.get_ref() {
        return Err(check.error(Some(key.span()), "[tls] cert and key name the same file"));
    }
    let mut seen = HashSet::new();
    for node in nodes {
        let name = &node.get_ref().name;
        if !seen.insert(name.get_ref().to_ascii_lowercase()) {
            return Err(check.error(
                Some(name.span()),
                format!(
                    "node name {:?} differs from another only in case, which certificates do not tell apart",
                    name.get_ref()
                ),
            ));
        }
        if let Some(problem) = dns_name_problem(name.get_ref()) {
            return Err(check.error(
                Some(name.span()),
                format!(
                    "node name {:?} is not a DNS name ({problem}): with [tls], a node's certificate names it as one",
                    name.get_ref()
                ),
            ));
        }
        if name.get_ref().eq_ignore_ascii_case(crate::HERDCTL_NAME) {
            return Err(check.error(
                Some(name.span()),
                format!(
                    "node name {:?} is the name of herdctl's own certificate",
                    name.get_ref()
                ),
            ));
        }
    }
    Ok(TlsSettings {
        ca: ca.into_inner(),
        cert: cert.into_inner(),
        key: key.into_inner(),
        admin: raw.admin.unwrap_or(false),
        base: PathBuf::new(),
    })
}

/// A day, the unit of log retention (the log rotates daily).
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// `[dashboard]`: `theme` is "dark" or "light".
fn dashboard_settings(
    check: &Checker<'_>,
    raw: Option<Spanned<RawDashboard>>,
) -> Result<DashboardSettings, ConfigError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let theme = match &raw.theme {
        None => None,
        Some(text) => Some(match text.get_ref().as_str() {
            "dark" => DashboardTheme::Dark,
            "light" => DashboardTheme::Light,
            other => {
                return Err(check.error(
                    Some(text.span()),
                    format!("[dashboard] theme {other:?} is not \"dark\" or \"light\""),
                ));
            }
        }),
    };
    Ok(DashboardSettings { theme })
}

/// `[log]`: `format` is "text" or "json"; `keep` a whole number of days
/// (a duration such as "7d" or "2w"), since the log rotates daily.
fn log_settings(
    check: &Checker<'_>,
    raw: Option<Spanned<RawLog>>,
) -> Result<LogSettings, ConfigError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let format = match &raw.format {
        None => LogFormat::Text,
        Some(text) => match text.get_ref().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(check.error(
                    Some(text.span()),
                    format!("[log] format {other:?} is not \"text\" or \"json\""),
                ));
            }
        },
    };
    let keep_days = match &raw.keep {
        None => None,
        Some(text) => {
            let keep = humantime::parse_duration(text.get_ref()).ok();
            let days = keep
                .filter(|keep| !keep.is_zero() && keep.as_secs() % DAY.as_secs() == 0)
                .and_then(|keep| u32::try_from(keep.as_secs() / DAY.as_secs()).ok())
                .filter(|&days| days <= MAX_KEEP_DAYS);
            match days {
                Some(days) => Some(days),
                None => {
                    return Err(check.error(
                        Some(text.span()),
                        format!(
                            "[log] keep {:?} is not a whole number of days up to {MAX_KEEP_DAYS} (the log rotates daily; write e.g. \"7d\")",
                            text.get_ref()
                        ),
                    ));
                }
            }
        }
    };
    Ok(LogSettings { format, keep_days })
}

/// Ten years of daily files.
const MAX_KEEP_DAYS: u32 = 3650;

fn limits(check: &Checker<'_>, raw: Option<Spanned<RawLimits>>) -> Result<Limits, ConfigError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let defaults = Limits::default();
    let number = |key: &str,
                  value: &Option<Spanned<i64>>,
                  range: std::ops::RangeInclusive<usize>,
                  default: usize| {
        match value {
            None => Ok(default),
            Some(n) => usize::try_from(*n.get_ref())
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    check.error(
                        Some(n.span()),
                        format!(
                            "{key} {} must be between {} and {}",
                            n.get_ref(),
                            range.start(),
                            range.end()
                        ),
                    )
                }),
        }
    };
    let duration = |key: &str, value: &Option<Spanned<String>>, default: Duration| match value {
        None => Ok(default),
        Some(text) => positive_duration(check, key, text, "\"10s\", \"5m\""),
    };
    Ok(Limits {
        // An IAMAT with a 256-byte id needs ~300 bytes; peer lines carry
        // client lines' fields and are limited to 16 KiB.
        max_line: number(
            "max_line",
            &raw.max_line,
            512..=12 * 1024,
            defaults.max_line,
        )?,
        max_client_id: number(
            "max_client_id",
            &raw.max_client_id,
            1..=256,
            defaults.max_client_id,
        )?,
        max_clients: number(
            "max_clients",
            &raw.max_clients,
            1..=1_000_000,
            defaults.max_clients,
        )?,
        peer_queue: number(
            "peer_queue",
            &raw.peer_queue,
            16..=16_777_216,
            defaults.peer_queue,
        )?,
        client_idle: duration("client_idle", &raw.client_idle, defaults.client_idle)?,
        line_deadline: duration("line_deadline", &raw.line_deadline, defaults.line_deadline)?,
    })
}

fn places_settings(
    check: &Checker<'_>,
    raw: Option<Spanned<RawPlaces>>,
) -> Result<PlacesSettings, ConfigError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let backend = match raw
        .backend
        .as_ref()
        .map(|b| (b.get_ref().as_str(), b.span()))
    {
        None | Some(("offline", _)) => PlacesBackendKind::Offline,
        Some(("google", _)) => PlacesBackendKind::Google,
        Some((other, span)) => {
            return Err(check.error(
                Some(span),
                format!("places backend {other:?} is unknown (expected \"offline\" or \"google\")"),
            ));
        }
    };
    let google_endpoint = match &raw.google_endpoint {
        None => DEFAULT_GOOGLE_ENDPOINT.to_owned(),
        Some(url) => {
            let text = url.get_ref().trim_end_matches('/');
            if let Err(why) = check_endpoint(text) {
                return Err(check.error(
                    Some(url.span()),
                    format!("google_endpoint {:?} {why}", url.get_ref()),
                ));
            }
            text.to_owned()
        }
    };
    let google_api = match raw
        .google_api
        .as_ref()
        .map(|a| (a.get_ref().as_str(), a.span()))
    {
        None | Some(("legacy", _)) => GoogleApi::Legacy,
        Some(("new", _)) => GoogleApi::New,
        Some((other, span)) => {
            return Err(check.error(
                Some(span),
                format!("google_api {other:?} is unknown (expected \"legacy\" or \"new\")"),
            ));
        }
    };
    let duration = |key: &str, value: &Option<Spanned<String>>, default: Duration| match value {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text.get_ref()).map_err(|err| {
            check.error(
                Some(text.span()),
                format!(
                    "{key} {:?}: {err} (write e.g. \"5s\", \"500ms\")",
                    text.get_ref()
                ),
            )
        }),
    };
    let timeout = duration("timeout", &raw.timeout, DEFAULT_PLACES_TIMEOUT)?;
    if timeout.is_zero() {
        return Err(check.error(
            raw.timeout.as_ref().map(|t| t.span()),
            "timeout must be more than 0",
        ));
    }
    let cache_ttl = duration("cache_ttl", &raw.cache_ttl, DEFAULT_CACHE_TTL)?;
    let max_concurrent = match &raw.max_concurrent {
        None => DEFAULT_MAX_CONCURRENT,
        Some(n) => match usize::try_from(*n.get_ref()) {
            Ok(n @ 1..=256) => n,
            _ => {
                return Err(check.error(
                    Some(n.span()),
                    format!("max_concurrent {} must be between 1 and 256", n.get_ref()),
                ));
            }
        },
    };
    Ok(PlacesSettings {
        backend,
        file: raw.file.map(PathBuf::from),
        google_key: raw.google_key.filter(|s| !s.is_empty()).map(Secret::new),
        google_endpoint,
        google_api,
        timeout,
        cache_ttl,
        max_concurrent,
    })
}

/// The Google endpoint carries the API key: `https://`, or plain `http://`
/// only to this machine (a local stand-in or proxy).
fn check_endpoint(url: &str) -> Result<(), &'static str> {
    if let Some(rest) = url.strip_prefix("https://") {
        return if rest.is_empty() {
            Err("has no host")
        } else {
            Ok(())
        };
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err("must start with https:// (or http:// for a local address)");
    };
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port
            .rsplit_once(':')
            .map_or(host_port, |(host, _)| host),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(
            "uses plain http to a host that is not this machine: the API key would travel in clear; use https://",
        )
    }
}

/// A herd whose graph falls apart cannot converge: say so, but run anyway
/// (an operator may be building it up node by node).
fn connectivity_warnings(nodes: &[NodeSpec], links: &[LinkSpec]) -> Vec<String> {
    let mut reached = vec![false; nodes.len()];
    let mut stack = vec![0];
    reached[0] = true;
    while let Some(at) = stack.pop() {
        for &LinkSpec(a, b) in links {
            for (from, to) in [(a, b), (b, a)] {
                if from == at && !reached[to] {
                    reached[to] = true;
                    stack.push(to);
                }
            }
        }
    }
    let cut_off: Vec<&str> = nodes
        .iter()
        .zip(&reached)
        .filter(|(_, reached)| !**reached)
        .map(|(node, _)| node.name.as_str())
        .collect();
    if cut_off.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "the link graph is not connected: {} cannot reach {}",
            nodes[0].name,
            cut_off.join(", ")
        )]
    }
}

/// The first 16 hex digits of the SHA-256 of the config's text.
fn generation(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
