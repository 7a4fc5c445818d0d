//! The operator's link states (which links are cut), kept in
//! `DIR/NAME/links.json` so that a cut link stays cut across a restart.
//!
//! The file holds `{"down": ["Jaquez"]}`. It is replaced atomically (write a
//! temporary file, then rename), so a crash leaves the old or the new file,
//! never half of one.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const LINK_STATES_FILE: &str = "links.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct LinkStates {
    #[serde(default)]
    down: Vec<String>,
}

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(LINK_STATES_FILE)
}

/// The peers whose links the operator cut. A missing file means none.
pub fn load(path: &Path) -> io::Result<Vec<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let states: LinkStates = serde_json::from_str(&text)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err.to_string()))?;
    Ok(states.down)
}

pub fn save(path: &Path, down: Vec<String>) -> io::Result<()> {
    let text = serde_json::to_string(&LinkStates { down })
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err.to_string()))?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text + "\n")?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_missing_file_means_all_up() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("herd-link-states-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = path_in(&dir);
        let _ = std::fs::remove_file(&path);
        assert!(load(&path)?.is_empty());
        save(&path, vec!["Jaquez".to_owned(), "Bona".to_owned()])?;
        assert_eq!(load(&path)?, ["Jaquez", "Bona"]);
        std::fs::write(&path, "{not json")?;
        assert!(load(&path).is_err());
        std::fs::remove_dir_all(&dir)
    }
}
