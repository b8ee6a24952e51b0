//! `between client invite`: a therapist's invite code for a new client.

use super::*;

/// An invite for a new client, as made on the relay.
pub(crate) struct NewInvite {
    /// The invite text (`RELAY#CODE`) the client's first device joins with.
    pub(crate) text: String,
    /// When it stops working (Unix milliseconds).
    pub(crate) expires_at_ms: i64,
    /// This therapist's safety number, for the client to compare.
    pub(crate) fingerprint: String,
    /// Whether the client's device needs the practice's CA file.
    pub(crate) needs_ca_file: bool,
}

/// Leaves a one-time invite for a new client with the relay (only its hash), valid for
/// `expires_in_days`; the invite carries a commitment to this therapist's identity key.
pub(crate) fn new_client_invite(session: &Session, expires_in_days: u32) -> Result<NewInvite> {
    let keys = synced_account(session)?;
    if keys.certificate.role != Role::Therapist {
        bail!("only a therapist invites clients; a client's homework is shared with the therapist who invited them");
    }
    let secret = InviteSecret::generate(&mut rand::rng());
    let expires_at_ms = real_unix_ms() + i64::from(expires_in_days) * 24 * 3_600_000;
    let invite = ClientInvite::new(
        keys.relay.display.clone(),
        secret.clone(),
        &keys.identity.public(),
    );
    let rt = runtime()?;
    let reply = rt.block_on(async {
        let mut conn = Connection::signed_in(&keys.relay, &keys.device).await?;
        let reply = conn
            .request(
                &ClientMessage::CreateInvite {
                    request: RequestId(1),
                    invite_hash: secret.hash(),
                    expires_at_ms,
                },
                "the invite to be stored",
            )
            .await;
        conn.close().await;
        reply
    });
    match reply {
        Ok(ServerMessage::Done { .. }) => {}
        Ok(ServerMessage::Error { code, message, .. }) => {
            bail!("the relay refused the invite: {message} ({code})")
        }
        Ok(other) => bail!("the relay answered the invite with {}", other.name()),
        Err(err) => {
            return Err(Unreachable(format!(
                "{err}; no invite was made. Try again when the relay can be reached"
            ))
            .into())
        }
    }
    Ok(NewInvite {
        text: invite.to_text(),
        expires_at_ms,
        fingerprint: keys.identity.public().fingerprint(),
        needs_ca_file: keys.relay.practice_ca().is_some(),
    })
}

/// `between client invite`: a one-time invite for a new client, stored (hashed) at the relay by
/// this therapist's account. The printed invite carries the relay's address, the secret and a
/// commitment to this therapist's identity key, so the client's device shares only with this
/// therapist even if the relay lies about who that is.
pub(crate) fn client_invite(session: &Session, expires_in_days: u32, json: bool) -> Result<()> {
    let NewInvite {
        text,
        expires_at_ms,
        fingerprint,
        needs_ca_file,
    } = new_client_invite(session, expires_in_days)?;
    let expires = when(Some(expires_at_ms));
    if json {
        return print_json(&serde_json::json!({
            "invite": text,
            "expires_at_ms": expires_at_ms,
            "fingerprint": fingerprint,
        }));
    }
    let mut message = vec![
        format!("Invite for a new client (works once, until {expires}):"),
        String::new(),
        format!("  {text}"),
        String::new(),
        "Give it to your client privately. On their first device they run:".to_owned(),
        format!("  between init --invite '{text}' --name \"THEIR NAME\""),
    ];
    if needs_ca_file {
        message.push("with --ca-file and your practice's CA file, as you did.".to_owned());
    }
    message.extend([
        "Their homework is then shared with you; it arrives on your next `between sync`."
            .to_owned(),
        format!("Your safety number, for them to compare: {fingerprint}"),
    ]);
    hand_over(&text, &message)
}
