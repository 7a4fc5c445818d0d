//! The console's history across runs: one line per sent line, in the
//! user's state directory (`$XDG_STATE_HOME/herdctl/history`, else
//! `~/.local/state/herdctl/history`, as the XDG base directories say).
//! A file that cannot be read or written costs the history, never the
//! dashboard.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::views::console::HISTORY_LIMIT;

/// Where the history lives, from the environment; None without a home.
pub fn path_from(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let state = match var("XDG_STATE_HOME").filter(|dir| Path::new(dir).is_absolute()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(var("HOME").filter(|home| !home.is_empty())?).join(".local/state"),
    };
    Some(state.join("herdctl").join("history"))
}

/// The remembered lines, oldest first, each once (its newest use), at most
/// [`HISTORY_LIMIT`]. A file grown past twice that is rewritten shorter.
pub fn load(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut lines: Vec<String> = Vec::new();
    for line in all.iter().rev() {
        if lines.len() == HISTORY_LIMIT {
            break;
        }
        if !lines.iter().any(|l| l == line) {
            lines.push((*line).to_owned());
        }
    }
    lines.reverse();
    if all.len() > 2 * HISTORY_LIMIT {
        let mut text = lines.join("\n");
        text.push('\n');
        let _ = std::fs::write(path, text);
    }
    lines
}

/// Appends one sent line.
pub fn append(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    use std::os::unix::fs::OpenOptionsExt;
    // The lines may hold where clients were: the user's alone.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{}", line.replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_directory_follows_xdg() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            path_from(env(&[("XDG_STATE_HOME", "/s"), ("HOME", "/h")])),
            Some(PathBuf::from("/s/herdctl/history"))
        );
        assert_eq!(
            path_from(env(&[("XDG_STATE_HOME", "relative"), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.local/state/herdctl/history")),
            "a relative XDG path is ignored, as the spec says"
        );
        assert_eq!(path_from(env(&[])), None);
    }

    #[test]
    fn lines_come_back_once_each_newest_last() {
        let dir = std::env::temp_dir().join(format!("herdctl-history-{}", std::process::id()));
        let path = dir.join("herdctl/history");
        let _ = std::fs::remove_dir_all(&dir);
        for line in ["WHATSAT a 1 1", "IAMAT b +1+1 1", "WHATSAT a 1 1"] {
            append(&path, line).expect("append");
        }
        assert_eq!(load(&path), ["IAMAT b +1+1 1", "WHATSAT a 1 1"]);
        for n in 0..(2 * HISTORY_LIMIT + 5) {
            append(&path, &format!("line {n}")).expect("append");
        }
        let lines = load(&path);
        assert_eq!(lines.len(), HISTORY_LIMIT);
        assert_eq!(lines.last().map(String::as_str), Some("line 1004"));
        let kept = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert_eq!(kept, HISTORY_LIMIT, "the file was rewritten shorter");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
