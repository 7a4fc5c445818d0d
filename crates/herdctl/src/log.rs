//! `herdctl log NODE FILTER`: changes a running node's log filter
//! (contract section 9), `debug` or `info,client=warn`, until it stops.
//! Prints what it replaced; a filter the node cannot parse changes nothing
//! and fails with the node's reason.

use std::time::Duration;

use herd_admin::LogResult;
use herd_admin::client::{AdminClient, ClientError, Options, within};

use crate::Failure;
use crate::herd::Herd;

const LIMIT: Duration = Duration::from_secs(5);

pub async fn run(herd: &Herd, name: &str, filter: &str) -> Result<(), Failure> {
    let node = herd.node(name)?;
    let result = ask(herd.admin_options(node, LIMIT), filter)
        .await
        .map_err(|err| Failure::failed(format!("{name}: {err}")))?;
    crate::say(format_args!(
        "{name}: log filter {:?} (was {:?})",
        result.filter, result.previous
    ));
    Ok(())
}

async fn ask(options: Options, filter: &str) -> Result<LogResult, ClientError> {
    within(options.timeout, async {
        let mut client = AdminClient::connect(options).await?;
        client.set_log_filter(filter).await
    })
    .await
}
