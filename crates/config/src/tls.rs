//! `[tls]`: where a node finds the herd CA, its certificate and its key
//! (contract section 8). Paths are as written, relative ones taken from
//! the directory of the config file (as Prometheus does for its rule
//! files), so a herd's files can move together; `{name}` in `cert` and
//! `key` stands for the node's name (`herdctl` for herdctl itself).

use std::path::{Path, PathBuf};

/// The name herdctl's own certificate carries, and fills `{name}` with.
pub const HERDCTL_NAME: &str = "herdctl";

/// What `{name}` is replaced with in the `cert` and `key` templates.
pub const NAME_PLACEHOLDER: &str = "{name}";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The herd CA bundle (PEM; may hold two CAs while the CA changes).
    pub ca: String,
    /// Certificate chain template, e.g. `certs/{name}.pem`.
    pub cert: String,
    /// Private key template, e.g. `certs/{name}.key`.
    pub key: String,
    /// The admin port speaks TLS too.
    pub admin: bool,
    /// The directory relative paths start from: the config file's, or the
    /// working directory for the embedded default.
    pub base: PathBuf,
}

impl TlsSettings {
    pub fn ca_path(&self) -> PathBuf {
        self.base.join(&self.ca)
    }

    /// `name`'s certificate chain file.
    pub fn cert_path(&self, name: &str) -> PathBuf {
        self.base.join(self.cert.replace(NAME_PLACEHOLDER, name))
    }

    /// `name`'s private key file.
    pub fn key_path(&self, name: &str) -> PathBuf {
        self.base.join(self.key.replace(NAME_PLACEHOLDER, name))
    }

    /// Makes relative paths start from `dir` (the config file's directory).
    pub(crate) fn relative_to(&mut self, dir: &Path) {
        self.base = dir.to_path_buf();
    }
}

/// Why a node name cannot be a certificate's DNS name: a certificate names
/// its node in a DNS subject alternative name, an RFC 1123 host name (as
/// addresses are checked), without the trailing dot of a fully qualified
/// one; TLS compares it without regard to case.
pub fn dns_name_problem(name: &str) -> Option<&'static str> {
    if name.ends_with('.') {
        return Some("it ends with a dot");
    }
    crate::address::check_host_name(name).err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_in_the_name_and_start_from_the_base() {
        let tls = TlsSettings {
            ca: "certs/ca.pem".to_owned(),
            cert: "certs/{name}.pem".to_owned(),
            key: "/abs/{name}.key".to_owned(),
            admin: true,
            base: PathBuf::from("/etc/herd"),
        };
        assert_eq!(tls.ca_path(), PathBuf::from("/etc/herd/certs/ca.pem"));
        assert_eq!(
            tls.cert_path("Clark"),
            PathBuf::from("/etc/herd/certs/Clark.pem")
        );
        assert_eq!(tls.key_path("herdctl"), PathBuf::from("/abs/herdctl.key"));
    }

    #[test]
    fn node_names_must_be_dns_names_for_certificates() {
        for good in ["Clark", "herd-2", "a.b.c", "x1"] {
            assert_eq!(dns_name_problem(good), None, "{good}");
        }
        for bad in ["a_b", "-a", "a-", "a..b", "10.0.0.1", "é", "a/b", "", "a."] {
            assert!(dns_name_problem(bad).is_some(), "{bad}");
        }
    }
}
