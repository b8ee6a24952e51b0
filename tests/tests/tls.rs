//! TLS end to end: the real `between-relay` serving TLS 1.3 with a certificate from a private
//! practice CA (made with rcgen), and real `between` profiles that trust that CA through
//! `init --ca-file`. A certificate from another CA, an expired one, one for another name, and a
//! plain `ws://` connection to the TLS port are each refused with a message that says what is
//! wrong, leave no profile behind, and do not disturb the relay. The relay refuses to serve a
//! non-loopback address without TLS unless told a TLS-terminating proxy is in front.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::relay::RelayProcess;
use between_e2e::tls::{PracticeCa, Validity};
use between_e2e::{assert_mentions, binary, Device};
use std::path::Path;
use std::process::{Command, Stdio};

const NOW: &str = "2026-03-02T09:00:00+00:00";
/// The names a relay certificate is valid for in these tests.
const LOOPBACK: &[&str] = &["localhost", "127.0.0.1"];

fn init_args<'a>(relay: &'a str, invite: &'a str, ca: &'a str) -> Vec<&'a str> {
    vec![
        "init",
        "--relay",
        relay,
        "--invite",
        invite,
        "--name",
        "Sam",
        "--device-name",
        "laptop",
        "--ca-file",
        ca,
    ]
}

/// A device whose first `init` must fail: returns its error output, after checking that no
/// profile was left behind.
#[track_caller]
fn refused_init(root: &Path, relay: &str, invite: &str, ca: &Path) -> String {
    let mut device = Device::new(root, "refused");
    device.at(NOW);
    let run = device.run(&init_args(relay, invite, &ca.to_string_lossy()));
    assert!(!run.ok, "init should have failed:\n{}", run.stdout);
    assert!(
        !device.store_file().exists(),
        "a refused init left a profile behind"
    );
    run.stderr
}

#[test]
fn a_client_syncs_laptop_and_phone_over_tls_with_the_practice_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = PracticeCa::new("Riverside Practice CA");
    let files = ca.issue(dir.path(), "relay", LOOPBACK, Validity::Current);
    let relay = RelayProcess::start_tls(dir.path(), &files, &ca, &[]);
    assert!(relay.origin().starts_with("wss://"), "{}", relay.origin());
    let ca_file = ca.write(dir.path(), "practice-ca.pem");
    let ca_file = ca_file.to_string_lossy();

    let mut laptop = Device::new(dir.path(), "laptop");
    laptop.at(NOW);
    let invite = relay.invite("client");
    let out = laptop
        .run(&init_args(&relay.origin(), &invite, &ca_file))
        .out();
    assert_mentions(&out, &["Registered with the relay", "Synced"]);
    let entry = laptop.create(&[
        "entry",
        "new",
        "-t",
        "journal",
        "--set",
        "text=Walked by the river before work",
    ]);
    laptop.run(&["sync"]).out();

    // The phone pairs over TLS too; `device add` tells it to bring the CA file.
    let added = laptop.run(&["device", "add"]);
    assert_mentions(&added.stderr, &["--ca-file"]);
    let code = added.out().trim().to_string();
    let mut phone = Device::new(dir.path(), "phone");
    phone.at(NOW);
    let out = phone
        .run(&[
            "init",
            "--relay",
            &relay.origin(),
            "--pair",
            &code,
            "--name",
            "Sam",
            "--device-name",
            "phone",
            "--ca-file",
            &ca_file,
        ])
        .out();
    assert_mentions(&out, &["Paired this device", "Synced"]);
    assert_mentions(
        &phone.run(&["show", &entry]).out(),
        &["Walked by the river before work"],
    );

    // An edit on the phone reaches the laptop through the TLS relay.
    phone
        .run(&[
            "entry",
            "edit",
            &entry,
            "--set",
            "text=Walked by the river, slowly",
        ])
        .out();
    phone.run(&["sync"]).out();
    laptop.run(&["sync"]).out();
    assert_mentions(
        &laptop.run(&["show", &entry]).out(),
        &["Walked by the river, slowly"],
    );
    // The status names the wss:// relay.
    assert_mentions(&laptop.run(&["status"]).out(), &[&relay.origin()]);
    relay.assert_no_panic();
}

#[test]
fn a_certificate_from_another_authority_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ours = PracticeCa::new("Riverside Practice CA");
    let impostor = PracticeCa::new("Someone Else CA");
    let files = impostor.issue(dir.path(), "relay", LOOPBACK, Validity::Current);
    let relay = RelayProcess::start_tls(dir.path(), &files, &impostor, &[]);
    let ca_file = ours.write(dir.path(), "practice-ca.pem");
    let invite = relay.invite("client");
    let err = refused_init(dir.path(), &relay.origin(), &invite, &ca_file);
    assert_mentions(
        &err,
        &["not signed by an authority this device trusts", "--ca-file"],
    );
    // The refused handshake did not disturb the relay, and the invite was not used up.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut peer, hello) = relay.connect().await;
        assert_eq!(hello.origin, relay.origin());
        peer.close().await;
    });
    assert!(
        relay.logs().contains("TLS handshake failed"),
        "{}",
        relay.logs()
    );
    let mut device = Device::new(dir.path(), "trusting");
    device.at(NOW);
    let impostor_file = impostor.write(dir.path(), "impostor-ca.pem");
    device
        .run(&init_args(
            &relay.origin(),
            &invite,
            &impostor_file.to_string_lossy(),
        ))
        .out();
}

#[test]
fn an_expired_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = PracticeCa::new("Riverside Practice CA");
    let files = ca.issue(dir.path(), "relay", LOOPBACK, Validity::Expired);
    let relay = RelayProcess::start_tls(dir.path(), &files, &ca, &[]);
    let ca_file = ca.write(dir.path(), "practice-ca.pem");
    let err = refused_init(
        dir.path(),
        &relay.origin(),
        &relay.invite("client"),
        &ca_file,
    );
    assert_mentions(&err, &["certificate has expired", "renew"]);
    relay.assert_no_panic();
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = PracticeCa::new("Riverside Practice CA");
    let files = ca.issue(
        dir.path(),
        "relay",
        &["relay.riverside.example"],
        Validity::Current,
    );
    let relay = RelayProcess::start_tls(dir.path(), &files, &ca, &[]);
    let ca_file = ca.write(dir.path(), "practice-ca.pem");
    let err = refused_init(
        dir.path(),
        &relay.origin(),
        &relay.invite("client"),
        &ca_file,
    );
    assert_mentions(&err, &["certificate is not for 127.0.0.1"]);
}

#[test]
fn plain_websocket_to_a_tls_relay_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let ca = PracticeCa::new("Riverside Practice CA");
    let files = ca.issue(dir.path(), "relay", LOOPBACK, Validity::Current);
    let relay = RelayProcess::start_tls(dir.path(), &files, &ca, &[]);
    let ca_file = ca.write(dir.path(), "practice-ca.pem");
    let plain = relay.origin().replacen("wss://", "ws://", 1);
    let err = refused_init(dir.path(), &plain, &relay.invite("client"), &ca_file);
    assert_mentions(&err, &["could not reach the relay", "starts with wss://"]);
    relay.assert_no_panic();
}

#[test]
fn a_ca_file_that_is_not_a_certificate_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let ca = PracticeCa::new("Riverside Practice CA");
    let files = ca.issue(dir.path(), "relay", LOOPBACK, Validity::Current);
    let relay = RelayProcess::start_tls(dir.path(), &files, &ca, &[]);
    let bogus = dir.path().join("bogus.pem");
    std::fs::write(&bogus, "hello\n").unwrap();
    let err = refused_init(dir.path(), &relay.origin(), &relay.invite("client"), &bogus);
    assert_mentions(&err, &["no usable CA certificate", "BEGIN CERTIFICATE"]);
}

/// Runs `between-relay serve` with `args` on a fresh database and returns (success, stdout's
/// first line, stderr), killing it once it has printed its first line.
fn serve_once(dir: &Path, args: &[&str]) -> (bool, String, String) {
    use std::io::{BufRead, BufReader, Read};
    let mut child = Command::new(binary("between-relay"))
        .arg("--db")
        .arg(dir.join("relay.sqlite3"))
        .arg("serve")
        .args(args)
        .env_remove("BETWEEN_RELAY_LISTEN")
        .env_remove("BETWEEN_RELAY_TLS_CERT")
        .env_remove("BETWEEN_RELAY_TLS_KEY")
        .env_remove("BETWEEN_RELAY_BEHIND_PROXY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let served = !first.is_empty();
    if served {
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (served || status.success(), first, stderr)
}

#[test]
fn the_relay_serves_a_public_address_only_with_tls_or_behind_a_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = serve_once(dir.path(), &["--listen", "0.0.0.0:0"]);
    assert!(!ok, "served a public address without TLS");
    assert_mentions(&err, &["without TLS", "--tls-cert", "--behind-proxy"]);

    let (ok, first, err) = serve_once(dir.path(), &["--listen", "0.0.0.0:0", "--behind-proxy"]);
    assert!(ok, "{err}");
    assert!(first.starts_with("listening on ws://0.0.0.0:"), "{first}");

    let ca = PracticeCa::new("Riverside Practice CA");
    let files = ca.issue(dir.path(), "relay", LOOPBACK, Validity::Current);
    let (cert, key) = (
        files.cert.to_string_lossy().into_owned(),
        files.key.to_string_lossy().into_owned(),
    );
    let (ok, first, err) = serve_once(
        dir.path(),
        &[
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ],
    );
    assert!(ok, "{err}");
    assert!(first.starts_with("listening on wss://0.0.0.0:"), "{first}");

    // A key that does not belong to the certificate, and a missing key, are refused clearly.
    let other = ca.issue(dir.path(), "other", LOOPBACK, Validity::Current);
    let (ok, _, err) = serve_once(
        dir.path(),
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &other.key.to_string_lossy(),
        ],
    );
    assert!(!ok);
    assert_mentions(&err, &["could not set up TLS", "cannot be used together"]);
    let (ok, _, err) = serve_once(dir.path(), &["--tls-cert", &cert]);
    assert!(!ok);
    assert_mentions(&err, &["--tls-key"]);
    let (ok, _, err) = serve_once(
        dir.path(),
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &dir.path().join("absent.key").to_string_lossy(),
        ],
    );
    assert!(!ok);
    assert_mentions(&err, &["could not read the private key", "absent.key"]);
}
