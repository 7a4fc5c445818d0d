//! `[log] keep`: the daily files (`node.YYYY-MM-DD.log`, UTC) older than
//! `keep` are deleted, by the date in their names: at start-up and every
//! hour while the node runs. A file of day D holds that day's lines, so
//! it goes once D is more than `keep` days before today: with `keep =
//! "7d"`, today's file and the 7 before it stay.

use std::path::PathBuf;
use std::time::Duration;

use time::{Date, Month, OffsetDateTime};
use tracing::{info, warn};

use super::{ROTATED_PREFIX, ROTATED_SUFFIX};

/// How often a running node looks for files to delete.
const EVERY: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone)]
pub struct Retention {
    pub dir: PathBuf,
    pub keep_days: u32,
}

impl Retention {
    /// Deletes what is too old now, and logs what it deleted.
    pub fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let names = entries.filter_map(|entry| entry.ok()?.file_name().into_string().ok());
        let today = OffsetDateTime::now_utc().date();
        let mut deleted = Vec::new();
        for name in expired(names, today, self.keep_days) {
            match std::fs::remove_file(self.dir.join(&name)) {
                Ok(()) => deleted.push(name),
                Err(err) => warn!("log retention: cannot delete {name}: {err}"),
            }
        }
        if !deleted.is_empty() {
            info!(
                "log retention (keep {} days): deleted {}",
                self.keep_days,
                deleted.join(", ")
            );
        }
    }

    /// Prunes every hour, for as long as the node runs.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let retention = self.clone();
            let _ = tokio::task::spawn_blocking(move || retention.prune()).await;
        }
    }
}

/// The daily log files among `names` whose day is more than `keep_days`
/// before `today`.
pub fn expired(names: impl Iterator<Item = String>, today: Date, keep_days: u32) -> Vec<String> {
    let oldest_kept = today
        .checked_sub(time::Duration::days(i64::from(keep_days)))
        .unwrap_or(Date::MIN);
    let mut old: Vec<String> = names
        .filter(|name| day_of(name).is_some_and(|day| day < oldest_kept))
        .collect();
    old.sort();
    old
}

/// The day of `node.YYYY-MM-DD.log`; None for any other name.
fn day_of(name: &str) -> Option<Date> {
    let date = name
        .strip_prefix(ROTATED_PREFIX)?
        .strip_prefix('.')?
        .strip_suffix(ROTATED_SUFFIX)?
        .strip_suffix('.')?;
    let mut parts = date.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: Month, day: u8) -> Date {
        Date::from_calendar_date(year, month, day).unwrap_or(Date::MIN)
    }

    #[test]
    fn files_older_than_keep_go_by_the_date_in_their_names() {
        let names = [
            "node.2026-11-23.log",
            "node.2026-11-24.log",
            "node.2026-12-01.log",
            "node.2026-11-30.log",
            "node.log",
            "records.log",
            "node.2026-13-01.log",
            "node.2026-11-01.log.gz",
            "node.20261101.log",
        ]
        .map(str::to_owned);
        let today = date(2026, Month::December, 1);
        assert_eq!(
            expired(names.iter().cloned(), today, 7),
            ["node.2026-11-23.log"]
        );
        assert_eq!(
            expired(names.iter().cloned(), today, 1),
            ["node.2026-11-23.log", "node.2026-11-24.log"]
        );
        // Across a month and a year: today's and yesterday's stay.
        let new_year = date(2027, Month::January, 2);
        let old = ["node.2026-12-31.log", "node.2027-01-01.log"].map(str::to_owned);
        assert_eq!(
            expired(old.iter().cloned(), new_year, 1),
            ["node.2026-12-31.log"]
        );
        assert_eq!(expired(old.into_iter(), new_year, 2), Vec::<String>::new());
    }
}
