//! The proof of the herd secret on a peer connection (docs/security.md):
//! what is MACed and how a proof is checked, shared by the node and by
//! anything that speaks the peer protocol as a configured peer would
//! (herd-bench's `absorb`). Pure: the nonces come from the caller.

use ring::hmac;

/// One side's proof: who proves to whom, in which role, over which nonces.
pub struct Claim<'a> {
    pub herd: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// The prover dialled (else it accepted): a proof made in one role can
    /// never pass in the other, whatever the dialling rule becomes.
    pub from_dials: bool,
    pub from_nonce: &'a str,
    pub to_nonce: &'a str,
}

impl Claim<'_> {
    /// What is MACed: versioned, and every part on its own line so no two
    /// different claims give the same text (names hold no white space).
    fn transcript(&self) -> String {
        let role = if self.from_dials { "dials" } else { "accepts" };
        format!(
            "herd-auth/1\n{}\n{}\n{}\n{role}\n{}\n{}\n",
            self.herd, self.from, self.to, self.from_nonce, self.to_nonce
        )
    }

    pub fn prove(&self, secret: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        hex(hmac::sign(&key, self.transcript().as_bytes()).as_ref())
    }

    /// Checks, in constant time, that `proof_hex` proves this claim.
    pub fn verify(&self, secret: &[u8], proof_hex: &str) -> bool {
        let Some(tag) = unhex(proof_hex) else {
            return false;
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        hmac::verify(&key, self.transcript().as_bytes(), &tag).is_ok()
    }
}

/// Lower-case hex, the spelling of nonces and proofs.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lower-case hex (one spelling), at most 64 of them.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    // Lower-case hex digits only: one proof, one spelling.
    if !text.len().is_multiple_of(2)
        || text.len() > 128
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[u8] = b"correct horse";

    fn claim<'a>(
        herd: &'a str,
        from: &'a str,
        to: &'a str,
        dials: bool,
        nonces: (&'a str, &'a str),
    ) -> Claim<'a> {
        Claim {
            herd,
            from,
            to,
            from_dials: dials,
            from_nonce: nonces.0,
            to_nonce: nonces.1,
        }
    }

    #[test]
    fn a_proof_checks_only_for_its_secret_herd_direction_role_and_nonces() {
        let nonces = ("aa", "bb");
        let p = claim("demo", "Bona", "Clark", true, nonces).prove(S);
        assert_eq!(p.len(), 64);
        assert!(claim("demo", "Bona", "Clark", true, nonces).verify(S, &p));
        assert!(!claim("demo", "Bona", "Clark", true, nonces).verify(b"wrong", &p));
        assert!(!claim("other", "Bona", "Clark", true, nonces).verify(S, &p));
        let reflected = claim("demo", "Clark", "Bona", true, nonces);
        assert!(!reflected.verify(S, &p));
        let other_role = claim("demo", "Bona", "Clark", false, nonces);
        assert!(!other_role.verify(S, &p));
        assert!(!claim("demo", "Bona", "Clark", true, ("bb", "aa")).verify(S, &p));
        let replayed = claim("demo", "Bona", "Clark", true, ("aa", "bc"));
        assert!(!replayed.verify(S, &p), "replayed on another connection");
        let right = claim("demo", "Bona", "Clark", true, nonces);
        assert!(!right.verify(S, "zz"));
        assert!(!right.verify(S, ""));
        assert!(!right.verify(S, &p.to_uppercase()), "one spelling");
    }
}
