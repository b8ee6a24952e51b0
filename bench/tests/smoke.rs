//! Smoke test of the benchmark harness: a scaled-down single run of every workload completes and
//! prints one JSON object per workload with the figures each reports, all of them real numbers. It measures nothing itself.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

#[test]
fn a_quick_run_completes_and_its_json_parses() {
    let output = Command::new(env!("CARGO_BIN_EXE_between-bench"))
        .args(["--quick", "--runs", "1", "--json"])
        .output()
        .expect("run between-bench");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    let names: Vec<&str> = objects
        .iter()
        .map(|o| o["workload"].as_str().unwrap())
        .collect();
    for expected in [
        "L1",
        "L2",
        "L3",
        "W1",
        "W2",
        "W3",
        "Ingest",
        "W4",
        "HandshakeFlood",
        "ClientFloor",
        "W5",
        "W1r",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let keys = |workload: &str, keys: &[&str]| {
        let object = objects.iter().find(|o| o["workload"] == workload).unwrap();
        for key in keys {
            assert!(object[key].is_number(), "{key} missing from {object}");
        }
    };
    keys(
        "W1",
        &[
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "max_ms",
            "p50_over_echo",
            "p50_over_floor",
        ],
    );
    keys(
        "W2",
        &[
            "laptop_upload_s",
            "phone_full_document_ms",
            "phone_received_bytes",
            "relay_bytes_compacted",
            "phone_over_load",
            "relay_stored_over_save",
        ],
    );
    keys(
        "W3",
        &[
            "connections",
            "wall_s",
            "edits_per_s",
            "relay_cpu_s",
            "relay_peak_kib_per_connection",
        ],
    );
    keys(
        "Ingest",
        &[
            "pushes_per_s",
            "ack_p50_us",
            "ack_p99_us",
            "relay_cpu_s",
            "relay_peak_rss_kib",
            "pushes_over_l2_batched",
        ],
    );
    keys(
        "W4",
        &[
            "start_ms",
            "rss_after_start_kib",
            "rss_after_catch_up_kib",
            "small_start_ms",
            "small_rss_after_start_kib",
            "bundles_read",
            "populate_pushes_per_s",
        ],
    );
    keys(
        "HandshakeFlood",
        &[
            "sync_before_p50_ms",
            "sync_during_p50_ms",
            "during_over_before",
            "flood_closed_at_once",
            "flood_held",
        ],
    );
    keys("ClientFloor", &["start_up_ms", "store_open_commit_ms"]);
    keys(
        "W1r",
        &[
            "p50_ms",
            "p99_ms",
            "max_ms",
            "p50_over_floor",
            "p99_over_floor",
        ],
    );
    // W5's quick pass marks "years" 1 and 2 (of a few days each).
    for year in ["y1", "y2"] {
        let figures: Vec<String> = [
            "save_bytes",
            "load_ms",
            "hydrate_ms",
            "apply_remote_change_ms",
            "mood_check_in_ms",
            "open_profile_ms",
            "watcher_takes_in_a_write_ms",
            "today_ms",
            "progress_ms",
            "today_peak_mib",
            "new_phone_full_document_ms",
            "relay_bytes",
            "laptop_store_bytes",
        ]
        .iter()
        .map(|key| format!("{year}_{key}"))
        .collect();
        let figures: Vec<&str> = figures.iter().map(String::as_str).collect();
        keys("W5", &figures);
    }
    for object in &objects {
        for (key, value) in object.as_object().unwrap() {
            if ["workload", "runs", "quick"].contains(&key.as_str()) {
                continue;
            }
            if key == "what" {
                assert!(
                    value.as_str().is_some_and(|what| !what.is_empty()),
                    "{object}"
                );
                continue;
            }
            let value = value.as_f64().unwrap();
            // Counts of what did not happen (a snapshot the relay did not need) may be zero;
            // nothing may be negative or missing.
            assert!(value.is_finite() && value >= 0.0, "{key} in {object}");
            if !key.starts_with("relay_has_") {
                assert!(value > 0.0, "{key} in {object}");
            }
        }
    }
}

/// Over PostgreSQL (`--db`), ingest and W3 each run with one relay and with two, and say so.
#[test]
fn over_postgres_ingest_and_w3_run_with_one_and_two_relays() {
    let Some(server) = between_e2e::postgres::test_server() else {
        return;
    };
    for workload in ["ingest", "w3"] {
        let output = Command::new(env!("CARGO_BIN_EXE_between-bench"))
            .args(["--quick", "--runs", "1", "--json", "--only", workload])
            .args(["--db", &server])
            .output()
            .expect("run between-bench");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let whats: Vec<String> = stdout
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|o| o["workload"].as_str() != Some("L2"))
            .map(|o| o["what"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            whats.len(),
            3,
            "SQLite, then PostgreSQL with one and two relays: {whats:?}"
        );
        assert!(
            whats[1].contains("PostgreSQL") && whats[2].contains("PostgreSQL"),
            "{whats:?}"
        );
        if workload == "ingest" {
            let relays: Vec<f64> = stdout
                .lines()
                .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
                .filter_map(|o| o["relays"].as_f64())
                .collect();
            assert_eq!(relays, [1.0, 1.0, 2.0]);
        }
    }
}
