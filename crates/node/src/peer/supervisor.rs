//! The task that keeps one link connected for as long as the node runs,
//! except while the operator has it down: it dials when the link machine
//! says so (in a task of its own, so that a connection the peer opens
//! meanwhile is not held up), takes the connections the machine prefers,
//! from its dials or the peer's, runs the session, and reports what
//! happened.

use std::sync::Arc;

use herd_admin::{AdminState, ConnectionState, EventClass, EventKind, LinkChange};
use herd_core::Opener;
use tokio::sync::{mpsc, watch};
use tokio::time::sleep_until;
use tokio_util::task::AbortOnDropHandle;
use tracing::{debug, info, warn};

use super::connection::{Arrival, Connected};
use super::error::DialError;
use super::handshake::dial;
use super::link::{Link, until};
use super::session::{SessionEnd, run_session};
use crate::node::Node;

pub async fn run_link(
    node: Arc<Node>,
    link: Arc<Link>,
    arrivals: Arc<tokio::sync::Mutex<mpsc::Receiver<Arrival>>>,
) {
    let mut arrivals = arrivals.lock().await;
    let arrivals = &mut *arrivals;
    // After a restart (the last run panicked) the machine may still think
    // it is connected, or dialling with a task that died with that run:
    // start from nothing.
    link.detach();
    link.dial_abandoned();
    if link.admin_state() == AdminState::Up {
        link.set_state(ConnectionState::Connecting, None, None);
    }
    let mut admin = link.watch_admin();
    let mut failures: u32 = 0;
    let mut dialling = Dialling::default();
    let mut next: Option<Box<Connected>> = None;
    loop {
        if *admin.borrow_and_update() == AdminState::Down {
            dialling.abort();
            link.set_state(ConnectionState::Down, None, None);
            stay_down(&link, &mut admin, arrivals).await;
            link.set_state(ConnectionState::Connecting, None, None);
            failures = 0;
            next = None;
            continue;
        }
        let connected = match next.take() {
            Some(connected) => *connected,
            None => {
                let dial_at = link.dial_at();
                tokio::select! {
                    arrival = arrivals.recv() => match arrival {
                        Some(Arrival::Connected(connected)) => {
                            if !link.prefers(&connected) {
                                continue;
                            }
                            *connected
                        }
                        Some(Arrival::DialFailed(err)) => {
                            failures += 1;
                            link.dial_failed();
                            report_dial_failure(&node, &link, &err, failures);
                            continue;
                        }
                        None => return,
                    },
                    // The machine says when (at once, or after its back-off).
                    () = sleep_until(link.instant(dial_at.unwrap_or_default())), if dial_at.is_some() => {
                        link.dialling();
                        dialling.start(&node, &link);
                        continue;
                    }
                    _ = until(&mut admin, AdminState::Down) => continue,
                }
            }
        };
        failures = 0;
        let cuts = link.cuts();
        let mut end = run_session(&node, &link, connected, arrivals, &mut admin).await;
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
                link.count_flap();
                node.events
                    .publish_with(EventClass::Link, || EventKind::Link {
                        peer: link.peer.clone(),
                        change: LinkChange::Down,
                        reason: Some(reason.clone()),
                    });
            }
            SessionEnd::Replaced(connected) => {
                let why = match connected.opener {
                    Opener::Me => "a connection this node dialled",
                    Opener::Peer => "a new connection from the peer",
                };
                info!(peer = %link.peer, "link replaced by {why}");
                next = Some(connected);
            }
            SessionEnd::Cut => {
                info!(peer = %link.peer, "link closed: cut by the operator");
            }
        }
    }
}

/// The link's dial under way, in a task of its own whose outcome arrives
/// like any other connection; aborted when the link is cut and when the
/// link's task ends.
#[derive(Default)]
struct Dialling(Option<AbortOnDropHandle<()>>);

impl Dialling {
    fn start(&mut self, node: &Arc<Node>, link: &Arc<Link>) {
        let (node, link) = (node.clone(), link.clone());
        self.0 = Some(AbortOnDropHandle::new(tokio::spawn(async move {
            let arrival = match dial(&node, &link).await {
                Ok(connected) => Arrival::Connected(Box::new(connected)),
                Err(err) => Arrival::DialFailed(err),
            };
            // The link's task is gone only when the node stops.
            let _ = link.incoming.send(arrival).await;
        })));
    }

    fn abort(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

fn report_dial_failure(node: &Node, link: &Link, err: &DialError, failures: u32) {
    link.note_error(&err.to_string());
    if let DialError::Refused(reason) = err {
        node.events
            .publish_with(EventClass::Link, || EventKind::Link {
                peer: link.peer.clone(),
                change: LinkChange::Refused,
                reason: Some(format!("refused by {}: {reason}", link.peer)),
            });
    }
    // The first failure is news; the retries every ~2 s are not.
    if failures == 1 {
        warn!(peer = %link.peer, "cannot connect to {}: {err}; retrying", link.peer_addr());
    } else {
        debug!(peer = %link.peer, "connect attempt {failures} failed: {err}");
    }
}

/// Waits until the operator restores the link. Connections that arrive
/// meanwhile (handed over just before the cut) are closed unused.
async fn stay_down(
    link: &Link,
    admin: &mut watch::Receiver<AdminState>,
    arrivals: &mut mpsc::Receiver<Arrival>,
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
            Some(arrival) = arrivals.recv() => {
                if let Arrival::Connected(_) = arrival {
                    debug!(peer = %link.peer, "closing a connection that arrived as the link was cut");
                }
            }
        }
    }
}
