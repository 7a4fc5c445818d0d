//! Which node this process runs (contract sections 4 and 7): the NAME
//! argument, else the environment variable `HERD_NODE`, else, with
//! `--name-from-hostname`, the first label of the machine's host name.
//! NAME together with `--name-from-hostname` is refused by the command
//! line itself; an empty `HERD_NODE` counts as unset.

use std::ffi::OsString;
use std::fmt;

/// The environment variable that names the node.
pub const NAME_ENV: &str = "HERD_NODE";

/// Where the name came from, for messages about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    Argument,
    Environment,
    HostName,
}

impl fmt::Display for NameSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameSource::Argument => "the NAME argument",
            NameSource::Environment => NAME_ENV,
            NameSource::HostName => "the host name",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error(
        "no node name given: pass NAME, set {NAME_ENV}, or use --name-from-hostname (nodes: {nodes})"
    )]
    Missing { nodes: String },
    #[error("{NAME_ENV} is not UTF-8: {0:?}")]
    EnvNotUtf8(OsString),
    #[error("--name-from-hostname: cannot read the host name: {0}")]
    HostName(#[from] nix::Error),
    #[error("--name-from-hostname: the host name {0:?} is not UTF-8")]
    HostNameNotUtf8(OsString),
    #[error("--name-from-hostname: the host name {0:?} has no first label")]
    HostNameEmpty(String),
}

/// The node's name by the rules above. `env` is `HERD_NODE`'s value,
/// `host_name` reads the machine's host name (only called when needed);
/// `nodes` lists the config's nodes for the message when none is given.
pub fn node_name(
    argument: Option<&str>,
    env: Option<OsString>,
    from_host_name: bool,
    host_name: impl FnOnce() -> Result<OsString, nix::Error>,
    nodes: &[&str],
) -> Result<(String, NameSource), NameError> {
    if let Some(name) = argument {
        return Ok((name.to_owned(), NameSource::Argument));
    }
    if let Some(value) = env.filter(|value| !value.is_empty()) {
        let name = value.into_string().map_err(NameError::EnvNotUtf8)?;
        return Ok((name, NameSource::Environment));
    }
    if from_host_name {
        let host = host_name()?
            .into_string()
            .map_err(NameError::HostNameNotUtf8)?;
        // `herd-2.herd.default.svc.cluster.local` runs node `herd-2`.
        let label = host.split('.').next().unwrap_or_default();
        if label.is_empty() {
            return Err(NameError::HostNameEmpty(host));
        }
        return Ok((label.to_owned(), NameSource::HostName));
    }
    Err(NameError::Missing {
        nodes: nodes.join(", "),
    })
}

/// This machine's host name (gethostname(2)).
pub fn host_name() -> Result<OsString, nix::Error> {
    nix::unistd::gethostname()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &'static str) -> impl FnOnce() -> Result<OsString, nix::Error> {
        move || Ok(OsString::from(name))
    }

    fn never() -> Result<OsString, nix::Error> {
        panic!("the host name must not be read")
    }

    fn env(value: &str) -> Option<OsString> {
        Some(OsString::from(value))
    }

    #[test]
    fn the_argument_comes_first_then_the_environment_then_the_host_name() {
        let name = |argument, env, flag| {
            node_name(argument, env, flag, host("herd-2.herd.svc"), &["A"])
                .map_err(|err| err.to_string())
        };
        assert_eq!(
            name(Some("Clark"), env("Bona"), false),
            Ok(("Clark".to_owned(), NameSource::Argument))
        );
        assert_eq!(
            name(None, env("Bona"), true),
            Ok(("Bona".to_owned(), NameSource::Environment))
        );
        assert_eq!(
            name(None, None, true),
            Ok(("herd-2".to_owned(), NameSource::HostName))
        );
        // An empty HERD_NODE is no name.
        assert_eq!(
            name(None, env(""), true),
            Ok(("herd-2".to_owned(), NameSource::HostName))
        );
        assert_eq!(
            node_name(Some("Clark"), None, false, never, &[]).ok(),
            Some(("Clark".to_owned(), NameSource::Argument))
        );
        assert_eq!(
            node_name(None, env("Bona"), true, never, &[]).ok(),
            Some(("Bona".to_owned(), NameSource::Environment))
        );
    }

    #[test]
    fn no_name_says_how_to_give_one() {
        let err = node_name(None, env(""), false, never, &["A", "B"])
            .map(|_| ())
            .map_err(|err| err.to_string());
        assert_eq!(
            err,
            Err("no node name given: pass NAME, set HERD_NODE, or use --name-from-hostname (nodes: A, B)".to_owned())
        );
    }

    #[test]
    fn host_name_problems_are_errors() {
        let err = node_name(None, None, true, host(".example"), &[]).map(|_| ());
        assert!(matches!(err, Err(NameError::HostNameEmpty(_))), "{err:?}");
        let err = node_name(None, None, true, || Err(nix::Error::EPERM), &[]).map(|_| ());
        assert!(matches!(err, Err(NameError::HostName(_))), "{err:?}");
        // This machine has one, and it has a first label.
        assert!(node_name(None, None, true, host_name, &[]).is_ok());
    }
}
