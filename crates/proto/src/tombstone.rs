//! A forget: the marker that a client's records up to a time are gone.
//!
//! A tombstone never holds the client id, only a hash of it, because it is
//! kept (in memory, in the record log, on the wire) long after the client
//! was forgotten: `FORGET <leaf> <id hash> <time>`, for example
//!
//! ```text
//! FORGET 9f3a 5d41402abc4b2a76b9719d911017c592 1800000000.500000000
//! ```
//!
//! - the leaf (4 hex digits) is the client's leaf in the digest tree, so
//!   the node that receives the tombstone finds the client's record (and
//!   repair the tombstone) without the id;
//! - the id hash (32 hex digits) is the first 128 bits of the SHA-256 of
//!   the client id: collision resistant, so no chosen id can pass for a
//!   forgotten one;
//! - the time is the forget's: every update of the client with a client
//!   time up to and including it is gone; a later one is a new record.

use std::fmt;

use ring::digest::{SHA256, digest};

use crate::Nanos;

/// The first 128 bits of the SHA-256 of a client id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientHash(pub [u8; 16]);

impl ClientHash {
    pub fn of(client: &str) -> ClientHash {
        let full = digest(&SHA256, client.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&full.as_ref()[..16]);
        ClientHash(first)
    }

    pub fn to_hex(self) -> String {
        crate::auth::hex(&self.0)
    }

    pub fn parse(text: &str) -> Option<ClientHash> {
        if text.len() != 32 {
            return None;
        }
        let bytes = crate::auth::unhex(text)?;
        let mut hash = [0u8; 16];
        hash.copy_from_slice(bytes.get(..16)?);
        Some(ClientHash(hash))
    }
}

impl fmt::Debug for ClientHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientHash({})", self.to_hex())
    }
}

/// Every update of one client up to `time` is forgotten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tombstone {
    /// The client's leaf in the digest tree.
    pub leaf: u16,
    pub client: ClientHash,
    pub time: Nanos,
}

/// Why a FORGET line was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadForgetLine(pub &'static str);

impl fmt::Display for BadForgetLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed FORGET line: {}", self.0)
    }
}

impl std::error::Error for BadForgetLine {}

impl Tombstone {
    /// `FORGET <leaf> <id hash> <time>`, without a line ending.
    pub fn to_line(&self) -> String {
        format!(
            "FORGET {:04x} {} {}",
            self.leaf,
            self.client.to_hex(),
            self.time.to_seconds_text()
        )
    }

    /// Parses a line written by [`Tombstone::to_line`] (single spaces).
    pub fn parse_line(line: &str) -> Result<Tombstone, BadForgetLine> {
        let rest = line
            .strip_prefix("FORGET ")
            .ok_or(BadForgetLine("does not start with FORGET"))?;
        let mut parts = rest.split(' ');
        let (Some(leaf), Some(client), Some(time), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadForgetLine("expected a leaf, an id hash and a time"));
        };
        if leaf.len() != 4 || !leaf.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadForgetLine("bad leaf"));
        }
        let leaf = u16::from_str_radix(leaf, 16).map_err(|_| BadForgetLine("bad leaf"))?;
        let client = ClientHash::parse(client).ok_or(BadForgetLine("bad id hash"))?;
        let time = Nanos::parse(time).ok_or(BadForgetLine("bad time"))?;
        Ok(Tombstone { leaf, client, time })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_line_holds_a_hash_of_the_id_and_never_the_id() {
        let tombstone = Tombstone {
            leaf: 0x9f3a,
            client: ClientHash::of("kiwi.cs.ucla.edu"),
            time: Nanos(1_800_000_000_500_000_000),
        };
        let line = tombstone.to_line();
        assert!(line.starts_with("FORGET 9f3a "), "{line}");
        assert!(line.ends_with(" 1800000000.500000000"), "{line}");
        assert!(!line.contains("kiwi"), "{line}");
        assert_eq!(line.split(' ').nth(2).map(str::len), Some(32));
        assert_eq!(Tombstone::parse_line(&line), Ok(tombstone));
        // The SHA-256 of "abc" begins ba7816bf8f01cfea414140de5dae2223.
        assert_eq!(
            ClientHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223"
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        let hash = "ba7816bf8f01cfea414140de5dae2223";
        for bad in [
            "FORGET".to_owned(),
            "FORGET 9f3a".to_owned(),
            format!("FORGET 9f3 {hash} 1"),
            format!("FORGET 9f3g {hash} 1"),
            format!("FORGET 9f3a {} 1", &hash[..30]),
            format!("FORGET 9f3a {hash}zz 1"),
            format!("FORGET 9f3a {hash} -1"),
            format!("FORGET 9f3a {hash} 1 extra"),
            format!("FORGET  9f3a {hash} 1"),
        ] {
            assert!(Tombstone::parse_line(&bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn lines_round_trip(leaf in any::<u16>(), id in "\\PC{1,40}", time in any::<u64>()) {
            let tombstone = Tombstone { leaf, client: ClientHash::of(&id), time: Nanos(time) };
            prop_assert_eq!(Tombstone::parse_line(&tombstone.to_line()), Ok(tombstone));
        }

        #[test]
        fn parse_never_panics(s in "FORGET \\PC*") {
            let _ = Tombstone::parse_line(&s);
        }
    }
}
