//! The node's durable records: an append-only log in `DIR/NAME/records.log`.
//!
//! Every winning update is appended as one entry before the node answers or
//! floods it, with a single `write` to the file: once the client has its AT
//! reply, the update is in the operating system's hands, so `kill -9` cannot
//! lose it (power loss can, until the kernel writes it out; see
//! docs/operations.md).
//!
//! An entry is `length (u32 LE) | CRC-32 of the line (u32 LE) | AT line`.
//! At start-up the log is read entry by entry and checked:
//! - an entry whose checksum or line is wrong is skipped and logged, and
//!   reading goes on after it (one flipped bit must not cost the records
//!   after it);
//! - an entry cut short (a crash in the middle of a write) ends the log:
//!   those bytes are cut off the file, kept aside in `records.log.cut-N`,
//!   and logged. Never a crash.
//!
//! The newest record per client wins, as in memory. When most entries are
//! superseded, the log is rewritten with only the live records: a new file,
//! fsynced, renamed over the old, and the directory fsynced.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
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
    /// Set when a failed write could not be undone: later entries would sit
    /// behind half an entry, so nothing more is accepted.
    broken: Option<String>,
}

/// What start-up found in the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub entries: u64,
    pub records: usize,
    /// Damaged entries skipped.
    pub skipped: u64,
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
            broken: None,
        })
    }

    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovered.as_ref()
    }

    /// Replaces the log with one entry per live record. On failure the
    /// old log stays as it was.
    fn compact(&mut self, records: &Records) -> io::Result<()> {
        let temporary = self.path.with_extension("log.compacting");
        let mut bytes = Vec::new();
        for record in records.iter() {
            encode(record.at_line(), &mut bytes);
        }
        let written = File::create(&temporary)
            .and_then(|mut file| file.write_all(&bytes).and_then(|()| file.sync_all()));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(err);
        }
        std::fs::rename(&temporary, &self.path)?;
        sync_directory(&self.path);
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
        if let Some(why) = &self.broken {
            return Err(io::Error::other(why.clone()));
        }
        if record.at_line().len() > MAX_ENTRY {
            return Err(io::Error::other("record too long for the log"));
        }
        let mut entry = Vec::with_capacity(HEADER + record.at_line().len());
        encode(record.at_line(), &mut entry);
        if let Err(err) = self.file.write_all(&entry) {
            // Never leave half an entry in front of later good ones.
            if let Err(undo) = self.file.set_len(self.length) {
                let why = format!(
                    "{}: a failed write could not be undone ({undo}); refusing updates",
                    self.path.display()
                );
                tracing::error!("{why}");
                self.broken = Some(why);
            }
            return Err(err);
        }
        self.length += entry.len() as u64;
        self.entries += 1;
        Ok(())
    }

    fn written(&self) -> u64 {
        self.entries
    }

    fn sync_handle(&self) -> Option<File> {
        self.file.try_clone().ok()
    }

    fn load(&mut self) -> io::Result<Vec<Arc<Record>>> {
        let scan = scan(File::open(&self.path)?)?;
        let mut recovery = Recovery {
            entries: scan.entries,
            skipped: scan.skipped,
            ..Recovery::default()
        };
        if let Some(problem) = scan.problem {
            let total = self.file.metadata()?.len();
            let cut = total.saturating_sub(scan.good);
            let kept = self
                .path
                .with_extension(format!("log.cut-{}", crate::events::now_us()));
            warn!(
                "{}: {problem} at byte {}; cutting the last {cut} bytes off (kept in {})",
                self.path.display(),
                scan.good,
                kept.display()
            );
            keep_aside(&self.path, scan.good, &kept);
            self.file.set_len(scan.good)?;
            self.file.sync_all()?;
            recovery.cut = Some((cut, problem));
        }
        self.length = scan.good;
        self.entries = scan.entries;
        let records = scan.records;
        recovery.records = records.len();
        // Mostly superseded entries: keep only the live ones.
        if self.entries > 1024 && self.entries > 2 * records.len() as u64 {
            match self.compact(&records) {
                Ok(()) => recovery.compacted = true,
                Err(err) => warn!("{}: not compacted: {err}", self.path.display()),
            }
        }
        info!(
            "{}: recovered {} records from {} entries{}{}",
            self.path.display(),
            recovery.records,
            recovery.entries,
            if recovery.skipped > 0 {
                format!(", skipped {} damaged", recovery.skipped)
            } else {
                String::new()
            },
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
                let mut cut = r
                    .cut
                    .as_ref()
                    .map(|(bytes, why)| format!(", cut {bytes} bytes ({why})"))
                    .unwrap_or_default();
                if r.skipped > 0 {
                    cut.push_str(&format!(", skipped {} damaged entries", r.skipped));
                }
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

/// What start-up found, read entry by entry.
struct Scan {
    records: Records,
    /// Good entries read.
    entries: u64,
    /// Damaged entries skipped (checksum or line wrong, framing intact).
    skipped: u64,
    /// Where the last whole entry ends.
    good: u64,
    /// Why reading stopped before the end of the file, if it did.
    problem: Option<String>,
}

fn scan(file: File) -> io::Result<Scan> {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut scan = Scan {
        records: Records::default(),
        entries: 0,
        skipped: 0,
        good: 0,
        problem: None,
    };
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; HEADER];
        match read_full(&mut reader, &mut header)? {
            0 => return Ok(scan),
            HEADER => {}
            _ => {
                scan.problem = Some("torn entry header".to_owned());
                return Ok(scan);
            }
        }
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if length > MAX_ENTRY {
            scan.problem = Some(format!("impossible entry length {length}"));
            return Ok(scan);
        }
        payload.resize(length, 0);
        if read_full(&mut reader, &mut payload)? < length {
            scan.problem = Some("torn entry".to_owned());
            return Ok(scan);
        }
        let start = scan.good;
        scan.good += (HEADER + length) as u64;
        let record = (crc32fast::hash(&payload) == crc)
            .then(|| std::str::from_utf8(&payload).ok())
            .flatten()
            .and_then(|line| Record::parse_at_line(line).ok());
        match record {
            Some(record) => {
                scan.records.merge(Arc::new(record));
                scan.entries += 1;
            }
            None => {
                warn!("damaged log entry at byte {start} skipped");
                scan.skipped += 1;
            }
        }
    }
}

/// Reads until `buffer` is full or the input ends; how much was read.
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Copies the bytes from `from` to the end of `path` to `kept`, so a cut
/// can be looked at later. Best effort: the cut goes ahead regardless.
fn keep_aside(path: &Path, from: u64, kept: &Path) {
    let copied = std::fs::read(path).map(|bytes| {
        let start = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
        std::fs::write(kept, &bytes[start..])
    });
    if !matches!(copied, Ok(Ok(()))) {
        warn!("could not keep the cut bytes in {}", kept.display());
    }
}

/// Makes a rename durable (the directory entry), where the OS allows.
fn sync_directory(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
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

        // The cut bytes of the torn tail were kept aside.
        let kept = std::fs::read_dir(dir.path())?
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("records.log.cut-")
            })
            .count();
        assert_eq!(kept, 1);

        // A flipped bit in the first entry: it alone is skipped; the file
        // is not cut.
        let mut corrupt = whole.clone();
        corrupt[HEADER + 3] ^= 0x20;
        std::fs::write(&path, &corrupt)?;
        let mut store = LogStore::open(dir.path())?;
        let loaded = store.load()?;
        assert_eq!(lines(&loaded), lines(&[record("b", 1)]));
        assert!(
            store.describe().contains("skipped 1 damaged"),
            "{}",
            store.describe()
        );
        assert_eq!(std::fs::read(&path)?.len(), whole.len());

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
