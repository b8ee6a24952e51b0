//! Smoke test of the benchmark harness: a scaled-down single run of every workload completes and
//! prints one JSON object per workload with positive figures. It measures nothing itself.

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
    assert_eq!(names, ["L1", "L2", "L3"]);
    for object in &objects {
        for (key, value) in object.as_object().unwrap() {
            if !["workload", "runs", "quick"].contains(&key.as_str()) {
                assert!(value.as_f64().unwrap() > 0.0, "{key} in {object}");
            }
        }
    }
}
