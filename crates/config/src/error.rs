use std::fmt;

/// A configuration problem, displayed on one line:
/// `herd.toml line 12: duplicate node name "Clark"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub source: String,
    pub line: Option<usize>,
    pub message: String,
}

impl ConfigError {
    pub fn new(source: &str, line: Option<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            source: source.to_owned(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "config {} line {}: {}", self.source, line, self.message),
            None => write!(f, "config {}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}
