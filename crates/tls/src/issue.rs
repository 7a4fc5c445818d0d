//! Making the herd's certificates (`herdctl certs`, and tests that need odd
//! ones): a CA, and for each node a certificate whose DNS subject
//! alternative name is the node's name, usable as TLS server and client
//! (every link is both). ECDSA P-256 keys (rcgen's default).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The longest validity [`Validity::days`] gives: 100 years.
pub const MAX_DAYS: u64 = 36_500;

/// When a certificate is valid.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// From an hour ago (clocks a little apart) for `days` days (at most
    /// [`MAX_DAYS`]).
    pub fn days(days: u64) -> Validity {
        let now = SystemTime::now();
        let ahead = Duration::from_secs(days.min(MAX_DAYS) * 86_400);
        Validity {
            not_before: now.checked_sub(Duration::from_secs(3600)).unwrap_or(now),
            not_after: now.checked_add(ahead).unwrap_or(now),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("cannot make the certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("time {0:?} cannot be written in a certificate")]
    Time(SystemTime),
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A CA that signs the herd's certificates.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Authority {
    /// A new self-signed CA called `common_name`.
    pub fn new(common_name: &str, validity: Validity) -> Result<Authority, IssueError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, validity)?;
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(Authority {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
            key_pem,
        })
    }

    /// The CA of an existing certificate and key (PEM).
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Authority, IssueError> {
        let key = KeyPair::from_pem(key_pem)?;
        Ok(Authority {
            issuer: Issuer::from_ca_cert_pem(cert_pem, key)?,
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        })
    }

    /// A certificate for `name` (a node, or herdctl), signed by this CA.
    pub fn issue(&self, name: &str, validity: Validity) -> Result<Issued, IssueError> {
        let mut params = CertificateParams::new(vec![name.to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, validity)?;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn set_validity(params: &mut CertificateParams, validity: Validity) -> Result<(), IssueError> {
    params.not_before = offset(validity.not_before)?;
    params.not_after = offset(validity.not_after)?;
    Ok(())
}

fn offset(at: SystemTime) -> Result<time::OffsetDateTime, IssueError> {
    let seconds = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| IssueError::Time(at))?
        .as_secs();
    let seconds = i64::try_from(seconds).map_err(|_| IssueError::Time(at))?;
    time::OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| IssueError::Time(at))
}
