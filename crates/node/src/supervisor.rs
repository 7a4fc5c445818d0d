//! The node's long-lived tasks under one roof: listeners, links, the
//! admin server, group commit and store maintenance. A task that panics is
//! logged with its name and counted, and started again where that is safe
//! (every task the node runs is written to be: its state lives in the
//! shared `Node`, not in the task); none is spawned and forgotten. A clean
//! stop cancels them all and waits for them, with a deadline.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, warn};

/// What happens when a supervised task panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Started again after [`RESTART_DELAY`].
    OnPanic,
    /// Left stopped (logged and counted all the same).
    Never,
}

/// A panicking task is started again after this pause, so a task that
/// panics at once does not spin.
pub const RESTART_DELAY: Duration = Duration::from_millis(200);

#[derive(Clone, Default)]
pub struct Supervisor {
    tracker: TaskTracker,
    cancel: CancellationToken,
    panics: Arc<AtomicU64>,
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    /// Tasks that panicked so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Runs the task `make` builds, as `name`, until the supervisor stops
    /// (or the task returns: a long-lived task that ends is logged).
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, restart: Restart, mut make: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let cancel = self.cancel.clone();
        let panics = self.panics.clone();
        self.tracker.spawn(async move {
            loop {
                let mut task = tokio::spawn(make());
                let outcome = tokio::select! {
                    () = cancel.cancelled() => {
                        task.abort();
                        let _ = task.await;
                        return;
                    }
                    outcome = &mut task => outcome,
                };
                match outcome {
                    Ok(()) => {
                        warn!("task {name} ended");
                        return;
                    }
                    Err(err) if err.is_panic() => {
                        panics.fetch_add(1, Ordering::Relaxed);
                        let why = panic_message(err.into_panic());
                        if restart == Restart::Never {
                            error!("task {name} panicked: {why}; not restarted");
                            return;
                        }
                        error!("task {name} panicked: {why}; restarting it");
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            () = tokio::time::sleep(RESTART_DELAY) => {}
                        }
                    }
                    // Aborted from outside: nothing to restart.
                    Err(_) => return,
                }
            }
        });
    }

    /// Cancels every task and waits for them; false if some were still
    /// running at the deadline.
    pub async fn stop(&self, deadline: Duration) -> bool {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_owned(),
            Err(_) => "(no message)".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    #[tokio::test]
    async fn a_task_that_panics_is_counted_and_runs_again() {
        let supervisor = Supervisor::new();
        let runs = Arc::new(AtomicU32::new(0));
        let (up, mut is_up) = tokio::sync::watch::channel(false);
        let counted = runs.clone();
        supervisor.spawn("link to Bona", Restart::OnPanic, move || {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            let up = up.clone();
            async move {
                if run == 0 {
                    panic!("a bug in the link task");
                }
                up.send_replace(true);
                std::future::pending::<()>().await;
            }
        });
        let came_back =
            tokio::time::timeout(Duration::from_secs(5), is_up.wait_for(|up| *up)).await;
        assert!(came_back.is_ok(), "the task was not started again");
        assert_eq!(supervisor.panics(), 1);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(supervisor.stop(Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn a_task_not_to_restart_stays_stopped() {
        let supervisor = Supervisor::new();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        supervisor.spawn("once", Restart::Never, move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { panic!("gone") }
        });
        tokio::time::sleep(RESTART_DELAY * 3).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(supervisor.panics(), 1);
    }

    #[tokio::test]
    async fn stop_cancels_every_task_and_waits_for_them() {
        let supervisor = Supervisor::new();
        let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
        let mut guard = Some(dropped_tx);
        supervisor.spawn("forever", Restart::OnPanic, move || {
            // Dropped (the channel closes) when the task is cancelled.
            let held = guard.take();
            async move {
                let _held = held;
                std::future::pending::<()>().await;
            }
        });
        tokio::task::yield_now().await;
        assert!(supervisor.stop(Duration::from_secs(1)).await);
        assert!(dropped_rx.await.is_err(), "the task's state was dropped");
    }
}
