//! `herdctl link A B up|down`: tells both ends of a configured link.

use std::time::Duration;

use herd_admin::AdminState;
use herd_admin::client::{AdminClient, ClientError, Options, within};

use crate::Failure;
use crate::herd::Herd;

pub const LIMIT: Duration = Duration::from_secs(3);

/// Sets the link between `a` and `b` to `admin` on both ends.
pub async fn run(herd: &Herd, a: &str, b: &str, admin: AdminState) -> Result<(), Failure> {
    let (node_a, node_b) = (herd.node(a)?, herd.node(b)?);
    if !herd.config.are_linked(a, b) {
        return Err(Failure::usage(format!(
            "{a} and {b} are not linked in the config; configured links: {}",
            herd.links()
                .iter()
                .map(|(x, y)| format!("{x}-{y}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let (at_a, at_b) = tokio::join!(
        tell(herd.admin_options(node_a, LIMIT), b, admin),
        tell(herd.admin_options(node_b, LIMIT), a, admin)
    );
    let mut failed = 0;
    for (node, peer, outcome) in [(a, b, at_a), (b, a, at_b)] {
        match outcome {
            Ok(true) => crate::say(format_args!("{node}: link to {peer} {}", admin.as_str())),
            Ok(false) => crate::say(format_args!(
                "{node}: link to {peer} was already {}",
                admin.as_str()
            )),
            Err(err) => {
                failed += 1;
                crate::say(format_args!("{node}: FAILED: {err}"));
            }
        }
    }
    if failed > 0 {
        return Err(Failure::failed(format!(
            "the link {a}-{b} is not {} on both ends",
            admin.as_str()
        )));
    }
    Ok(())
}

/// Sets the node's link to `peer`; true when it changed. One limit
/// ([`Options::timeout`]) for connecting, authenticating and the change
/// together.
pub async fn tell(options: Options, peer: &str, state: AdminState) -> Result<bool, ClientError> {
    within(options.timeout, async {
        let mut client = AdminClient::connect(options).await?;
        Ok(client.set_link(peer, state).await?.changed)
    })
    .await
}
