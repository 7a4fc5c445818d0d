//! ISO 6709 positions as the protocol writes them: `+34.068930-118.445127`.

/// A latitude/longitude pair in decimal degrees, already range-checked.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct Position {
    pub lat: f64,
    pub lng: f64,
}

impl Position {
    /// Parses `±DD[.D+]±DDD[.D+]`: each part with its own sign, 1-2 and 1-3
    /// integer digits, an optional fraction of at least one digit;
    /// |lat| <= 90 and |lng| <= 180.
    pub fn parse(text: &str) -> Option<Position> {
        let bytes = text.as_bytes();
        let (lat, rest) = signed_decimal(bytes, 2)?;
        let (lng, rest) = signed_decimal(rest, 3)?;
        if !rest.is_empty() || lat.abs() > 90.0 || lng.abs() > 180.0 {
            return None;
        }
        Some(Position { lat, lng })
    }
}

/// Reads one signed decimal with at most `max_integer_digits` before the
/// point; returns the value and the unread rest.
fn signed_decimal(bytes: &[u8], max_integer_digits: usize) -> Option<(f64, &[u8])> {
    let sign = match bytes.first()? {
        b'+' => 1.0,
        b'-' => -1.0,
        _ => return None,
    };
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let integer_digits = digits(1);
    if integer_digits == 0 || integer_digits > max_integer_digits {
        return None;
    }
    let mut end = 1 + integer_digits;
    if bytes.get(end) == Some(&b'.') {
        let fraction_digits = digits(end + 1);
        if fraction_digits == 0 {
            return None;
        }
        end += 1 + fraction_digits;
    }
    // The slice is ASCII digits and at most one point: always valid UTF-8
    // and always a valid float literal.
    let magnitude: f64 = std::str::from_utf8(&bytes[1..end]).ok()?.parse().ok()?;
    Some((sign * magnitude, &bytes[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_contract_examples() {
        assert_eq!(
            Position::parse("+34.068930-118.445127"),
            Some(Position {
                lat: 34.068930,
                lng: -118.445127
            })
        );
        assert_eq!(
            Position::parse("+34-118"),
            Some(Position {
                lat: 34.0,
                lng: -118.0
            })
        );
        assert_eq!(
            Position::parse("-33.8688+151.2093"),
            Some(Position {
                lat: -33.8688,
                lng: 151.2093
            })
        );
        assert_eq!(
            Position::parse("+90+180"),
            Some(Position {
                lat: 90.0,
                lng: 180.0
            })
        );
        assert_eq!(
            Position::parse("-90.0-180.0"),
            Some(Position {
                lat: -90.0,
                lng: -180.0
            })
        );
    }

    #[test]
    fn rejects_malformed_or_out_of_range() {
        for bad in [
            "",
            "+",
            "34.1-118.2",
            "+34.1",
            "+34.1-",
            "+34.-118",
            "+34-118.",
            "+.5-118",
            "+123-118",
            "+34-1180",
            "+90.0001+0",
            "+0+180.5",
            "+34-118x",
            "+34 -118",
            "++34-118",
            "+34--118",
            "+3e1-118",
            "+34.1.2-118",
        ] {
            assert_eq!(Position::parse(bad), None, "{bad:?} must be refused");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = Position::parse(&s);
        }

        #[test]
        fn well_formed_positions_parse(lat in -90.0f64..=90.0, lng in -180.0f64..=180.0) {
            let text = format!("{lat:+.6}{lng:+.6}");
            let pos = Position::parse(&text).expect("formatted position parses");
            prop_assert!((pos.lat - lat).abs() < 1e-6);
            prop_assert!((pos.lng - lng).abs() < 1e-6);
        }
    }
}
