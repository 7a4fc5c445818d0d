//! The herd's TLS (contract section 8, docs/security.md): rustls
//! configurations built from a node's `[tls]` files, TLS 1.3 only, with the
//! ring provider.
//!
//! - [`NodeTls`]: what a node accepts and dials with, for its peer port
//!   and (with `admin = true`) its admin port. Built whole at start-up and
//!   at every reload, so certificates rotate by replacing the files.
//! - [`admin_connector`]: what herdctl and herd-bench dial admin ports
//!   with.
//! - [`verify`]: a peer's certificate must name a node this one is linked
//!   to; [`names_node`] checks the one its HELLO claims.
//! - [`certificate`]: what a certificate says of itself (names, validity).
//! - [`files`]: reading PEM files, with errors that name them.
//! - [`issue`]: making a CA and certificates (`herdctl certs`).

pub mod certificate;
mod error;
mod files;
pub mod issue;
mod node;
mod reason;
pub mod verify;

pub use certificate::CertificateInfo;
pub use error::TlsError;
pub use node::{NodeTls, admin_connector, server_name};
pub use reason::handshake_failure;
pub use verify::names_node;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The one crypto provider the herd uses (no aws-lc build).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 only: every end is ours, so nothing older is needed.
pub(crate) const VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

#[cfg(test)]
mod tests;
