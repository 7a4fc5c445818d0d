//! What the runtime must do for the state (the state does no I/O).

use herd_admin::AdminState;

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    SetLinks(Vec<(String, String, AdminState)>),
    Send {
        node: String,
        line: String,
    },
    /// Re-read the config on these nodes (all when none).
    Reload(Vec<String>),
    /// Run the drill in this scenario file.
    Drill(String),
    /// kill -9 the node and start it again (under `herdctl up`).
    Restart(String),
    /// Forget this client on the whole herd.
    Forget(String),
}
