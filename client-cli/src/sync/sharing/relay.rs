//! The sharing pass's requests to the relay: one function per question, each returning the
//! answer it asked for or saying what came instead. A refusal comes back as
//! [`RelayError::Refused`], so callers can tell "not allowed" from a broken connection.

use between_shared::crypto::IdentityPublic;
use between_shared::protocol::{
    AccountId, ClientMessage, DeviceInfo, DocId, DocumentInfo, ErrorCode, KeyEnvelope, RequestId,
    ServerMessage,
};

use super::SharingError;
use crate::sync::connection::{Connection, RelayError};

/// Request ids of one exchange, counted from where it starts.
pub(crate) struct Requests(u64);

impl Requests {
    /// Ids from `start + 1` on; each exchange starts elsewhere, so a log shows which asked.
    pub(crate) fn from(start: u64) -> Self {
        Self(start)
    }

    fn next(&mut self) -> RequestId {
        self.0 += 1;
        RequestId(self.0)
    }
}

/// Sends `msg` and waits for its answer; an `error` answer becomes a refusal.
async fn ask(
    conn: &mut Connection,
    msg: ClientMessage,
    asked: &'static str,
) -> Result<ServerMessage, SharingError> {
    match conn.request(&msg, asked).await? {
        ServerMessage::Error { code, message, .. } => {
            Err(RelayError::Refused { code, message }.into())
        }
        reply => Ok(reply),
    }
}

fn unexpected(asked: &'static str, got: &ServerMessage) -> SharingError {
    SharingError::Unexpected {
        asked,
        got: got.name(),
    }
}

/// An account's identity and devices: `None` asks for "the other member" (for a client, the
/// account that invited it).
pub(crate) async fn get_account(
    conn: &mut Connection,
    ids: &mut Requests,
    account: Option<AccountId>,
) -> Result<(AccountId, IdentityPublic, Vec<DeviceInfo>), SharingError> {
    let request = ids.next();
    match ask(
        conn,
        ClientMessage::GetAccount { request, account },
        "an account's devices",
    )
    .await?
    {
        ServerMessage::Account {
            account,
            identity,
            devices,
            ..
        } => Ok((account, IdentityPublic(identity), devices)),
        other => Err(unexpected("get_account", &other)),
    }
}

/// Whether the relay still lets this account look `account` up: `false` when it refuses as
/// forbidden (they stopped sharing with this account).
pub(crate) async fn still_shared(
    conn: &mut Connection,
    ids: &mut Requests,
    account: AccountId,
) -> Result<bool, SharingError> {
    let request = ids.next();
    let asked = ask(
        conn,
        ClientMessage::GetAccount {
            request,
            account: Some(account),
        },
        "whether the other member still shares",
    )
    .await;
    match asked {
        Err(SharingError::Relay(RelayError::Refused {
            code: ErrorCode::Forbidden,
            ..
        })) => Ok(false),
        Err(err) => Err(err),
        Ok(_) => Ok(true),
    }
}

/// The documents this account is a member of.
pub(crate) async fn list_documents(
    conn: &mut Connection,
    ids: &mut Requests,
) -> Result<Vec<DocumentInfo>, SharingError> {
    let request = ids.next();
    match ask(
        conn,
        ClientMessage::ListDocuments { request },
        "the list of documents",
    )
    .await?
    {
        ServerMessage::Documents { documents, .. } => Ok(documents),
        other => Err(unexpected("list_documents", &other)),
    }
}

/// A document's membership list as the relay keeps it; `None` when it has none, or no longer
/// lets this account read it.
pub(crate) async fn membership(
    conn: &mut Connection,
    ids: &mut Requests,
    doc: DocId,
) -> Result<Option<Vec<u8>>, SharingError> {
    let request = ids.next();
    match ask(
        conn,
        ClientMessage::GetMembership { request, doc },
        "a membership list",
    )
    .await
    {
        Ok(ServerMessage::Membership { membership, .. }) => Ok(membership),
        Ok(other) => Err(unexpected("get_membership", &other)),
        Err(SharingError::Relay(RelayError::Refused {
            code: ErrorCode::NotMember,
            ..
        })) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Stores a signed membership list on the relay, which enforces it from then on.
pub(crate) async fn put_membership(
    conn: &mut Connection,
    ids: &mut Requests,
    doc: DocId,
    membership: Vec<u8>,
    asked: &'static str,
) -> Result<(), SharingError> {
    let request = ids.next();
    ask(
        conn,
        ClientMessage::PutMembership {
            request,
            doc,
            membership,
        },
        asked,
    )
    .await?;
    Ok(())
}

/// The wrapped keys of a document the relay holds for this account's devices.
pub(crate) async fn key_envelopes(
    conn: &mut Connection,
    ids: &mut Requests,
    doc: DocId,
) -> Result<Vec<KeyEnvelope>, SharingError> {
    let request = ids.next();
    match ask(
        conn,
        ClientMessage::GetKeyEnvelopes { request, doc },
        "the wrapped keys",
    )
    .await?
    {
        ServerMessage::KeyEnvelopes { envelopes, .. } => Ok(envelopes),
        other => Err(unexpected("get_key_envelopes", &other)),
    }
}

/// Stores one wrapped key on the relay; a refusal comes back as [`RelayError::Refused`].
pub(crate) async fn put_key_envelope(
    conn: &mut Connection,
    ids: &mut Requests,
    doc: DocId,
    envelope: KeyEnvelope,
) -> Result<(), SharingError> {
    let request = ids.next();
    match ask(
        conn,
        ClientMessage::PutKeyEnvelopes {
            request,
            doc,
            envelopes: vec![envelope],
        },
        "the wrapped key to be stored",
    )
    .await?
    {
        ServerMessage::Done { .. } => Ok(()),
        other => Err(unexpected("put_key_envelopes", &other)),
    }
}
