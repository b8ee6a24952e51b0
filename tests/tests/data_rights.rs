//! Data rights, end to end with the real binaries: a client exports everything and deletes
//! their homework from the relay for good. The relay's files keep none of the ciphertext it
//! held; the client's other device and the therapist are told clearly, keep their copies and
//! stop syncing them; the therapist cannot delete the client's homework, and refusals change
//! nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::practice::pair_device;
use between_e2e::relay::{sign_in, RelayProcess};
use between_e2e::{assert_mentions, Device};
use between_shared::crypto::DeviceKeypair;
use between_shared::protocol::{ClientMessage, DocId, ErrorCode};
use std::path::Path;

const SHARED_CANARY: &str = "CANARY-shared-lighthouse-4711";
const PRIVATE_CANARY: &str = "CANARY-private-orchard-0815";
const COMMENT_CANARY: &str = "CANARY-comment-harbour-2323";

fn device(root: &Path, profile: &str) -> Device {
    Device::new(root, profile)
}

/// `sync`, asserting success; returns stderr (notes and warnings).
fn sync(device: &Device) -> String {
    let run = device.run(&["sync"]);
    assert!(
        run.ok,
        "{}: sync failed:\n{}\n{}",
        device.profile, run.stdout, run.stderr
    );
    run.stderr
}

/// A read-only connection to a profile's or the relay's SQLite file.
fn read_only(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// A document id as stored by the client (`8-4-4-4-12` hex) on the wire.
fn doc_id(text: &str) -> DocId {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut bytes = [0_u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    DocId(bytes)
}

/// The client's documents on `device`: (id, kind).
fn documents(device: &Device) -> Vec<(String, String)> {
    let conn = read_only(&device.store_file());
    let mut stmt = conn
        .prepare("SELECT id, kind FROM documents ORDER BY kind")
        .unwrap();
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Every blob the relay holds of any document: sealed bundles, snapshots, wrapped keys and
/// signed membership lists.
fn relay_blobs(relay: &RelayProcess) -> Vec<Vec<u8>> {
    let conn = read_only(relay.db());
    let mut blobs = Vec::new();
    for sql in [
        "SELECT data FROM bundles",
        "SELECT data FROM snapshots",
        "SELECT data FROM key_envelopes",
        "SELECT data FROM memberships",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |row| row.get::<_, Vec<u8>>(0)).unwrap();
        blobs.extend(rows.map(Result::unwrap));
    }
    blobs
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The relay's audit actions, in order.
fn audit_actions(relay: &RelayProcess) -> Vec<String> {
    let conn = read_only(relay.db());
    let mut stmt = conn
        .prepare("SELECT action FROM audit ORDER BY id")
        .unwrap();
    let rows = stmt.query_map([], |row| row.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn a_client_deletes_their_homework_from_the_relay_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("relay")).unwrap();
    let mut relay = RelayProcess::start(&root.join("relay"));
    let origin = relay.origin();

    // A therapist, and a client (laptop and phone) sharing homework with them.
    let dr = device(root, "dr");
    dr.run(&[
        "init",
        "--relay",
        &origin,
        "--invite",
        &relay.invite("therapist"),
        "--role",
        "therapist",
        "--name",
        "Dr Ada Park",
    ])
    .out();
    let invite = dr.run(&["--json", "client", "invite"]).json()["invite"]
        .as_str()
        .unwrap()
        .to_string();
    let sam = device(root, "sam-laptop");
    sam.run(&[
        "init",
        "--invite",
        &invite,
        "--name",
        "Sam",
        "--device-name",
        "laptop",
    ])
    .out();
    sync(&dr);
    let phone = pair_device(&origin, &sam, root, "sam-phone", "Sam", "phone", None);

    // Sam writes a shared and a private entry; the therapist comments on the shared one.
    let shared = sam.create(&[
        "entry",
        "new",
        "--template",
        "journal",
        "--set",
        &format!("text={SHARED_CANARY}"),
    ]);
    sam.run(&[
        "entry",
        "new",
        "--template",
        "journal",
        "--private",
        "--set",
        &format!("text={PRIVATE_CANARY}"),
    ])
    .out();
    sync(&sam);
    sync(&dr);
    dr.run(&["--client", "Sam", "comment", "add", &shared, COMMENT_CANARY])
        .out();
    sync(&dr);
    sync(&sam);
    sync(&phone);

    // The export holds everything: both documents, the comment and who wrote what.
    let export = sam.run(&["export", "--format", "json"]).out();
    assert_mentions(
        &export,
        &[SHARED_CANARY, PRIVATE_CANARY, COMMENT_CANARY, "Dr Ada Park"],
    );

    let docs = documents(&sam);
    assert_eq!(docs.len(), 2, "{docs:?}");
    let listed = String::from_utf8(relay.admin(&["documents"]).stdout).unwrap();
    let hex_ids: Vec<String> = docs.iter().map(|(id, _)| id.replace('-', "")).collect();
    for id in &hex_ids {
        assert!(listed.contains(id.as_str()), "{id} not in:\n{listed}");
    }
    let blobs = relay_blobs(&relay);
    assert!(blobs.len() >= 4, "the relay holds {} blobs", blobs.len());
    let shared_doc = doc_id(&docs.iter().find(|(_, k)| k == "shared").unwrap().0);

    // The therapist cannot delete Sam's homework: not from the command line, not on the wire.
    let err = dr.run(&["delete-from-relay", "--yes"]).err();
    assert_mentions(&err, &["only a client"]);
    let dr_device = {
        let conn = read_only(&dr.store_file());
        let bytes: Vec<u8> = conn
            .query_row("SELECT device_keypair FROM account", [], |row| row.get(0))
            .unwrap();
        DeviceKeypair::from_bytes(&bytes).unwrap()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (mut peer, _) = sign_in(&relay, &dr_device).await;
        let request = peer.request_id();
        peer.send(&ClientMessage::DeleteDocument {
            request,
            doc: shared_doc,
        })
        .await;
        let message = peer.expect_error(Some(request), ErrorCode::Forbidden).await;
        assert_mentions(&message, &["only the client"]);
        // Not a member of the private document at all.
        let private_doc = doc_id(&docs.iter().find(|(_, k)| k == "private").unwrap().0);
        let request = peer.request_id();
        peer.send(&ClientMessage::DeleteDocument {
            request,
            doc: private_doc,
        })
        .await;
        peer.expect_error(Some(request), ErrorCode::NotMember).await;
        peer.close().await;
    });
    // Without a terminal and without --yes, nothing happens either.
    let err = sam.run(&["delete-from-relay"]).err();
    assert_mentions(&err, &["nothing was deleted", "--yes"]);
    // The refusals left everything in place.
    assert_eq!(relay_blobs(&relay), blobs);
    sync(&sam);
    sync(&dr);
    let blobs = relay_blobs(&relay);

    // Sam deletes the homework from the relay.
    let out = sam.run(&["delete-from-relay", "--yes"]).out();
    assert_mentions(
        &out,
        &[
            "both of your documents",
            "therapist keeps the copy",
            "this device keeps its copy",
            "stop syncing",
            "between export",
            "Deleted your homework from the relay (2 documents)",
        ],
    );
    let listed = String::from_utf8(relay.admin(&["documents"]).stdout).unwrap();
    for id in &hex_ids {
        assert!(!listed.contains(id.as_str()), "{id} still in:\n{listed}");
    }
    let actions = audit_actions(&relay);
    assert_eq!(
        actions.iter().filter(|a| *a == "delete").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "refused-delete").count(),
        2,
        "{actions:?}"
    );

    // This device keeps its copy, and its sync says why it no longer syncs.
    assert_mentions(
        &sam.run(&["export"]).out(),
        &[SHARED_CANARY, PRIVATE_CANARY],
    );
    let err = sam.run(&["sync"]).err();
    assert_mentions(
        &err,
        &["deleted from the relay from this device on", "new profile"],
    );
    let err = sam.run(&["delete-from-relay", "--yes"]).err();
    assert_mentions(&err, &["deleted from the relay"]);

    // The phone learns of it at its next sync, keeps its copy and says so.
    let run = phone.run(&["sync"]);
    assert!(!run.ok, "{}", run.stdout);
    assert_mentions(
        &run.stderr,
        &[
            "deleted from the relay by its owner",
            "deleted from the relay from another of your devices",
        ],
    );
    assert_mentions(&phone.run(&["export"]).out(), &[SHARED_CANARY]);
    let err = phone.run(&["sync"]).err();
    assert_mentions(&err, &["another of your devices"]);

    // The therapist is told the homework is gone, keeps the copy, and syncs on cleanly.
    let stderr = sync(&dr);
    assert_mentions(
        &stderr,
        &[
            "Sam's homework is no longer on the relay",
            "client deleted it",
        ],
    );
    assert!(!stderr.contains("no longer shares"), "{stderr}");
    assert_mentions(
        &dr.run(&["--client", "Sam", "export"]).out(),
        &[SHARED_CANARY, COMMENT_CANARY],
    );
    let stderr = sync(&dr);
    assert!(!stderr.contains("no longer on the relay"), "{stderr}");

    // None of the ciphertext the relay held is left in its files.
    relay.assert_no_panic();
    relay.stop();
    let db = relay.db().to_path_buf();
    for suffix in ["", "-wal", "-shm"] {
        let path = db.with_file_name(format!("relay.sqlite3{suffix}"));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for (i, blob) in blobs.iter().enumerate() {
            // A 48-byte stretch of ciphertext cannot occur by chance.
            let sample = &blob[blob.len().saturating_sub(48)..];
            assert!(
                !contains(&bytes, sample),
                "blob {i} ({} bytes) is still in {}",
                blob.len(),
                path.display()
            );
        }
        for canary in [SHARED_CANARY, PRIVATE_CANARY, COMMENT_CANARY] {
            assert!(!contains(&bytes, canary.as_bytes()));
        }
    }
}
