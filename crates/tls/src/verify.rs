//! Which certificates a node's ports take: signed by the herd CA, valid
//! now (rustls's webpki verifier checks both), and naming a node this one
//! is linked to (the peer port) or herdctl (a TLS admin port). The node a certificate names must then be the
//! one its HELLO claims ([`names_node`]); the dialling side checks the
//! name it dialled in the handshake itself (the server name).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::CertificateInfo;

/// A certificate that names none of the parties a port takes.
#[derive(Debug, thiserror::Error)]
#[error("certificate names {presented:?}, not {wanted}")]
pub struct NotAPeer {
    pub presented: Vec<String>,
    /// Who the port takes, in words.
    pub wanted: &'static str,
}

/// The webpki verifier, and then the name check.
#[derive(Debug)]
pub(crate) struct PeerCertVerifier {
    pub(crate) inner: Arc<dyn ClientCertVerifier>,
    /// The names this port takes: this node's peers, or herdctl (the
    /// admin port).
    pub(crate) peers: Vec<String>,
    /// Who those are, for the refusal.
    pub(crate) wanted: &'static str,
}

impl ClientCertVerifier for PeerCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let info = CertificateInfo::of(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if self.peers.iter().any(|peer| info.names(peer)) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(NotAPeer {
                    presented: info.names,
                    wanted: self.wanted,
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Whether the certificate the peer presented (the first of its chain)
/// names `node`. False when there is none or it cannot be read.
pub fn names_node(chain: Option<&[CertificateDer<'_>]>, node: &str) -> bool {
    chain
        .and_then(|chain| chain.first())
        .and_then(|cert| CertificateInfo::of(cert).ok())
        .is_some_and(|info| info.names(node))
}
