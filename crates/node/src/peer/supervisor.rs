//! The task that keeps one link connected for as long as the node runs,
//! except while the operator has it down: it dials when the link machine
//! says so (or takes the connection the peer made), runs the session, and
//! reports what happened.

use std::sync::Arc;

use herd_admin::{AdminState, ConnectionState, EventKind, LinkChange};
use tokio::sync::{mpsc, watch};
use tokio::time::sleep_until;
use tracing::{debug, info, warn};

use super::connection::Connected;
use super::error::DialError;
use super::handshake::dial;
use super::link::{Link, until};
use super::session::{SessionEnd, run_session};
use crate::node::Node;

pub async fn run_link(
    node: Arc<Node>,
    link: Arc<Link>,
    accepted: Arc<tokio::sync::Mutex<mpsc::Receiver<Connected>>>,
) {
    let mut accepted = accepted.lock().await;
    let accepted = &mut *accepted;
    // After a restart (the last run panicked) the machine may still think
    // it is connected: start from no connection.
    link.detach();
    if link.admin_state() == AdminState::Up {
        link.set_state(ConnectionState::Connecting, None, None);
    }
    let mut admin = link.watch_admin();
    let mut failures: u32 = 0;
    let mut next: Option<Connected> = None;
    loop {
        if *admin.borrow_and_update() == AdminState::Down {
            link.set_state(ConnectionState::Down, None, None);
            stay_down(&link, &mut admin, accepted).await;
            link.set_state(ConnectionState::Connecting, None, None);
            failures = 0;
            next = None;
            continue;
        }
        let connected = match next.take() {
            Some(connected) => connected,
            None if link.dials => {
                // The machine says when (at once, or after its back-off).
                if let Some(at) = link.dial_at() {
                    tokio::select! {
                        () = sleep_until(link.instant(at)) => {}
                        _ = until(&mut admin, AdminState::Down) => continue,
                    }
                }
                link.dialling();
                let attempt = tokio::select! {
                    attempt = dial(&node, &link) => attempt,
                    _ = until(&mut admin, AdminState::Down) => continue,
                };
                match attempt {
                    Ok(connected) => {
                        failures = 0;
                        connected
                    }
                    Err(err) => {
                        failures += 1;
                        link.dial_failed();
                        report_dial_failure(&node, &link, &err, failures);
                        continue;
                    }
                }
            }
            None => tokio::select! {
                connected = accepted.recv() => match connected {
                    Some(connected) => connected,
                    None => return,
                },
                _ = until(&mut admin, AdminState::Down) => continue,
            },
        };
        let cuts = link.cuts();
        let mut end = run_session(&node, &link, connected, accepted, &mut admin).await;
        if link.cuts() != cuts && matches!(end, SessionEnd::Lost(_)) {
            // The cut detached the connection, so the writer may have failed
            // before the session saw the cut (or the link is up again).
            end = SessionEnd::Cut;
        }
        if link.admin_state() == AdminState::Up {
            link.set_state(ConnectionState::Connecting, None, None);
        }
        match end {
            SessionEnd::Lost(reason) => {
                info!(peer = %link.peer, "link lost: {reason}");
                link.note_error(&reason);
                node.events.publish_with(|| EventKind::Link {
                    peer: link.peer.clone(),
                    change: LinkChange::Down,
                    reason: Some(reason.clone()),
                });
            }
            SessionEnd::Replaced(connected) => {
                info!(peer = %link.peer, "link replaced by a new connection from the peer");
                next = Some(connected);
            }
            SessionEnd::Cut => {
                info!(peer = %link.peer, "link closed: cut by the operator");
            }
        }
    }
}

fn report_dial_failure(node: &Node, link: &Link, err: &DialError, failures: u32) {
    link.note_error(&err.to_string());
    if let DialError::Refused(reason) = err {
        node.events.publish_with(|| EventKind::Link {
            peer: link.peer.clone(),
            change: LinkChange::Refused,
            reason: Some(format!("refused by {}: {reason}", link.peer)),
        });
    }
    // The first failure is news; the retries every ~2 s are not.
    if failures == 1 {
        warn!(peer = %link.peer, "cannot connect to {}: {err}; retrying", link.peer_addr);
    } else {
        debug!(peer = %link.peer, "connect attempt {failures} failed: {err}");
    }
}

/// Waits until the operator restores the link. Connections the listener
/// handed over just before the cut are closed unused.
async fn stay_down(
    link: &Link,
    admin: &mut watch::Receiver<AdminState>,
    accepted: &mut mpsc::Receiver<Connected>,
) {
    loop {
        tokio::select! {
            up = until(admin, AdminState::Up) => {
                if !up {
                    // The link is gone (node stopping): never comes back up.
                    std::future::pending::<()>().await;
                }
                return;
            }
            Some(connected) = accepted.recv() => {
                debug!(peer = %link.peer, "closing a connection accepted as the link was cut");
                drop(connected);
            }
        }
    }
}
