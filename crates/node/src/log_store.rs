//! The node's durable records: an append-only log in `DIR/NAME/records.log`.
//!
//! Every winning update is appended as one entry, buffered
//! ([`RecordStore::append`]) and written in order with one `write` per
//! [`RecordStore::flush`]: a client's update before its AT reply goes out
//! (with those of every connection about to answer, `write_combiner.rs`),
//! so once the client has its reply the update is in the operating
//! system's hands and `kill -9` cannot lose it (power loss can, until the
//! kernel writes it out; see docs/operations.md); the updates one batch of
//! peer lines won at the end of the batch. A write that fails is cut back
//! and its entries kept for the next flush to try again (a client waiting
//! on them gets `?`); a peer's updates stay in memory meanwhile and are
//! forwarded, since their sender holds them.
//!
//! An entry is `length (u32 LE) | CRC-32 of the line (u32 LE) | line`, the
//! line an update's AT line or a tombstone's FORGET line (which holds a
//! hash of the client id, never the id).
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
//! fsynced, renamed over the old, and the directory fsynced. At start-up
//! that happens before the node serves; while it runs, a background thread
//! writes the live records as they were at one moment, entries saved
//! meanwhile are kept aside in memory, and the node's maintenance tick
//! (every 200 ms) appends them to the new file and swaps it in (see
//! [`LogStore::maintain`]).
//!
//! A tombstone makes the log due for a rewrite at once, whatever its size:
//! the forgotten client's lines must leave the files within seconds
//! (contract section 11). Until that rewrite is in place a marker file,
//! `records.purge`, says so, and a start-up finds it and rewrites first;
//! the rewrite also deletes the `records.log.cut-N` files, which may hold
//! the client's lines too.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use herd_core::Records;
use herd_proto::{Record, Tombstone};
use tracing::{info, warn};

use crate::store::RecordStore;

pub const LOG_FILE: &str = "records.log";
/// Present while a forgotten client's lines may still be in the files.
pub const PURGE_MARKER: &str = "records.purge";
const HEADER: usize = 8;
/// Longer than any AT line a node makes (client lines are at most 8 KiB).
const MAX_ENTRY: usize = 16 * 1024;
/// A log is compacted when it has more entries than this and more than
/// twice as many entries as live records.
const COMPACT_MIN_ENTRIES: u64 = 1024;
/// Appended entries kept for another try after failed writes; more and the
/// store refuses updates (a disk that keeps failing must not fill memory).
const MAX_PENDING_BYTES: usize = 64 << 20;

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
    /// Saves since the store was opened (never goes back, unlike
    /// `entries`, which a compaction lowers).
    saves: u64,
    /// Entries appended and not yet written, and how many.
    pending: Vec<u8>,
    pending_entries: u64,
    /// A compaction running in the background, if any.
    compaction: Option<Compaction>,
    /// After a failed compaction, the next waits until the log is this long.
    next_attempt_entries: u64,
    /// A tombstone was appended since the last compaction started: the
    /// next starts at once...
    purge_wanted: bool,
    /// ...unless a compaction failed a moment ago (a full disk is not
    /// rewritten every tick).
    purge_retry_at: Option<Instant>,
}

/// How long after a failed compaction a purge is tried again.
const PURGE_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// What a compaction writes: the live records and tombstones at one moment.
struct Snapshot {
    records: Vec<Arc<Record>>,
    tombstones: Vec<Tombstone>,
}

impl Snapshot {
    fn of(records: &Records) -> Snapshot {
        Snapshot {
            records: records.iter().cloned().collect(),
            tombstones: records.tombstones().copied().collect(),
        }
    }
}

/// A rewrite of the log under way on its own thread.
struct Compaction {
    /// Writes the snapshot to the temporary file: (bytes, entries).
    writer: JoinHandle<io::Result<(u64, u64)>>,
    temporary: PathBuf,
    /// Entries saved since the snapshot, for the end of the new file.
    tail: Vec<u8>,
    tail_entries: u64,
    started: Instant,
    old_entries: u64,
    /// Started for a tombstone: the purge is done when it is swapped in.
    purge: bool,
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
        // Left by a compaction that a stop interrupted; the log is whole.
        let _ = std::fs::remove_file(path.with_extension("log.compacting"));
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
            saves: 0,
            pending: Vec::new(),
            pending_entries: 0,
            compaction: None,
            next_attempt_entries: 0,
            purge_wanted: false,
            purge_retry_at: None,
        })
    }

    fn marker_path(&self) -> PathBuf {
        self.path.with_file_name(PURGE_MARKER)
    }

    /// The forgotten clients' lines are out of the log: the marker and
    /// the cut-off bytes kept aside (which may hold them too) go.
    fn purged(&self) {
        if let Some(dir) = self.path.parent()
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            let cut_prefix = format!("{LOG_FILE}.cut-");
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&cut_prefix) {
                    match std::fs::remove_file(entry.path()) {
                        Ok(()) => info!(
                            "{}: deleted, as it may hold a forgotten client's lines",
                            entry.path().display()
                        ),
                        Err(err) => warn!("{}: not deleted: {err}", entry.path().display()),
                    }
                }
            }
        }
        if let Err(err) = std::fs::remove_file(self.marker_path())
            && err.kind() != io::ErrorKind::NotFound
        {
            warn!("{}: not deleted: {err}", self.marker_path().display());
        }
        info!(
            "{}: rewritten without the forgotten clients' lines",
            self.path.display()
        );
    }

    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovered.as_ref()
    }

    /// Replaces the log with one entry per live record. On failure the
    /// old log stays as it was.
    fn compact(&mut self, records: &Records) -> io::Result<()> {
        let temporary = self.temporary_path();
        let (length, entries) = write_snapshot(&temporary, &Snapshot::of(records))?;
        let file = open_for_append(&temporary)?;
        self.swap_in(&temporary, file)?;
        self.length = length;
        self.entries = entries;
        Ok(())
    }

    fn temporary_path(&self) -> PathBuf {
        self.path.with_extension("log.compacting")
    }

    /// Renames `temporary` over the log and writes to `file` (opened on
    /// it before, so nothing can fail between the rename and the switch).
    fn swap_in(&mut self, temporary: &Path, file: File) -> io::Result<()> {
        std::fs::rename(temporary, &self.path)?;
        self.file = file;
        if let Err(err) = sync_directory(&self.path) {
            // The new log is in place and in use; only a power cut before
            // the kernel writes the directory out could bring the old back.
            tracing::error!(
                "{}: the rename of the compacted log may not be on disk yet: {err}",
                self.path.display()
            );
        }
        Ok(())
    }

    fn wants_compaction(&self, live: usize) -> bool {
        let purge_due =
            self.purge_wanted && self.purge_retry_at.is_none_or(|at| Instant::now() >= at);
        purge_due
            || (self.entries > COMPACT_MIN_ENTRIES
                && self.entries > 2 * live as u64
                && self.entries >= self.next_attempt_entries)
    }

    /// Starts a background rewrite of the log with `records` (called under
    /// the node's state lock, so the snapshot and the tail agree).
    fn start_compaction(&mut self, records: &Records) {
        // Entries appended before the snapshot go to the old file now, not
        // to the new one's tail: the snapshot holds what they stand for,
        // and a forgotten client's lines appended just before its forget
        // would survive the purge there.
        self.flush_or_warn();
        if !self.pending.is_empty() {
            return; // the write failed: tried again at the next maintain
        }
        let temporary = self.temporary_path();
        // A pointer per record, under the node's lock: the only pause.
        let started = Instant::now();
        let snapshot = Snapshot::of(records);
        let pause = started.elapsed();
        let purge = std::mem::take(&mut self.purge_wanted);
        let target = temporary.clone();
        let writer = std::thread::Builder::new()
            .name("log-compaction".to_owned())
            .spawn(move || write_snapshot(&target, &snapshot));
        match writer {
            Ok(writer) => {
                info!(
                    "{}: compacting {} entries to {} records in the background (snapshot took {} µs)",
                    self.path.display(),
                    self.entries,
                    records.len(),
                    pause.as_micros()
                );
                self.compaction = Some(Compaction {
                    writer,
                    temporary,
                    tail: Vec::new(),
                    tail_entries: 0,
                    started: Instant::now(),
                    old_entries: self.entries,
                    purge,
                });
            }
            Err(err) => {
                self.purge_wanted |= purge;
                self.compaction_failed(&err);
            }
        }
    }

    /// Appends what was saved meanwhile to the new file and swaps it in.
    fn finish_compaction(&mut self, compaction: Compaction) -> io::Result<()> {
        let (length, entries) = compaction
            .writer
            .join()
            .map_err(|_| io::Error::other("the compaction thread panicked"))??;
        let tail = &compaction.tail;
        let mut file = open_for_append(&compaction.temporary)?;
        file.write_all(tail)?;
        file.sync_all()?;
        self.swap_in(&compaction.temporary, file)?;
        // A tombstone that came meanwhile wants another rewrite: the
        // snapshot may hold its client.
        if compaction.purge && !self.purge_wanted {
            self.purged();
        }
        let old_length = self.length;
        self.length = length + tail.len() as u64;
        self.entries = entries + compaction.tail_entries;
        info!(
            "{}: compacted {} entries ({:.1} MB) to {} ({:.1} MB) in {} ms",
            self.path.display(),
            compaction.old_entries + compaction.tail_entries,
            old_length as f64 / 1e6,
            self.entries,
            self.length as f64 / 1e6,
            compaction.started.elapsed().as_millis()
        );
        Ok(())
    }

    fn compaction_failed(&mut self, err: &dyn std::fmt::Display) {
        warn!(
            "{}: compaction failed, keeping the log as it is: {err}",
            self.path.display()
        );
        let _ = std::fs::remove_file(self.temporary_path());
        self.next_attempt_entries = self.entries.saturating_mul(2);
        self.purge_retry_at = Some(Instant::now() + PURGE_RETRY);
    }

    /// Writes `count` encoded entries with one `write`.
    fn write_entries(&mut self, entry: &[u8], count: u64) -> io::Result<()> {
        if let Err(err) = self.file.write_all(entry) {
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
        self.entries += count;
        self.saves += count;
        if let Some(compaction) = &mut self.compaction {
            compaction.tail.extend_from_slice(entry);
            compaction.tail_entries += count;
        }
        Ok(())
    }

    /// Buffers one line as an entry (see [`RecordStore::append`]).
    fn append_line(&mut self, line: &str) -> io::Result<()> {
        if let Some(why) = &self.broken {
            return Err(io::Error::other(why.clone()));
        }
        if line.len() > MAX_ENTRY {
            return Err(io::Error::other("record too long for the log"));
        }
        encode(line, &mut self.pending);
        self.pending_entries += 1;
        Ok(())
    }
}

impl LogStore {
    /// Writes what was appended, or says in the log why it could not.
    fn flush_or_warn(&mut self) {
        if let Err(err) = self.flush() {
            warn!(
                "{}: appended entries not written: {err}",
                self.path.display()
            );
        }
    }
}

impl Drop for LogStore {
    /// Appended entries are written even when the node stops in the middle
    /// of a batch.
    fn drop(&mut self) {
        self.flush_or_warn();
    }
}

impl RecordStore for LogStore {
    fn append(&mut self, record: &Arc<Record>) -> io::Result<()> {
        self.append_line(record.at_line())
    }

    fn append_tombstone(&mut self, tombstone: &Tombstone) -> io::Result<()> {
        self.append_line(&tombstone.to_line())?;
        self.purge_soon();
        Ok(())
    }

    fn purge_soon(&mut self) {
        if !self.purge_wanted {
            self.purge_wanted = true;
            // Empty: its being there is what counts, at a start-up after a
            // crash (or a power cut: synced) before the rewrite.
            let marker = self.marker_path();
            let made = File::create(&marker)
                .and_then(|file| file.sync_all())
                .and_then(|()| sync_directory(&marker));
            if let Err(err) = made {
                warn!("{}: not created: {err}", marker.display());
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(why) = &self.broken {
            return Err(io::Error::other(why.clone()));
        }
        let batch = std::mem::take(&mut self.pending);
        let written = self.write_entries(&batch, self.pending_entries);
        // The buffer is kept for the next batch (no allocation per batch);
        // after a failure it still holds the entries, for the next try.
        self.pending = batch;
        match written {
            Ok(()) => {
                self.pending.clear();
                self.pending_entries = 0;
            }
            Err(_) if self.pending.len() > MAX_PENDING_BYTES => {
                let why = format!(
                    "{}: {} entries could not be written; refusing updates",
                    self.path.display(),
                    self.pending_entries
                );
                tracing::error!("{why}");
                self.broken = Some(why);
            }
            Err(_) => {}
        }
        written
    }

    fn appended(&self) -> u64 {
        self.saves + self.pending_entries
    }

    fn maintain(&mut self, records: &Records, finish: bool) -> bool {
        // The swap below changes files: nothing may be held back for the
        // old one.
        if finish {
            self.flush_or_warn();
        }
        let finished = finish
            && self
                .compaction
                .as_ref()
                .is_some_and(|compaction| compaction.writer.is_finished());
        if finished && let Some(compaction) = self.compaction.take() {
            let purge = compaction.purge;
            return match self.finish_compaction(compaction) {
                Ok(()) => true,
                Err(err) => {
                    // The purge is still owed.
                    self.purge_wanted |= purge;
                    self.compaction_failed(&err);
                    false
                }
            };
        }
        if self.compaction.is_none()
            && self.broken.is_none()
            && self.wants_compaction(records.len())
        {
            self.start_compaction(records);
        }
        false
    }

    fn written(&self) -> u64 {
        self.saves
    }

    fn bytes(&self) -> u64 {
        self.length
    }

    fn broken(&self) -> Option<String> {
        self.broken.clone()
    }

    fn sync_handle(&self) -> Option<File> {
        self.file.try_clone().ok()
    }

    fn load(&mut self) -> io::Result<Records> {
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
        // A forget whose rewrite a stop or crash interrupted.
        self.purge_wanted = self.marker_path().exists();
        // Mostly superseded entries: keep only the live ones.
        if self.wants_compaction(records.len()) {
            match self.compact(&records) {
                Ok(()) => {
                    recovery.compacted = true;
                    if std::mem::take(&mut self.purge_wanted) {
                        self.purged();
                    }
                }
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
        Ok(records)
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

/// Entries are at least this long on average (an AT line is rarely under
/// 50 bytes), so the file's length bounds how many records to make room for.
const SMALLEST_ENTRY: u64 = 64;
/// Room made for at most this many records at once (a huge log of
/// superseded entries must not reserve more than it will use).
const MOST_RESERVED: u64 = 16 << 20;

fn scan(file: File) -> io::Result<Scan> {
    let expected = (file.metadata()?.len() / SMALLEST_ENTRY).min(MOST_RESERVED);
    let mut scan = Scan {
        records: Records::with_capacity(usize::try_from(expected).unwrap_or(0)),
        entries: 0,
        skipped: 0,
        good: 0,
        problem: None,
    };
    // Reading, checking and parsing the entries (a thread of its own) and
    // indexing them (here) take about as long each: on two cores, in
    // parallel, a batch at a time.
    let (batches, parsed) = std::sync::mpsc::sync_channel::<io::Result<Batch>>(4);
    std::thread::scope(|threads| {
        threads.spawn(move || read_entries(file, &batches));
        for batch in parsed {
            match batch? {
                Batch::Entries(entries) => {
                    for entry in entries {
                        match entry {
                            Entry::Record(record) => {
                                scan.records.merge(Arc::new(record));
                                scan.entries += 1;
                            }
                            Entry::Tombstone(tombstone) => {
                                scan.records.forget(tombstone);
                                scan.entries += 1;
                            }
                            Entry::Damaged { at } => {
                                warn!("damaged log entry at byte {at} skipped");
                                scan.skipped += 1;
                            }
                        }
                    }
                }
                Batch::End { good, problem } => {
                    scan.good = good;
                    scan.problem = problem;
                }
            }
        }
        Ok(scan)
    })
}

/// Entries parsed at a time.
const BATCH: usize = 4096;

/// What the reading thread hands over.
enum Batch {
    Entries(Vec<Entry>),
    /// The end: where the last whole entry ends, and why reading stopped
    /// before the end of the file, if it did.
    End {
        good: u64,
        problem: Option<String>,
    },
}

enum Entry {
    Record(Record),
    Tombstone(Tombstone),
    /// Checksum or line wrong, framing intact: skipped.
    Damaged {
        at: u64,
    },
}

/// Reads the log entry by entry, checks and parses each, and sends them in
/// batches; the last message is [`Batch::End`] (or an error).
fn read_entries(file: File, out: &std::sync::mpsc::SyncSender<io::Result<Batch>>) {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut good = 0u64;
    let mut payload = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    let problem = loop {
        let mut header = [0u8; HEADER];
        match read_full(&mut reader, &mut header) {
            Ok(0) => break None,
            Ok(HEADER) => {}
            Ok(_) => break Some("torn entry header".to_owned()),
            Err(err) => {
                let _ = out.send(Err(err));
                return;
            }
        }
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if length > MAX_ENTRY {
            break Some(format!("impossible entry length {length}"));
        }
        payload.resize(length, 0);
        match read_full(&mut reader, &mut payload) {
            Ok(n) if n < length => break Some("torn entry".to_owned()),
            Ok(_) => {}
            Err(err) => {
                let _ = out.send(Err(err));
                return;
            }
        }
        let start = good;
        good += (HEADER + length) as u64;
        let entry = (crc32fast::hash(&payload) == crc)
            .then(|| std::str::from_utf8(&payload).ok())
            .flatten()
            .and_then(|line| {
                if line.starts_with("FORGET ") {
                    Tombstone::parse_line(line).ok().map(Entry::Tombstone)
                } else {
                    Record::parse_at_line(line).ok().map(Entry::Record)
                }
            });
        batch.push(entry.unwrap_or(Entry::Damaged { at: start }));
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if out.send(Ok(Batch::Entries(full))).is_err() {
                return;
            }
        }
    };
    if !batch.is_empty() && out.send(Ok(Batch::Entries(batch))).is_err() {
        return;
    }
    let _ = out.send(Ok(Batch::End { good, problem }));
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

/// Writes one entry per tombstone and record to a new file at `path`,
/// fsynced: (bytes, entries). On failure the file is removed.
fn write_snapshot(path: &Path, snapshot: &Snapshot) -> io::Result<(u64, u64)> {
    let written = File::create(path).and_then(|file| {
        let mut out = io::BufWriter::with_capacity(1 << 20, file);
        let mut entry = Vec::with_capacity(256);
        let mut length = 0u64;
        let lines = snapshot
            .tombstones
            .iter()
            .map(|tombstone| std::borrow::Cow::Owned(tombstone.to_line()))
            .chain(
                snapshot
                    .records
                    .iter()
                    .map(|record| std::borrow::Cow::Borrowed(record.at_line())),
            );
        for line in lines {
            entry.clear();
            encode(&line, &mut entry);
            out.write_all(&entry)?;
            length += entry.len() as u64;
        }
        let file = out.into_inner().map_err(|err| err.into_error())?;
        file.sync_all()?;
        Ok((
            length,
            (snapshot.records.len() + snapshot.tombstones.len()) as u64,
        ))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

fn open_for_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).append(true).open(path)
}

/// Makes a rename durable (the directory entry).
fn sync_directory(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
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

    fn lines<'a>(records: impl IntoIterator<Item = &'a Arc<Record>>) -> Vec<String> {
        let mut lines: Vec<String> = records
            .into_iter()
            .map(|r| r.at_line().to_owned())
            .collect();
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
        assert_eq!(
            lines(loaded.iter()),
            lines(&[saved[2].clone(), saved[1].clone()])
        );
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
        assert_eq!(lines(loaded.iter()), lines(&[record("b", 1)]));
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
    fn a_log_of_many_batches_loads_whole_with_its_damage_where_it_was() -> io::Result<()> {
        // Entries are parsed on a thread of their own, BATCH at a time: a
        // log of several batches, a damaged entry in the middle of one and
        // a torn tail must come back as in a read of one entry at a time.
        let dir = tempfile::tempdir()?;
        let count = 3 * BATCH + 17;
        let mut bytes = Vec::new();
        let mut damaged_at = 0;
        for n in 0..count {
            if n == BATCH + 5 {
                damaged_at = bytes.len();
            }
            encode(record(&format!("c{n}"), 1).at_line(), &mut bytes);
        }
        bytes[damaged_at + HEADER + 1] ^= 0x01;
        let whole = bytes.len();
        bytes.extend_from_slice(&[9, 0, 0]);
        std::fs::write(dir.path().join(LOG_FILE), &bytes)?;
        let mut store = LogStore::open(dir.path())?;
        let loaded = store.load()?;
        assert_eq!(loaded.len(), count - 1);
        assert!(
            loaded.get(&format!("c{}", BATCH + 5)).is_none(),
            "the damaged one"
        );
        assert!(
            loaded.get(&format!("c{}", count - 1)).is_some(),
            "the last one"
        );
        let recovery = store.recovery().cloned().unwrap_or_default();
        assert_eq!(
            (recovery.entries, recovery.skipped),
            ((count - 1) as u64, 1)
        );
        assert_eq!(recovery.cut.map(|(bytes, _)| bytes), Some(3));
        assert_eq!(
            std::fs::metadata(dir.path().join(LOG_FILE))?.len(),
            whole as u64
        );
        Ok(())
    }

    /// Saves and maintains like the node does, with the records in memory.
    fn save_and_maintain(
        store: &mut LogStore,
        records: &mut Records,
        record: Arc<Record>,
    ) -> io::Result<bool> {
        store.save(&record)?;
        records.merge(record);
        Ok(store.maintain(records, true))
    }

    #[test]
    fn a_running_log_is_compacted_in_the_background_keeping_saves_made_meanwhile() -> io::Result<()>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(LOG_FILE);
        let mut store = LogStore::open(dir.path())?;
        store.load()?;
        let mut records = Records::default();
        let mut time = 0;
        // 10 clients moving: the log outgrows twice the live records.
        while store.compaction.is_none() {
            time += 1;
            assert!(time < 10_000, "never started compacting");
            save_and_maintain(
                &mut store,
                &mut records,
                record(&format!("c{}", time % 10), time),
            )?;
        }
        assert_eq!(time, 1025);
        // Saved while the thread writes: must end up in the new file.
        let during = [record("c1", 5000), record("new", 5000)];
        for r in &during {
            store.save(r)?;
            records.merge(r.clone());
        }
        let written_before = store.written();
        let mut swapped = false;
        for _ in 0..500 {
            if store.maintain(&records, true) {
                swapped = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(swapped, "the compaction never finished");
        assert_eq!(store.entries, 12, "10 live clients + 2 saved meanwhile");
        assert_eq!(std::fs::metadata(&path)?.len(), store.length);
        // The group-commit counter never goes back.
        assert_eq!(store.written(), written_before);
        // Appending goes on in the new file.
        store.save(&record("after", 6000))?;
        records.merge(record("after", 6000));
        drop(store);
        let mut reopened = LogStore::open(dir.path())?;
        let loaded = reopened.load()?;
        let live: Vec<Arc<Record>> = records.iter().cloned().collect();
        assert_eq!(lines(loaded.iter()), lines(&live));
        assert_eq!(reopened.recovery().map(|r| r.entries), Some(13));
        assert!(!dir.path().join("records.log.compacting").exists());
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

    fn tombstone(client: &str, time: u64) -> Tombstone {
        Tombstone {
            leaf: herd_core::digest_tree::leaf_of(client),
            client: herd_proto::ClientHash::of(client),
            time: Nanos(time * 1_000_000_000),
        }
    }

    /// Files of `dir` whose bytes hold `needle`.
    fn holding(dir: &Path, needle: &str) -> Vec<String> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| {
                std::fs::read(entry.path()).is_ok_and(|bytes| {
                    bytes
                        .windows(needle.len())
                        .any(|window| window == needle.as_bytes())
                })
            })
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// The node's maintenance tick, until the purge is in place; then no
    /// file holds the victim.
    fn purge_while_running(store: &mut LogStore, records: &Records, dir: &Path) {
        let started = Instant::now();
        while dir.join(PURGE_MARKER).exists() {
            assert!(started.elapsed().as_secs() < 10, "never purged");
            store.maintain(records, true);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(holding(dir, "victim"), Vec::<String>::new());
    }

    #[test]
    fn a_tombstone_purges_its_client_from_the_files_while_the_node_runs() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut store = LogStore::open(dir.path())?;
        let mut records = store.load()?;
        for saved in [record("victim", 1), record("other", 1), record("victim", 2)] {
            store.save(&saved)?;
            records.merge(saved);
        }
        std::fs::write(dir.path().join("records.log.cut-7"), "AT Clark victim")?;
        let forget = tombstone("victim", 3);
        store.append_tombstone(&forget)?;
        store.flush()?;
        records.forget(forget);
        assert!(dir.path().join(PURGE_MARKER).exists());
        assert!(!holding(dir.path(), "victim").is_empty());
        purge_while_running(&mut store, &records, dir.path());
        drop(store);
        let loaded = LogStore::open(dir.path())?.load()?;
        assert!(loaded.get("victim").is_none());
        assert!(loaded.get("other").is_some());
        assert_eq!(loaded.tombstone_count(), 1, "the tombstone is kept");
        assert_eq!(loaded.digest(), records.digest());
        Ok(())
    }

    #[test]
    fn lines_appended_just_before_the_forget_do_not_survive_the_purge() -> io::Result<()> {
        // A peer's batch: the client's update and its tombstone appended,
        // the purge started (on the save path) before the batch is written.
        let dir = tempfile::tempdir()?;
        let mut store = LogStore::open(dir.path())?;
        let mut records = store.load()?;
        store.save(&record("other", 1))?;
        records.merge(record("other", 1));
        let update = record("victim", 1);
        store.append(&update)?;
        records.merge(update);
        let forget = tombstone("victim", 3);
        store.append_tombstone(&forget)?;
        records.forget(forget);
        store.maintain(&records, false);
        store.flush()?;
        purge_while_running(&mut store, &records, dir.path());
        drop(store);
        let loaded = LogStore::open(dir.path())?.load()?;
        assert_eq!(loaded.digest(), records.digest());
        Ok(())
    }

    #[test]
    fn a_purge_that_a_stop_interrupted_is_done_at_start_up() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut store = LogStore::open(dir.path())?;
        store.load()?;
        store.save(&record("victim", 1))?;
        store.save(&record("other", 1))?;
        store.append_tombstone(&tombstone("victim", 3))?;
        store.flush()?;
        drop(store);
        assert!(!holding(dir.path(), "victim").is_empty());
        let mut store = LogStore::open(dir.path())?;
        let loaded = store.load()?;
        assert!(store.recovery().is_some_and(|r| r.compacted));
        assert!(!dir.path().join(PURGE_MARKER).exists());
        assert_eq!(holding(dir.path(), "victim"), Vec::<String>::new());
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded.tombstone_count(), 1);
        Ok(())
    }
}
