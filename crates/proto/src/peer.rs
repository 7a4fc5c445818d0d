//! Messages on peer links (see docs/peer-protocol.md). One message per line,
//! `\n`-terminated, so a stream of updates is a stream of AT lines:
//!
//! ```text
//! HELLO HERD/2-3 <herd> <node> <boot-id>  handshake, both directions
//! REFUSED <reason...>                     handshake refused, then close
//! AT <origin> <diff> <client> <pos> <time>  one update
//! PING                                    heartbeat, every 500 ms
//! AUTH <nonce> / PROOF <mac>               after HELLO, when the herd has a secret
//! SYNC | GROUPS | LEAVES | WANT ...       anti-entropy repair (crate::repair)
//! FORGET <leaf> <id hash> <time>          a tombstone (crate::tombstone), version 4
//! ```

use std::fmt;

use crate::Record;
use crate::record::BadAtLine;
use crate::repair::{BadRepairLine, RepairMessage};
use crate::tombstone::{BadForgetLine, Tombstone};

/// The peer protocol versions this build speaks. 2 added the repair
/// messages (a node of version 1 would close the link on the first SYNC);
/// 3 added the range in HELLO, and both ends of a link dial. 4 added
/// FORGET: a tombstone goes only to a peer of version 4 (an older node
/// would close the link on it); the other lines are the same in all, so
/// this build links with any of them.
pub const VERSIONS: Versions = Versions { min: 2, max: 4 };

/// The first version that carries tombstones.
pub const FORGET_VERSION: u32 = 4;

/// What a node from before version ranges reads (one number, `HERD/2`); it
/// answers a range with [`LEGACY_REFUSAL`].
pub const LEGACY_HELLO: Versions = Versions { min: 2, max: 2 };

/// The refusal of a HELLO a node could not parse, which is how a node from
/// before version ranges answers `HERD/2-3`.
pub const LEGACY_REFUSAL: &str = "expected HELLO";

/// A range of protocol versions, `min..=max`: written `HERD/2-3`, or
/// `HERD/2` for one version (as nodes before ranges wrote it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub min: u32,
    pub max: u32,
}

impl Versions {
    /// The one version `v` (what an answering node writes: the version
    /// agreed).
    pub fn only(v: u32) -> Versions {
        Versions { min: v, max: v }
    }

    /// The highest version both ranges hold, if they meet.
    pub fn common(self, other: Versions) -> Option<u32> {
        let highest = self.max.min(other.max);
        (highest >= self.min.max(other.min)).then_some(highest)
    }

    fn parse(text: &str) -> Option<Versions> {
        let number = |t: &str| {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u32>().ok())
                .flatten()
        };
        let (min, max) = match text.split_once('-') {
            Some((min, max)) => (number(min)?, number(max)?),
            None => (number(text)?, number(text)?),
        };
        (min <= max).then_some(Versions { min, max })
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// A handshake greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello<'a> {
    /// What the sender speaks (the dialling end), or the version agreed
    /// (the answering end).
    pub versions: Versions,
    pub herd: &'a str,
    pub node: &'a str,
    /// Random per process start, so a peer can tell a restart from a blip.
    pub boot_id: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PeerMessage<'a> {
    Hello(Hello<'a>),
    Refused(&'a str),
    Update(Record),
    /// A tombstone: forget a client's updates up to its time.
    Forget(Tombstone),
    Ping,
    Repair(RepairMessage),
    /// A fresh random nonce (hex), the first half of authentication.
    Auth(&'a str),
    /// An HMAC (hex) proving knowledge of the herd secret.
    Proof(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadPeerLine {
    Unknown,
    Hello(&'static str),
    Update(BadAtLine),
    Repair(BadRepairLine),
    Forget(BadForgetLine),
}

impl fmt::Display for BadPeerLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadPeerLine::Unknown => f.write_str("unknown peer message"),
            BadPeerLine::Hello(why) => write!(f, "malformed HELLO: {why}"),
            BadPeerLine::Update(why) => why.fmt(f),
            BadPeerLine::Repair(why) => why.fmt(f),
            BadPeerLine::Forget(why) => why.fmt(f),
        }
    }
}

impl std::error::Error for BadPeerLine {}

/// Parses one peer line (without its `\n`).
pub fn parse_peer_line(line: &str) -> Result<PeerMessage<'_>, BadPeerLine> {
    if line.starts_with("AT ") {
        return Record::parse_at_line(line)
            .map(PeerMessage::Update)
            .map_err(BadPeerLine::Update);
    }
    if line == "PING" {
        return Ok(PeerMessage::Ping);
    }
    if line.starts_with("FORGET ") {
        return Tombstone::parse_line(line)
            .map(PeerMessage::Forget)
            .map_err(BadPeerLine::Forget);
    }
    if let Some(repair) = RepairMessage::parse(line) {
        return repair.map(PeerMessage::Repair).map_err(BadPeerLine::Repair);
    }
    if let Some(nonce) = line.strip_prefix("AUTH ") {
        return Ok(PeerMessage::Auth(nonce));
    }
    if let Some(mac) = line.strip_prefix("PROOF ") {
        return Ok(PeerMessage::Proof(mac));
    }
    if let Some(reason) = line.strip_prefix("REFUSED ") {
        return Ok(PeerMessage::Refused(reason));
    }
    if let Some(rest) = line.strip_prefix("HELLO ") {
        let parts: Vec<&str> = rest.split(' ').collect();
        let [protocol, herd, node, boot_id] = parts[..] else {
            return Err(BadPeerLine::Hello(
                "expected HELLO HERD/<versions> <herd> <node> <boot-id>",
            ));
        };
        let versions = protocol
            .strip_prefix("HERD/")
            .and_then(Versions::parse)
            .ok_or(BadPeerLine::Hello("bad protocol tag"))?;
        if [herd, node, boot_id].iter().any(|s| s.is_empty()) {
            return Err(BadPeerLine::Hello("empty field"));
        }
        return Ok(PeerMessage::Hello(Hello {
            versions,
            herd,
            node,
            boot_id,
        }));
    }
    Err(BadPeerLine::Unknown)
}

/// `HELLO HERD/<versions> <herd> <node> <boot-id>\n`
pub fn hello_line(versions: Versions, herd: &str, node: &str, boot_id: &str) -> String {
    format!("HELLO HERD/{versions} {herd} {node} {boot_id}\n")
}

/// `REFUSED <reason>\n`, with line breaks in the reason flattened.
pub fn refused_line(reason: &str) -> String {
    format!("REFUSED {}\n", reason.replace(['\n', '\r'], " "))
}

pub const PING_LINE: &[u8] = b"PING\n";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hello_round_trips() {
        let line = hello_line(VERSIONS, "demo", "Clark", "a1b2");
        assert!(line.starts_with("HELLO HERD/2-4 "), "{line}");
        let parsed = parse_peer_line(line.trim_end()).expect("hello parses");
        assert_eq!(
            parsed,
            PeerMessage::Hello(Hello {
                versions: VERSIONS,
                herd: "demo",
                node: "Clark",
                boot_id: "a1b2"
            })
        );
    }

    #[test]
    fn other_versions_are_recognised_so_they_can_be_refused_politely() {
        let parsed = parse_peer_line("HELLO HERD/7 demo Clark x").expect("parses");
        let PeerMessage::Hello(hello) = parsed else {
            panic!("not a HELLO: {parsed:?}");
        };
        assert_eq!(hello.versions, Versions::only(7));
        for bad in [
            "HERD/3-2",
            "HERD/-3",
            "HERD/2-",
            "HERD/+2",
            "HERD/2-3-4",
            "HERD/",
        ] {
            let line = format!("HELLO {bad} demo Clark x");
            assert!(parse_peer_line(&line).is_err(), "{line}");
        }
    }

    #[test]
    fn ranges_meet_at_their_highest_common_version() {
        let r = |min, max| Versions { min, max };
        assert_eq!(
            VERSIONS.common(Versions::only(2)),
            Some(2),
            "a node before ranges"
        );
        assert_eq!(VERSIONS.common(r(2, 3)), Some(3), "a node before FORGET");
        assert_eq!(VERSIONS.common(r(3, 4)), Some(4));
        assert_eq!(VERSIONS.common(r(1, 7)), Some(4));
        assert_eq!(VERSIONS.common(r(5, 6)), None);
        assert_eq!(VERSIONS.common(Versions::only(1)), None);
        assert_eq!(r(4, 5).to_string(), "4-5");
        assert_eq!(Versions::only(2).to_string(), "2");
    }

    #[test]
    fn messages() {
        assert_eq!(parse_peer_line("PING"), Ok(PeerMessage::Ping));
        assert_eq!(
            parse_peer_line("REFUSED not linked"),
            Ok(PeerMessage::Refused("not linked"))
        );
        assert!(matches!(
            parse_peer_line("AT Clark +0.100000000 c +0+0 1"),
            Ok(PeerMessage::Update(_))
        ));
        assert!(matches!(
            parse_peer_line("FORGET 0001 ba7816bf8f01cfea414140de5dae2223 5"),
            Ok(PeerMessage::Forget(Tombstone { leaf: 1, .. }))
        ));
        assert!(matches!(
            parse_peer_line("FORGET 0001 kiwi 5"),
            Err(BadPeerLine::Forget(_))
        ));
        assert_eq!(parse_peer_line("IAMAT c +0+0 1"), Err(BadPeerLine::Unknown));
        assert!(parse_peer_line("HELLO HERD/x demo Clark b").is_err());
        assert!(parse_peer_line("HELLO HERD/1 demo Clark").is_err());
        assert_eq!(refused_line("a\nb"), "REFUSED a b\n");
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_peer_line(&s);
        }
    }
}
