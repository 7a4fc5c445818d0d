//! `DIR/NAME/last-contact`: when this node last had a link to a peer up,
//! so that a node that was away longer than tombstones are kept knows it
//! after a restart too (herd-core's `NodeCore::back`). One line, the time
//! in seconds; written often while links are up (every few seconds, by the
//! maintenance tick), so it may lag: an older time only makes a returning
//! node discard more, which its peers give back by repair.

use std::io;
use std::path::{Path, PathBuf};

use herd_proto::Nanos;

pub const FILE: &str = "last-contact";

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The time saved, None when there is none (a new node, or one from
/// before this file). A file that cannot be read as a time counts as the
/// oldest time: the node then discards what it might wrongly keep.
pub fn load(path: &Path) -> Result<Option<Nanos>, io::Error> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            Ok(Some(Nanos::parse(text.trim()).unwrap_or(Nanos(0))))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Saves `at` (a new file renamed over the old: never half written).
pub fn save(path: &Path, at: Nanos) -> io::Result<()> {
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, format!("{}\n", at.to_seconds_text()))?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_time_comes_back_and_nothing_is_none() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = path_in(dir.path());
        assert_eq!(load(&path)?, None);
        save(&path, Nanos(1_800_000_000_123_456_789))?;
        assert_eq!(load(&path)?, Some(Nanos(1_800_000_000_123_456_789)));
        std::fs::write(&path, "garbage")?;
        assert_eq!(
            load(&path)?,
            Some(Nanos(0)),
            "unreadable: as long away as can be"
        );
        Ok(())
    }
}
