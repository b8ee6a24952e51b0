//! The audit trail end to end, with the real binaries: a client's laptop and phone sync through
//! the real relay, `between audit` shows the client every sign-in, read and write of both
//! devices; another account's attempts on the client's document are refused and show up too
//! (invariant 4); and once the relay is stopped, a past audit row altered in the SQLite file is
//! reported by `between-relay audit verify`, naming the row.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::relay::{register, RelayProcess};
use between_e2e::{assert_mentions, Device};
use between_shared::protocol::{ClientMessage, DocId, ErrorCode, RequestId, Seq};
use serde_json::Value;
use std::path::Path;

/// The devices' (pinned) clock: only dates shown in homework depend on it.
const NOW: &str = "2026-03-02T09:00:00+00:00";
/// The client's name: it must never reach the relay, not even its audit trail.
const SAM: &str = "Sam Rivera";

/// `between --json …`, which must succeed.
fn json(device: &Device, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    device.run(&all).json()
}

/// The account's first device, registered with an invite.
fn first_device(relay: &RelayProcess, root: &Path) -> Device {
    let mut laptop = Device::new(root, "laptop");
    laptop.at(NOW);
    let invite = relay.invite("client");
    let out = laptop
        .run(&[
            "init",
            "--relay",
            &relay.origin(),
            "--invite",
            &invite,
            "--name",
            SAM,
            "--device-name",
            "laptop",
        ])
        .out();
    assert_mentions(&out, &["Registered with the relay", "Synced"]);
    laptop
}

/// A second device of the same account, paired from `from`.
fn paired_device(relay: &RelayProcess, from: &Device, root: &Path) -> Device {
    let out = from.run(&["device", "add"]).out();
    let code = out.trim().to_string();
    let mut phone = Device::new(root, "phone");
    phone.at(NOW);
    let out = phone
        .run(&[
            "init",
            "--relay",
            &relay.origin(),
            "--pair",
            &code,
            "--name",
            SAM,
            "--device-name",
            "phone",
        ])
        .out();
    assert_mentions(&out, &["Paired this device", "Synced"]);
    phone
}

/// `between sync --json`, with nothing failed or left to send.
fn sync(device: &Device) {
    let synced = json(device, &["sync"]);
    assert_eq!(synced["failed"], Value::Array(vec![]), "{synced}");
    assert_eq!(synced["pending_changes"], 0, "{synced}");
}

/// This device's id (`status --json`).
fn device_id(device: &Device) -> String {
    json(device, &["status"])["device"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The wire id of a document id as `between audit --json` prints it (32 hex digits).
fn doc_id(id: &str) -> DocId {
    id.parse().unwrap()
}

/// The events of `between audit --json`: all the documents' (the client's homework, and any
/// other document of the account), and the account's own.
fn audit(device: &Device) -> (Value, Vec<Value>, Vec<Value>) {
    let audit = json(device, &["audit"]);
    let documents = audit["documents"].as_array().unwrap();
    assert!(!documents.is_empty(), "{audit}");
    let mut doc_events = Vec::new();
    for document in documents {
        assert_eq!(document["unavailable"], Value::Null, "{audit}");
        let events = document["events"].as_array().unwrap();
        assert!(
            events.iter().all(|e| e["document"] == document["document"]),
            "{audit}"
        );
        doc_events.extend(events.iter().cloned());
    }
    let account_events = audit["account_events"].as_array().unwrap().clone();
    (audit, doc_events, account_events)
}

/// Whether `events` holds an event of `kind` by `device`, refused or not, and named `who`.
fn has(events: &[Value], device: &str, kind: &str, refused: bool, who: &str) -> bool {
    events.iter().any(|e| {
        e["device"] == device && e["kind"] == kind && e["refused"] == refused && e["who"] == who
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_sees_every_access_and_tampering_with_the_trail_is_detected() {
    let root = tempfile::tempdir().unwrap();
    let mut relay = {
        let dir = root.path().join("relay");
        std::fs::create_dir(&dir).unwrap();
        RelayProcess::start(&dir)
    };

    // A client with two devices, both writing and syncing.
    let laptop = first_device(&relay, root.path());
    let phone = paired_device(&relay, &laptop, root.path());
    laptop.run(&["goal", "create", "Walk every day"]).out();
    sync(&laptop);
    phone.run(&["goal", "create", "Call a friend"]).out();
    sync(&phone);
    sync(&laptop);
    let laptop_id = device_id(&laptop);
    let phone_id = device_id(&phone);

    // The laptop sees both devices' sign-ins, reads and writes; it names itself, and the phone
    // as another device of the account (the laptop was never told the phone's name).
    let (listing, doc_events, account_events) = audit(&laptop);
    for (device, who) in [(&laptop_id, "this_device"), (&phone_id, "my_device")] {
        assert!(
            has(&account_events, device, "sign_in", false, who),
            "no sign-in of {who}: {listing:#}"
        );
        assert!(
            has(&doc_events, device, "read", false, who),
            "no read by {who}: {listing:#}"
        );
        assert!(
            has(&doc_events, device, "write", false, who),
            "no write by {who}: {listing:#}"
        );
    }
    // The phone knows the laptop's name from pairing, and says it.
    let (listing, doc_events, _) = audit(&phone);
    assert!(
        doc_events
            .iter()
            .any(|e| e["device"] == laptop_id.as_str() && e["device_name"] == "laptop"),
        "{listing:#}"
    );
    assert!(
        has(&doc_events, &phone_id, "write", false, "this_device"),
        "{listing:#}"
    );
    // Each listing comes oldest first, with increasing ids.
    for document in listing["documents"].as_array().unwrap() {
        let ids: Vec<u64> = document["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }

    // Another account (a registered client of the same relay) tries to read, append to and
    // read the record of the client's document: each is refused, none ends its connection.
    let target = listing["documents"][0]["document"]
        .as_str()
        .unwrap()
        .to_owned();
    let doc = doc_id(&target);
    let (mut intruder, intruder_account) = register(&relay, &relay.invite("client")).await;
    let request = intruder.send_subscribe(doc, Seq::ZERO).await;
    intruder
        .expect_error(Some(request), ErrorCode::NotMember)
        .await;
    let request = intruder.send_push(doc, vec![1, 2, 3]).await;
    intruder
        .expect_error(Some(request), ErrorCode::NotMember)
        .await;
    let request = intruder.request_id();
    intruder
        .send(&ClientMessage::GetAudit {
            request,
            doc: Some(doc),
            after: 0,
            limit: 100,
        })
        .await;
    intruder
        .expect_error(Some(request), ErrorCode::NotMember)
        .await;
    intruder.ping().await;
    intruder.close().await;
    // A connection that never signs in asks for the log: refused, and the connection ends.
    let (mut stranger, _) = relay.connect().await;
    stranger
        .send(&ClientMessage::Subscribe {
            request: RequestId(1),
            doc,
            since: Seq::ZERO,
        })
        .await;
    stranger
        .expect_error(Some(RequestId(1)), ErrorCode::Unauthenticated)
        .await;
    stranger.expect_closed().await;

    // … and the client sees those refusals: the intruder's under its account, the stranger's
    // under nobody.
    let (listing, doc_events, _) = audit(&laptop);
    let intruder_hex = intruder_account.account.to_string();
    let refused: Vec<(&str, &str, &Value)> = doc_events
        .iter()
        .filter(|e| e["refused"] == true)
        .inspect(|e| assert_eq!(e["document"], target.as_str(), "{e}"))
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["who"].as_str().unwrap(),
                &e["account"],
            )
        })
        .collect();
    let intruder_value = Value::from(intruder_hex.as_str());
    assert_eq!(
        refused,
        [
            ("refused-read", "someone_else", &intruder_value),
            ("refused-append", "someone_else", &intruder_value),
            ("refused-read-audit", "someone_else", &intruder_value),
            ("refused-read", "unknown", &Value::Null),
        ],
        "{listing:#}"
    );

    // In words a client reads.
    let text = laptop.run(&["audit"]).out();
    assert_mentions(
        &text,
        &[
            "Who accessed your homework",
            "This device (laptop)",
            "Another device of yours",
            "signed in",
            "read the homework",
            "wrote changes",
            "Someone else (account",
            "tried to read the homework — refused",
            "An unknown device",
            "never what anyone wrote",
        ],
    );

    // Filters: by kind, by device, by time; a time that is not one is refused.
    let refusals = json(&laptop, &["audit", "--kind", "refused"]);
    let shown: Vec<&Value> = refusals["documents"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .chain(refusals["account_events"].as_array().unwrap())
        .collect();
    assert_eq!(shown.len(), 4, "{refusals:#}");
    assert!(shown.iter().all(|e| e["refused"] == true), "{refusals:#}");
    let mine = json(
        &laptop,
        &["audit", "--device", "this", "--kind", "write,sign-in"],
    );
    let shown: Vec<&Value> = mine["documents"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .chain(mine["account_events"].as_array().unwrap())
        .collect();
    assert!(!shown.is_empty(), "{mine:#}");
    assert!(
        shown.iter().all(|e| e["device"] == laptop_id.as_str()
            && (e["kind"] == "write" || e["kind"] == "sign_in")),
        "{mine:#}"
    );
    let by_name = laptop.run(&["audit", "--device", "another device"]).out();
    assert_mentions(&by_name, &["Another device of yours", "Filtered:"]);
    assert!(!by_name.contains("This device (laptop)"), "{by_name}");
    let future = laptop.run(&["audit", "--since", "2099-01-01"]).out();
    assert_mentions(&future, &["No event matches.", "Filtered: 0 of"]);
    assert_mentions(
        &laptop.run(&["audit", "--since", "last tuesday"]).err(),
        &["'last tuesday' is not a time", "7d"],
    );

    // The operator's check passes on the intact trail and prints the head to record.
    let verified = relay.admin(&["audit", "verify"]);
    let out = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(verified.status.success(), "{out}");
    assert_mentions(&out, &["OK", "Head: "]);
    let head = out
        .lines()
        .find_map(|l| l.strip_prefix("Head: "))
        .unwrap()
        .to_string();
    let verified = relay.admin(&["audit", "verify", "--known-head", &head]);
    assert!(verified.status.success());

    // The trail holds ids, times and tokens: no name, no address.
    relay.stop();
    let conn = rusqlite::Connection::open(relay.db()).unwrap();
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('audit') ORDER BY cid")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        columns,
        ["id", "at_ms", "account", "device", "doc", "action", "hash"]
    );
    let actions: Vec<String> = conn
        .prepare("SELECT DISTINCT action FROM audit")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(
        actions
            .iter()
            .all(|a| !a.contains("127.0.0.1") && !a.contains("Sam")),
        "{actions:?}"
    );

    // Someone with the file hides the intruder's read: lifts the append-only trigger and
    // rewrites that row. The check names exactly that row and fails.
    let row: i64 = conn
        .query_row(
            "SELECT min(id) FROM audit WHERE action = 'refused-read'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute_batch("DROP TRIGGER audit_is_append_only_update")
        .unwrap();
    conn.execute(
        "UPDATE audit SET action = 'read', account = NULL WHERE id = ?1",
        [row],
    )
    .unwrap();
    drop(conn);
    let verified = relay.admin(&["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&verified.stderr).into_owned();
    assert!(
        !verified.status.success(),
        "a tampered trail verified: {}",
        String::from_utf8_lossy(&verified.stdout)
    );
    assert_mentions(
        &stderr,
        &[&format!("tampered with at row {row}"), "altered", "backup"],
    );
}
