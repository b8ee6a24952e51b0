//! The practice admin's commands end to end, against the real relay while it serves: a
//! therapist invite carries the label the admin chose and a client invite refuses one;
//! `between-relay accounts` lists accounts by role with staff labels and never a client's name;
//! `between-relay disable` refuses all of an account's devices at once — those connected are
//! disconnected within seconds with a clear message, new sign-ins are refused — while other
//! accounts carry on; `enable` lets them back, and the therapist can read what happened to their
//! account in the audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::relay::{
    expect_welcome, invite_secret, new_device, new_identity, now_ms, register,
    register_device_frame, register_frame, sign_in, sign_in_frame, Peer, RelayProcess,
};
use between_e2e::{assert_mentions, Device};
use between_shared::crypto::{DeviceKeypair, IdentityKeypair};
use between_shared::protocol::{AccountId, ClientMessage, ErrorCode, ServerMessage};
use between_shared::{Role, Timestamp};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The label the admin gives the therapist's account.
const ADA: &str = "Dr Ada Park";
/// The client's name: known to the client's devices only.
const SAM: &str = "Sam Rivera";
/// How soon a connected device of a disabled account must be gone (the relay re-checks every
/// two seconds; the rest is slack for a loaded machine).
const PROMPTLY: Duration = Duration::from_secs(6);

/// Runs an admin command that must succeed; returns its standard output.
#[track_caller]
fn admin_ok(relay: &RelayProcess, args: &[&str]) -> String {
    let output = relay.admin(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "between-relay {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs an admin command that must fail; returns its standard error.
#[track_caller]
fn admin_err(relay: &RelayProcess, args: &[&str]) -> String {
    let output = relay.admin(args);
    assert!(
        !output.status.success(),
        "between-relay {args:?} should have failed but printed:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `accounts --json [more]`, parsed.
fn accounts(relay: &RelayProcess, more: &[&str]) -> Vec<Value> {
    let mut args = vec!["accounts", "--json"];
    args.extend_from_slice(more);
    serde_json::from_str::<Value>(&admin_ok(relay, &args))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// A therapist-role certificate for `device`, signed by `identity`.
fn therapist_certificate(identity: &IdentityKeypair, device: &DeviceKeypair) -> Vec<u8> {
    identity
        .certify(&device.public(), Role::Therapist, Timestamp(now_ms()))
        .to_bytes()
        .to_vec()
}

/// Registers a therapist's first device with `code`; returns the signed-in connection, the
/// identity, the device and the account.
async fn register_therapist(
    relay: &RelayProcess,
    code: &str,
) -> (Peer, IdentityKeypair, DeviceKeypair, AccountId) {
    let identity = new_identity();
    let device = new_device();
    let (mut peer, hello) = relay.connect().await;
    peer.send(&register_frame(
        &hello,
        &invite_secret(code),
        &identity,
        &device,
        therapist_certificate(&identity, &device),
    ))
    .await;
    let (account, welcomed) = expect_welcome(peer.recv().await);
    assert_eq!(welcomed, device.device_id());
    (peer, identity, device, account)
}

/// Registers a further device of the therapist's account; returns its connection and keys.
async fn add_therapist_device(
    relay: &RelayProcess,
    identity: &IdentityKeypair,
) -> (Peer, DeviceKeypair) {
    let device = new_device();
    let (mut peer, hello) = relay.connect().await;
    peer.send(&register_device_frame(
        &hello,
        &device,
        therapist_certificate(identity, &device),
    ))
    .await;
    expect_welcome(peer.recv().await);
    (peer, device)
}

/// Signs `device` in on a new connection and expects it to be refused as disabled.
async fn sign_in_refused(relay: &RelayProcess, device: &DeviceKeypair) -> String {
    let (mut peer, hello) = relay.connect().await;
    peer.send(&sign_in_frame(&hello, device, now_ms())).await;
    peer.expect_fatal(ErrorCode::DeviceRevoked).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_labels_staff_lists_accounts_and_disables_an_account_at_once() {
    let root = tempfile::tempdir().unwrap();
    let relay = {
        let dir = root.path().join("relay");
        std::fs::create_dir(&dir).unwrap();
        RelayProcess::start(&dir)
    };

    // A therapist invite carries the admin's label; a client invite refuses one and creates
    // nothing.
    let code = admin_ok(
        &relay,
        &["invite", "create", "--role", "therapist", "--label", ADA],
    );
    let refused = admin_err(
        &relay,
        &["invite", "create", "--role", "client", "--label", SAM],
    );
    assert_mentions(
        &refused,
        &["client", "label", "never holds a client's name"],
    );
    assert!(!refused.contains(SAM), "{refused}");

    // The therapist joins with two devices; a client sets up a real profile (with a name on
    // their device); another client account is connected too.
    let (mut laptop, identity, laptop_key, therapist) =
        register_therapist(&relay, code.trim()).await;
    let (mut tablet, tablet_key) = add_therapist_device(&relay, &identity).await;
    let mut sam = Device::new(root.path(), "sam");
    let out = sam
        .at("2026-03-02T09:00:00+00:00")
        .run(&[
            "init",
            "--relay",
            &relay.origin(),
            "--invite",
            &relay.invite("client"),
            "--name",
            SAM,
            "--device-name",
            "phone",
        ])
        .out();
    assert_mentions(&out, &["Registered with the relay"]);
    let (mut other, other_account) = register(&relay, &relay.invite("client")).await;

    // Accounts by role: the therapist with the label, clients without any; never a name the
    // relay was not given.
    let all = accounts(&relay, &[]);
    assert_eq!(all.len(), 3, "{all:?}");
    let therapist_hex = therapist.to_string();
    let listed = accounts(&relay, &["--role", "therapist"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["account"], therapist_hex.as_str());
    assert_eq!(listed[0]["role"], "therapist");
    assert_eq!(listed[0]["label"], ADA);
    assert_eq!(listed[0]["devices"], 2);
    assert_eq!(listed[0]["state"], "active");
    let clients = accounts(&relay, &["--role", "client"]);
    assert_eq!(clients.len(), 2, "{clients:?}");
    for client in &clients {
        assert_eq!(client["role"], "client");
        assert_eq!(client["label"], Value::Null);
        assert_eq!(client["devices"], 1);
    }
    let table = admin_ok(&relay, &["accounts"]);
    assert_mentions(
        &table,
        &[ADA, &therapist_hex, "therapist", "client", "active"],
    );
    assert!(!table.contains(SAM), "{table}");
    assert!(!admin_ok(&relay, &["accounts", "--role", "client"]).contains(ADA));

    // Disabling the therapist: both connected devices are told why and disconnected within
    // seconds, though they send nothing.
    let started = Instant::now();
    let out = admin_ok(&relay, &["disable", &therapist_hex]);
    assert_mentions(&out, &["Disabled", ADA]);
    for peer in [&mut laptop, &mut tablet] {
        let message = peer.expect_fatal(ErrorCode::DeviceRevoked).await;
        assert_mentions(&message, &["disabled by the practice admin"]);
    }
    let took = started.elapsed();
    assert!(
        took < PROMPTLY,
        "the devices were disconnected after {took:?}"
    );

    // Every device of the account is refused at sign-in with the same clear message.
    for key in [&laptop_key, &tablet_key] {
        let message = sign_in_refused(&relay, key).await;
        assert_mentions(&message, &["disabled by the practice admin"]);
    }
    let listed = accounts(&relay, &["--role", "therapist"]);
    assert_eq!(listed[0]["state"], "disabled");
    assert!(listed[0]["disabled_at_ms"].is_i64());
    assert_mentions(
        &admin_ok(&relay, &["disable", &therapist_hex]),
        &["already disabled", "since"],
    );

    // Other accounts are unaffected: the connected client stays, new sign-ins and syncs work.
    other.ping().await;
    let (mut again, _) = sign_in(&relay, &other_account.device).await;
    again.ping().await;
    again.close().await;
    let synced = sam.run(&["--json", "sync"]).json();
    assert_eq!(synced["failed"], Value::Array(vec![]), "{synced}");
    other.ping().await;
    other.close().await;

    // Bad ids are refused clearly.
    assert_mentions(
        &admin_err(&relay, &["disable", "not-an-id"]),
        &["not an account id", "accounts"],
    );
    assert_mentions(
        &admin_err(&relay, &["disable", &"ab".repeat(16)]),
        &["no account", "accounts"],
    );

    // Enabled again, the therapist signs in and reads what happened to the account: the
    // refused sign-ins between the admin's disabling and enabling.
    assert_mentions(&admin_ok(&relay, &["enable", &therapist_hex]), &["Enabled"]);
    let (mut back, _) = sign_in(&relay, &laptop_key).await;
    let request = back.request_id();
    back.send(&ClientMessage::GetAudit {
        request,
        doc: None,
        after: 0,
        limit: 512,
    })
    .await;
    let events = match back.recv().await {
        ServerMessage::Audit { events, doc, .. } => {
            assert_eq!(doc, None);
            events
        }
        other => panic!("expected the audit events, got {other:?}"),
    };
    assert!(events.iter().all(|e| e.account == Some(therapist)));
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    let at = |action: &str| {
        actions
            .iter()
            .position(|a| *a == action)
            .unwrap_or_else(|| panic!("no {action} in {actions:?}"))
    };
    assert!(at("register") < at("register-device"), "{actions:?}");
    assert!(at("register-device") < at("disable-account"), "{actions:?}");
    assert!(at("disable-account") < at("refused-sign-in"), "{actions:?}");
    assert!(at("refused-sign-in") < at("enable-account"), "{actions:?}");
    assert_eq!(
        actions.iter().filter(|a| **a == "refused-sign-in").count(),
        2,
        "{actions:?}"
    );
    // The admin's actions name the account, not a device.
    let disabled = &events[at("disable-account")];
    assert_eq!(disabled.device, None);
    back.close().await;

    assert_mentions(&admin_ok(&relay, &["audit", "verify"]), &["OK"]);
    relay.assert_no_panic();
}
