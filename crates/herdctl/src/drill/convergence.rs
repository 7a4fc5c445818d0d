//! When the digests became equal: from a heal on, a task asks every node
//! until all answer with one digest and keeps the first moment they did,
//! so a drill that waits (or loads) after the heal still measures the
//! heal, not its own next look.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::herd::Herd;
use crate::status;

/// How often digests are compared while waiting for them to agree.
const POLL: Duration = Duration::from_millis(20);
const SNAPSHOT_LIMIT: Duration = Duration::from_secs(2);

/// A running watch; dropping it stops the task.
pub struct Convergence {
    from: Instant,
    seen: watch::Receiver<Option<Duration>>,
    task: JoinHandle<()>,
}

impl Drop for Convergence {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Convergence {
    /// Watches from now on; times are counted from `from` (the heal).
    pub fn start(herd: &Herd, from: Instant) -> Convergence {
        let (tell, seen) = watch::channel(None);
        let herd = herd.clone();
        let task = tokio::spawn(async move {
            loop {
                let report = status::collect(&herd, SNAPSHOT_LIMIT).await;
                if report.converged() {
                    let _ = tell.send(Some(from.elapsed()));
                    return;
                }
                tokio::time::sleep(POLL).await;
            }
        });
        Convergence { from, seen, task }
    }

    pub fn from(&self) -> Instant {
        self.from
    }

    /// The time from the heal to equal digests, waiting until `limit`
    /// after the heal at most; None when they were not equal by then (or
    /// the drill was cancelled).
    pub async fn within(
        &mut self,
        limit: Duration,
        cancel: &CancellationToken,
    ) -> Option<Duration> {
        let deadline = tokio::time::Instant::from_std(self.from + limit);
        let seen = async {
            match self.seen.wait_for(Option::is_some).await {
                Ok(seen) => *seen,
                Err(_) => None,
            }
        };
        tokio::select! {
            seen = seen => seen,
            () = tokio::time::sleep_until(deadline) => self.measured(),
            () = cancel.cancelled() => None,
        }
    }

    /// What it saw so far.
    pub fn measured(&self) -> Option<Duration> {
        *self.seen.borrow()
    }
}
