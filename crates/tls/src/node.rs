//! The configurations a node serves and dials with, built from its
//! `[tls]` files, and the one herdctl dials admin ports with.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use herd_config::{HERDCTL_NAME, TlsSettings};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::verify::PeerCertVerifier;
use crate::{CertificateInfo, TlsError, VERSIONS, files, provider};

/// Everything a node needs for TLS, from one reading of its files.
#[derive(Debug)]
pub struct NodeTls {
    /// The peer port: a client certificate from the herd CA that names a
    /// linked node is required.
    pub peer_acceptor: Arc<ServerConfig>,
    /// Dialling peers: the peer's certificate must name the node dialled;
    /// this node presents its own.
    pub connector: Arc<ClientConfig>,
    /// The admin port, with `admin = true`: herdctl's certificate (from the
    /// herd CA, naming `herdctl`) is required.
    pub admin_acceptor: Option<Arc<ServerConfig>>,
    /// This node's certificate.
    pub certificate: CertificateInfo,
    pub cert_path: PathBuf,
    /// The key file's permission bits when others than its owner may read
    /// it (worth a warning: `chmod 600`).
    pub key_exposed: Option<(PathBuf, u32)>,
    /// Of what was read (DER): a reload tells re-read files that changed.
    pub fingerprint: u64,
}

impl NodeTls {
    /// Reads `me`'s files as `settings` names them; `peers` are the nodes
    /// it is linked to (the only names its peer port takes).
    pub fn load(settings: &TlsSettings, me: &str, peers: &[String]) -> Result<NodeTls, TlsError> {
        let (ca, cert, key) = (
            settings.ca_path(),
            settings.cert_path(me),
            settings.key_path(me),
        );
        let (roots, ca_certs) = files::trust_store(&ca)?;
        let roots = Arc::new(roots);
        let (chain, private_key, certificate) = identity(&cert, &key, me)?;
        let fingerprint = files::fingerprint(
            ca_certs
                .iter()
                .chain(&chain)
                .map(|der| der.as_ref())
                .chain([private_key.secret_der()]),
        );
        let verifier =
            |peers: Vec<String>, wanted: &'static str| -> Result<Arc<PeerCertVerifier>, TlsError> {
                let inner = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                    .build()
                    .map_err(|source| TlsError::Verifier {
                        ca: ca.clone(),
                        source,
                    })?;
                Ok(Arc::new(PeerCertVerifier {
                    inner,
                    peers,
                    wanted,
                }))
            };
        let acceptor =
            |peers: Vec<String>, wanted: &'static str| -> Result<Arc<ServerConfig>, TlsError> {
                let config = ServerConfig::builder_with_provider(provider())
                    .with_protocol_versions(VERSIONS)
                    .map_err(|source| pair_error(&cert, &key, source))?
                    .with_client_cert_verifier(verifier(peers, wanted)?)
                    .with_single_cert(chain.clone(), private_key.clone_key())
                    .map_err(|source| pair_error(&cert, &key, source))?;
                Ok(Arc::new(config))
            };
        let peer_acceptor = acceptor(peers.to_vec(), "a node linked to this one")?;
        let admin_acceptor = match settings.admin {
            // herdctl's certificate only: a node's key stolen from its host
            // must not steer the other nodes.
            true => Some(acceptor(vec![HERDCTL_NAME.to_owned()], "herdctl")?),
            false => None,
        };
        let connector = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(|source| pair_error(&cert, &key, source))?
            .with_root_certificates(roots.clone())
            .with_client_auth_cert(chain, private_key)
            .map_err(|source| pair_error(&cert, &key, source))?;
        Ok(NodeTls {
            peer_acceptor,
            connector: Arc::new(connector),
            admin_acceptor,
            certificate,
            fingerprint,
            key_exposed: files::readable_by_others(&key).map(|mode| (key.clone(), mode)),
            cert_path: cert,
        })
    }

    /// Whole days this node's certificate has left.
    pub fn days_left(&self) -> i64 {
        self.certificate.days_left(SystemTime::now())
    }
}

type Identity = (
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    CertificateInfo,
);

/// A certificate chain and its key, the first certificate naming `name`.
fn identity(cert: &Path, key: &Path, name: &str) -> Result<Identity, TlsError> {
    let chain = files::certificates(cert)?;
    let private_key = files::private_key(key)?;
    let info = CertificateInfo::of(&chain[0]).map_err(|why| TlsError::BadCertificate {
        path: cert.to_path_buf(),
        why: why.to_string(),
    })?;
    if !info.names(name) {
        return Err(TlsError::NotNamed {
            path: cert.to_path_buf(),
            expected: name.to_owned(),
            names: info.names,
        });
    }
    Ok((chain, private_key, info))
}

fn pair_error(cert: &Path, key: &Path, source: rustls::Error) -> TlsError {
    TlsError::Pair {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    }
}

/// What herdctl (and herd-bench) dial a TLS admin port with: the node's
/// certificate checked against the herd CA, and herdctl's own certificate
/// presented when its files are there (a node's admin port asks for one).
pub fn admin_connector(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = Arc::new(files::trust_store(&settings.ca_path())?.0);
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|source| TlsError::Pair {
            cert: settings.cert_path(HERDCTL_NAME),
            key: settings.key_path(HERDCTL_NAME),
            source,
        })?
        .with_root_certificates(roots);
    let (cert, key) = (
        settings.cert_path(HERDCTL_NAME),
        settings.key_path(HERDCTL_NAME),
    );
    if !cert.exists() && !key.exists() {
        return Ok(Arc::new(builder.with_no_client_auth()));
    }
    let (chain, private_key, _) = identity(&cert, &key, HERDCTL_NAME)?;
    let config = builder
        .with_client_auth_cert(chain, private_key)
        .map_err(|source| pair_error(&cert, &key, source))?;
    Ok(Arc::new(config))
}

/// A node's name as the TLS server name its certificate must carry.
pub fn server_name(node: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(node.to_owned()).map_err(|err| TlsError::ServerName {
        name: node.to_owned(),
        why: err.to_string(),
    })
}
