//! A reload asked for on the admin port, and what came of it: the message
//! between the admin port and the task that reloads (reload.rs).

use tokio::sync::oneshot;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// Applied; what changed, in words ("nothing changed" too).
    Applied(String),
    /// Nothing applied; why.
    Refused(String),
}

/// A reload asked for, and where its outcome goes.
pub struct ReloadRequest {
    pub reply: oneshot::Sender<ReloadOutcome>,
}
