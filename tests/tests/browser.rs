//! The web app (`between app`) in a real browser: runs the Playwright suite of
//! `tests/browser/` (headless Debian Chromium, driven by `playwright-core` from the npm lockfile)
//! against the real binaries, with a TLS relay whose certificate comes from a fresh practice CA.
//! `.ci/run` installs Chromium and Node.js when they are missing; without them this test fails
//! saying what to install.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Command;

use between_e2e::binary;
use between_e2e::practice::practice_certificate;

#[test]
fn the_app_in_a_real_browser() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "the browser tests need Node.js 20 or newer (Debian: apt install nodejs npm; .ci/run installs it)"
    );
    if !suite.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&suite)
            .status()
            .expect("run npm ci");
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, files) = practice_certificate(dir.path());
    let ca_file = ca.write(dir.path(), "practice-ca.pem");
    let output = Command::new("node")
        .args(["--test", "--test-concurrency=1"])
        .args(
            std::fs::read_dir(&suite)
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".test.mjs")),
        )
        .current_dir(&suite)
        .env("BETWEEN_BIN", binary("between"))
        .env("BETWEEN_RELAY_BIN", binary("between-relay"))
        .env("BETWEEN_TLS_CERT", &files.cert)
        .env("BETWEEN_TLS_KEY", &files.key)
        .env("BETWEEN_CA_FILE", &ca_file)
        .env("BETWEEN_TEST_DIR", dir.path())
        .output()
        .expect("run node --test");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the browser suite failed:\n{report}"
    );
    assert!(
        report.contains("# fail 0") && !report.contains("# pass 0"),
        "the browser suite ran no test or some failed:\n{report}"
    );
}
