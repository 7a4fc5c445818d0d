use std::path::PathBuf;

/// Why a node's or herdctl's TLS files cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key", path.display())]
    NoKey { path: PathBuf },
    #[error("{}: {why}", path.display())]
    BadPem { path: PathBuf, why: String },
    #[error("{}: not a certificate a CA store takes: {why}", path.display())]
    BadCa { path: PathBuf, why: String },
    #[error("{}: cannot parse the certificate: {why}", path.display())]
    BadCertificate { path: PathBuf, why: String },
    #[error("{} names {names:?}, not {expected:?}", path.display())]
    NotNamed {
        path: PathBuf,
        expected: String,
        names: Vec<String>,
    },
    #[error("{} and {}: {source}", cert.display(), key.display())]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("{}: {source}", ca.display())]
    Verifier {
        ca: PathBuf,
        source: rustls::server::VerifierBuilderError,
    },
    #[error("{name:?} cannot be a TLS server name: {why}")]
    ServerName { name: String, why: String },
}
