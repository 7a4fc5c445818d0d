//! Host names of the config, resolved when they are used (contract
//! section 7): the node's own listeners once at start-up, a peer at every
//! dial, so a peer that moved is found again once its name points there.
//! An IP literal is used as is, without asking the resolver.

use std::io;
use std::net::{IpAddr, SocketAddr};

use herd_config::Address;
use tokio::net::TcpStream;

/// A host name that gave no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot resolve host name {host:?}: {reason}")]
    Lookup { host: String, reason: io::Error },
    #[error("host name {host:?} resolves to no address")]
    NoAddress { host: String },
}

/// Why a connection to an address could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Every address `address` stands for now, in the resolver's order of
/// preference; never empty.
pub async fn resolve(address: &Address) -> Result<Vec<SocketAddr>, ResolveError> {
    if let Some(addr) = address.socket_addr() {
        return Ok(vec![addr]);
    }
    let host = address.host();
    let found: Vec<SocketAddr> = tokio::net::lookup_host(address.host_port())
        .await
        .map_err(|reason| ResolveError::Lookup {
            host: host.to_owned(),
            reason,
        })?
        .collect();
    if found.is_empty() {
        return Err(ResolveError::NoAddress {
            host: host.to_owned(),
        });
    }
    Ok(found)
}

/// Resolves `address` now and connects to the first of its addresses that
/// accepts (as `TcpStream::connect` does with a name), so a name with an
/// IPv6 and an IPv4 address works where only one of them is reachable.
pub async fn connect(address: &Address) -> Result<TcpStream, ConnectError> {
    let mut last = None;
    for addr in resolve(address).await? {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(err),
        }
    }
    // `resolve` returns at least one address, so `last` is set.
    Err(ConnectError::Io(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "no address to connect to")
    })))
}

/// Where the node listens for `address`: on `bind` with the address's
/// port when the node has a `bind`, else on the address itself (a name
/// resolved now, its first address).
pub async fn listen_addr(
    bind: Option<IpAddr>,
    address: &Address,
) -> Result<SocketAddr, ResolveError> {
    if let Some(ip) = bind {
        return Ok(SocketAddr::new(ip, address.port()));
    }
    let found = resolve(address).await?;
    // `resolve` never returns an empty list.
    found
        .first()
        .copied()
        .ok_or_else(|| ResolveError::NoAddress {
            host: address.host().to_owned(),
        })
}

/// Whether traffic to `address` surely stays on this machine: a loopback
/// IP, or `localhost` and names under it, which resolvers keep on loopback
/// (RFC 6761 6.3). Any other name counts as reaching the network, whatever
/// it resolves to today: the warnings that use this must not depend on
/// the resolver's mood at start-up.
pub fn surely_loopback(address: &Address) -> bool {
    match address.ip() {
        Some(ip) => ip.is_loopback(),
        None => {
            let host = address.host().trim_end_matches('.').to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> Address {
        text.parse()
            .unwrap_or_else(|err| panic!("{text:?} must parse: {err}"))
    }

    #[tokio::test]
    async fn literals_are_used_as_they_are_and_bind_takes_the_port() {
        let addr = address("127.0.0.1:12003");
        assert_eq!(
            resolve(&addr).await.ok(),
            Some(vec!["127.0.0.1:12003".parse().expect("ip")])
        );
        let any: IpAddr = "0.0.0.0".parse().expect("ip");
        let name = address("nowhere.invalid:12103");
        assert_eq!(
            listen_addr(Some(any), &name).await.ok(),
            Some(SocketAddr::new(any, 12103)),
            "with bind, the name is not resolved"
        );
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback() {
        let found = resolve(&address("localhost:12003"))
            .await
            .expect("localhost resolves");
        assert!(
            found
                .iter()
                .all(|addr| addr.ip().is_loopback() && addr.port() == 12003)
        );
    }

    #[test]
    fn only_loopback_ips_and_localhost_are_surely_loopback() {
        for text in [
            "127.0.0.1:1",
            "127.9.9.9:1",
            "[::1]:1",
            "localhost:1",
            "LocalHost.:1",
            "a.localhost:1",
        ] {
            assert!(surely_loopback(&address(text)), "{text}");
        }
        for text in [
            "10.0.0.1:1",
            "0.0.0.0:1",
            "[::]:1",
            "clark:1",
            "localhost.example:1",
            "notlocalhost:1",
        ] {
            assert!(!surely_loopback(&address(text)), "{text}");
        }
    }
}
