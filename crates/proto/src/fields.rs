//! Field splitting by the protocol's white space.
//!
//! The contract counts space, tab, CR, FF and VT as white space. Rust's
//! `split_ascii_whitespace` does not count VT (0x0B), so we define our own.

/// True for the bytes that separate fields on a line.
pub fn is_separator(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c' | b'\n')
}

/// The non-empty runs of non-separator characters of `line`.
pub fn fields(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| c.is_ascii() && is_separator(c as u8))
        .filter(|field| !field.is_empty())
}

/// Can `id` be a client id, as an IAMAT line carries one: 1 to
/// [`crate::MAX_CLIENT_ID_BYTES`] bytes, none of them a separator.
pub fn is_client_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= crate::MAX_CLIENT_ID_BYTES && !id.bytes().any(is_separator)
}

/// True when the line holds nothing but white space (it gets no reply).
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| is_separator(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_what_an_iamat_can_carry() {
        assert!(is_client_id("kiwi.cs.ucla.edu"));
        assert!(
            is_client_id("é\u{a0}ü"),
            "only the protocol's white space separates"
        );
        assert!(is_client_id(&"x".repeat(256)));
        for bad in ["", "a b", "a\x0bb", "a\tb"] {
            assert!(!is_client_id(bad), "{bad:?}");
        }
        assert!(!is_client_id(&"x".repeat(257)));
    }

    #[test]
    fn splits_on_every_protocol_separator_including_vertical_tab() {
        let got: Vec<_> = fields(" a\tb\x0bc\x0cd\re  f ").collect();
        assert_eq!(got, ["a", "b", "c", "d", "e", "f"]);
    }

    #[test]
    fn non_ascii_white_space_is_part_of_a_field() {
        // U+00A0 (no-break space) is not protocol white space.
        let got: Vec<_> = fields("a\u{a0}b c").collect();
        assert_eq!(got, ["a\u{a0}b", "c"]);
    }

    #[test]
    fn blank_lines() {
        assert!(is_blank(b""));
        assert!(is_blank(b" \t\x0b\x0c\r"));
        assert!(!is_blank(b" x "));
    }
}
