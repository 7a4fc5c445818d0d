//! The node's durable records: an append-only log in `DIR/NAME/records.log`.
//!
//! Every winning update is appended as one entry before the node answers or
//! floods it, with a single `write` to the file: once the client has its AT
//! reply, the update is in the operating system's hands, so `kill -9` cannot
//! lose it (power loss can, until the kernel writes it out; see
//! docs/operations.md).
//!
//! An entry is `length (u32 LE) | CRC-32 of the line (u32 LE) | AT line`.
//! At start-up the log is read and checked: entries are verified one by one,
//! and the first one that is torn (a crash mid-write) or corrupt ends the
//! log there: the rest is cut off, and the cut is logged, never a crash.
//! The newest record per client wins, as in memory. When most entries are
//! superseded, the log is rewritten with only the live records (atomically:
//! a new file renamed over the old).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use herd_core::Records;
use herd_proto::Record;
use tracing::{info, warn};

use crate::store::RecordStore;

pub const LOG_FILE: &str = "records.log";
const HEADER: usize = 8;
/// Longer than any AT line a node makes (client lines are at most 8 KiB).
const MAX_ENTRY: usize = 16 * 1024;

pub struct LogStore {
    path: PathBuf,
    file: File,
    /// Bytes of whole entries in the file: where the next one goes, and
    /// where the file is cut back to if a write fails half way.
    length: u64,
    entries: u64,
    recovered: Option<Recovery>,
}

/// What start-up found in the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub entries: u64,
    pub records: usize,
    /// Bytes cut off the end, and why.
    pub cut: Option<(u64, String)>,
    pub compacted: bool,
}

impl LogStore {
    /// Opens (or creates) the log in `dir`. Nothing is read until `load`.
    pub fn open(dir: &Path) -> io::Result<LogStore> {
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let length = file.metadata()?.len();
        Ok(LogStore {
            path,
            file,
            length,
            entries: 0,
            recovered: None,
        })
    }

    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovered.as_ref()
    }

    /// Replaces the log with one entry per live record.
    fn compact(&mut self, records: &Records) -> io::Result<()> {
        let temporary = self.path.with_extension("log.compacting");
        let mut bytes = Vec::new();
        for record in records.iter() {
            encode(record.at_line(), &mut bytes);
        }
        let mut file = File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        self.length = bytes.len() as u64;
        self.entries = records.len() as u64;
        Ok(())
    }
}

impl RecordStore for LogStore {
    fn save(&mut self, record: &Arc<Record>) -> io::Result<()> {
        let mut entry = Vec::with_capacity(HEADER + record.at_line().len());
        encode(record.at_line(), &mut entry);
        if let Err(err) = self.file.write_all(&entry) {
            // Never leave half an entry in front of later good ones.
            let _ = self.file.set_len(self.length);
            return Err(err);
        }
        self.length += entry.len() as u64;
        self.entries += 1;
        Ok(())
    }

    fn load(&mut self) -> io::Result<Vec<Arc<Record>>> {
        let bytes = std::fs::read(&self.path)?;
        let (found, good, problem) = decode_all(&bytes);
        let mut recovery = Recovery {
            entries: found.len() as u64,
            ..Recovery::default()
        };
        if let Some(problem) = problem {
            let cut = bytes.len() as u64 - good as u64;
            warn!(
                "{}: {problem} at byte {good}; cutting the last {cut} bytes off, keeping {} entries",
                self.path.display(),
                found.len()
            );
            self.file.set_len(good as u64)?;
            recovery.cut = Some((cut, problem));
        }
        self.length = good as u64;
        self.entries = found.len() as u64;
        let mut records = Records::default();
        for record in found {
            records.merge(Arc::new(record));
        }
        recovery.records = records.len();
        // Mostly superseded entries: keep only the live ones.
        if self.entries > 1024 && self.entries > 2 * records.len() as u64 {
            self.compact(&records)?;
            recovery.compacted = true;
        }
        info!(
            "{}: recovered {} records from {} entries{}",
            self.path.display(),
            recovery.records,
            recovery.entries,
            if recovery.compacted {
                " (compacted)"
            } else {
                ""
            }
        );
        self.recovered = Some(recovery);
        Ok(records.iter().cloned().collect())
    }

    fn describe(&self) -> String {
        let recovered = match &self.recovered {
            Some(r) => {
                let cut = r
                    .cut
                    .as_ref()
                    .map(|(bytes, why)| format!(", cut {bytes} bytes ({why})"))
                    .unwrap_or_default();
                format!(
                    ": recovered {} records from {} entries{cut}",
                    r.records, r.entries
                )
            }
            None => String::new(),
        };
        format!(
            "records in {} (written before each reply){recovered}",
            self.path.display()
        )
    }
}

fn encode(line: &str, out: &mut Vec<u8>) {
    let payload = line.as_bytes();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The records of every good entry, the length of the good prefix, and
/// what was wrong after it, if anything.
fn decode_all(bytes: &[u8]) -> (Vec<Record>, usize, Option<String>) {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < HEADER {
            return (records, at, Some("torn entry header".to_owned()));
        }
        let length = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if length > MAX_ENTRY {
            return (
                records,
                at,
                Some(format!("impossible entry length {length}")),
            );
        }
        let Some(payload) = rest.get(HEADER..HEADER + length) else {
            return (records, at, Some("torn entry".to_owned()));
        };
        if crc32fast::hash(payload) != crc {
            return (records, at, Some("checksum mismatch".to_owned()));
        }
        let record = std::str::from_utf8(payload)
            .ok()
            .and_then(|line| Record::parse_at_line(line).ok());
        let Some(record) = record else {
            return (records, at, Some("entry is not an AT line".to_owned()));
        };
        records.push(record);
        at += HEADER + length;
    }
    (records, at, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_proto::{Nanos, Request, parse_request};

    fn record(client: &str, time: u64) -> Arc<Record> {
        let line = format!("IAMAT {client} +1+2 {time}");
        let Some(Request::IAmAt(request)) = parse_request(&line) else {
            panic!("bad test line");
        };
        Arc::new(Record::from_iamat(
            "Clark",
            Nanos(time * 1_000_000_000 + 5),
            &request,
        ))
    }

    fn lines(records: &[Arc<Record>]) -> Vec<String> {
        let mut lines: Vec<String> = records.iter().map(|r| r.at_line().to_owned()).collect();
        lines.sort();
        lines
    }

    #[test]
    fn saved_records_come_back_newest_per_client() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut store = LogStore::open(dir.path())?;
        assert!(store.load()?.is_empty());
        let saved = [record("a", 1), record("b", 1), record("a", 2)];
        for r in &saved {
            store.save(r)?;
        }
        drop(store);
        let mut store = LogStore::open(dir.path())?;
        let loaded = store.load()?;
        assert_eq!(lines(&loaded), lines(&[saved[2].clone(), saved[1].clone()]));
        let recovery = store.recovery().cloned().unwrap_or_default();
        assert_eq!(
            (recovery.entries, recovery.records, recovery.cut),
            (3, 2, None)
        );
        // Appending after a load continues the same log.
        store.save(&record("c", 1))?;
        drop(store);
        assert_eq!(LogStore::open(dir.path())?.load()?.len(), 3);
        Ok(())
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_cut_and_the_rest_kept() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut store = LogStore::open(dir.path())?;
        store.load()?;
        store.save(&record("a", 1))?;
        store.save(&record("b", 1))?;
        drop(store);
        let path = dir.path().join(LOG_FILE);
        let whole = std::fs::read(&path)?;
        // A crash in the middle of the third write.
        let mut torn = whole.clone();
        let mut third = Vec::new();
        encode(record("c", 1).at_line(), &mut third);
        torn.extend_from_slice(&third[..third.len() / 2]);
        std::fs::write(&path, &torn)?;
        let mut store = LogStore::open(dir.path())?;
        assert_eq!(store.load()?.len(), 2);
        let cut = store.recovery().and_then(|r| r.cut.clone());
        assert_eq!(cut.map(|(bytes, _)| bytes), Some((third.len() / 2) as u64));
        assert_eq!(
            std::fs::read(&path)?,
            whole,
            "the torn tail is gone from the file"
        );
        drop(store);

        // A flipped bit in the second entry: only the first survives.
        let mut corrupt = whole.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0x20;
        std::fs::write(&path, &corrupt)?;
        let mut store = LogStore::open(dir.path())?;
        let loaded = store.load()?;
        assert_eq!(lines(&loaded), lines(&[record("a", 1)]));
        assert!(
            store.describe().contains("checksum mismatch"),
            "{}",
            store.describe()
        );

        // Garbage: nothing is kept, nothing panics.
        std::fs::write(&path, b"\xff\xff\xff\xff garbage")?;
        assert!(LogStore::open(dir.path())?.load()?.is_empty());
        Ok(())
    }

    #[test]
    fn a_log_of_mostly_superseded_entries_is_compacted() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut store = LogStore::open(dir.path())?;
        store.load()?;
        for time in 1..=3000 {
            store.save(&record(&format!("c{}", time % 10), time))?;
        }
        drop(store);
        let before = std::fs::metadata(dir.path().join(LOG_FILE))?.len();
        let mut store = LogStore::open(dir.path())?;
        let loaded = store.load()?;
        assert_eq!(loaded.len(), 10);
        assert!(store.recovery().is_some_and(|r| r.compacted));
        let after = std::fs::metadata(dir.path().join(LOG_FILE))?.len();
        assert!(after * 100 < before, "{after} vs {before}");
        store.save(&record("c1", 5000))?;
        drop(store);
        let reloaded = LogStore::open(dir.path())?.load()?;
        assert_eq!(reloaded.len(), 10);
        assert!(reloaded.iter().any(|r| r.at_line().ends_with(" 5000")));
        Ok(())
    }
}
