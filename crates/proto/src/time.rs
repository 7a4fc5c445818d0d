//! Exact times. Client times are compared as integer nanoseconds, never as
//! floating point, so `1.000000001` and `1.000000002` stay distinct.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A non-negative POSIX time in nanoseconds. `u64` reaches the year 2554.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nanos(pub u64);

impl Nanos {
    /// The current wall-clock time (zero if the clock is before 1970).
    pub fn now() -> Nanos {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Parses `SECONDS[.FRACTION]`: ASCII digits only, at most 9 fraction
    /// digits, no sign, no exponent. `None` for anything else or overflow.
    pub fn parse(text: &str) -> Option<Nanos> {
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        Nanos::from_parts(whole, fraction)
    }

    /// [`Nanos::parse`] of `whole.fraction` (or `whole` alone), already
    /// split: no copy of the text is made.
    fn from_parts(whole: &str, fraction: Option<&str>) -> Option<Nanos> {
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut nanos: u64 = 0;
        if let Some(fraction) = fraction {
            if fraction.is_empty()
                || fraction.len() > 9
                || !fraction.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            for (i, digit) in fraction.bytes().enumerate() {
                nanos += u64::from(digit - b'0') * 10u64.pow(8 - i as u32);
            }
        }
        let mut seconds: u64 = 0;
        for digit in whole.bytes() {
            seconds = seconds
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
        }
        seconds
            .checked_mul(NANOS_PER_SEC)?
            .checked_add(nanos)
            .map(Nanos)
    }

    /// `SECONDS.NNNNNNNNN`, always with nine fraction digits.
    pub fn to_seconds_text(self) -> String {
        format!("{}.{:09}", self.0 / NANOS_PER_SEC, self.0 % NANOS_PER_SEC)
    }

    pub fn saturating_add(self, nanos: u64) -> Nanos {
        Nanos(self.0.saturating_add(nanos))
    }
}

/// Appends `received - client` as the contract's time difference: always a
/// sign, the seconds, a point and exactly nine decimals (`+0.263873386`,
/// `-1.000000000`); zero is `+0.000000000`.
pub fn write_difference(out: &mut String, received: Nanos, client: Nanos) {
    let diff = i128::from(received.0) - i128::from(client.0);
    let sign = if diff < 0 { '-' } else { '+' };
    let magnitude = diff.unsigned_abs();
    let per_sec = u128::from(NANOS_PER_SEC);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{sign}{}.{:09}",
        magnitude / per_sec,
        magnitude % per_sec
    );
}

/// Parses a time difference written by [`write_difference`] back into signed
/// nanoseconds. Strict: a sign, digits, a point and exactly nine digits.
pub fn parse_difference(text: &str) -> Option<i128> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'+' => (false, &text[1..]),
        b'-' => (true, &text[1..]),
        _ => return None,
    };
    let (whole, fraction) = rest.split_once('.')?;
    if fraction.len() != 9 {
        return None;
    }
    // Every record loaded at start-up passes here: no allocation.
    let magnitude = Nanos::from_parts(whole, Some(fraction))?;
    let value = i128::from(magnitude.0);
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exact_nanoseconds() {
        assert_eq!(
            Nanos::parse("1621464827.959498503"),
            Some(Nanos(1_621_464_827_959_498_503))
        );
        assert_eq!(Nanos::parse("1.5"), Some(Nanos(1_500_000_000)));
        assert_eq!(Nanos::parse("0"), Some(Nanos(0)));
        assert_eq!(Nanos::parse("007.000000001"), Some(Nanos(7_000_000_001)));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "-1",
            "+1",
            "1e9",
            "1.0000000001",
            "1.2.3",
            "١",
            " 1",
            "1 ",
            "inf",
            "NaN",
            "18446744074",
            "99999999999999999999999",
        ] {
            assert_eq!(Nanos::parse(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn difference_is_signed_with_nine_decimals() {
        let mut s = String::new();
        write_difference(&mut s, Nanos(1_263_873_386), Nanos(1_000_000_000));
        assert_eq!(s, "+0.263873386");
        s.clear();
        write_difference(&mut s, Nanos(5), Nanos(5));
        assert_eq!(s, "+0.000000000");
        s.clear();
        write_difference(&mut s, Nanos(0), Nanos(2_000_000_001));
        assert_eq!(s, "-2.000000001");
    }

    proptest! {
        #[test]
        fn seconds_text_round_trips(n in any::<u64>()) {
            prop_assert_eq!(Nanos::parse(&Nanos(n).to_seconds_text()), Some(Nanos(n)));
        }

        #[test]
        fn difference_round_trips(a in any::<u64>(), b in any::<u64>()) {
            let mut s = String::new();
            write_difference(&mut s, Nanos(a), Nanos(b));
            prop_assert_eq!(parse_difference(&s), Some(i128::from(a) - i128::from(b)));
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Nanos::parse(&s);
            let _ = parse_difference(&s);
        }
    }
}
