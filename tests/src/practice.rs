//! Helpers shared by the scenarios of a practice over TLS: a relay with a certificate from a
//! fresh practice CA, a strict `between sync`, and pairing codes.

use crate::relay::RelayProcess;
use crate::tls::{PracticeCa, ServerFiles, Validity};
use crate::Device;
use serde_json::Value;
use std::path::Path;

/// A relay serving TLS with a certificate (for `localhost` and `127.0.0.1`) from a fresh
/// practice CA; returns it and the path of the CA file devices pass to `--ca-file`.
pub fn tls_relay(dir: &Path) -> (RelayProcess, String) {
    let (ca, files) = practice_certificate(dir);
    let relay = RelayProcess::start_tls(dir, &files, &ca, &[]);
    let ca_file = ca.write(dir, "practice-ca.pem");
    (relay, ca_file.to_string_lossy().into_owned())
}

/// A fresh practice CA and, written under `dir`, a relay certificate from it for `localhost`
/// and `127.0.0.1`.
pub fn practice_certificate(dir: &Path) -> (PracticeCa, ServerFiles) {
    let ca = PracticeCa::new("Riverside Practice CA");
    let files = ca.issue(dir, "relay", &["localhost", "127.0.0.1"], Validity::Current);
    (ca, files)
}

/// `between sync --json`, which must succeed with nothing failed or refused; returns the JSON.
#[track_caller]
pub fn sync_clean(device: &Device) -> Value {
    let run = device.run(&["--json", "sync"]);
    let stderr = run.stderr.clone();
    let json = run.json();
    for list in ["failed", "refused"] {
        assert_eq!(
            json[list],
            Value::Array(vec![]),
            "{}: sync {list} something: {json}\n{stderr}",
            device.profile
        );
    }
    json
}

/// A pairing code from `between device add` on `device`.
#[track_caller]
pub fn pairing_code(device: &Device) -> String {
    // Not in a terminal, standard output is the code alone.
    device.run(&["device", "add"]).out().trim().to_string()
}

/// Pairs a new device `profile` under `root` with a fresh code from `from` (`init --pair` on the
/// relay at `origin`, trusting `ca_file` when given); panics if pairing fails.
pub fn pair_device(
    origin: &str,
    from: &Device,
    root: &Path,
    profile: &str,
    name: &str,
    device_name: &str,
    ca_file: Option<&str>,
) -> Device {
    let device = Device::new(root, profile);
    let code = pairing_code(from);
    let mut args = vec![
        "init",
        "--relay",
        origin,
        "--pair",
        &code,
        "--name",
        name,
        "--device-name",
        device_name,
    ];
    if let Some(ca_file) = ca_file {
        args.extend(["--ca-file", ca_file]);
    }
    device.run(&args).out();
    device
}

/// Dr Ada Park's first device (profile `dr-laptop`), joined with an admin invite over the TLS
/// relay, and a client invite she made (`between client invite`).
pub fn therapist_with_invite(
    relay: &RelayProcess,
    root: &Path,
    ca_file: &str,
    device_name: &str,
) -> (Device, String) {
    let dr = Device::new(root, "dr-laptop");
    dr.run(&[
        "init",
        "--relay",
        &relay.origin(),
        "--invite",
        &relay.invite("therapist"),
        "--role",
        "therapist",
        "--name",
        "Dr Ada Park",
        "--device-name",
        device_name,
        "--ca-file",
        ca_file,
    ])
    .out();
    let invite = dr.run(&["--json", "client", "invite"]).json()["invite"]
        .as_str()
        .expect("an invite")
        .to_string();
    (dr, invite)
}

/// Sam's laptop (profile `profile`), joined with a therapist's client invite (`RELAY#CODE`),
/// trusting `ca_file`; panics if joining fails.
pub fn client_with_invite(root: &Path, profile: &str, invite: &str, ca_file: &str) -> Device {
    let laptop = Device::new(root, profile);
    laptop
        .run(&[
            "init",
            "--invite",
            invite,
            "--name",
            "Sam",
            "--device-name",
            "laptop",
            "--ca-file",
            ca_file,
        ])
        .out();
    laptop
}
