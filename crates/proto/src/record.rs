//! A client's record: its last known position and the AT line that
//! announced it, plus the total order that decides which of two updates of
//! one client wins on every node.

use std::cmp::Ordering;
use std::fmt;

use crate::fields::fields;
use crate::time::{parse_difference, write_difference};
use crate::{IAmAt, MAX_CLIENT_ID_BYTES, Nanos, Position};

/// One update of one client. The AT line is the source of truth: every other
/// field is derived from it, so a record travels between nodes as its AT
/// line alone and two records are equal exactly when their lines are.
#[derive(Clone, Debug)]
pub struct Record {
    line: Box<str>,
    /// Kept parsed: it decides every merge. The receive time and the
    /// position are parsed from the line when asked for (rarely: a tie, a
    /// WHATSAT), which keeps a million records small.
    client_time: Nanos,
    // Byte ranges into `line`: AT ORIGIN DIFF CLIENT POSITION TIME.
    origin_end: u32,
    client: (u32, u32),
    position_text: (u32, u32),
}

/// Why a peer's AT line was not accepted as a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAtLine(pub &'static str);

impl fmt::Display for BadAtLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed AT line: {}", self.0)
    }
}

impl std::error::Error for BadAtLine {}

impl Record {
    /// The record a node makes when it receives `request` at `received`.
    pub fn from_iamat(node: &str, received: Nanos, request: &IAmAt<'_>) -> Record {
        let mut line = String::with_capacity(
            3 + node.len()
                + 22
                + request.client.len()
                + request.position_text.len()
                + request.time_text.len()
                + 3,
        );
        line.push_str("AT ");
        line.push_str(node);
        let origin_end = line.len();
        line.push(' ');
        write_difference(&mut line, received, request.time);
        line.push(' ');
        let client_start = line.len();
        line.push_str(request.client);
        let client_end = line.len();
        line.push(' ');
        line.push_str(request.position_text);
        let position_end = line.len();
        line.push(' ');
        line.push_str(request.time_text);
        Record {
            client_time: request.time,
            origin_end: span(origin_end),
            client: (span(client_start), span(client_end)),
            position_text: (span(client_end + 1), span(position_end)),
            line: line.into_boxed_str(),
        }
    }

    /// Rebuilds a record from an AT line written by [`Record::from_iamat`]
    /// (as peers send them). Strict: single spaces, valid fields, and the
    /// receive time (client time + difference) must be a valid time.
    pub fn parse_at_line(line: &str) -> Result<Record, BadAtLine> {
        // Split without collecting: every update a peer sends comes here.
        let mut parts = line.split(' ');
        let mut field = || parts.next();
        let (
            Some(at),
            Some(origin),
            Some(diff),
            Some(client),
            Some(position_text),
            Some(time_text),
            None,
        ) = (
            field(),
            field(),
            field(),
            field(),
            field(),
            field(),
            field(),
        )
        else {
            return Err(BadAtLine("expected six space-separated fields"));
        };
        if at != "AT" {
            return Err(BadAtLine("does not start with AT"));
        }
        if fields(line).count() != 6 {
            return Err(BadAtLine("field holds white space"));
        }
        if origin.is_empty() || client.is_empty() || client.len() > MAX_CLIENT_ID_BYTES {
            return Err(BadAtLine("bad node name or client id"));
        }
        Position::parse(position_text).ok_or(BadAtLine("bad position"))?;
        let client_time = Nanos::parse(time_text).ok_or(BadAtLine("bad client time"))?;
        let difference = parse_difference(diff).ok_or(BadAtLine("bad time difference"))?;
        u64::try_from(i128::from(client_time.0) + difference)
            .map_err(|_| BadAtLine("receive time out of range"))?;
        let origin_end = 3 + origin.len();
        let client_start = origin_end + 1 + diff.len() + 1;
        let client_end = client_start + client.len();
        let position_end = client_end + 1 + position_text.len();
        Ok(Record {
            line: line.into(),
            client_time,
            origin_end: span(origin_end),
            client: (span(client_start), span(client_end)),
            position_text: (span(client_end + 1), span(position_end)),
        })
    }

    /// The AT line, exactly as the receiving node answered it.
    pub fn at_line(&self) -> &str {
        &self.line
    }

    pub fn client(&self) -> &str {
        &self.line[self.client.0 as usize..self.client.1 as usize]
    }

    /// The node that received the IAMAT.
    pub fn origin(&self) -> &str {
        &self.line[3..self.origin_end as usize]
    }

    pub fn position(&self) -> Position {
        // Checked when the record was made; the default is unreachable.
        Position::parse(self.position_text()).unwrap_or_default()
    }

    pub fn position_text(&self) -> &str {
        &self.line[self.position_text.0 as usize..self.position_text.1 as usize]
    }

    /// The client's time exactly as the client sent it.
    pub fn client_time_text(&self) -> &str {
        &self.line[self.position_text.1 as usize + 1..]
    }

    pub fn client_time(&self) -> Nanos {
        self.client_time
    }

    /// When the origin node received the IAMAT, by its clock.
    pub fn received(&self) -> Nanos {
        // Exact: the difference has nine decimals, and was checked to give
        // a valid time when the record was made.
        let diff_start = self.origin_end as usize + 1;
        let diff_end = self.client.0 as usize - 1;
        parse_difference(&self.line[diff_start..diff_end])
            .and_then(|difference| u64::try_from(i128::from(self.client_time.0) + difference).ok())
            .map(Nanos)
            .unwrap_or(self.client_time)
    }

    /// The part of the order that identifies one update of a client: the
    /// client's time, then the receiving node's name. Two records with equal
    /// keys are the same update as far as a client is concerned.
    pub fn update_key(&self) -> (Nanos, &str) {
        (self.client_time, self.origin())
    }
}

/// Lines are bounded far below 4 GiB by the line-length limit.
fn span(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(u32::MAX)
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.line == other.line
    }
}

impl Eq for Record {}

/// The total order of two updates of the same client: client time, then the
/// receiving node's name, then the receive time, then the whole line. Every
/// node applies it to the same records, so every node picks the same winner
/// whatever order the updates arrive in. The later fields only matter when a
/// node that lost its memory receives the same client time twice.
impl Ord for Record {
    fn cmp(&self, other: &Self) -> Ordering {
        self.client_time
            .cmp(&other.client_time)
            .then_with(|| self.origin().cmp(other.origin()))
            .then_with(|| self.received().cmp(&other.received()))
            .then_with(|| self.line.cmp(&other.line))
    }
}

impl PartialOrd for Record {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, parse_request};
    use proptest::prelude::*;

    fn iamat(line: &str) -> IAmAt<'_> {
        match parse_request(line) {
            Some(Request::IAmAt(req)) => req,
            other => panic!("not an IAMAT: {other:?}"),
        }
    }

    #[test]
    fn at_line_echoes_fields_byte_for_byte() {
        let req = iamat("IAMAT  kiwi.cs.ucla.edu\t+34.068930-118.445127 1621464827.959498503");
        let received = Nanos(1_621_464_828_223_371_889);
        let rec = Record::from_iamat("Clark", received, &req);
        assert_eq!(
            rec.at_line(),
            "AT Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"
        );
        assert_eq!(rec.client(), "kiwi.cs.ucla.edu");
        assert_eq!(rec.origin(), "Clark");
        assert_eq!(rec.position_text(), "+34.068930-118.445127");
        assert_eq!(rec.client_time_text(), "1621464827.959498503");
    }

    #[test]
    fn client_time_in_the_future_gives_a_negative_difference() {
        let req = iamat("IAMAT c +0+0 10.5");
        let rec = Record::from_iamat("N", Nanos(10_000_000_000), &req);
        assert_eq!(rec.at_line(), "AT N -0.500000000 c +0+0 10.5");
    }

    #[test]
    fn parse_rejects_malformed_lines() {
        for bad in [
            "",
            "AT",
            "AT Clark +0.1 c +0+0 1",
            "AT Clark +0.100000000 c +0+0",
            "AT  Clark +0.100000000 c +0+0 1",
            "XX Clark +0.100000000 c +0+0 1",
            "AT Clark 0.100000000 c +0+0 1",
            "AT Clark +0.100000000 c 0+0 1",
            "AT Clark -2.000000000 c +0+0 1",
            "AT Cl\tark +0.100000000 c +0+0 1",
        ] {
            assert!(
                Record::parse_at_line(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        (
            "[A-Za-z]{1,8}",
            "[a-z0-9.é]{1,12}",
            -89i32..=89,
            -179i32..=179,
            0u64..4_000_000_000_000_000_000,
            0u64..1_000_000_000_000,
            0u32..1_000_000_000,
        )
            .prop_map(|(node, client, lat, lng, time, delay, frac)| {
                let line = format!(
                    "IAMAT {client} {lat:+}.{frac}{lng:+} {}",
                    Nanos(time).to_seconds_text()
                );
                let req = iamat(&line);
                Record::from_iamat(&node, Nanos(time + delay), &req)
            })
    }

    proptest! {
        #[test]
        fn at_line_round_trips(rec in arb_record()) {
            let parsed = Record::parse_at_line(rec.at_line()).expect("own AT line parses");
            prop_assert_eq!(parsed.at_line(), rec.at_line());
            prop_assert_eq!(parsed.client(), rec.client());
            prop_assert_eq!(parsed.origin(), rec.origin());
            prop_assert_eq!(parsed.position_text(), rec.position_text());
            prop_assert_eq!(parsed.client_time_text(), rec.client_time_text());
            prop_assert_eq!(parsed.client_time(), rec.client_time());
            prop_assert_eq!(parsed.received(), rec.received());
            prop_assert_eq!(parsed.position(), rec.position());
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Record::parse_at_line(&s);
        }

        #[test]
        fn order_is_total_and_consistent_with_equality(a in arb_record(), b in arb_record()) {
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
        }
    }
}
