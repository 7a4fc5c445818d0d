//! The herd's configuration (contract section 3).
//!
//! [`Config::parse`] turns TOML text into a validated [`Config`] or a
//! [`ConfigError`] whose one-line message names the file and line.
//! Environment overrides (`HERD_SECRET` (one secret, replacing the list), `HERD_ADMIN_TOKEN`,
//! `GOOGLE_PLACES_API_KEY`) are applied by [`Config::apply_env`].

mod address;
mod error;
mod model;
mod raw;
pub mod reload;
mod secret;
mod tls;
mod validate;

pub use address::{Address, AddressError};
pub use error::ConfigError;
pub use model::{
    ClientSettings, Config, DashboardSettings, DashboardTheme, FsyncPolicy, GoogleApi,
    HerdSettings, Limits, LinkSpec, LogFormat, LogSettings, NodeSpec, PlacesBackendKind,
    PlacesSettings, RecordsSettings,
};
pub use secret::Secret;
pub use tls::{HERDCTL_NAME, NAME_PLACEHOLDER, TlsSettings, dns_name_problem};

/// The default herd (assets/herd.toml), compiled in.
pub const DEFAULT_HERD_TOML: &str = include_str!("../../../assets/herd.toml");

/// Where a configuration came from, for error messages.
pub const DEFAULT_HERD_SOURCE: &str = "<default herd>";

impl Config {
    /// Parses and validates `text`; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
        validate::validate(text, source)
    }

    /// The embedded default herd.
    pub fn default_herd() -> Config {
        match Config::parse(DEFAULT_HERD_TOML, DEFAULT_HERD_SOURCE) {
            Ok(config) => config,
            // A test (`default_herd_is_valid`) guarantees this never happens.
            Err(err) => unreachable!("embedded default herd is invalid: {err}"),
        }
    }

    /// Reads `path`, or the default herd when `path` is `None`.
    pub fn load(path: Option<&std::path::Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default_herd());
        };
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|err| ConfigError::new(&source, None, format!("cannot read: {err}")))?;
        let mut config = Config::parse(&text, &source)?;
        if let (Some(tls), Some(dir)) = (&mut config.tls, path.parent()) {
            tls.relative_to(dir);
        }
        Ok(config)
    }

    /// Applies the documented environment overrides, read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(secret) = var("HERD_SECRET").filter(|v| !v.is_empty()) {
            self.herd.secrets = vec![Secret::new(secret)];
        }
        if let Some(token) = var("HERD_ADMIN_TOKEN").filter(|v| !v.is_empty()) {
            self.herd.admin_token = Some(Secret::new(token));
        }
        if let Some(key) = var("GOOGLE_PLACES_API_KEY").filter(|v| !v.is_empty()) {
            self.places.google_key = Some(Secret::new(key));
        }
    }
}

#[cfg(test)]
mod tests;
