//! Therapists on the relay, end to end over TLS with the real binaries: the practice admin
//! invites a therapist; the therapist's first device joins with that invite and their further
//! devices pair like a client's, taking the account's role. Roles cannot be mixed up: a
//! therapist invite does not make a client, a client invite does not make a therapist, and a
//! therapist's pairing code does not make a client device.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::relay::RelayProcess;
use between_e2e::tls::{PracticeCa, Validity};
use between_e2e::{assert_mentions, Device};
use serde_json::Value;
use std::path::Path;

const NOW: &str = "2026-03-02T09:00:00+00:00";

/// A relay serving TLS with a certificate from a fresh practice CA; returns it and the CA file.
fn tls_relay(dir: &Path) -> (RelayProcess, String) {
    let ca = PracticeCa::new("Riverside Practice CA");
    let files = ca.issue(dir, "relay", &["localhost", "127.0.0.1"], Validity::Current);
    let relay = RelayProcess::start_tls(dir, &files, &ca, &[]);
    let ca_file = ca.write(dir, "practice-ca.pem");
    (relay, ca_file.to_string_lossy().into_owned())
}

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
    let code = added
        .lines()
        .find_map(|l| l.trim().strip_prefix("Pairing code: "))
        .expect("a pairing code")
        .trim()
        .to_string();
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
        added
            .lines()
            .find_map(|l| l.trim().strip_prefix("Pairing code: "))
            .expect("a pairing code")
            .trim()
            .to_string()
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
