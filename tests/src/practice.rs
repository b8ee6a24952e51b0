//! Helpers shared by the scenarios of a practice over TLS: a relay with a certificate from a
//! fresh practice CA, a strict `between sync`, and pairing codes.

use crate::relay::RelayProcess;
use crate::tls::{PracticeCa, Validity};
use crate::Device;
use serde_json::Value;
use std::path::Path;

/// A relay serving TLS with a certificate (for `localhost` and `127.0.0.1`) from a fresh
/// practice CA; returns it and the path of the CA file devices pass to `--ca-file`.
pub fn tls_relay(dir: &Path) -> (RelayProcess, String) {
    let ca = PracticeCa::new("Riverside Practice CA");
    let files = ca.issue(dir, "relay", &["localhost", "127.0.0.1"], Validity::Current);
    let relay = RelayProcess::start_tls(dir, &files, &ca, &[]);
    let ca_file = ca.write(dir, "practice-ca.pem");
    (relay, ca_file.to_string_lossy().into_owned())
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
    device
        .run(&["device", "add"])
        .out()
        .lines()
        .find_map(|l| l.trim().strip_prefix("Pairing code: "))
        .expect("a pairing code")
        .trim()
        .to_string()
}
