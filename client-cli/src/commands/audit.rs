//! `between audit`: who accessed this person's homework, as the relay recorded it — every
//! sign-in of their devices, every read and write of their documents, and every refused
//! attempt — in plain words (or `--json`).
//!
//! The relay keeps the record (ids and times only, hash-chained; see `docs/protocol.md`); this
//! command fetches it page by page and names each device as this profile knows it: this device,
//! another device of the same account (with the name given at pairing), the therapist's device,
//! or someone else. Like `sync` it needs the network; it writes nothing locally.

use anyhow::{anyhow, bail, Result};
use between_shared::crypto::DeviceCertificate;
use between_shared::protocol::audit::AuditAction;
use between_shared::protocol::limits::MAX_AUDIT_EVENTS;
use between_shared::protocol::{
    AccountId, AuditEvent, ClientMessage, DeviceId, DocId, ErrorCode, RequestId, ServerMessage,
};
use between_shared::Role;

use super::audit_filter::{Filter, Seen};
use super::print_json;
use crate::cli::AuditArgs;
use crate::profile::Session;
use crate::store::{DeviceRecord, Registration};
use crate::sync::account::AccountKeys;
use crate::sync::connection::{Auth, Connection, RelayError};
use crate::sync::runtime;

/// The most events fetched per document (or for the account): a relay that keeps sending full
/// pages cannot make this command run or grow for ever.
const MAX_EVENTS: usize = 100_000;

/// What the relay recorded about this profile's homework, fetched and filtered.
struct Gathered {
    keys: AccountKeys,
    documents: Vec<Scope>,
    fetched: Fetched,
    people: People,
    /// With a filter: how many events it kept, of how many.
    shown: Option<(usize, usize)>,
}

/// Fetches the access record from the relay and applies `args`' filter.
fn gather(session: &Session, args: &AuditArgs) -> Result<Gathered> {
    let filter = Filter::new(args, session.clock.now().0)?;
    let record = session.store.account()?.ok_or_else(|| {
        anyhow!("this profile does not sync with a relay, so no relay has a record of its homework; everything stays on this device")
    })?;
    if record.registration != Registration::Done {
        bail!("this device is not registered with its relay yet; run `between sync` first");
    }
    let keys = AccountKeys::from_record(&record)?;
    let on_relay: std::collections::HashSet<DocId> = session
        .store
        .sync_documents()?
        .into_iter()
        .filter(|d| d.on_relay)
        .map(|d| d.document_id)
        .collect();
    let mut documents = Vec::new();
    for doc in session.store.documents()? {
        documents.push(Scope {
            doc: doc.id,
            on_relay: on_relay.contains(&doc.id),
            label: doc.label,
        });
    }
    let mut fetched = runtime()?
        .block_on(fetch(&keys, &documents))
        .map_err(|err| {
            super::relay::Unreachable(format!(
                "could not fetch the access record from the relay at {}: {err}; check the network and try again (nothing on this device changed)",
                keys.relay.display
            ))
        })?;
    let people = People::new(
        &session.store.devices()?,
        &session.store.peer_devices()?,
        &super::whois::people(session)?,
        fetched.account,
        keys.device.device_id(),
    );
    let shown = filter.is_active().then(|| {
        let before = count(&fetched);
        for events in fetched
            .documents
            .iter_mut()
            .chain(std::iter::once(&mut fetched.account_events))
            .flatten()
        {
            events.retain(|event| filter.keeps(&people.seen(event)));
        }
        (count(&fetched), before)
    });
    Ok(Gathered {
        keys,
        documents,
        fetched,
        people,
        shown,
    })
}

/// What `audit --json` prints.
pub(crate) fn audit_json(session: &Session, args: &AuditArgs) -> Result<serde_json::Value> {
    let g = gather(session, args)?;
    Ok(serde_json::to_value(to_json(
        &g.keys,
        &g.documents,
        &g.fetched,
        &g.people,
    ))?)
}

/// `between audit [--since …] [--until …] [--device …] [--kind …] [--json]`.
pub(crate) fn audit(session: &Session, args: &AuditArgs, json: bool) -> Result<()> {
    if json {
        return print_json(&audit_json(session, args)?);
    }
    let g = gather(session, args)?;
    print_text(
        session,
        &g.keys,
        &g.documents,
        &g.fetched,
        &g.people,
        g.shown.is_some(),
    )?;
    if let Some((kept, all)) = g.shown {
        outln!("Filtered: {kept} of {all} recorded events shown.");
    }
    Ok(())
}

/// How many events were fetched, in all listings.
fn count(fetched: &Fetched) -> usize {
    fetched
        .documents
        .iter()
        .chain(std::iter::once(&fetched.account_events))
        .map(|listing| listing.as_ref().map_or(0, Vec::len))
        .sum()
}

/// A document of this profile whose record is asked of the relay.
struct Scope {
    doc: DocId,
    on_relay: bool,
    label: String,
}

/// What the relay answered for one scope: the events, or why it refused.
type Listing = Result<Vec<AuditEvent>, String>;

/// Everything fetched.
struct Fetched {
    /// The account the relay signed this device into.
    account: AccountId,
    /// One listing per document, in the order of the documents.
    documents: Vec<Listing>,
    /// The account's own events (sign-ins and the like).
    account_events: Listing,
}

/// Signs in and fetches every listing on one connection.
async fn fetch(keys: &AccountKeys, documents: &[Scope]) -> Result<Fetched, RelayError> {
    let mut conn = Connection::open(&keys.relay).await?;
    let welcome = conn
        .authenticate(Auth::SignIn {
            device: &keys.device,
        })
        .await?;
    let mut next_request = 1;
    let mut listings = Vec::new();
    for scope in documents {
        if !scope.on_relay {
            listings.push(Err(
                "not on the relay yet: `between sync` puts it there".to_owned()
            ));
            continue;
        }
        listings.push(listing(&mut conn, &mut next_request, Some(scope.doc)).await?);
    }
    let account_events = listing(&mut conn, &mut next_request, None).await?;
    conn.close().await;
    Ok(Fetched {
        account: welcome.account,
        documents: listings,
        account_events,
    })
}

/// Fetches one scope page by page, until a page comes back short.
async fn listing(
    conn: &mut Connection,
    next_request: &mut u64,
    doc: Option<DocId>,
) -> Result<Listing, RelayError> {
    let limit = u32::try_from(MAX_AUDIT_EVENTS).unwrap_or(u32::MAX);
    let mut events: Vec<AuditEvent> = Vec::new();
    let mut after = 0;
    loop {
        let request = RequestId(*next_request);
        *next_request += 1;
        let reply = conn
            .request(
                &ClientMessage::GetAudit {
                    request,
                    doc,
                    after,
                    limit,
                },
                "the access record",
            )
            .await?;
        let page = match reply {
            ServerMessage::Audit { events, .. } => events,
            ServerMessage::Error {
                code: code @ (ErrorCode::NotMember | ErrorCode::UnknownDocument),
                message,
                ..
            } => {
                return Ok(Err(format!(
                    "the relay did not show it: {message} ({code})"
                )))
            }
            ServerMessage::Error { code, message, .. } => {
                return Err(RelayError::Refused { code, message })
            }
            other => {
                return Err(RelayError::Protocol(format!(
                    "it answered a request for the access record with {}",
                    other.name()
                )))
            }
        };
        let full = page.len() >= MAX_AUDIT_EVENTS;
        for event in page {
            if event.id <= after {
                return Err(RelayError::Protocol(
                    "it sent the access record out of order".to_owned(),
                ));
            }
            after = event.id;
            events.push(event);
        }
        if !full || events.len() >= MAX_EVENTS {
            return Ok(Ok(events));
        }
    }
}

/// Who did something, as this profile can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Who {
    /// This device.
    ThisDevice(Option<String>),
    /// Another device of this account, with its local name if known.
    MyDevice { short: String, name: Option<String> },
    /// The practice admin, acting on this account.
    Admin,
    /// This account, with no device named.
    MyAccount,
    /// Another person's device this profile knows (from its certificate, which a signed
    /// membership list vouched for), with their name where the shared homework gives it.
    Peer {
        role: Role,
        short: String,
        person: Option<String>,
    },
    /// Another account.
    SomeoneElse { account: String },
    /// Nobody the relay could name (an unregistered device, say).
    Unknown,
}

impl Who {
    /// A stable token for `--json`.
    fn token(&self) -> &'static str {
        match self {
            Who::ThisDevice(_) => "this_device",
            Who::MyDevice { .. } => "my_device",
            Who::Admin => "practice_admin",
            Who::MyAccount => "my_account",
            Who::Peer {
                role: Role::Therapist,
                ..
            } => "therapist",
            Who::Peer {
                role: Role::Client, ..
            } => "client",
            Who::SomeoneElse { .. } => "someone_else",
            Who::Unknown => "unknown",
        }
    }

    /// The words a person reads.
    fn describe(&self) -> String {
        match self {
            Who::ThisDevice(Some(name)) => format!("This device ({name})"),
            Who::ThisDevice(None) => "This device".to_owned(),
            Who::MyDevice {
                name: Some(name), ..
            } => format!("Your {name}"),
            Who::MyDevice { short, name: None } => {
                format!("Another device of yours ({short})")
            }
            Who::Admin => "The practice admin".to_owned(),
            Who::MyAccount => "Your account".to_owned(),
            Who::Peer {
                person: Some(person),
                short,
                ..
            } => format!("{person}'s device ({short})"),
            Who::Peer {
                role: Role::Therapist,
                short,
                person: None,
            } => format!("Your therapist's device ({short})"),
            Who::Peer {
                role: Role::Client,
                short,
                person: None,
            } => format!("Your client's device ({short})"),
            Who::SomeoneElse { account } => format!("Someone else (account {account})"),
            Who::Unknown => "An unknown device".to_owned(),
        }
    }
}

/// The devices and account this profile knows, to name the actors of events.
struct People {
    /// This account.
    account: AccountId,
    /// This device.
    this_device: DeviceId,
    /// This account's known devices by id: their local names.
    devices: std::collections::HashMap<DeviceId, Option<String>>,
    /// Other people's devices by id: their role and, where known, the person's name.
    peers: std::collections::HashMap<DeviceId, (Role, Option<String>)>,
}

impl People {
    /// `names`: the other people's names by their safety number ([`super::whois::people`]).
    fn new(
        records: &[DeviceRecord],
        peers: &[Vec<u8>],
        names: &std::collections::HashMap<String, String>,
        account: AccountId,
        this_device: DeviceId,
    ) -> Self {
        // Other people's devices (a therapist's, for a client) are named by the role in their
        // certificate and their owner's name; the sharing pass keeps only certificates a signed
        // membership vouched for.
        let peers = peers
            .iter()
            .filter_map(|bytes| {
                let cert = DeviceCertificate::from_bytes(bytes).ok()?;
                let person = names.get(&cert.owner.fingerprint()).cloned();
                Some((cert.device_id(), (cert.role, person)))
            })
            .collect();
        let devices = records
            .iter()
            .map(|r| (r.device_id, r.name.clone()))
            .collect();
        Self {
            account,
            this_device,
            devices,
            peers,
        }
    }

    /// What the filter needs to know of `event`.
    fn seen<'a>(&'a self, event: &'a AuditEvent) -> Seen<'a> {
        let (_, kind, refused) = what(event);
        let who = self.who(event);
        Seen {
            at_ms: event.at_ms,
            this_device: event.device == Some(self.this_device),
            device: event.device.map(|d| d.to_string()),
            who: who.describe(),
            kind,
            refused,
        }
    }

    fn who(&self, event: &AuditEvent) -> Who {
        let mine = event.account == Some(self.account);
        let Some(device) = event.device else {
            let admin = matches!(
                AuditAction::parse(&event.action),
                Some((AuditAction::DisableAccount | AuditAction::EnableAccount, _))
            );
            return match (mine, &event.account) {
                (true, _) if admin => Who::Admin,
                (true, _) => Who::MyAccount,
                (false, Some(account)) => Who::SomeoneElse {
                    account: account.short(),
                },
                (false, None) => Who::Unknown,
            };
        };
        let name = self.devices.get(&device).cloned().flatten();
        if device == self.this_device {
            return Who::ThisDevice(name);
        }
        if mine {
            return Who::MyDevice {
                short: device.short(),
                name,
            };
        }
        match (self.peers.get(&device), &event.account) {
            (Some((role, person)), _) => Who::Peer {
                role: *role,
                short: device.short(),
                person: person.clone(),
            },
            (None, Some(account)) => Who::SomeoneElse {
                account: account.short(),
            },
            (None, None) => Who::Unknown,
        }
    }
}

/// What happened, in words: (done, attempted) — "read the homework" / "read the homework".
fn phrases(action: AuditAction) -> (&'static str, &'static str) {
    match action {
        AuditAction::SignIn => ("signed in", "sign in"),
        AuditAction::Register => ("set up the account", "set up an account"),
        AuditAction::RegisterDevice => ("joined the account", "join the account"),
        AuditAction::Create => ("put the homework on the relay", "create the homework"),
        AuditAction::Read => ("read the homework", "read the homework"),
        AuditAction::Append => ("wrote changes", "write changes"),
        AuditAction::Snapshot => ("saved a compact copy", "save a compact copy"),
        AuditAction::ReadKeys => ("fetched the key to the homework", "fetch the key"),
        AuditAction::PutKeys => ("stored keys to the homework", "store keys"),
        AuditAction::ReadAudit => ("looked at this access record", "look at this record"),
        AuditAction::PutPairing => ("made a pairing code", "make a pairing code"),
        AuditAction::DisableAccount => ("disabled the account", "disable the account"),
        AuditAction::EnableAccount => ("enabled the account again", "enable the account"),
        AuditAction::CreateInvite => ("made a client invite", "make a client invite"),
        AuditAction::RevokeDevice => ("removed a device", "remove a device"),
        AuditAction::LeaveDocument => ("stopped sharing the homework", "leave the homework"),
        AuditAction::ReadAccount => (
            "looked up the other person's devices",
            "look up another account's devices",
        ),
        AuditAction::PutMembers => (
            "changed who shares the homework",
            "change who shares the homework",
        ),
        AuditAction::ReadMembers => (
            "checked who shares the homework",
            "check who shares the homework",
        ),
        AuditAction::ListDocuments => (
            "listed the homework shared with them",
            "list shared homework",
        ),
        AuditAction::DeleteDocument => (
            "deleted the homework from the relay",
            "delete the homework from the relay",
        ),
    }
}

/// The event's action in words, and its kind for `--json` (`sign_in`, `read`, `write`, `other`).
fn what(event: &AuditEvent) -> (String, &'static str, bool) {
    match AuditAction::parse(&event.action) {
        Some((action, refused)) => {
            let (done, attempted) = phrases(action);
            let kind = match action {
                AuditAction::SignIn | AuditAction::Register | AuditAction::RegisterDevice => {
                    "sign_in"
                }
                AuditAction::Read
                | AuditAction::ReadKeys
                | AuditAction::ReadAudit
                | AuditAction::ReadMembers => "read",
                a if a.writes() => "write",
                _ => "other",
            };
            if refused {
                (
                    format!("tried to {attempted} — refused by the relay"),
                    kind,
                    true,
                )
            } else {
                (done.to_owned(), kind, false)
            }
        }
        // The protocol admits tokens only (a-z, 0-9, '-', '.', ':'), so this is safe to print.
        None => (
            format!(
                "did something this version of Between does not know ({})",
                event.action
            ),
            "other",
            event
                .action
                .starts_with(between_shared::protocol::audit::REFUSED_PREFIX),
        ),
    }
}

/// A relay time in this device's time zone.
fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| format!("{ms} ms"))
}

fn event_json(event: &AuditEvent, people: &People) -> serde_json::Value {
    let who = people.who(event);
    let (what, kind, refused) = what(event);
    let device_name = match &who {
        Who::ThisDevice(name) | Who::MyDevice { name, .. } => name.clone(),
        _ => None,
    };
    let person = match &who {
        Who::Peer { person, .. } => person.clone(),
        _ => None,
    };
    serde_json::json!({
        "id": event.id,
        "at_ms": event.at_ms,
        "time": local_time(event.at_ms),
        "action": event.action,
        "kind": kind,
        "refused": refused,
        "what": what,
        "who": who.token(),
        "who_text": who.describe(),
        "device": event.device.map(|d| d.to_string()),
        "device_name": device_name,
        "person": person,
        "account": event.account.map(|a| a.to_string()),
        // The same spelling as the store's document ids (and `documents[].document`).
        "document": event.doc.map(|d| d.to_string()),
    })
}

fn listing_json(listing: &Listing, people: &People) -> (serde_json::Value, serde_json::Value) {
    match listing {
        Ok(events) => (
            serde_json::Value::Array(events.iter().map(|e| event_json(e, people)).collect()),
            serde_json::Value::Null,
        ),
        Err(why) => (serde_json::json!([]), serde_json::json!(why)),
    }
}

fn to_json(
    keys: &AccountKeys,
    documents: &[Scope],
    fetched: &Fetched,
    people: &People,
) -> serde_json::Value {
    let documents: Vec<_> = documents
        .iter()
        .zip(&fetched.documents)
        .map(|(scope, listing)| {
            let (events, unavailable) = listing_json(listing, people);
            serde_json::json!({
                "document": scope.doc.to_string(),
                "label": scope.label,
                "unavailable": unavailable,
                "events": events,
            })
        })
        .collect();
    let (account_events, unavailable) = listing_json(&fetched.account_events, people);
    serde_json::json!({
        "relay": keys.relay.display,
        "account": fetched.account.to_string(),
        "documents": documents,
        "account_events": account_events,
        "account_events_unavailable": unavailable,
    })
}

fn print_listing(listing: &Listing, people: &People, filtered: bool) -> Result<()> {
    match listing {
        Err(why) => outln!("  ({why})"),
        Ok(events) if events.is_empty() && filtered => outln!("  No event matches."),
        Ok(events) if events.is_empty() => outln!("  Nothing recorded yet."),
        Ok(events) => {
            let rows: Vec<(String, String, String)> = events
                .iter()
                .map(|e| {
                    let (what, _, refused) = what(e);
                    let mark = if refused { "! " } else { "  " };
                    (
                        format!("{mark}{}", local_time(e.at_ms)),
                        people.who(e).describe(),
                        what,
                    )
                })
                .collect();
            let width = rows
                .iter()
                .map(|(_, who, _)| who.chars().count())
                .max()
                .unwrap_or(0);
            for (time, who, what) in rows {
                outln!("{time}  {who:<width$}  {what}");
            }
        }
    }
    Ok(())
}

fn print_text(
    session: &Session,
    keys: &AccountKeys,
    documents: &[Scope],
    fetched: &Fetched,
    people: &People,
    filtered: bool,
) -> Result<()> {
    outln!(
        "Who accessed your homework, as the relay at {} recorded it:",
        keys.relay.display
    );
    let client = session.me.role == Role::Client;
    for (scope, listing) in documents.iter().zip(&fetched.documents) {
        outln!();
        if client && documents.len() == 1 {
            outln!("Your homework:");
        } else if client {
            outln!("Your homework \"{}\":", scope.label);
        } else {
            outln!("{}'s homework:", scope.label);
        }
        print_listing(listing, people, filtered)?;
    }
    outln!();
    outln!("Sign-ins and other events of your account:");
    print_listing(&fetched.account_events, people, filtered)?;
    outln!();
    outln!("The relay records who did what and when, never what anyone wrote: it cannot read your homework. Lines marked ! were refused.");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use between_shared::protocol::DeviceId;

    fn event(account: Option<[u8; 16]>, device: Option<[u8; 16]>, action: &str) -> AuditEvent {
        AuditEvent {
            id: 1,
            at_ms: 0,
            account: account.map(AccountId),
            device: device.map(DeviceId),
            doc: None,
            action: action.to_owned(),
        }
    }

    /// A therapist's device certificate (another account's), and its device id.
    fn therapist_device() -> (Vec<u8>, [u8; 16], String) {
        use between_shared::crypto::{DeviceKeypair, IdentityKeypair};
        let identity = IdentityKeypair::generate(&mut rand::rng());
        let device = DeviceKeypair::generate(&mut rand::rng());
        let cert = identity.certify(
            &device.public(),
            Role::Therapist,
            between_shared::Timestamp(0),
        );
        (
            cert.to_bytes().to_vec(),
            device.device_id().0,
            identity.public().fingerprint(),
        )
    }

    fn people() -> People {
        let record = |id: [u8; 16], name: Option<&str>| DeviceRecord {
            device_id: DeviceId(id),
            certificate: vec![],
            this_device: false,
            name: name.map(str::to_owned),
            registered_at_ms: None,
            listed: true,
        };
        People::new(
            &[
                record([1; 16], Some("laptop")),
                record([2; 16], Some("phone")),
            ],
            &[],
            &std::collections::HashMap::new(),
            AccountId([9; 16]),
            DeviceId([1; 16]),
        )
    }

    #[test]
    fn another_persons_device_is_named_after_them_where_the_homework_says_who() {
        let (cert, device, fingerprint) = therapist_device();
        let names = [(fingerprint, "Dr Rivera".to_owned())].into();
        let named = People::new(
            &[],
            std::slice::from_ref(&cert),
            &names,
            AccountId([9; 16]),
            DeviceId([0; 16]),
        );
        let short = DeviceId(device).short();
        let read = event(Some([5; 16]), Some(device), "read");
        assert_eq!(
            named.who(&read).describe(),
            format!("Dr Rivera's device ({short})")
        );
        let unnamed = People::new(
            &[],
            &[cert],
            &std::collections::HashMap::new(),
            AccountId([9; 16]),
            DeviceId([0; 16]),
        );
        assert_eq!(
            unnamed.who(&read).describe(),
            format!("Your therapist's device ({short})")
        );
    }

    #[test]
    fn every_actor_is_named_for_a_person() {
        let people = people();
        let cases = [
            (
                event(Some([9; 16]), Some([1; 16]), "read"),
                "This device (laptop)",
            ),
            (event(Some([9; 16]), Some([2; 16]), "append"), "Your phone"),
            (
                event(Some([9; 16]), Some([3; 16]), "sign-in"),
                "Another device of yours (03030303)",
            ),
            (
                event(Some([9; 16]), None, "disable-account"),
                "The practice admin",
            ),
            (
                event(Some([7; 16]), Some([4; 16]), "refused-read"),
                "Someone else (account 07070707)",
            ),
            (event(None, None, "refused-sign-in"), "An unknown device"),
        ];
        for (event, expected) in cases {
            assert_eq!(people.who(&event).describe(), expected, "{event:?}");
        }
    }

    #[test]
    fn actions_are_described_and_refusals_marked() {
        let (text, kind, refused) = what(&event(None, None, "refused-read"));
        assert_eq!(
            (text.as_str(), kind, refused),
            (
                "tried to read the homework — refused by the relay",
                "read",
                true
            )
        );
        assert_eq!(
            what(&event(None, None, "append")),
            ("wrote changes".to_owned(), "write", false)
        );
        assert_eq!(what(&event(None, None, "sign-in")).1, "sign_in");
        let (text, kind, refused) = what(&event(None, None, "refused-teleport"));
        assert!(text.contains("refused-teleport") && kind == "other" && refused);
    }
}
