//! Syncing the record log to disk by `[herd] fsync` (docs/operations.md).
//!
//! Every update is written to the operating system before its AT reply
//! whatever the policy (that is what `kill -9` needs). For power loss:
//! - `always`: the reply waits until an fsync covers its entry. One task
//!   runs the fsyncs, one at a time; every reply that started waiting while
//!   one ran is covered by the next, so under load one fsync serves many
//!   updates (group commit) and the rate of fsyncs, not of updates, is what
//!   the disk limits;
//! - a duration: the same task syncs that often when the log has grown;
//! - `off`: no fsync at all.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use herd_config::FsyncPolicy;
use tokio::sync::{Notify, watch};
use tracing::error;

pub struct GroupCommit {
    policy: FsyncPolicy,
    /// The log file (another handle to it), when the policy syncs at all;
    /// replaced when a compaction moves the log to a new file.
    file: Mutex<Option<Arc<File>>>,
    /// The policy syncs and there is a file to sync.
    enabled: bool,
    /// Entries written so far that should be synced.
    written: AtomicU64,
    /// Entries known to be on disk.
    synced: watch::Sender<u64>,
    wake: Notify,
    /// fsyncs done, and failed.
    pub syncs: AtomicU64,
    pub failures: AtomicU64,
    /// How long each fsync took (metrics).
    pub fsync_seconds: Option<prometheus::Histogram>,
}

impl GroupCommit {
    pub fn new(policy: FsyncPolicy, file: Option<File>) -> GroupCommit {
        let file = match policy {
            FsyncPolicy::Off => None,
            _ => file.map(Arc::new),
        };
        GroupCommit {
            policy,
            enabled: file.is_some(),
            file: Mutex::new(file),
            written: AtomicU64::new(0),
            synced: watch::Sender::new(0),
            wake: Notify::new(),
            syncs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            fsync_seconds: crate::metrics::fsync_histogram(),
        }
    }

    /// Whether the policy syncs at all, so that [`GroupCommit::run`] has
    /// work (with `fsync = "off"` it returns at once).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The log holds `entries` entries now (called after each write).
    pub fn written(&self, entries: u64) {
        if self.enabled {
            self.written.fetch_max(entries, Ordering::AcqRel);
            if self.policy == FsyncPolicy::Always {
                self.wake.notify_one();
            }
        }
    }

    /// Returns once the first `entries` entries are as durable as the
    /// policy promises an acknowledged update: at once unless `always`.
    pub async fn durable(&self, entries: u64) {
        // Every policy that syncs must know about the entry.
        self.written(entries);
        if self.policy != FsyncPolicy::Always || !self.enabled {
            return;
        }
        let mut synced = self.synced.subscribe();
        // Err only if the sender is gone, which it is not while we are.
        let _ = synced.wait_for(|&synced| synced >= entries).await;
    }

    /// The log moved to a new file (already fsynced whole).
    pub fn replace_file(&self, file: Option<File>) {
        if self.enabled {
            *self.file.lock().unwrap_or_else(|p| p.into_inner()) = file.map(Arc::new);
        }
    }

    /// The task that runs the fsyncs; returns at once when there are none.
    pub async fn run(self: Arc<Self>) {
        if !self.enabled {
            return;
        }
        let mut tick = match self.policy {
            FsyncPolicy::Every(every) => Some(tokio::time::interval(every)),
            _ => None,
        };
        loop {
            match &mut tick {
                Some(tick) => {
                    tick.tick().await;
                }
                None => self.wake.notified().await,
            }
            // Everything written up to here is covered by this fsync.
            let target = self.written.load(Ordering::Acquire);
            if target <= *self.synced.borrow() {
                continue;
            }
            let Some(handle) = self.file.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
                // No handle to the log after a compaction: nothing can be
                // synced. Said loudly and counted, as a failed fsync is.
                self.failures.fetch_add(1, Ordering::Relaxed);
                error!("cannot fsync the record log: no handle to it after a compaction");
                self.synced.send_replace(target);
                continue;
            };
            let timing = self.fsync_seconds.clone();
            let result = tokio::task::spawn_blocking(move || {
                let began = std::time::Instant::now();
                let synced = handle.sync_data();
                if let Some(histogram) = timing {
                    histogram.observe(began.elapsed().as_secs_f64());
                }
                synced
            })
            .await;
            self.syncs.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    error!(
                        "fsync of the record log failed: {err}; updates stay written to the OS and are held by the herd's other nodes"
                    );
                }
                Err(err) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    error!("fsync of the record log did not run: {err}");
                }
            }
            // Waiting replies go on either way: the update is in memory,
            // written to the OS and flooded; a reply held forever would
            // stall the client without making anything safer.
            self.synced.send_replace(target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn always_waits_for_an_fsync_and_groups_waiters() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = File::create(dir.path().join("log"))?;
        let commit = Arc::new(GroupCommit::new(FsyncPolicy::Always, Some(file)));
        tokio::spawn(commit.clone().run());
        // Many waiters at once: all answered, with far fewer fsyncs.
        let waiters: Vec<_> = (1..=200u64)
            .map(|n| {
                let commit = commit.clone();
                tokio::spawn(async move { commit.durable(n).await })
            })
            .collect();
        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(10), waiter)
                .await
                .map_err(|_| std::io::Error::other("a waiter was never answered"))??;
        }
        let syncs = commit.syncs.load(Ordering::Relaxed);
        assert!((1..=200).contains(&syncs), "{syncs} fsyncs");
        assert!(*commit.synced.borrow() >= 200);
        Ok(())
    }

    #[tokio::test]
    async fn off_and_periodic_never_hold_a_reply() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        for policy in [
            FsyncPolicy::Off,
            FsyncPolicy::Every(Duration::from_secs(3600)),
        ] {
            let file = File::create(dir.path().join("log"))?;
            let commit = GroupCommit::new(policy, Some(file));
            tokio::time::timeout(Duration::from_secs(1), commit.durable(5))
                .await
                .map_err(|_| std::io::Error::other("held"))?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_periodic_policy_syncs_what_replies_acknowledged() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = File::create(dir.path().join("log"))?;
        let commit = Arc::new(GroupCommit::new(
            FsyncPolicy::Every(Duration::from_millis(50)),
            Some(file),
        ));
        tokio::spawn(commit.clone().run());
        // A client's update goes through `durable`, which does not wait
        // here but must still get the entry synced.
        commit.durable(7).await;
        let mut synced = commit.synced.subscribe();
        tokio::time::timeout(Duration::from_secs(5), synced.wait_for(|&s| s >= 7))
            .await
            .map_err(|_| std::io::Error::other("never synced"))?
            .map_err(std::io::Error::other)?;
        Ok(())
    }

    #[tokio::test]
    async fn periodic_syncs_only_when_the_log_grew() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = File::create(dir.path().join("log"))?;
        let commit = Arc::new(GroupCommit::new(
            FsyncPolicy::Every(Duration::from_millis(100)),
            Some(file),
        ));
        tokio::spawn(commit.clone().run());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(commit.syncs.load(Ordering::Relaxed), 0);
        commit.written(3);
        let mut synced = commit.synced.subscribe();
        tokio::time::timeout(Duration::from_secs(1), synced.wait_for(|&s| s >= 3))
            .await
            .map_err(|_| std::io::Error::other("never synced"))?
            .map_err(std::io::Error::other)?;
        assert_eq!(commit.syncs.load(Ordering::Relaxed), 1);
        Ok(())
    }
}
