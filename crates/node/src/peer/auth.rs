//! Peer authentication with the herd secret (docs/security.md).
//!
//! After the HELLO exchange, when the herd has a `secret`, each side sends
//! `AUTH <nonce>` (16 fresh random bytes from the OS), then `PROOF <mac>`:
//! HMAC-SHA256 keyed with the secret over the herd name, both node names in
//! the direction of the proof, and both nonces. A proof is only good for
//! this connection (fresh nonces from both sides), this herd, and this pair
//! in this direction; the secret itself never crosses the wire. Both sides
//! verify in constant time. Nothing else is read until both proofs check.

use std::time::Duration;

use herd_proto::peer::{PeerMessage, parse_peer_line};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::handshake::read_line;
use crate::line_reader::LineReader;

/// What is MACed: versioned, and every part on its own line so no two
/// different tuples give the same text.
fn transcript(herd: &str, from: &str, to: &str, from_nonce: &str, to_nonce: &str) -> String {
    format!("herd-auth/1\n{herd}\n{from}\n{to}\n{from_nonce}\n{to_nonce}\n")
}

/// The proof `from` sends `to`.
pub(crate) fn proof(
    secret: &[u8],
    herd: &str,
    from: &str,
    to: &str,
    from_nonce: &str,
    to_nonce: &str,
) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(
        &key,
        transcript(herd, from, to, from_nonce, to_nonce).as_bytes(),
    );
    hex(tag.as_ref())
}

/// Checks, in constant time, a proof that `from` sent `to`.
pub(crate) fn verify(
    secret: &[u8],
    herd: &str,
    from: &str,
    to: &str,
    from_nonce: &str,
    to_nonce: &str,
    proof_hex: &str,
) -> bool {
    let Some(tag) = unhex(proof_hex) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(
        &key,
        transcript(herd, from, to, from_nonce, to_nonce).as_bytes(),
        &tag,
    )
    .is_ok()
}

fn fresh_nonce() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the OS gave no random bytes".to_owned())?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Who is proving what to whom on one connection.
pub(super) struct Parties<'a> {
    pub secret: &'a [u8],
    pub herd: &'a str,
    pub me: &'a str,
    pub peer: &'a str,
}

impl<'a> Parties<'a> {
    /// This node and `peer`, when the herd has a secret (else no
    /// authentication).
    pub(super) fn of(settings: &'a crate::node::Settings, peer: &'a str) -> Option<Parties<'a>> {
        settings.secret.as_ref().map(|secret| Parties {
            secret: secret.expose().as_bytes(),
            herd: &settings.herd,
            me: &settings.name,
            peer,
        })
    }
}

/// Runs both halves of the exchange on `stream`; `Err` says why the peer
/// is not to be trusted (the caller refuses and logs it).
pub(super) async fn authenticate(
    stream: &mut TcpStream,
    lines: &mut LineReader,
    parties: &Parties<'_>,
    limit: Duration,
) -> Result<(), String> {
    timeout(limit, exchange(stream, lines, parties))
        .await
        .map_err(|_| "authentication did not complete in time".to_owned())?
}

async fn exchange(
    stream: &mut TcpStream,
    lines: &mut LineReader,
    parties: &Parties<'_>,
) -> Result<(), String> {
    let my_nonce = fresh_nonce()?;
    send(stream, &format!("AUTH {my_nonce}\n")).await?;
    let line = read_line(stream, lines).await?;
    let peer_nonce = match parse_peer_line(&line) {
        Ok(PeerMessage::Auth(nonce)) if nonce.len() == 32 && unhex(nonce).is_some() => {
            nonce.to_owned()
        }
        Ok(PeerMessage::Auth(_)) => return Err("malformed AUTH".to_owned()),
        Ok(PeerMessage::Refused(reason)) => return Err(format!("refused: {reason}")),
        _ => {
            return Err("peer did not authenticate (is the herd secret set on both?)".to_owned());
        }
    };
    if peer_nonce == my_nonce {
        return Err("peer echoed our nonce".to_owned());
    }
    let mine = proof(
        parties.secret,
        parties.herd,
        parties.me,
        parties.peer,
        &my_nonce,
        &peer_nonce,
    );
    send(stream, &format!("PROOF {mine}\n")).await?;
    let line = read_line(stream, lines).await?;
    match parse_peer_line(&line) {
        Ok(PeerMessage::Proof(theirs))
            if verify(
                parties.secret,
                parties.herd,
                parties.peer,
                parties.me,
                &peer_nonce,
                &my_nonce,
                theirs,
            ) =>
        {
            Ok(())
        }
        Ok(PeerMessage::Refused(reason)) => Err(format!("refused: {reason}")),
        _ => Err("authentication failed: wrong proof of the herd secret".to_owned()),
    }
}

async fn send(stream: &mut TcpStream, line: &str) -> Result<(), String> {
    stream
        .write_all(line.as_bytes())
        .await
        .map_err(|err| format!("lost during authentication: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[u8] = b"correct horse";

    #[test]
    fn a_proof_checks_only_for_its_secret_herd_direction_and_nonces() {
        let p = proof(S, "demo", "Bona", "Clark", "aa", "bb");
        assert_eq!(p.len(), 64);
        assert!(verify(S, "demo", "Bona", "Clark", "aa", "bb", &p));
        assert!(!verify(b"wrong", "demo", "Bona", "Clark", "aa", "bb", &p));
        assert!(!verify(S, "other", "Bona", "Clark", "aa", "bb", &p));
        assert!(
            !verify(S, "demo", "Clark", "Bona", "aa", "bb", &p),
            "reflected"
        );
        assert!(!verify(S, "demo", "Bona", "Clark", "bb", "aa", &p));
        assert!(
            !verify(S, "demo", "Bona", "Clark", "aa", "bc", &p),
            "replayed on another connection"
        );
        assert!(!verify(S, "demo", "Bona", "Clark", "aa", "bb", "zz"));
        assert!(!verify(S, "demo", "Bona", "Clark", "aa", "bb", ""));
    }

    #[test]
    fn nonces_are_fresh() -> Result<(), String> {
        let a = fresh_nonce()?;
        let b = fresh_nonce()?;
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        Ok(())
    }
}
