//! Therapists on the relay, end to end over TLS with the real binaries: the practice admin
//! invites a therapist; the therapist's first device joins with that invite and their further
//! devices pair like a client's, taking the account's role. Roles cannot be mixed up: a
//! therapist invite does not make a client, a client invite does not make a therapist, and a
//! therapist's pairing code does not make a client device.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::practice::{pair_device, sync_clean as sync, therapist_with_invite, tls_relay};
use between_e2e::relay::RelayProcess;
use between_e2e::{assert_mentions, Device};
use serde_json::Value;
use std::path::Path;

const NOW: &str = "2026-03-02T09:00:00+00:00";

fn device(root: &Path, profile: &str) -> Device {
    let mut device = Device::new(root, profile);
    device.at(NOW);
    device
}

/// `status --json` of `device`: (this device's role, the roles of every device it knows).
fn roles(device: &Device) -> (String, Vec<String>) {
    let status = device.run(&["--json", "status"]).json();
    let me = status["device"].as_str().unwrap().to_string();
    let devices = status["devices"].as_array().unwrap();
    let role_of = |d: &Value| d["role"].as_str().unwrap().to_string();
    let mine = devices
        .iter()
        .find(|d| d["device"] == me.as_str())
        .map(role_of)
        .unwrap();
    (mine, devices.iter().map(role_of).collect())
}

#[test]
fn a_therapist_joins_with_the_admin_invite_and_pairs_a_second_device() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let origin = relay.origin();

    let laptop = device(dir.path(), "dr-laptop");
    let invite = relay.invite("therapist");
    let out = laptop
        .run(&[
            "init",
            "--relay",
            &origin,
            "--invite",
            &invite,
            "--role",
            "therapist",
            "--name",
            "Dr Ada Park",
            "--device-name",
            "office laptop",
            "--ca-file",
            &ca_file,
        ])
        .out();
    assert_mentions(
        &out,
        &[
            "Created the therapist profile",
            "Registered with the relay",
            "Your identity fingerprint",
        ],
    );
    assert_eq!(roles(&laptop).0, "therapist");
    // A therapist starts with no client documents and syncs cleanly.
    let synced = laptop.run(&["--json", "sync"]).json();
    assert_eq!(synced["failed"], Value::Array(vec![]), "{synced}");

    // The phone pairs with a code from the laptop and becomes a therapist device of the same
    // account, without being asked for a role.
    let added = laptop.run(&["device", "add"]).out();
    let code = added.trim().to_string();
    // Asking for the client role with a therapist's code is refused before anything is kept.
    let wrong = device(dir.path(), "dr-phone-wrong");
    let run = wrong.run(&[
        "init",
        "--relay",
        &origin,
        "--pair",
        &code,
        "--role",
        "client",
        "--name",
        "Ada",
        "--ca-file",
        &ca_file,
    ]);
    assert!(!run.ok, "{}", run.stdout);
    assert_mentions(
        &run.stderr,
        &["from a therapist account", "without --role", "new code"],
    );
    assert!(!wrong.store_file().exists());

    let code = {
        // That attempt took the mailbox: make a fresh code.
        let added = laptop.run(&["device", "add"]).out();
        added.trim().to_string()
    };
    let phone = device(dir.path(), "dr-phone");
    let out = phone
        .run(&[
            "init",
            "--relay",
            &origin,
            "--pair",
            &code,
            "--name",
            "Dr Ada Park",
            "--device-name",
            "phone",
            "--ca-file",
            &ca_file,
        ])
        .out();
    assert_mentions(&out, &["Paired this device", "Synced"]);
    laptop.run(&["sync"]).out();
    let (phone_role, known) = roles(&phone);
    assert_eq!(phone_role, "therapist");
    assert_eq!(
        known,
        vec!["therapist", "therapist"],
        "both devices, one role"
    );
    let (_, known) = roles(&laptop);
    assert_eq!(known.len(), 2, "the laptop learns of the phone: {known:?}");

    // The relay lists two therapist devices of one account.
    let devices = relay.admin(&["devices"]);
    let listing = String::from_utf8_lossy(&devices.stdout);
    assert_eq!(
        listing.lines().filter(|l| l.contains("therapist")).count(),
        2,
        "{listing}"
    );
    relay.assert_no_panic();
}

#[test]
fn invites_make_only_the_role_they_were_made_for() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let origin = relay.origin();
    for (invite_role, asked_role, profile) in [
        ("therapist", "client", "client-with-therapist-invite"),
        ("client", "therapist", "therapist-with-client-invite"),
    ] {
        let invite = relay.invite(invite_role);
        let someone = device(dir.path(), profile);
        let run = someone.run(&[
            "init",
            "--relay",
            &origin,
            "--invite",
            &invite,
            "--role",
            asked_role,
            "--name",
            "Someone",
            "--ca-file",
            &ca_file,
        ]);
        assert!(!run.ok, "{profile}: {}", run.stdout);
        assert_mentions(&run.stderr, &[invite_role, "Nothing was created"]);
        assert!(!someone.store_file().exists(), "{profile} left a profile");
    }
    relay.assert_no_panic();
}

/// The ids of the entries in `list --json`, and their texts joined (to search).
fn entries(device: &Device, client: Option<&str>) -> (Vec<String>, String) {
    let json = device.snapshot(client);
    let entries = json["entries"].as_object().cloned().unwrap_or_default();
    (entries.keys().cloned().collect(), json.to_string())
}

#[test]
fn a_therapist_and_a_client_share_homework_through_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let origin = relay.origin();

    // The admin invites the therapist; the therapist's laptop joins.
    let made = relay.admin(&["invite", "therapist", "--label", "Dr Ada Park"]);
    assert!(made.status.success(), "{made:?}");
    let therapist_invite = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let dr = device(dir.path(), "dr-laptop");
    dr.run(&[
        "init",
        "--relay",
        &origin,
        "--invite",
        &therapist_invite,
        "--role",
        "therapist",
        "--name",
        "Dr Ada Park",
        "--device-name",
        "office",
        "--ca-file",
        &ca_file,
    ])
    .out();
    let dr_fingerprint = dr.run(&["--json", "status"]).json()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();

    // The therapist invites Sam; Sam's laptop joins with that invite alone (it names the relay)
    // and shares the homework with exactly that therapist.
    let invite = dr.run(&["--json", "client", "invite"]).json()["invite"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(invite.starts_with(&format!("{origin}#")), "{invite}");
    let sam = device(dir.path(), "sam-laptop");
    let out = sam
        .run(&[
            "init",
            "--invite",
            &invite,
            "--name",
            "Sam",
            "--device-name",
            "laptop",
            "--ca-file",
            &ca_file,
        ])
        .out();
    assert_mentions(
        &out,
        &["Shared your homework with the therapist", &dr_fingerprint],
    );

    // The therapist's next sync receives Sam's homework, named after Sam.
    sync(&dr);
    let clients = dr.run(&["--json", "client", "list"]).out();
    assert_mentions(&clients, &["Sam"]);

    // The therapist assigns a thought record and a daily mood check-in.
    let c = ["--client", "Sam", "assignment", "create", "-t"];
    let record_assignment =
        dr.create(&[&c[..], &["thought-record", "--every", "once:2026-03-06"]].concat());
    let mood = dr.create(&[&c[..], &["mood-check-in", "--every", "daily"]].concat());
    sync(&dr);

    // Sam's phone pairs; both of Sam's devices get the assignments.
    let sam_phone = pair_device(
        &origin,
        &sam,
        dir.path(),
        "sam-phone",
        "Sam",
        "phone",
        Some(&ca_file),
    );
    sync(&sam);
    for d in [&sam, &sam_phone] {
        let list = d.snapshot(None).to_string();
        assert!(
            list.contains(&record_assignment) && list.contains(&mood),
            "{list}"
        );
    }

    // Offline, Sam starts the thought record on the laptop, checks in on the phone, and keeps
    // a journal entry private.
    let record = sam
        .run(&[
            "--json",
            "entry",
            "new",
            &record_assignment,
            "--draft",
            "--set",
            "situation=Meeting with my manager",
            "--set",
            "emotions=anxious=80",
        ])
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let check_in = sam_phone.create(&["entry", "new", &mood, "--set", "mood=6"]);
    const SECRET: &str = "Only for me: the dream about the lake";
    let private = sam_phone.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--private",
        "--set",
        &format!("text={SECRET}"),
    ]);
    sync(&sam_phone);
    sync(&sam);
    sync(&sam_phone);
    // The phone finishes the thought record begun on the laptop.
    sam_phone
        .run(&[
            "entry",
            "edit",
            &record,
            "--set",
            "thoughts=*I'm going to be fired=90",
            "--set",
            "distortions=catastrophising",
            "--set",
            "evidence_for=He frowned",
            "--set",
            "evidence_against=My review was good",
            "--set",
            "balanced_thought=One meeting is not my whole job",
            "--set",
            "balanced_belief=70",
            "--set",
            "emotions_after=anxious=30",
            "--complete",
        ])
        .out();
    sync(&sam_phone);

    // The therapist sees the shared entries, never the private one, and comments on one field.
    // Before looking, the caseload says what is new: Sam's two entries. The sync says so too.
    assert_mentions(
        &dr.run(&["sync"]).out(),
        &[
            "From Sam's homework:",
            "Sam did CBT thought record (2026-03-02)",
            "Sam did Mood check-in (2026-03-02)",
        ],
    );
    let caseload = dr.run(&["--json", "clients"]).json();
    let row = caseload
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "Sam"))
        .cloned()
        .unwrap_or_else(|| panic!("Sam in the caseload: {caseload}"));
    let new_entries = row["new_entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(new_entries.len(), 2, "{row}");
    assert!(!row.to_string().contains(&private), "{row}");
    let (ids, text) = entries(&dr, Some("Sam"));
    assert!(ids.contains(&record) && ids.contains(&check_in), "{text}");
    assert!(!ids.contains(&private) && !text.contains(SECRET), "{text}");
    dr.run(&[
        "--client",
        "Sam",
        "comment",
        "add",
        &format!("{record}:balanced_thought"),
        "Well spotted - what else would you tell a friend?",
    ])
    .out();
    sync(&dr);

    // Sam is told in words what the therapist did: by the sync that brings it, and once by
    // `today`.
    assert_mentions(
        &sam.run(&["sync"]).out(),
        &[
            "From your therapist:",
            "Dr Ada Park commented on your CBT thought record of 2026-03-02",
            "“Well spotted - what else would you tell a friend?”",
        ],
    );
    assert_mentions(
        &sam.run(&["today"]).out(),
        &[
            "From your therapist since you last looked:",
            "New homework from Dr Ada Park: Mood check-in, every day",
            "Well spotted - what else would you tell a friend?",
        ],
    );
    assert!(!sam.run(&["today"]).out().contains("From your therapist"));
    // The therapist's devices are named after the therapist (the homework and Sam's signed
    // list say who they are), in the access record and in what a sync received.
    let reads = sam
        .run(&["audit", "--device", "Dr Ada", "--kind", "read"])
        .out();
    assert_mentions(&reads, &["Dr Ada Park's device (", "read the homework"]);

    // The therapist's phone pairs with the laptop: it holds Sam's homework at once (the key
    // came in the pairing), and what it writes reaches Sam's devices, which learn of the new
    // therapist device through the relay and trust it because Sam's signed list vouches for
    // its owner.
    let dr_phone = pair_device(
        &origin,
        &dr,
        dir.path(),
        "dr-phone",
        "Dr Ada Park",
        "phone",
        Some(&ca_file),
    );
    sync(&dr);
    sync(&dr_phone);
    let (phone_ids, _) = entries(&dr_phone, Some("Sam"));
    assert!(phone_ids.contains(&record), "{phone_ids:?}");
    let goal = dr_phone.create(&["--client", "Sam", "goal", "create", "Sleep by eleven"]);
    sync(&dr_phone);

    // Everyone converges: both of Sam's devices show the therapist's comment in place.
    sync(&sam);
    sync(&sam_phone);
    for d in [&sam, &sam_phone] {
        assert_mentions(
            &d.run(&["show", &record]).out(),
            &[
                "Shared with your therapist.",
                "One meeting is not my whole job",
                "what else would you tell a friend",
                "Dr Ada Park",
            ],
        );
    }
    for d in [&sam, &sam_phone] {
        assert!(
            d.snapshot(None)["goals"].get(&goal).is_some(),
            "{}",
            d.profile
        );
    }
    sync(&dr);
    let (laptop_ids, _) = entries(&sam, None);
    let (phone_ids, _) = entries(&sam_phone, None);
    let (dr_ids, _) = entries(&dr, Some("Sam"));
    assert_eq!(laptop_ids, phone_ids);
    assert_eq!(laptop_ids, dr_ids);

    // Sam's audit shows the therapist's devices (both of them) reading the homework.
    let audit = sam.run(&["audit"]).out();
    assert_mentions(&audit, &["Dr Ada Park's device", "read the homework"]);

    // The relay's files never hold the private text, nor any homework text.
    let db = std::fs::read(relay.db()).unwrap();
    for needle in [
        SECRET,
        "One meeting is not my whole job",
        "Meeting with my manager",
    ] {
        assert!(
            !db.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the relay's database holds {needle:?}"
        );
    }
    relay.assert_no_panic();
}

#[test]
fn a_relay_that_names_another_therapist_is_caught_before_anything_is_shared() {
    use between_shared::crypto::{ClientInvite, IdentityKeypair};
    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file) = tls_relay(dir.path());
    let (dr, invite) = therapist_with_invite(&relay, dir.path(), &ca_file, "office");
    // From the client's side, a relay that answers with a key other than the one the invite
    // commits to looks exactly like this: the invite names someone else.
    let mut parsed = ClientInvite::parse(&invite).unwrap().unwrap();
    let impostor = IdentityKeypair::generate(&mut rand::rng()).public();
    parsed.therapist = impostor.commitment();
    let sam = device(dir.path(), "sam-laptop");
    let run = sam.run(&[
        "init",
        "--invite",
        &parsed.to_text(),
        "--name",
        "Sam",
        "--ca-file",
        &ca_file,
    ]);
    assert!(!run.ok, "{}", run.stdout);
    assert_mentions(&run.stderr, &["impersonate", "nothing was shared"]);
    // Nothing reached the therapist: no membership, no key, no document.
    sync(&dr);
    let clients = dr.run(&["--json", "client", "list"]).json();
    assert_eq!(clients, Value::Array(vec![]), "{clients}");
    // And later syncs keep refusing rather than sharing with the wrong person.
    let again = sam.run(&["sync"]);
    assert!(!again.ok);
    assert_mentions(&again.stderr, &["impersonate"]);
}

/// A practice with one therapist (one device) and Sam (laptop and phone) sharing homework;
/// everyone has synced.
fn practice(dir: &Path) -> (RelayProcess, String, Device, Device, Device) {
    let (relay, ca_file) = tls_relay(dir);
    let origin = relay.origin();
    let (dr, invite) = therapist_with_invite(&relay, dir, &ca_file, "office");
    let sam = device(dir, "sam-laptop");
    sam.run(&[
        "init",
        "--invite",
        &invite,
        "--name",
        "Sam",
        "--device-name",
        "laptop",
        "--ca-file",
        &ca_file,
    ])
    .out();
    let sam_phone = pair_device(
        &origin,
        &sam,
        dir,
        "sam-phone",
        "Sam",
        "phone",
        Some(&ca_file),
    );
    sync(&dr);
    sync(&sam);
    (relay, ca_file, dr, sam, sam_phone)
}

/// The epochs of the keys a profile's store holds for its documents.
fn held_epochs(device: &Device) -> Vec<u32> {
    let conn = rusqlite::Connection::open(device.store_file()).unwrap();
    let mut stmt = conn
        .prepare("SELECT DISTINCT epoch FROM epoch_keys ORDER BY epoch")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The epoch in the header of every bundle the relay holds, oldest first (bytes 18..22 of a
/// sealed bundle: see docs/envelope.md).
fn relay_bundle_epochs(relay: &RelayProcess) -> Vec<u32> {
    let conn = rusqlite::Connection::open(relay.db()).unwrap();
    let mut stmt = conn
        .prepare("SELECT data FROM bundles ORDER BY appended_at_ms, seq")
        .unwrap();
    stmt.query_map([], |row| row.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|data| {
            let data = data.unwrap();
            u32::from_be_bytes(data[18..22].try_into().unwrap())
        })
        .collect()
}

#[test]
fn after_the_client_removes_the_therapist_nothing_new_reaches_them() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, _ca, dr, sam, sam_phone) = practice(dir.path());
    let before = sam.create(&["entry", "new", "-t", "journal", "--set", "text=Before"]);
    sync(&sam);
    sync(&dr);
    let (ids, _) = entries(&dr, Some("Sam"));
    assert!(ids.contains(&before));
    assert_eq!(held_epochs(&dr), vec![1]);

    // Refused without a terminal unless confirmed; then done.
    let run = sam.run(&["therapist", "remove"]);
    assert!(!run.ok);
    assert_mentions(&run.stderr, &["--yes"]);
    let out = sam.run(&["therapist", "remove", "--yes"]).out();
    assert_mentions(&out, &["Removed your therapist", "new key"]);
    const AFTER: &str = "After the change: only for me now";
    let after = sam.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        &format!("text={AFTER}"),
    ]);
    sync(&sam);

    // Sam's phone gets the new key and the new entry.
    sync(&sam_phone);
    assert_mentions(
        &sam_phone.run(&["show", &after]).out(),
        &[
            AFTER,
            "No longer shared: sharing with your therapist ended on",
        ],
    );
    assert!(held_epochs(&sam_phone).contains(&2));

    // The therapist is told, stops syncing Sam's homework, and holds nothing that opens what
    // was written after: the relay's newest bundles are sealed under epoch 2, and the
    // therapist's store has keys for epoch 1 only.
    let run = dr.run(&["--json", "sync"]);
    assert!(run.ok, "{}", run.stderr);
    assert_mentions(&run.stderr, &["no longer shares their homework with you"]);
    let (ids, text) = entries(&dr, Some("Sam"));
    assert!(ids.contains(&before), "the therapist keeps what they had");
    assert!(!ids.contains(&after) && !text.contains(AFTER), "{text}");
    assert_eq!(held_epochs(&dr), vec![1]);
    let epochs = relay_bundle_epochs(&relay);
    assert_eq!(epochs.last(), Some(&2), "{epochs:?}");
    // A later sync stays quiet and still gets nothing.
    sync(&dr);
    let (ids, _) = entries(&dr, Some("Sam"));
    assert!(!ids.contains(&after));
    // The caseload says the client stopped sharing (issue 11).
    assert_eq!(sharing_ended_by(&dr), "client");
    assert_mentions(
        &dr.run(&["clients"]).out(),
        &["the client stopped sharing on"],
    );
    relay.assert_no_panic();
}

/// Who ended sharing the only client's homework, as `between clients --json` says.
fn sharing_ended_by(dr: &Device) -> String {
    let rows = dr.run(&["--json", "clients"]).json();
    rows[0]["sharing_ended"]["by"]
        .as_str()
        .unwrap_or_else(|| panic!("no sharing_ended in {rows}"))
        .to_owned()
}

#[test]
fn a_lost_device_is_removed_and_never_gets_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, _ca, dr, sam, sam_phone) = practice(dir.path());
    let phone_id = sam_phone.run(&["--json", "status"]).json()["device"]
        .as_str()
        .unwrap()
        .to_string();
    // Refused without confirmation outside a terminal, and for this very device.
    let run = sam.run(&["device", "remove", &phone_id]);
    assert!(!run.ok);
    assert_mentions(&run.stderr, &["--yes"]);
    let own = sam.run(&["--json", "status"]).json()["device"]
        .as_str()
        .unwrap()
        .to_string();
    let run = sam.run(&["device", "remove", &own, "--yes"]);
    assert!(!run.ok);
    assert_mentions(&run.stderr, &["the device you are using"]);

    let out = sam
        .run(&["device", "remove", &phone_id[..8], "--yes"])
        .out();
    assert_mentions(&out, &["Removed the device", &phone_id[..8], "new keys"]);
    const AFTER: &str = "Written after the phone was lost";
    let after = sam.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        &format!("text={AFTER}"),
    ]);
    sync(&sam);

    // The therapist, still a member, gets the new key and the entry.
    sync(&dr);
    assert_mentions(
        &dr.run(&["--client", "Sam", "show", &after]).out(),
        &[AFTER],
    );
    assert!(held_epochs(&dr).contains(&2));

    // The lost phone is refused by the relay and holds no key to what was written after.
    let run = sam_phone.run(&["sync"]);
    assert!(!run.ok);
    assert_mentions(&run.stderr, &["removed"]);
    assert_eq!(held_epochs(&sam_phone), vec![1]);
    let epochs = relay_bundle_epochs(&relay);
    assert_eq!(epochs.last(), Some(&2), "{epochs:?}");
    relay.assert_no_panic();
}

#[test]
fn the_therapist_can_end_the_relationship_from_their_side() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, _ca, dr, sam, sam_phone) = practice(dir.path());
    let run = dr.run(&["client", "end", "Sam"]);
    assert!(!run.ok);
    assert_mentions(&run.stderr, &["--yes"]);
    let out = dr.run(&["client", "end", "Sam", "--yes"]).out();
    assert_mentions(&out, &["no longer receive Sam's homework", "copy stays"]);
    // Nothing to end twice; the therapist's syncs go on quietly.
    let run = dr.run(&["client", "end", "Sam", "--yes"]);
    assert!(!run.ok);
    assert_mentions(&run.stderr, &["no longer syncs"]);
    sync(&dr);

    // Sam's next sync notices and moves the homework to a new key without the therapist.
    let run = sam.run(&["--json", "sync"]);
    assert!(run.ok, "{}", run.stderr);
    assert_mentions(&run.stderr, &["ended sharing your homework"]);
    const AFTER: &str = "Written after my therapist left";
    let after = sam.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        &format!("text={AFTER}"),
    ]);
    sync(&sam);
    sync(&sam_phone);
    assert_mentions(&sam_phone.run(&["show", &after]).out(), &[AFTER]);
    sync(&dr);
    let (ids, text) = entries(&dr, Some("Sam"));
    assert!(!ids.contains(&after) && !text.contains(AFTER), "{text}");
    assert_eq!(held_epochs(&dr), vec![1]);
    assert_eq!(relay_bundle_epochs(&relay).last(), Some(&2));
    assert_eq!(sharing_ended_by(&dr), "you");
    relay.assert_no_panic();
}

/// Runs `f` on the relay's database while the relay is stopped, then restarts it on its port.
fn tamper(relay: &mut RelayProcess, f: impl FnOnce(&rusqlite::Connection)) {
    relay.stop();
    {
        let conn = rusqlite::Connection::open(relay.db()).unwrap();
        f(&conn);
    }
    relay.restart_on_same_port();
}

#[test]
fn a_tampering_relay_cannot_inject_a_member_or_slip_in_a_device() {
    use between_shared::crypto::{DeviceKeypair, IdentityKeypair, Member, SignedMembership};
    use between_shared::{Role, Timestamp};
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, _ca, dr, sam, _phone) = practice(dir.path());
    let mut rng = rand::rng();

    // 1. The relay slips an extra device into the therapist's account, certified by a key of its
    //    own. Sam's device ignores it, says so, and wraps no key for it.
    let fake = DeviceKeypair::generate(&mut rng);
    let relay_key = IdentityKeypair::generate(&mut rng);
    let cert = relay_key.certify(&fake.public(), Role::Therapist, Timestamp(1));
    tamper(&mut relay, |db| {
        db.execute(
            "INSERT INTO devices (id, account, signing_pub, certificate, registered_at_ms)
             SELECT ?1, account, ?2, ?3, 1 FROM devices
              WHERE account IN (SELECT id FROM accounts WHERE role = 'therapist') LIMIT 1",
            rusqlite::params![
                fake.device_id().0.to_vec(),
                fake.public().signing.to_vec(),
                cert.to_bytes().to_vec()
            ],
        )
        .unwrap();
    });
    let run = sam.run(&["--json", "sync"]);
    assert!(run.ok, "{}", run.stderr);
    assert_mentions(
        &run.stderr,
        &["ignored device", "not vouched for by a member"],
    );
    let db = rusqlite::Connection::open(relay.db()).unwrap();
    let envelopes: i64 = db
        .query_row(
            "SELECT count(*) FROM key_envelopes WHERE recipient = ?1",
            [fake.device_id().0.to_vec()],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(envelopes, 0, "a key was wrapped for the relay's device");
    drop(db);

    // 2. The relay replaces the signed membership with a newer-looking list of its own that adds
    //    a member. Both Sam and the therapist refuse it and stop before syncing anything.
    let impostor = IdentityKeypair::generate(&mut rng).public();
    tamper(&mut relay, |db| {
        let (doc, serial): (Vec<u8>, i64) = db
            .query_row("SELECT doc, serial FROM memberships LIMIT 1", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        let forged = SignedMembership::sign(
            &relay_key,
            between_shared::protocol::DocId(doc.as_slice().try_into().unwrap()),
            u64::try_from(serial).unwrap() + 1,
            1,
            &[Member {
                identity: impostor,
                role: Role::Therapist,
            }],
        )
        .unwrap();
        db.execute(
            "UPDATE memberships SET serial = serial + 1, data = ?1",
            [forged.to_bytes()],
        )
        .unwrap();
    });
    for device in [&sam, &dr] {
        let run = device.run(&["sync"]);
        assert!(
            !run.ok,
            "{} accepted a forged membership list",
            device.profile
        );
        assert_mentions(&run.stderr, &["membership list", "does not check"]);
    }
    relay.assert_no_panic();
}

/// The therapist's device keys, read from their profile (as a therapist who turned against the
/// client could), to speak to the relay frame by frame.
fn device_keys(device: &Device) -> between_shared::crypto::DeviceKeypair {
    let conn = rusqlite::Connection::open(device.store_file()).unwrap();
    let bytes: Vec<u8> = conn
        .query_row("SELECT device_keypair FROM account", [], |row| row.get(0))
        .unwrap();
    between_shared::crypto::DeviceKeypair::from_bytes(&bytes).unwrap()
}

/// A member therapist tries to take over the client's keys and log through the relay: plant the
/// key envelopes of the next epoch for the client's devices (so that, once removed, the phone
/// would never get the real key), and compact the client's log away with a snapshot of their
/// own. The relay refuses all of it; after `therapist remove` the phone writes under the new
/// epoch; and a device paired afterwards still gets every entry.
#[test]
fn a_member_cannot_plant_the_next_epochs_keys_or_wipe_the_clients_log() {
    use between_e2e::relay::{new_epoch_key, sealed_snapshot, sign_in};
    use between_shared::protocol::{ClientMessage, ErrorCode, KeyEnvelope, Seq, ServerMessage};

    let dir = tempfile::tempdir().unwrap();
    let (relay, ca_file, dr, sam, sam_phone) = practice(dir.path());
    let before = sam.create(&["entry", "new", "-t", "journal", "--set", "text=Before"]);
    sync(&sam);
    sync(&dr);

    let dr_keys = device_keys(&dr);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (mut ada, _) = sign_in(&relay, &dr_keys).await;
        let request = ada.request_id();
        ada.send(&ClientMessage::ListDocuments { request }).await;
        let (doc, owner) = match ada.recv().await {
            ServerMessage::Documents { documents, .. } => {
                let shared = documents.first().expect("Sam's homework is shared");
                (shared.doc, shared.owner)
            }
            other => panic!("expected the caseload, got {other:?}"),
        };
        let request = ada.request_id();
        ada.send(&ClientMessage::GetAccount {
            request,
            account: Some(owner),
        })
        .await;
        let sams_devices = match ada.recv().await {
            ServerMessage::Account { devices, .. } => devices,
            other => panic!("expected Sam's account, got {other:?}"),
        };
        assert_eq!(sams_devices.len(), 2);
        for epoch in [1, 2, 3] {
            let request = ada.request_id();
            let envelopes = sams_devices
                .iter()
                .map(|d| KeyEnvelope {
                    epoch,
                    recipient: d.device,
                    envelope: vec![0x5A; 80],
                })
                .collect();
            ada.send(&ClientMessage::PutKeyEnvelopes {
                request,
                doc,
                envelopes,
            })
            .await;
            let message = ada.expect_error(Some(request), ErrorCode::Forbidden).await;
            assert_mentions(&message, &["only the devices of the client"]);
        }
        let wipe = sealed_snapshot(doc, &dr_keys, 1, b"nothing here", &new_epoch_key());
        let request = ada.request_id();
        ada.send(&ClientMessage::PutSnapshot {
            request,
            doc,
            covers: Seq(1),
            part: 0,
            parts: 1,
            snapshot: wipe,
        })
        .await;
        let message = ada.expect_error(Some(request), ErrorCode::Forbidden).await;
        assert_mentions(&message, &["only the devices of the client"]);
        ada.close().await;
    });

    // Sam ends the sharing; the phone gets the new key and writes under it.
    sam.run(&["therapist", "remove", "--yes"]).out();
    sync(&sam_phone);
    assert!(held_epochs(&sam_phone).contains(&2));
    const AFTER: &str = "Written on the phone after the change";
    let after = sam_phone.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        &format!("text={AFTER}"),
    ]);
    sync(&sam_phone);
    let epochs = relay_bundle_epochs(&relay);
    assert_eq!(epochs.last(), Some(&2), "{epochs:?}");
    sync(&sam);
    assert_mentions(&sam.run(&["show", &after]).out(), &[AFTER]);

    // A tablet paired now gets the whole homework, the entry from before the attempt included.
    let tablet = pair_device(
        &relay.origin(),
        &sam,
        dir.path(),
        "sam-tablet",
        "Sam",
        "tablet",
        Some(&ca_file),
    );
    sync(&tablet);
    assert_mentions(&tablet.run(&["show", &before]).out(), &["Before"]);
    assert_mentions(&tablet.run(&["show", &after]).out(), &[AFTER]);
    relay.assert_no_panic();
}
