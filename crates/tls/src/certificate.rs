//! What a certificate says of itself: the DNS names it carries and when it
//! is valid. The names decide which node it is (contract section 8); the
//! validity is shown in the admin snapshot and `herdctl status`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate whose DER x509-parser cannot read, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// DNS subject alternative names.
    pub names: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl CertificateInfo {
    /// Reads an end-entity certificate; `Err` says why it cannot be read.
    pub fn of(cert: &CertificateDer<'_>) -> Result<CertificateInfo, Unreadable> {
        let (_, parsed) =
            X509Certificate::from_der(cert.as_ref()).map_err(|err| Unreadable(err.to_string()))?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = parsed.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(dns) = name {
                    names.push((*dns).to_owned());
                }
            }
        }
        let at = |seconds: i64| match u64::try_from(seconds) {
            Ok(seconds) => UNIX_EPOCH + Duration::from_secs(seconds),
            Err(_) => UNIX_EPOCH,
        };
        let validity = parsed.validity();
        Ok(CertificateInfo {
            names,
            not_before: at(validity.not_before.timestamp()),
            not_after: at(validity.not_after.timestamp()),
        })
    }

    /// Whether it names `node` (DNS names compare without regard to case).
    pub fn names(&self, node: &str) -> bool {
        self.names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(node))
    }

    /// Whole days of validity left at `now`; negative once expired.
    pub fn days_left(&self, now: SystemTime) -> i64 {
        let seconds = match self.not_after.duration_since(now) {
            Ok(left) => i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            Err(past) => -i64::try_from(past.duration().as_secs()).unwrap_or(i64::MAX),
        };
        seconds.div_euclid(86_400)
    }
}
