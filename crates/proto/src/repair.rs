//! The anti-entropy messages on peer links (docs/repair.md).
//!
//! Records are bucketed by a hash of their client id into 65,536 leaves,
//! grouped 256 to a group. Each side keeps a digest per leaf; a group's
//! digest and the root are sums of those. A round narrows a difference down
//! from the root to the leaves that differ, then both sides send the records
//! of those leaves:
//!
//! ```text
//! SYNC <root>                  initiator: my root digest
//! GROUPS <256 digests>         responder, when the roots differ: mine
//! LEAVES <group> <256 digests> initiator, per differing group: my leaves
//! WANT <group> [<leaves>]      responder, after sending its records of the
//!                              leaves that differ: send me yours
//! ```
//!
//! Digests are 16 hex digits each, concatenated without separators; a group
//! is 2 hex digits; WANT's leaves are 2 hex digits each (the leaf's index in
//! its group), concatenated, possibly none.

use std::fmt::Write as _;

/// Leaves of the digest tree.
pub const LEAVES: usize = 1 << 16;
/// Groups of leaves; also leaves per group.
pub const GROUPS: usize = 256;
pub const LEAVES_PER_GROUP: usize = LEAVES / GROUPS;

/// 256 digests: a group's leaves, or the groups of a tree.
pub type Digests = Box<[u64; GROUPS]>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairMessage {
    Sync { root: u64 },
    Groups(Digests),
    Leaves { group: u8, digests: Digests },
    Want { group: u8, leaves: Vec<u8> },
}

/// Why a repair line did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRepairLine(pub &'static str);

impl std::fmt::Display for BadRepairLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed repair message: {}", self.0)
    }
}

impl RepairMessage {
    /// The line for this message, `\n` included.
    pub fn to_line(&self) -> String {
        let mut line = String::new();
        match self {
            RepairMessage::Sync { root } => {
                let _ = write!(line, "SYNC {root:016x}");
            }
            RepairMessage::Groups(digests) => {
                line.reserve(7 + 16 * GROUPS);
                line.push_str("GROUPS ");
                push_digests(&mut line, digests);
            }
            RepairMessage::Leaves { group, digests } => {
                line.reserve(10 + 16 * GROUPS);
                let _ = write!(line, "LEAVES {group:02x} ");
                push_digests(&mut line, digests);
            }
            RepairMessage::Want { group, leaves } => {
                let _ = write!(line, "WANT {group:02x}");
                if !leaves.is_empty() {
                    line.push(' ');
                    for leaf in leaves {
                        let _ = write!(line, "{leaf:02x}");
                    }
                }
            }
        }
        line.push('\n');
        line
    }

    /// Parses a repair line (without its `\n`); `None` when the line is not
    /// a repair message at all.
    pub fn parse(line: &str) -> Option<Result<RepairMessage, BadRepairLine>> {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let parsed = match verb {
            "SYNC" => parse_u64(rest)
                .map(|root| RepairMessage::Sync { root })
                .ok_or(BadRepairLine("SYNC wants one 16-digit digest")),
            "GROUPS" => parse_digests(rest)
                .map(RepairMessage::Groups)
                .ok_or(BadRepairLine("GROUPS wants 256 16-digit digests")),
            "LEAVES" => rest
                .split_once(' ')
                .and_then(|(group, digests)| Some((parse_u8(group)?, parse_digests(digests)?)))
                .map(|(group, digests)| RepairMessage::Leaves { group, digests })
                .ok_or(BadRepairLine("LEAVES wants a group and 256 digests")),
            "WANT" => {
                let (group, leaves) = rest.split_once(' ').unwrap_or((rest, ""));
                parse_u8(group)
                    .zip(parse_leaves(leaves))
                    .map(|(group, leaves)| RepairMessage::Want { group, leaves })
                    .ok_or(BadRepairLine("WANT wants a group and leaf numbers"))
            }
            _ => return None,
        };
        Some(parsed)
    }
}

fn push_digests(line: &mut String, digests: &[u64; GROUPS]) {
    for digest in digests.iter() {
        let _ = write!(line, "{digest:016x}");
    }
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_u64(text: &str) -> Option<u64> {
    if text.len() != 16 || !is_hex(text) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

fn parse_u8(text: &str) -> Option<u8> {
    if text.len() != 2 || !is_hex(text) {
        return None;
    }
    u8::from_str_radix(text, 16).ok()
}

fn parse_digests(text: &str) -> Option<Digests> {
    if text.len() != 16 * GROUPS || !is_hex(text) {
        return None;
    }
    let mut digests = Box::new([0u64; GROUPS]);
    for (slot, chunk) in digests.iter_mut().zip(text.as_bytes().chunks(16)) {
        *slot = u64::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(digests)
}

fn parse_leaves(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 2 * LEAVES_PER_GROUP || !is_hex(text) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|chunk| u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(message: RepairMessage) {
        let line = message.to_line();
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        assert_eq!(
            RepairMessage::parse(line.trim_end()),
            Some(Ok(message)),
            "{line}"
        );
    }

    #[test]
    fn every_message_round_trips() {
        round_trip(RepairMessage::Sync { root: 0 });
        round_trip(RepairMessage::Sync { root: u64::MAX });
        let mut digests = Box::new([0u64; GROUPS]);
        for (i, d) in digests.iter_mut().enumerate() {
            *d = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        round_trip(RepairMessage::Groups(digests.clone()));
        round_trip(RepairMessage::Leaves {
            group: 0xff,
            digests,
        });
        round_trip(RepairMessage::Want {
            group: 7,
            leaves: vec![],
        });
        round_trip(RepairMessage::Want {
            group: 0,
            leaves: vec![0, 1, 0xab, 0xff],
        });
    }

    #[test]
    fn the_lines_look_as_documented() {
        assert_eq!(
            RepairMessage::Sync { root: 0xab }.to_line(),
            "SYNC 00000000000000ab\n"
        );
        assert_eq!(
            RepairMessage::Want {
                group: 10,
                leaves: vec![1, 255]
            }
            .to_line(),
            "WANT 0a 01ff\n"
        );
        assert_eq!(
            RepairMessage::Want {
                group: 10,
                leaves: vec![]
            }
            .to_line(),
            "WANT 0a\n"
        );
        // The longest line stays well under the peer line limit (16 KiB).
        let leaves = RepairMessage::Leaves {
            group: 1,
            digests: Box::new([u64::MAX; GROUPS]),
        };
        assert_eq!(leaves.to_line().len(), 10 + 16 * GROUPS + 1);
    }

    #[test]
    fn malformed_lines_are_errors_and_other_lines_are_not_mine() {
        assert_eq!(RepairMessage::parse("PING"), None);
        assert_eq!(RepairMessage::parse("AT Clark +0 c +0+0 1"), None);
        for bad in [
            "SYNC",
            "SYNC 12",
            "SYNC 000000000000000g",
            "SYNC +00000000000000a",
            "GROUPS 00",
            "LEAVES 1 00",
            "WANT",
            "WANT 0a 1",
            "WANT 0a zz",
            "WANT 100",
        ] {
            assert!(
                matches!(RepairMessage::parse(bad), Some(Err(_))),
                "{bad} should be malformed"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "(SYNC|GROUPS|LEAVES|WANT) [0-9a-fA-F +-]{0,80}") {
            let _ = RepairMessage::parse(&s);
        }
    }
}
