//! A therapist's invite for a client: where the relay is, the one-time secret that lets the
//! client register, and a commitment to the therapist's identity key.
//!
//! The client's first device fetches the therapist's identity and device certificates from the
//! relay, and wraps the shared document's key for them only if that identity matches the
//! commitment in the invite. The invite travels outside the relay (on paper, by message), so a
//! relay that substitutes its own key for the therapist's is caught before any key is given.
//!
//! Text form: `RELAY-URL#CODE`, where `CODE` is the 48 bytes `secret (32) || commitment (16)`
//! written like every other code (Crockford base 32 with a check symbol, groups of four; see
//! `code.rs`). The commitment is the first 16 bytes of
//! `SHA-256(TAG_IDENTITY_COMMITMENT || identity key)`: 128 bits, beyond any second-preimage
//! search.

use super::code;
use super::identity::array_at;
use super::{CryptoError, IdentityPublic, InviteSecret};
use sha2::{Digest, Sha256};

/// Domain tag hashed before an identity key to make the commitment an invite carries.
pub const TAG_IDENTITY_COMMITMENT: &[u8] = b"between/identity-commitment/v1\0";

/// A short, collision-resistant commitment to an identity key (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityCommitment(pub [u8; 16]);

impl IdentityPublic {
    /// The commitment to this key that an invite carries.
    pub fn commitment(&self) -> IdentityCommitment {
        let mut hasher = Sha256::new();
        hasher.update(TAG_IDENTITY_COMMITMENT);
        hasher.update(self.0);
        IdentityCommitment(array_at(&hasher.finalize(), 0))
    }
}

/// A therapist's invite for a client (see the module docs).
#[derive(Clone)]
pub struct ClientInvite {
    /// The relay's address, as the therapist's device knows it.
    pub relay_url: String,
    /// The one-time secret (the relay stores only its hash).
    pub secret: InviteSecret,
    /// The commitment to the inviting therapist's identity key.
    pub therapist: IdentityCommitment,
}

impl std::fmt::Debug for ClientInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInvite")
            .field("relay_url", &self.relay_url)
            .field("therapist", &self.therapist)
            .finish_non_exhaustive()
    }
}

impl ClientInvite {
    /// An invite from the therapist whose identity is `therapist`.
    pub fn new(relay_url: String, secret: InviteSecret, therapist: &IdentityPublic) -> Self {
        Self {
            relay_url,
            secret,
            therapist: therapist.commitment(),
        }
    }

    /// The text to hand to the client: `RELAY-URL#CODE`.
    pub fn to_text(&self) -> String {
        let mut bytes = [0u8; 48];
        bytes[..32].copy_from_slice(self.secret.as_bytes());
        bytes[32..].copy_from_slice(&self.therapist.0);
        format!("{}#{}", self.relay_url, code::encode(&bytes))
    }

    /// Reads an invite's text; `None` when it has no `#` (a bare code, such as the admin's
    /// therapist invites, which carry no relay address and no commitment).
    pub fn parse(text: &str) -> Option<Result<Self, CryptoError>> {
        let (relay_url, code_text) = text.trim().rsplit_once('#')?;
        Some(
            code::decode::<48>(code_text)
                .map_err(CryptoError::BadInviteCode)
                .map(|bytes| Self {
                    relay_url: relay_url.trim().to_owned(),
                    secret: InviteSecret::from_bytes(array_at(&bytes, 0)),
                    therapist: IdentityCommitment(array_at(&bytes, 32)),
                }),
        )
    }

    /// Whether `identity` is the therapist who made this invite.
    pub fn is_from(&self, identity: &IdentityPublic) -> bool {
        identity.commitment() == self.therapist
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::test_rng::rng;
    use crate::crypto::IdentityKeypair;

    #[test]
    fn an_invite_round_trips_and_names_its_therapist() {
        let therapist = IdentityKeypair::generate(&mut rng(1)).public();
        let other = IdentityKeypair::generate(&mut rng(2)).public();
        let secret = InviteSecret::generate(&mut rng(3));
        let invite =
            ClientInvite::new("wss://relay.example.org".into(), secret.clone(), &therapist);
        let text = invite.to_text();
        assert!(text.starts_with("wss://relay.example.org#"), "{text}");
        let back = ClientInvite::parse(&text).unwrap().unwrap();
        assert_eq!(back.relay_url, "wss://relay.example.org");
        assert_eq!(back.secret.as_bytes(), secret.as_bytes());
        assert!(back.is_from(&therapist));
        assert!(!back.is_from(&other));
        // Read as forgivingly as other codes: lower case, spaces around.
        let sloppy = format!("  {}  ", text.to_lowercase());
        assert!(ClientInvite::parse(&sloppy)
            .unwrap()
            .unwrap()
            .is_from(&therapist));
        assert!(!format!("{back:?}").contains(&code::encode(secret.as_bytes())));
    }

    #[test]
    fn a_bare_code_is_not_a_client_invite_and_typos_are_caught() {
        assert!(ClientInvite::parse("ABCD-EFGH").is_none());
        let therapist = IdentityKeypair::generate(&mut rng(1)).public();
        let text = ClientInvite::new(
            "wss://relay.example.org".into(),
            InviteSecret::generate(&mut rng(4)),
            &therapist,
        )
        .to_text();
        // Change one symbol of the code.
        let (url, code_text) = text.rsplit_once('#').unwrap();
        let mut symbols: Vec<char> = code_text.chars().collect();
        symbols[5] = if symbols[5] == '7' { '8' } else { '7' };
        let typo = format!("{url}#{}", symbols.iter().collect::<String>());
        assert!(matches!(
            ClientInvite::parse(&typo),
            Some(Err(CryptoError::BadInviteCode(_)))
        ));
    }
}
