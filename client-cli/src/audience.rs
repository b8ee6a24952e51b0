//! Who sees a client's shared homework, as this device knows it: their therapist through the
//! relay (the signed membership list names one), their therapist by file (a profile without a
//! relay whose homework came from or went to a therapist), nobody yet, or nobody any more. A
//! client's views say it next to every entry, so "shared with your therapist" appears only when
//! it is true.

use between_shared::crypto::SignedMembership;
use between_shared::model::HomeworkData;
use between_shared::{Role, Timestamp};

use crate::profile::Session;
use crate::store::DocumentRecord;

/// Who sees the entries of a client's shared homework document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// A therapist is on the document's signed membership list: they receive it through the relay.
    Therapist,
    /// No relay: the homework reaches a therapist as a file (`between doc save`).
    TherapistByFile,
    /// No therapist is on the membership list: the client's own devices only. `had_one` when a
    /// therapist wrote in it before.
    NoTherapist { had_one: bool },
    /// Sharing ended (the client took it back, or the therapist ended it).
    Ended { at: Timestamp },
}

impl Audience {
    /// Works out who sees `record` (the client's shared document, holding `data`).
    pub(crate) fn of(
        session: &Session,
        record: &DocumentRecord,
        data: &HomeworkData,
    ) -> anyhow::Result<Self> {
        let had_one = data.meta.therapist_name.is_some()
            || data
                .assignments
                .values()
                .any(|a| a.created_by.role == Role::Therapist)
            || data
                .comments
                .values()
                .any(|c| c.author.role == Role::Therapist);
        if session.store.account()?.is_none() {
            return Ok(if had_one {
                Self::TherapistByFile
            } else {
                Self::NoTherapist { had_one }
            });
        }
        let therapist_member = session
            .store
            .membership(record.id)?
            .and_then(|bytes| SignedMembership::from_bytes(&bytes).ok())
            .is_some_and(|list| list.members().iter().any(|m| m.role == Role::Therapist));
        if therapist_member {
            return Ok(Self::Therapist);
        }
        if let Some((at, _)) = session.store.sharing_ended()?.get(&record.id) {
            return Ok(Self::Ended { at: Timestamp(*at) });
        }
        Ok(Self::NoTherapist { had_one })
    }

    /// Who can see a shared (not private) entry, as a short phrase.
    pub(crate) fn shared_note(self) -> String {
        match self {
            Self::Therapist => "shared with your therapist".to_owned(),
            Self::TherapistByFile => {
                "goes to your therapist in the file you give them (`between doc save`)".to_owned()
            }
            Self::NoTherapist { had_one: false } => {
                "not shared with anyone: no therapist has joined your homework".to_owned()
            }
            Self::NoTherapist { had_one: true } => {
                "no longer shared with your therapist: only your own devices receive it".to_owned()
            }
            Self::Ended { at } => format!(
                "no longer shared: sharing with your therapist ended on {}",
                at.to_datetime().format("%Y-%m-%d")
            ),
        }
    }
}
