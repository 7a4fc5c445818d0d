//! `herdctl reload [NODE...]`: makes nodes re-read their config file, as
//! SIGHUP does (contract section 7); one line per node, `applied: ...` or
//! `refused: ...`, and a failure when any node refused or was not reached.

use std::time::Duration;

use herd_admin::ReloadResult;
use herd_admin::client::{AdminClient, ClientError, Options, within};

use crate::Failure;
use crate::herd::Herd;

/// A reload reads a file and may build a places index: give it time.
pub const LIMIT: Duration = Duration::from_secs(10);

/// What one node said, as a line: `NODE: applied: ...`.
pub struct Said {
    pub node: String,
    pub line: String,
    pub ok: bool,
}

/// Reloads `names` (every node of the config when empty), all at once.
pub async fn reload_nodes(herd: &Herd, names: &[String]) -> Result<Vec<Said>, Failure> {
    let nodes = if names.is_empty() {
        herd.nodes().iter().collect::<Vec<_>>()
    } else {
        names
            .iter()
            .map(|name| herd.node(name))
            .collect::<Result<Vec<_>, _>>()?
    };
    let asks = nodes
        .iter()
        .map(|node| ask(herd.admin_options(node, LIMIT)));
    let outcomes = futures_util::future::join_all(asks).await;
    Ok(nodes
        .iter()
        .zip(outcomes)
        .map(|(node, outcome)| {
            let (ok, line) = match outcome {
                Ok(result) if result.applied => (true, format!("applied: {}", result.detail)),
                Ok(result) => (false, format!("refused: {}", result.detail)),
                Err(err) => (false, format!("unreachable: {err}")),
            };
            Said {
                node: node.name.clone(),
                line,
                ok,
            }
        })
        .collect())
}

pub async fn run(herd: &Herd, names: &[String]) -> Result<(), Failure> {
    let said = reload_nodes(herd, names).await?;
    for one in &said {
        crate::say(format_args!("{}: {}", one.node, one.line));
    }
    let failed = said.iter().filter(|one| !one.ok).count();
    if failed > 0 {
        return Err(Failure::failed(format!(
            "{failed} of {} nodes did not apply the config",
            said.len()
        )));
    }
    Ok(())
}

async fn ask(options: Options) -> Result<ReloadResult, ClientError> {
    within(options.timeout, async {
        let mut client = AdminClient::connect(options).await?;
        client.reload().await
    })
    .await
}
