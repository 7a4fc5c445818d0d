//! Why a TLS handshake failed, in words for the log and the snapshot.

use rustls::{CertificateError, Error};

/// What an operator reads for a failed handshake; `err` as tokio-rustls
/// returns it (a rustls error inside an I/O error), or a plain I/O error.
pub fn handshake_failure(err: &std::io::Error) -> String {
    let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
    else {
        return err.to_string();
    };
    match tls {
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            format!("invalid peer certificate: {}", other.0)
        }
        Error::InvalidMessage(_) => {
            format!("not TLS (a plain-TCP peer, or one without [tls]): {tls}")
        }
        other => other.to_string(),
    }
}
