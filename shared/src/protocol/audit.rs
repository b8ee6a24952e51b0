//! The vocabulary of the relay's audit trail: what happened, as a short machine token.
//!
//! The relay records every sign-in and every access to a document's log, and every refused
//! attempt, with ids and a time only. What happened is one of the tokens below, carried as text
//! in [`AuditEvent::action`](super::AuditEvent::action) so a newer relay can add actions without
//! breaking older devices (a device shows a token it does not know as it is). A refused attempt
//! is the attempted action's token behind [`REFUSED_PREFIX`], such as `refused-read`.
//!
//! Both sides share these tokens: the relay writes them, devices turn them into words for people.

/// What a refused attempt's token starts with.
pub const REFUSED_PREFIX: &str = "refused-";

/// Longest action token, in bytes.
pub const MAX_ACTION_BYTES: usize = 64;

/// Whether `token` is a well-formed action: 1 to [`MAX_ACTION_BYTES`] bytes of `a-z`, `0-9`,
/// `-`, `.` and `:`. Nothing else can appear in the trail, so no name, no content and no
/// terminal control character can travel in it.
pub fn is_valid_action(token: &str) -> bool {
    (1..=MAX_ACTION_BYTES).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b))
}

/// Something a device (or the practice admin) did that the relay records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A registered device signed in.
    SignIn,
    /// A new account registered its first device with an invite.
    Register,
    /// A further device of an account registered (after pairing).
    RegisterDevice,
    /// A document's log was created.
    Create,
    /// A document's log was read: a `subscribe` catch-up (bundles, and the snapshot if any).
    Read,
    /// A bundle was appended to a document's log (`push`).
    Append,
    /// A snapshot of a document was stored (`put_snapshot`).
    Snapshot,
    /// A device fetched its wrapped keys of a document.
    ReadKeys,
    /// Wrapped keys of a document were stored.
    PutKeys,
    /// A device read a document's audit events, or its account's.
    ReadAudit,
    /// A pairing invitation was left at the relay (`put_pairing`).
    PutPairing,
    /// The practice admin disabled the account: all its devices are refused.
    DisableAccount,
    /// The practice admin enabled the account again.
    EnableAccount,
    /// A therapist stored a client invite (`create_invite`; an account event).
    CreateInvite,
    /// A device fetched another account's identity and devices (`get_account`; an account
    /// event).
    ReadAccount,
    /// The owner replaced a document's signed membership (`put_membership`).
    PutMembers,
    /// A device fetched a document's signed membership (`get_membership`).
    ReadMembers,
    /// A device listed the documents its account is a member of (`list_documents`; an account
    /// event).
    ListDocuments,
    /// The owner deleted a document from the relay for good (`delete_document`).
    DeleteDocument,
    /// A device of the account removed another device of it (`revoke_device`; an account
    /// event, recorded under the removed device).
    RevokeDevice,
    /// A member who is not the owner left a document (`leave_document`).
    LeaveDocument,
}

impl AuditAction {
    /// Every action, for tests and documentation.
    pub const ALL: [AuditAction; 21] = [
        Self::SignIn,
        Self::Register,
        Self::RegisterDevice,
        Self::Create,
        Self::Read,
        Self::Append,
        Self::Snapshot,
        Self::ReadKeys,
        Self::PutKeys,
        Self::ReadAudit,
        Self::PutPairing,
        Self::DisableAccount,
        Self::EnableAccount,
        Self::CreateInvite,
        Self::ReadAccount,
        Self::PutMembers,
        Self::ReadMembers,
        Self::ListDocuments,
        Self::DeleteDocument,
        Self::RevokeDevice,
        Self::LeaveDocument,
    ];

    /// The token recorded when it happened.
    pub const fn token(self) -> &'static str {
        match self {
            Self::SignIn => "sign-in",
            Self::Register => "register",
            Self::RegisterDevice => "register-device",
            Self::Create => "create",
            Self::Read => "read",
            Self::Append => "append",
            Self::Snapshot => "snapshot",
            Self::ReadKeys => "read-keys",
            Self::PutKeys => "put-keys",
            Self::ReadAudit => "read-audit",
            Self::PutPairing => "put-pairing",
            Self::DisableAccount => "disable-account",
            Self::EnableAccount => "enable-account",
            Self::CreateInvite => "create-invite",
            Self::ReadAccount => "read-account",
            Self::PutMembers => "put-members",
            Self::ReadMembers => "read-members",
            Self::ListDocuments => "list-documents",
            Self::DeleteDocument => "delete",
            Self::RevokeDevice => "revoke-device",
            Self::LeaveDocument => "leave",
        }
    }

    /// The token recorded when an attempt at it was refused ([`REFUSED_PREFIX`] + the token).
    pub const fn refused_token(self) -> &'static str {
        match self {
            Self::SignIn => "refused-sign-in",
            Self::Register => "refused-register",
            Self::RegisterDevice => "refused-register-device",
            Self::Create => "refused-create",
            Self::Read => "refused-read",
            Self::Append => "refused-append",
            Self::Snapshot => "refused-snapshot",
            Self::ReadKeys => "refused-read-keys",
            Self::PutKeys => "refused-put-keys",
            Self::ReadAudit => "refused-read-audit",
            Self::PutPairing => "refused-put-pairing",
            Self::DisableAccount => "refused-disable-account",
            Self::EnableAccount => "refused-enable-account",
            Self::CreateInvite => "refused-create-invite",
            Self::ReadAccount => "refused-read-account",
            Self::PutMembers => "refused-put-members",
            Self::ReadMembers => "refused-read-members",
            Self::ListDocuments => "refused-list-documents",
            Self::DeleteDocument => "refused-delete",
            Self::RevokeDevice => "refused-revoke-device",
            Self::LeaveDocument => "refused-leave",
        }
    }

    /// Whether the action writes to a document (rather than reading it or signing in).
    pub const fn writes(self) -> bool {
        matches!(
            self,
            Self::Create
                | Self::Append
                | Self::Snapshot
                | Self::PutKeys
                | Self::PutMembers
                | Self::DeleteDocument
        )
    }

    /// Reads a recorded token: the action, and whether the attempt was refused. `None` for a
    /// token this version does not know.
    pub fn parse(token: &str) -> Option<(AuditAction, bool)> {
        let (bare, refused) = match token.strip_prefix(REFUSED_PREFIX) {
            Some(rest) => (rest, true),
            None => (token, false),
        };
        Self::ALL
            .into_iter()
            .find(|action| action.token() == bare)
            .map(|action| (action, refused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_valid_distinct_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for action in AuditAction::ALL {
            for (token, refused) in [(action.token(), false), (action.refused_token(), true)] {
                assert!(is_valid_action(token), "{token}");
                assert!(seen.insert(token), "{token} is used twice");
                assert_eq!(AuditAction::parse(token), Some((action, refused)));
            }
            assert_eq!(
                action.refused_token(),
                format!("{REFUSED_PREFIX}{}", action.token())
            );
        }
        assert_eq!(AuditAction::parse("solar-flare"), None);
        assert_eq!(AuditAction::parse("refused-solar-flare"), None);
        assert_eq!(AuditAction::parse(""), None);
    }

    #[test]
    fn only_tokens_are_valid_actions() {
        assert!(is_valid_action("read:v1.2"));
        assert!(is_valid_action(&"a".repeat(MAX_ACTION_BYTES)));
        for bad in [
            "",
            "Sign-in",
            "read by Alice",
            "naïve",
            "note\n",
            "\u{1b}[31m",
            &"a".repeat(MAX_ACTION_BYTES + 1),
        ] {
            assert!(!is_valid_action(bad), "{bad:?}");
        }
    }
}
