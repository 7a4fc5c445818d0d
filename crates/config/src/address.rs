//! A node's address as the config writes it (`client`, `peer`, `admin`):
//! an IP literal or a DNS host name, and a port.
//!
//! Nothing here resolves a name: the config crate does no I/O. The node
//! resolves a name when it uses it (at every dial of a peer, once at
//! start-up for its own listeners), so a peer that moved to another
//! address is found again once its name points there.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// Longest host name (RFC 1035 2.3.4), without a trailing dot.
const MAX_NAME_BYTES: usize = 253;
/// Longest label of a host name (RFC 1035 2.3.4).
const MAX_LABEL_BYTES: usize = 63;

/// `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT`, port 1 to 65535.
///
/// Its text ([`fmt::Display`]) is the canonical form of an IP literal
/// (`127.0.0.1:12003`, `[::1]:12003`) and a host name as written (case and
/// a trailing dot kept), so messages and the admin snapshot show what the
/// operator wrote. Two addresses are equal when they have the same port and
/// the same host text ignoring ASCII case (equal IP literals have equal
/// text); a name and an IP are never equal, whatever the name resolves to.
#[derive(Debug, Clone)]
pub struct Address {
    /// The host to resolve or connect to: a name as written, or an IP's
    /// canonical text (IPv6 without brackets).
    host: String,
    /// Set when the host is an IP literal.
    ip: Option<IpAddr>,
    port: u16,
}

impl Address {
    /// The port, never 0.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The IP when the host is an IP literal; `None` for a host name.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The host: a name as written, or an IP's text (an IPv6 address
    /// without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The socket address when the host is an IP literal.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.ip.map(|ip| SocketAddr::new(ip, self.port))
    }

    /// What to hand to `connect` or `lookup_host` (std and tokio take
    /// `(&str, u16)`): an IP literal is used as is, a name is resolved by
    /// the operating system at that call.
    pub fn host_port(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address {
            host: addr.ip().to_string(),
            ip: Some(addr.ip()),
            port: addr.port(),
        }
    }
}

impl PartialEq for Address {
    fn eq(&self, other: &Address) -> bool {
        self.port == other.port && self.host.eq_ignore_ascii_case(&other.host)
    }
}

impl Eq for Address {}

impl std::hash::Hash for Address {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Consistent with `eq`: the host's case does not count.
        for byte in self.host.bytes() {
            state.write_u8(byte.to_ascii_lowercase());
        }
        state.write_u16(self.port);
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            Some(IpAddr::V6(_)) => write!(f, "[{}]:{}", self.host, self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// Why a text is not an [`Address`]; the config checker puts it after
/// the key and the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// No `:PORT` at all (`"clark"`).
    NoPort,
    /// A `:` with nothing after it (`"clark:"`).
    EmptyPort,
    /// Not a number from 1 to 65535.
    BadPort(String),
    /// Nothing before the `:PORT`.
    NoHost,
    /// An IPv6 address without its brackets (`"::1:12003"`).
    Ipv6WithoutBrackets,
    /// Brackets around something that is not an IPv6 address.
    NotIpv6(String),
    /// Not an IPv4 address and not a valid host name.
    BadHostName { host: String, why: &'static str },
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::NoPort => write!(f, "it has no port"),
            AddressError::EmptyPort => write!(f, "the port is missing after ':'"),
            AddressError::BadPort(port) => {
                write!(f, "port {port:?} is not a number from 1 to 65535")
            }
            AddressError::NoHost => write!(f, "the host is missing before ':'"),
            AddressError::Ipv6WithoutBrackets => {
                write!(f, "an IPv6 address needs brackets, as in \"[::1]:12003\"")
            }
            AddressError::NotIpv6(inside) => {
                write!(f, "[{inside}] is not an IPv6 address")
            }
            AddressError::BadHostName { host, why } => {
                write!(f, "{host:?} is not a valid host name: {why}")
            }
        }
    }
}

impl std::error::Error for AddressError {}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Address, AddressError> {
        if let Some(rest) = text.strip_prefix('[') {
            let Some((inside, after)) = rest.split_once(']') else {
                return Err(AddressError::NotIpv6(rest.to_owned()));
            };
            let ip: Ipv6Addr = inside
                .parse()
                .map_err(|_| AddressError::NotIpv6(inside.to_owned()))?;
            let port = match after.strip_prefix(':') {
                Some(port) => parse_port(port)?,
                None if after.is_empty() => return Err(AddressError::NoPort),
                None => return Err(AddressError::NotIpv6(format!("{inside}]{after}"))),
            };
            return Ok(Address::from(SocketAddr::new(IpAddr::V6(ip), port)));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(AddressError::NoPort);
        };
        if host.contains(':') {
            return Err(AddressError::Ipv6WithoutBrackets);
        }
        if host.is_empty() {
            return Err(AddressError::NoHost);
        }
        let port = parse_port(port)?;
        if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
            return Ok(Address::from(SocketAddr::new(IpAddr::V4(ip), port)));
        }
        check_host_name(host).map_err(|why| AddressError::BadHostName {
            host: host.to_owned(),
            why,
        })?;
        Ok(Address {
            host: host.to_owned(),
            ip: None,
            port,
        })
    }
}

/// Decimal digits only (Rust's integer parsing would take a `+`), 1-65535:
/// port 0 would make the OS pick one, which nobody could dial.
fn parse_port(text: &str) -> Result<u16, AddressError> {
    if text.is_empty() {
        return Err(AddressError::EmptyPort);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::BadPort(text.to_owned()));
    }
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(AddressError::BadPort(text.to_owned())),
    }
}

/// RFC 1123 host name syntax: dot-separated labels of ASCII letters,
/// digits and hyphens, 1-63 bytes each, not starting or ending with a
/// hyphen; at most 253 bytes; one trailing dot allowed (a fully qualified
/// name). The last label must not be all digits (RFC 1123 2.1), so a
/// mistyped IPv4 address such as `127.0.0.01` or `10.1.1.256` is refused
/// instead of being handed to the resolver.
pub(crate) fn check_host_name(host: &str) -> Result<(), &'static str> {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("it is longer than 253 bytes");
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row, or a leading dot)");
        }
        if label.len() > MAX_LABEL_BYTES {
            return Err("a label is longer than 63 bytes");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("only letters, digits, hyphens and dots are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with a hyphen");
        }
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err("it looks like an IPv4 address but is not one");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Address {
        text.parse()
            .unwrap_or_else(|err| panic!("{text:?} must be accepted: {err}"))
    }

    fn refused(text: &str) -> AddressError {
        match text.parse::<Address>() {
            Ok(addr) => panic!("{text:?} must be refused, got {addr}"),
            Err(err) => err,
        }
    }

    #[test]
    fn ip_literals() {
        let v4 = parsed("127.0.0.1:12003");
        assert_eq!(v4.ip(), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(v4.port(), 12003);
        assert_eq!(v4.host(), "127.0.0.1");
        assert_eq!(v4.to_string(), "127.0.0.1:12003");
        assert_eq!(v4.socket_addr(), "127.0.0.1:12003".parse().ok());

        let v6 = parsed("[::1]:12003");
        assert_eq!(v6.ip(), Some(IpAddr::from(Ipv6Addr::LOCALHOST)));
        assert_eq!(v6.host(), "::1");
        assert_eq!(v6.host_port(), ("::1", 12003));
        assert_eq!(v6.to_string(), "[::1]:12003");
        // The canonical text, whatever the spelling.
        assert_eq!(parsed("[0:0::1]:80").to_string(), "[::1]:80");
        assert_eq!(parsed("[2001:DB8::1]:80").to_string(), "[2001:db8::1]:80");
        assert_eq!(parsed("[::ffff:10.0.0.1]:1").port(), 1);
        assert_eq!(parsed("0.0.0.0:65535").port(), 65535);
    }

    #[test]
    fn host_names() {
        for text in [
            "localhost:12003",
            "clark.herd.internal:12103",
            "Clark.Herd.Internal:1",
            "herd-2.herd.default.svc.cluster.local:12000",
            "herd-2:1",
            "a:1",
            "1a:1",
            "x.1a:1",
            "10.0.0.example:1",
            "clark.herd.internal.:12103",
        ] {
            let addr = parsed(text);
            assert_eq!(addr.ip(), None, "{text}");
            assert_eq!(addr.to_string(), text, "written as given");
            assert_eq!(addr.socket_addr(), None);
        }
        let longest_label = format!("{}.example:1", "a".repeat(63));
        assert!(longest_label.parse::<Address>().is_ok());
        // 4 labels of 63 and one of 1: 253 bytes in all.
        let longest_name = format!("{0}.{0}.{0}.{1}:1", "b".repeat(63), "c".repeat(61));
        assert_eq!(longest_name.len(), 253 + 2);
        assert!(longest_name.parse::<Address>().is_ok());
        assert_eq!(parsed("clark:7").host_port(), ("clark", 7));
    }

    #[test]
    fn refused_forms() {
        assert_eq!(refused("clark"), AddressError::NoPort);
        assert_eq!(refused("127.0.0.1"), AddressError::NoPort);
        assert_eq!(refused("[::1]"), AddressError::NoPort);
        assert_eq!(refused("clark:"), AddressError::EmptyPort);
        assert_eq!(refused("[::1]:"), AddressError::EmptyPort);
        assert_eq!(refused(":12003"), AddressError::NoHost);
        assert_eq!(refused("::1:12003"), AddressError::Ipv6WithoutBrackets);
        assert_eq!(refused("fe80::1:80"), AddressError::Ipv6WithoutBrackets);
        for port in ["0", "65536", "99999999999", "+1", "-1", "x", "1 ", " 1"] {
            assert_eq!(
                refused(&format!("clark:{port}")),
                AddressError::BadPort(port.to_owned()),
                "{port:?}"
            );
        }
        assert!(matches!(refused("[127.0.0.1]:1"), AddressError::NotIpv6(_)));
        assert!(matches!(refused("[::1:1"), AddressError::NotIpv6(_)));
        assert!(matches!(refused("[::1]x:1"), AddressError::NotIpv6(_)));
        assert!(matches!(refused("[clark]:1"), AddressError::NotIpv6(_)));
        let too_long_label = format!("{}.example:1", "a".repeat(64));
        let too_long_name = format!("{0}.{0}.{0}.{1}:1", "b".repeat(63), "c".repeat(62));
        for text in [
            "bad_name!:1200",
            "under_score:1",
            "-clark:1",
            "clark-:1",
            "clark.-herd:1",
            "clark..herd:1",
            ".clark:1",
            "clark..:1",
            ".:1",
            "clark herd:1",
            " clark:1",
            "clärk:1",
            "127.0.0.01:1",
            "10.1.1.256:1",
            "1.2.3:1",
            "12003:1",
            too_long_label.as_str(),
            too_long_name.as_str(),
        ] {
            assert!(
                matches!(refused(text), AddressError::BadHostName { .. }),
                "{text:?}: {}",
                refused(text)
            );
        }
    }

    #[test]
    fn errors_read_as_one_line() {
        for text in [
            "clark",
            "clark:",
            "clark:0",
            "::1:12003",
            "bad_name!:1200",
            "[x]:1",
        ] {
            let message = refused(text).to_string();
            assert!(!message.is_empty() && !message.contains('\n'), "{message}");
        }
        assert_eq!(
            refused("bad_name!:1200").to_string(),
            "\"bad_name!\" is not a valid host name: only letters, digits, hyphens and dots are allowed"
        );
    }

    #[test]
    fn equality_compares_what_it_can() {
        assert_eq!(parsed("Clark.Herd:1"), parsed("clark.herd:1"));
        assert_ne!(parsed("clark.herd:1"), parsed("clark.herd:2"));
        assert_eq!(parsed("[0::1]:1"), parsed("[::1]:1"));
        assert_ne!(parsed("localhost:1"), parsed("127.0.0.1:1"));
        let mut set = std::collections::HashSet::new();
        assert!(set.insert(parsed("CLARK:1")));
        assert!(!set.insert(parsed("clark:1")));
    }
}
