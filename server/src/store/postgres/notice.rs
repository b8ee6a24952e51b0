//! What a relay tells the other relays on its database: PostgreSQL's `NOTIFY` on the channel
//! [`CHANNEL`], sent inside the transaction that made the change, so a notice is delivered when
//! (and only if) its change commits, and notices arrive in commit order.
//!
//! Several relay processes may serve one database. Each forwards its own devices' pushes to its
//! own live devices at once; what another relay committed reaches them through these notices
//! (see `relay::peers`): a bundle appended, accounts removed from a document, a document deleted.
//! A notice names ids and positions only, like everything the relay stores, and carries the
//! sending process's [`Instance`], so a relay skips its own.
//!
//! The payload is text (`NOTIFY` takes text, under 8,000 bytes): the instance in hex, a kind
//! letter and its fields, separated by spaces.

use std::fmt::Write as _;
use std::sync::OnceLock;

use super::sql::Sql;
use crate::store::{AccountId, DocId, Seq, StoreError};

/// The channel relays on one database listen on.
pub(crate) const CHANNEL: &str = "between_relay";

/// Accounts named in one notice at most: 200 ids of 33 characters stay far under `NOTIFY`'s
/// 8,000-byte limit. A longer list goes in several notices.
const ACCOUNTS_PER_NOTICE: usize = 200;

/// One relay process, as notices name it: random, drawn once per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Instance(pub(crate) u64);

impl Instance {
    /// This process.
    pub(crate) fn this_process() -> Instance {
        static THIS: OnceLock<u64> = OnceLock::new();
        Instance(*THIS.get_or_init(rand::random))
    }
}

/// A change another relay's live devices must hear of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// A bundle was appended to `doc` at `seq`.
    Appended { doc: DocId, seq: Seq },
    /// These accounts are no longer members of `doc`: their devices' live subscriptions end.
    MembersRemoved {
        doc: DocId,
        accounts: Vec<AccountId>,
    },
    /// `doc` was deleted: every live subscription to it ends.
    Deleted { doc: DocId },
}

/// The payload of [`Notice::Appended`] up to its position: the store appends the position in
/// SQL, in the statement that assigns it.
pub(crate) fn appended_prefix(from: Instance, doc: &DocId) -> String {
    format!("{:016x} b {doc} ", from.0)
}

/// The payloads announcing `notice` from `from` (one, or several for a long account list).
pub(crate) fn encode(from: Instance, notice: &Notice) -> Vec<String> {
    let head = |kind: char, doc: &DocId| format!("{:016x} {kind} {doc}", from.0);
    match notice {
        Notice::Appended { doc, seq } => vec![format!("{}{}", appended_prefix(from, doc), seq.0)],
        Notice::Deleted { doc } => vec![head('d', doc)],
        Notice::MembersRemoved { doc, accounts } => accounts
            .chunks(ACCOUNTS_PER_NOTICE)
            .map(|chunk| {
                let mut payload = head('m', doc);
                for account in chunk {
                    let _ = write!(payload, " {account}");
                }
                payload
            })
            .collect(),
    }
}

/// Reads a payload; `None` for one this relay does not understand (sent by a newer relay, or
/// by something else on the channel), which is ignored.
pub(crate) fn decode(payload: &str) -> Option<(Instance, Notice)> {
    let mut fields = payload.split(' ');
    let from = Instance(u64::from_str_radix(fields.next()?, 16).ok()?);
    let kind = fields.next()?;
    let doc: DocId = fields.next()?.parse().ok()?;
    let notice = match kind {
        "b" => Notice::Appended {
            doc,
            seq: Seq(fields.next()?.parse().ok()?),
        },
        "d" => Notice::Deleted { doc },
        "m" => {
            let accounts = fields
                .by_ref()
                .map(|field| field.parse().ok())
                .collect::<Option<Vec<AccountId>>>()?;
            Notice::MembersRemoved { doc, accounts }
        }
        _ => return None,
    };
    if fields.next().is_some() {
        return None;
    }
    Some((from, notice))
}

/// Queues `notice` in the transaction `sql` runs: PostgreSQL delivers it when that commits.
pub(super) fn send(sql: &mut Sql<'_>, notice: &Notice) -> Result<(), StoreError> {
    for payload in encode(Instance::this_process(), notice) {
        sql.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_back_as_written() {
        let from = Instance(0x0123_4567_89ab_cdef);
        let doc = DocId([7; 16]);
        let accounts: Vec<AccountId> = (0..450_u16)
            .map(|n| {
                let mut id = [0; 16];
                id[..2].copy_from_slice(&n.to_be_bytes());
                AccountId(id)
            })
            .collect();
        for notice in [
            Notice::Appended { doc, seq: Seq(42) },
            Notice::Deleted { doc },
            Notice::MembersRemoved {
                doc,
                accounts: accounts[..1].to_vec(),
            },
        ] {
            let payloads = encode(from, &notice);
            assert_eq!(payloads.len(), 1);
            assert_eq!(decode(&payloads[0]), Some((from, notice)));
        }
        // What the store sends for an append, its position added in SQL, reads back too.
        assert_eq!(
            decode(&format!("{}42", appended_prefix(from, &doc))),
            Some((from, Notice::Appended { doc, seq: Seq(42) }))
        );
        // A long list is split, each notice under NOTIFY's limit, and nothing is lost.
        let long = Notice::MembersRemoved {
            doc,
            accounts: accounts.clone(),
        };
        let payloads = encode(from, &long);
        assert_eq!(payloads.len(), 3);
        let mut read = Vec::new();
        for payload in &payloads {
            assert!(payload.len() < 8_000, "{}", payload.len());
            match decode(payload) {
                Some((_, Notice::MembersRemoved { accounts, .. })) => read.extend(accounts),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(read, accounts);
    }

    #[test]
    fn what_is_not_understood_is_ignored() {
        let doc = "07".repeat(16);
        for payload in [
            "",
            "zz b {doc} 1",
            &format!("0000000000000001 x {doc} 1"),
            &format!("0000000000000001 b {doc}"),
            &format!("0000000000000001 b {doc} 1 2"),
            &format!("0000000000000001 b {doc} -1"),
            "0000000000000001 d 0707",
            &format!("0000000000000001 m {doc} nothex"),
        ] {
            assert_eq!(decode(payload), None, "{payload:?}");
        }
    }

    #[test]
    fn this_process_is_one_instance() {
        assert_eq!(Instance::this_process(), Instance::this_process());
    }
}
