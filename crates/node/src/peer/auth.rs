//! Peer authentication with the herd secret (docs/security.md).
//!
//! After the HELLO exchange, when the herd has a `secret`, each side sends
//! `AUTH <nonce>` (16 fresh random bytes from the OS), then `PROOF <mac>`:
//! HMAC-SHA256 keyed with the secret over the herd name, both node names in
//! the direction of the proof, the prover's role (dialling or accepting),
//! and both nonces. A proof is only good for this connection (fresh nonces
//! from both sides), this herd, this pair in this direction and role; the
//! secret itself never crosses the wire. Both sides verify in constant
//! time. Nothing else is read until both proofs check.

use std::time::Duration;

use herd_proto::auth::{Claim, hex, unhex};
use herd_proto::peer::{PeerMessage, parse_peer_line};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout;

use super::error::AuthError;
use super::wire::read_line;
use crate::line_reader::LineReader;

fn fresh_nonce() -> Result<String, AuthError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::NoRandomness)?;
    Ok(hex(&bytes))
}

/// Who is proving what to whom on one connection.
pub(super) struct Parties<'a> {
    /// This node proves with the first and takes a proof made with any
    /// (while the secret rotates).
    pub secrets: &'a [herd_config::Secret],
    pub herd: &'a str,
    pub me: &'a str,
    pub peer: &'a str,
    /// This node dialled the connection.
    pub i_dial: bool,
}

impl<'a> Parties<'a> {
    /// This node and `peer`, when the herd has a secret (else no
    /// authentication).
    pub(super) fn of(
        settings: &'a crate::node::Settings,
        secrets: &'a [herd_config::Secret],
        peer: &'a str,
        i_dial: bool,
    ) -> Option<Parties<'a>> {
        (!secrets.is_empty()).then_some(Parties {
            secrets,
            herd: &settings.herd,
            me: &settings.name,
            peer,
            i_dial,
        })
    }
}

/// Runs both halves of the exchange on `stream`; `Err` says why the peer
/// is not to be trusted (the caller refuses and logs it).
pub(super) async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    lines: &mut LineReader,
    parties: &Parties<'_>,
    limit: Duration,
) -> Result<(), AuthError> {
    timeout(limit, exchange(stream, lines, parties))
        .await
        .map_err(|_| AuthError::Timeout)?
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    lines: &mut LineReader,
    parties: &Parties<'_>,
) -> Result<(), AuthError> {
    let my_nonce = fresh_nonce()?;
    send(stream, &format!("AUTH {my_nonce}\n")).await?;
    let line = read_line(stream, lines).await?;
    let peer_nonce = match parse_peer_line(&line) {
        Ok(PeerMessage::Auth(nonce)) if nonce.len() == 32 && unhex(nonce).is_some() => {
            nonce.to_owned()
        }
        Ok(PeerMessage::Auth(_)) => return Err(AuthError::MalformedAuth),
        Ok(PeerMessage::Refused(reason)) => return Err(AuthError::Refused(reason.to_owned())),
        _ => return Err(AuthError::NoAuth),
    };
    if peer_nonce == my_nonce {
        return Err(AuthError::EchoedNonce);
    }
    let mine = Claim {
        herd: parties.herd,
        from: parties.me,
        to: parties.peer,
        from_dials: parties.i_dial,
        from_nonce: &my_nonce,
        to_nonce: &peer_nonce,
    };
    let Some(first) = parties.secrets.first() else {
        return Err(AuthError::NoAuth);
    };
    send(
        stream,
        &format!("PROOF {}\n", mine.prove(first.expose().as_bytes())),
    )
    .await?;
    let theirs = Claim {
        herd: parties.herd,
        from: parties.peer,
        to: parties.me,
        from_dials: !parties.i_dial,
        from_nonce: &peer_nonce,
        to_nonce: &my_nonce,
    };
    let line = read_line(stream, lines).await?;
    match parse_peer_line(&line) {
        Ok(PeerMessage::Proof(proof))
            if parties
                .secrets
                .iter()
                .any(|secret| theirs.verify(secret.expose().as_bytes(), proof)) =>
        {
            Ok(())
        }
        Ok(PeerMessage::Refused(reason)) => Err(AuthError::Refused(reason.to_owned())),
        _ => Err(AuthError::WrongProof),
    }
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, line: &str) -> Result<(), AuthError> {
    super::wire::send(stream, line)
        .await
        .map_err(AuthError::Lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh() -> Result<(), AuthError> {
        let a = fresh_nonce()?;
        let b = fresh_nonce()?;
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        Ok(())
    }
}
