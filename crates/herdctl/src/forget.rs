//! `herdctl forget CLIENT`: asks one node to forget a client on the whole
//! herd (contract section 11). The node records a tombstone newer than
//! every update of the client it knows and floods it; repair takes it to
//! nodes that are away now.

use std::time::Duration;

use herd_admin::ForgetResult;
use herd_admin::client::{AdminClient, ClientError, Options, within};

use crate::Failure;
use crate::herd::Herd;

pub const LIMIT: Duration = Duration::from_secs(3);

/// `herdctl forget`: prints what the node did, one line or JSON (errors:
/// one line, naming every node that failed and why).
pub async fn run(herd: &Herd, client: &str, node: Option<&str>, json: bool) -> Result<(), Failure> {
    let result = forget(herd, client, node).await?;
    if json {
        crate::say(serde_json::to_string(&result).unwrap_or_default());
    } else {
        crate::say(describe(&result, client));
    }
    Ok(())
}

/// Forgets `client` through `node`, or through the first node of the
/// config that answers when none is named.
pub async fn forget(
    herd: &Herd,
    client: &str,
    node: Option<&str>,
) -> Result<ForgetResult, Failure> {
    if !herd_proto::fields::is_client_id(client) {
        return Err(Failure::usage(
            "a client id is 1 to 256 bytes without white space",
        ));
    }
    let candidates = match node {
        Some(name) => vec![herd.node(name)?],
        None => herd.config.nodes.iter().collect(),
    };
    let mut errors = Vec::new();
    for spec in candidates {
        match ask(herd.admin_options(spec, LIMIT), client).await {
            Ok(result) => return Ok(result),
            Err(err) => errors.push(format!("{}: {err}", spec.name)),
        }
    }
    Err(Failure::failed(format!(
        "{client} not forgotten: no node took the forget ({})",
        errors.join("; ")
    )))
}

/// One line for people.
pub fn describe(result: &ForgetResult, client: &str) -> String {
    let (node, time, hash) = (&result.node, &result.time, &result.client_hash);
    if result.new {
        format!(
            "{node}: {client} forgotten up to {time} (tombstone {hash}), on its way to every node"
        )
    } else {
        format!("{node}: {client} was already forgotten up to {time} (tombstone {hash})")
    }
}

/// One limit ([`Options::timeout`]) for connecting, authenticating and
/// the forget together.
async fn ask(options: Options, client: &str) -> Result<ForgetResult, ClientError> {
    within(options.timeout, async {
        let mut admin = AdminClient::connect(options).await?;
        admin.forget(client).await
    })
    .await
}
