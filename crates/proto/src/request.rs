//! Client requests: `IAMAT` and `WHATSAT`. Anything that does not parse is
//! answered `? <line>` by the caller; parsing never fails loudly.

use crate::fields::fields;
use crate::{MAX_CLIENT_ID_BYTES, Nanos, Position};

/// A well-formed client request, borrowing the fields from the line so the
/// reply can echo them byte-for-byte.
#[derive(Debug, PartialEq)]
pub enum Request<'a> {
    IAmAt(IAmAt<'a>),
    WhatsAt(WhatsAt<'a>),
}

#[derive(Debug, PartialEq)]
pub struct IAmAt<'a> {
    pub client: &'a str,
    /// The position exactly as sent.
    pub position_text: &'a str,
    pub position: Position,
    /// The client time exactly as sent.
    pub time_text: &'a str,
    pub time: Nanos,
}

#[derive(Debug, PartialEq)]
pub struct WhatsAt<'a> {
    pub client: &'a str,
    pub radius_km: f64,
    pub bound: usize,
}

/// Largest WHATSAT radius in km and bound (contract section 2).
pub const MAX_RADIUS_KM: f64 = 50.0;
pub const MAX_BOUND: usize = 20;

/// Parses one line (without its line ending). `None` means "answer `?`".
/// Blank lines are the caller's business: they get no reply at all.
pub fn parse_request(line: &str) -> Option<Request<'_>> {
    let mut parts = fields(line);
    let command = parts.next()?;
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    match command {
        "IAMAT" => Some(Request::IAmAt(IAmAt {
            client: client_id(a)?,
            position_text: b,
            position: Position::parse(b)?,
            time_text: c,
            time: Nanos::parse(c)?,
        })),
        "WHATSAT" => Some(Request::WhatsAt(WhatsAt {
            client: client_id(a)?,
            radius_km: radius_km(b)?,
            bound: bound(c)?,
        })),
        _ => None,
    }
}

fn client_id(field: &str) -> Option<&str> {
    (field.len() <= MAX_CLIENT_ID_BYTES).then_some(field)
}

/// A plain decimal (`10`, `0.5`, `12.75`): no sign, no exponent, no `inf`.
fn radius_km(field: &str) -> Option<f64> {
    let (whole, fraction) = field.split_once('.').unwrap_or((field, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    let radius: f64 = field.parse().ok()?;
    (radius > 0.0 && radius <= MAX_RADIUS_KM).then_some(radius)
}

fn bound(field: &str) -> Option<usize> {
    if field.is_empty() || field.len() > 3 || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bound: usize = field.parse().ok()?;
    (1..=MAX_BOUND).contains(&bound).then_some(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_iamat() {
        let line = "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
        let Some(Request::IAmAt(req)) = parse_request(line) else {
            panic!("IAMAT must parse");
        };
        assert_eq!(req.client, "kiwi.cs.ucla.edu");
        assert_eq!(req.position_text, "+34.068930-118.445127");
        assert_eq!(req.time_text, "1621464827.959498503");
        assert_eq!(req.time, Nanos(1_621_464_827_959_498_503));
    }

    #[test]
    fn fields_may_be_separated_by_any_protocol_white_space() {
        let line = "\tIAMAT\x0bkiwi  +34-118\x0c1.5 \r";
        assert!(matches!(parse_request(line), Some(Request::IAmAt(_))));
    }

    #[test]
    fn parses_whatsat() {
        assert_eq!(
            parse_request("WHATSAT kiwi.cs.ucla.edu 10 5"),
            Some(Request::WhatsAt(WhatsAt {
                client: "kiwi.cs.ucla.edu",
                radius_km: 10.0,
                bound: 5
            }))
        );
        assert!(parse_request("WHATSAT k 50 20").is_some());
        assert!(parse_request("WHATSAT k 0.001 1").is_some());
    }

    #[test]
    fn rejects_bad_lines() {
        let long_id = "x".repeat(257);
        let bad = [
            "IAMAT",
            "IAMAT kiwi +34-118",
            "IAMAT kiwi +34-118 1.5 extra",
            "iamat kiwi +34-118 1.5",
            "IAMAT kiwi 34-118 1.5",
            "IAMAT kiwi +34-118 -1.5",
            "IAMAT kiwi +34-118 1.5e3",
            &format!("IAMAT {long_id} +34-118 1.5"),
            "WHATSAT kiwi 0 5",
            "WHATSAT kiwi 50.01 5",
            "WHATSAT kiwi 51 5",
            "WHATSAT kiwi -1 5",
            "WHATSAT kiwi 1e1 5",
            "WHATSAT kiwi inf 5",
            "WHATSAT kiwi NaN 5",
            "WHATSAT kiwi 10 0",
            "WHATSAT kiwi 10 21",
            "WHATSAT kiwi 10 2.5",
            "WHATSAT kiwi 10 +5",
            "WHATSAT kiwi 10",
            "AT Clark +0.1 kiwi +34-118 1.5",
            "HELLO",
        ];
        for line in bad {
            assert_eq!(parse_request(line), None, "{line:?} must be refused");
        }
    }

    #[test]
    fn client_id_of_exactly_256_bytes_is_accepted() {
        let id = "é".repeat(128);
        assert_eq!(id.len(), 256);
        assert!(parse_request(&format!("IAMAT {id} +34-118 1")).is_some());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_request(&s);
        }

        /// Any bytes a client or a peer can send, and valid lines with a
        /// few bytes changed: every decoder answers, none panics (the same
        /// inputs as the `cargo fuzz` targets in fuzz/).
        #[test]
        fn any_bytes_never_panic_any_decoder(
            bytes in prop::collection::vec(any::<u8>(), 0..400),
            base in prop::sample::select(vec![
                "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
                "WHATSAT kiwi.cs.ucla.edu 10 5",
                "AT Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503",
                "HELLO HERD/2 demo Clark 0123456789abcdef",
                "SYNC 00000000000000ab",
                "WANT 0a 01ff",
            ]),
            edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        ) {
            let mut mutated = base.as_bytes().to_vec();
            for (at, byte) in edits {
                let at = at % (mutated.len() + 1);
                match byte % 3 {
                    0 if at < mutated.len() => mutated[at] = byte,
                    1 if at < mutated.len() => { mutated.remove(at); }
                    _ => mutated.insert(at, byte),
                }
            }
            for input in [bytes, mutated] {
                let text = String::from_utf8_lossy(&input);
                let _ = parse_request(&text);
                let _ = crate::peer::parse_peer_line(&text);
                let _ = crate::Record::parse_at_line(&text);
                let _ = crate::repair::RepairMessage::parse(&text);
            }
        }
    }
}
