//! `between-bench`: the benchmark harness. It runs the workloads of WORKLOADS.md — the raw
//! limits of this machine (L1–L3) and the relay workloads (W1–W4, durable ingest) against the
//! real `between-relay` over TLS with real client profiles — and prints a table and one JSON
//! object per workload; every figure is the median of several runs, and every relay figure is
//! also a ratio to the limits measured in the same run. Never part of the test suite (a smoke
//! test runs a scaled-down pass and checks its JSON). See docs/benchmarks.md.

mod cold_start;
mod flood;
mod ingest;
mod limits;
mod procfs;
mod scene;
mod stats;
mod w1;
mod w2;
mod w3;
mod w5;
mod year;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use serde_json::{json, Map, Value};
use stats::{median, micros, quantile};

/// Measure the relay against what this machine allows: live fan-out, offline catch-up, a busy
/// evening, durable ingest and a cold start, beside a WebSocket echo, durable SQLite appends and
/// Automerge alone.
#[derive(Debug, Parser)]
#[command(name = "between-bench", version, about)]
struct Args {
    /// Run only this workload.
    #[arg(long, value_enum)]
    only: Option<Workload>,
    /// A scaled-down pass (seconds, not minutes) for a quick look or a smoke test.
    #[arg(long)]
    quick: bool,
    /// Runs per workload; every figure is the median over them.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Print only the JSON objects (one per line), not the table.
    #[arg(long)]
    json: bool,
    /// W5's marks, in years (default 1, 3 and 5; `--quick`: two short "years").
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=10))]
    years: Vec<u32>,
    /// A PostgreSQL server (postgres://USER@HOST/DATABASE, a user allowed to create databases):
    /// durable ingest and W3 then also run over fresh databases on it, each with one relay and
    /// with two relays sharing the database.
    #[arg(long, value_name = "postgres://…")]
    db: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// WebSocket echo round trip on loopback.
    L1,
    /// SQLite WAL appends with synchronous=FULL.
    L2,
    /// Automerge: applying a journal typed keystroke by keystroke, and loading its save.
    L3,
    /// The client's floor: process start-up, and a new SQLite store's open and one commit.
    ClientFloor,
    /// Live fan-out latency: laptop edits reaching the phone and the therapist.
    W1,
    /// W1 on a year of homework, the edits going to the day's entries (each text ≤ 6,000).
    W1r,
    /// Offline catch-up: a journal typed offline key by key, uploaded, then a new phone.
    W2,
    /// A busy evening: many documents, three connected devices each, ten edits per device.
    W3,
    /// Durable ingest: many devices pushing at once, each push acknowledged after its commit.
    Ingest,
    /// Cold start over a large store, and memory after every device caught up.
    W4,
    /// Slow TLS handshakes from one address: another address's sync time before and during.
    HandshakeFlood,
    /// A year of homework (and three, and five): opening, reading, syncing, storing it.
    W5,
}

impl Workload {
    /// The raw limits this workload's ratios are taken against (measured in the same run).
    fn limits(self) -> &'static [Workload] {
        match self {
            Workload::L1 | Workload::L2 | Workload::L3 | Workload::ClientFloor => &[],
            Workload::W1 | Workload::W1r => &[Workload::L1, Workload::L2],
            Workload::W2 => &[Workload::L3],
            Workload::W3 => &[],
            Workload::Ingest => &[Workload::L2],
            Workload::W4 => &[],
            Workload::HandshakeFlood => &[],
            Workload::W5 => &[Workload::L3, Workload::ClientFloor],
        }
    }
}

/// How much work one run of each workload does.
struct Scale {
    echoes: usize,
    single_rows: usize,
    batched_rows: usize,
    keystrokes: usize,
    fan_out_edits: usize,
    evening_clients: usize,
    ingest: ingest::IngestScale,
    cold_start: cold_start::ColdStartScale,
    /// Slow handshakes held open by the flood (the 300 at both scales).
    flood_connections: usize,
    /// `between sync` runs timed before and during the flood.
    flood_syncs: usize,
    /// W5's marks, in years, and the days of one year.
    years: Vec<u32>,
    days_per_year: i64,
}

impl Scale {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                echoes: 200,
                single_rows: 50,
                batched_rows: 2_000,
                keystrokes: 2_000,
                fan_out_edits: 100,
                evening_clients: 20,
                ingest: ingest::IngestScale {
                    devices: 20,
                    docs_per_device: 4,
                    pushes_per_device: 40,
                    window: 8,
                },
                cold_start: cold_start::ColdStartScale {
                    devices: 100,
                    docs_per_device: 10,
                    bundles_per_doc: 10,
                },
                flood_connections: 300,
                flood_syncs: 3,
                years: vec![1, 2],
                days_per_year: 14,
            }
        } else {
            Self {
                echoes: 2_000,
                single_rows: 500,
                batched_rows: 20_000,
                keystrokes: 20_000,
                fan_out_edits: 1_000,
                evening_clients: 1_000,
                ingest: ingest::IngestScale {
                    devices: 200,
                    docs_per_device: 4,
                    pushes_per_device: 100,
                    window: 8,
                },
                cold_start: cold_start::ColdStartScale {
                    devices: 1_000,
                    docs_per_device: 10,
                    bundles_per_doc: 100,
                },
                flood_connections: 300,
                flood_syncs: 10,
                years: vec![1, 3, 5],
                days_per_year: 365,
            }
        }
    }
}

/// One workload's figures over several runs: name → per-run values.
struct Figures {
    workload: Workload,
    what: &'static str,
    values: Vec<(String, &'static str, Vec<f64>)>,
}

impl Figures {
    fn new(workload: Workload, what: &'static str) -> Self {
        Self {
            workload,
            what,
            values: Vec::new(),
        }
    }

    fn add(&mut self, key: &str, unit: &'static str, value: f64) {
        match self.values.iter_mut().find(|(k, _, _)| k == key) {
            Some((_, _, values)) => values.push(value),
            None => self.values.push((key.to_owned(), unit, vec![value])),
        }
    }

    /// The median of figure `key`, if measured.
    fn get(&self, key: &str) -> Option<f64> {
        self.values
            .iter()
            .find(|(k, _, _)| *k == key)
            .and_then(|(_, _, values)| median(values))
    }

    fn json(&self, args: &Args) -> Value {
        let mut object = Map::new();
        object.insert("workload".into(), json!(format!("{:?}", self.workload)));
        object.insert("what".into(), json!(self.what));
        object.insert("runs".into(), json!(args.runs));
        object.insert("quick".into(), json!(args.quick));
        for (key, _, values) in &self.values {
            object.insert(key.clone(), json!(median(values)));
        }
        Value::Object(object)
    }

    fn table_rows(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|(key, unit, values)| {
                format!(
                    "{:<4} {:<46} {:<32} {:>12.1} {unit}",
                    format!("{:?}", self.workload),
                    self.what,
                    key,
                    median(values).unwrap_or(f64::NAN)
                )
            })
            .collect()
    }
}

async fn measure(workload: Workload, scale: &Scale, runs: u32) -> Result<Figures> {
    match workload {
        Workload::L1 => {
            let mut figures = Figures::new(workload, "WebSocket echo, 60 B, loopback");
            for _ in 0..runs {
                let samples = limits::echo_round_trips(scale.echoes).await?;
                let p = |q| quantile(&samples, q).map_or(f64::NAN, micros);
                figures.add("p50_us", "µs", p(0.5));
                figures.add("p99_us", "µs", p(0.99));
            }
            Ok(figures)
        }
        Workload::L2 => {
            let mut figures = Figures::new(workload, "SQLite WAL, synchronous=FULL, 1 KiB rows");
            for _ in 0..runs {
                let dir = tempfile::tempdir().context("a folder for the L2 database")?;
                let (single, batched) =
                    limits::sqlite_appends(dir.path(), scale.single_rows, scale.batched_rows)?;
                figures.add("one_commit_per_row_rows_per_s", "rows/s", single);
                figures.add("commit_per_100_rows_rows_per_s", "rows/s", batched);
                figures.add("one_commit_us", "µs", 1e6 / single);
            }
            Ok(figures)
        }
        Workload::L3 => {
            let mut figures = Figures::new(workload, "Automerge, a journal typed key by key");
            for _ in 0..runs {
                let measured = limits::automerge_keystrokes(scale.keystrokes)?;
                figures.add("keystrokes", "", scale.keystrokes as f64);
                figures.add("apply_changes_ms", "ms", measured.apply.as_secs_f64() * 1e3);
                figures.add("load_save_ms", "ms", measured.load.as_secs_f64() * 1e3);
                figures.add("save_bytes", "B", measured.save_bytes as f64);
            }
            Ok(figures)
        }
        Workload::ClientFloor => {
            let mut figures = Figures::new(workload, "client floor: start-up, store open + commit");
            for _ in 0..runs {
                let dir = tempfile::tempdir().context("a folder for the floor's databases")?;
                let (start_up, open_commit) = limits::client_floor(dir.path(), 11)?;
                figures.add("start_up_ms", "ms", start_up.as_secs_f64() * 1e3);
                figures.add(
                    "store_open_commit_ms",
                    "ms",
                    open_commit.as_secs_f64() * 1e3,
                );
            }
            Ok(figures)
        }
        Workload::W5 => {
            let mut figures = Figures::new(workload, "years of homework, one client");
            for _ in 0..runs {
                for (year, mark) in w5::run(&scale.years, scale.days_per_year).await? {
                    for (key, value) in mark {
                        figures.add(&format!("y{year}_{key}"), "", value);
                    }
                }
            }
            Ok(figures)
        }
        Workload::W1 | Workload::W1r => {
            let what = if workload == Workload::W1 {
                "live fan-out, laptop → phone + therapist"
            } else {
                "live fan-out on a year of homework"
            };
            let mut figures = Figures::new(workload, what);
            for _ in 0..runs {
                let run = if workload == Workload::W1 {
                    w1::fan_out(scale.fan_out_edits, 100.0).await?
                } else {
                    w1::realistic(scale.fan_out_edits, 100.0, scale.days_per_year).await?
                };
                let p = |q| quantile(&run.latencies, q).map_or(f64::NAN, micros) / 1e3;
                figures.add("edits", "", scale.fan_out_edits as f64);
                figures.add("edits_per_s", "/s", run.edit_rate);
                figures.add("p50_ms", "ms", p(0.5));
                figures.add("p95_ms", "ms", p(0.95));
                figures.add("p99_ms", "ms", p(0.99));
                figures.add("max_ms", "ms", p(1.0));
            }
            Ok(figures)
        }
        Workload::W3 => {
            let what = "busy evening, 3 devices per document";
            evening(scale, runs, scene::Backing::Sqlite, what).await
        }
        Workload::Ingest => Ok(from_json(
            workload,
            "durable ingest, devices pushing at once",
            &ingest::run(&scale.ingest, runs, &ingest::Backend::Sqlite).await?,
        )),
        Workload::W4 => Ok(from_json(
            workload,
            "cold start over a large store",
            &cold_start::run(&scale.cold_start, runs).await?,
        )),
        Workload::HandshakeFlood => {
            let mut figures = Figures::new(workload, "slow handshakes from another address");
            for _ in 0..runs {
                let run = flood::run(scale.flood_connections, scale.flood_syncs).await?;
                let ms = |samples: &[std::time::Duration], q| {
                    quantile(samples, q).map_or(f64::NAN, micros) / 1e3
                };
                let (before, during) = (ms(&run.before, 0.5), ms(&run.during, 0.5));
                figures.add("flood_connections", "", scale.flood_connections as f64);
                figures.add("sync_before_p50_ms", "ms", before);
                figures.add("sync_during_p50_ms", "ms", during);
                figures.add("sync_during_max_ms", "ms", ms(&run.during, 1.0));
                figures.add("during_over_before", "×", during / before);
                figures.add("flood_closed_at_once", "", run.closed as f64);
                figures.add("flood_held", "", run.held as f64);
            }
            Ok(figures)
        }
        Workload::W2 => {
            let mut figures = Figures::new(workload, "offline catch-up, keystrokes then a phone");
            for _ in 0..runs {
                let run = w2::catch_up(scale.keystrokes).await?;
                figures.add("keystrokes", "", scale.keystrokes as f64);
                figures.add("typing_offline_s", "s", run.typing.as_secs_f64());
                figures.add("laptop_upload_s", "s", run.upload.as_secs_f64());
                figures.add(
                    "phone_full_document_ms",
                    "ms",
                    run.phone.as_secs_f64() * 1e3,
                );
                figures.add(
                    "phone_idle_sync_ms",
                    "ms",
                    run.phone_idle.as_secs_f64() * 1e3,
                );
                figures.add("phone_received_bytes", "B", run.phone_bytes);
                figures.add(
                    "relay_bundles_after_upload",
                    "",
                    run.uploaded.bundles as f64,
                );
                figures.add("relay_bytes_after_upload", "B", run.uploaded.bytes as f64);
                figures.add("relay_bundles_compacted", "", run.compacted.bundles as f64);
                figures.add("relay_bytes_compacted", "B", run.compacted.bytes as f64);
                figures.add(
                    "relay_has_snapshot",
                    "",
                    f64::from(u8::from(run.compacted.snapshot)),
                );
            }
            Ok(figures)
        }
    }
}

/// A workload that reports its figures (already medians over its runs) as one JSON object.
fn from_json(workload: Workload, what: &'static str, value: &Value) -> Figures {
    let mut figures = Figures::new(workload, what);
    for (key, value) in value.as_object().into_iter().flatten() {
        if let Some(number) = value.as_f64() {
            figures.add(key, "", number);
        }
    }
    figures
}

/// W3, the busy evening, over `backing`.
async fn evening(
    scale: &Scale,
    runs: u32,
    backing: scene::Backing<'_>,
    what: &'static str,
) -> Result<Figures> {
    let mut figures = Figures::new(Workload::W3, what);
    let mut evening = w3::Evening::set_up(scale.evening_clients, backing).await?;
    figures.add("setup_s", "s", evening.setup.as_secs_f64());
    for _ in 0..runs {
        let round = evening.round().await?;
        let connections = round.connections as f64;
        let wall = round.wall.as_secs_f64();
        figures.add("documents", "", scale.evening_clients as f64);
        figures.add("connections", "", connections);
        figures.add("edits", "", round.edits as f64);
        figures.add("wall_s", "s", wall);
        figures.add("edits_per_s", "/s", round.edits as f64 / wall);
        figures.add("relay_cpu_s", "s", round.relay_cpu_s);
        figures.add(
            "relay_peak_rss_mib",
            "MiB",
            round.relay_peak_kib as f64 / 1024.0,
        );
        figures.add(
            "relay_rss_mib",
            "MiB",
            round.relay_resident_kib as f64 / 1024.0,
        );
        figures.add(
            "relay_peak_kib_per_connection",
            "KiB",
            round.relay_peak_kib as f64 / connections,
        );
    }
    evening.close().await?;
    Ok(figures)
}

/// The workloads that also run over PostgreSQL (`--db`): durable ingest and W3, each with one
/// relay and with two on one database.
async fn over_postgres(
    workload: Workload,
    scale: &Scale,
    runs: u32,
    server: &str,
) -> Result<Vec<Figures>> {
    let mut all = Vec::new();
    match workload {
        Workload::Ingest => {
            for (relays, what) in [
                (1, "durable ingest over PostgreSQL, one relay"),
                (2, "durable ingest over PostgreSQL, two relays"),
            ] {
                let backend = ingest::Backend::Postgres {
                    server: server.to_owned(),
                    relays,
                };
                all.push(from_json(
                    workload,
                    what,
                    &ingest::run(&scale.ingest, runs, &backend).await?,
                ));
            }
        }
        Workload::W3 => {
            for (phones_elsewhere, what) in [
                (false, "busy evening over PostgreSQL, one relay"),
                (
                    true,
                    "busy evening over PostgreSQL, phones on a second relay",
                ),
            ] {
                let backing = scene::Backing::Postgres {
                    server,
                    phones_elsewhere,
                };
                all.push(evening(scale, runs, backing, what).await?);
            }
        }
        _ => {}
    }
    Ok(all)
}

/// Adds to each relay workload its figures as ratios to the raw limits of the same run.
fn add_ratios(all: &mut [Figures]) {
    let limit = |workload: Workload, key: &str, all: &[Figures]| {
        all.iter()
            .find(|f| f.workload == workload)
            .and_then(|f| f.get(key))
    };
    let echo_ms = limit(Workload::L1, "p50_us", all).map(|us| us / 1e3);
    let commit_ms = limit(Workload::L2, "one_commit_us", all).map(|us| us / 1e3);
    let load_ms = limit(Workload::L3, "load_save_ms", all);
    let save_bytes = limit(Workload::L3, "save_bytes", all);
    let batched = limit(Workload::L2, "commit_per_100_rows_rows_per_s", all);
    for figures in all.iter_mut() {
        if figures.workload == Workload::Ingest {
            if let (Some(batched), Some(pushes)) = (batched, figures.get("pushes_per_s")) {
                figures.add("pushes_over_l2_batched", "×", pushes / batched);
            }
        }
        if figures.workload == Workload::W2 {
            if let (Some(load), Some(phone)) = (load_ms, figures.get("phone_full_document_ms")) {
                figures.add("phone_over_load", "×", phone / load);
            }
            if let (Some(save), Some(stored)) = (save_bytes, figures.get("relay_bytes_compacted")) {
                figures.add("relay_stored_over_save", "×", stored / save);
            }
        }
        if matches!(figures.workload, Workload::W1 | Workload::W1r) {
            if let (Some(echo), Some(commit), Some(p50), Some(p99)) = (
                echo_ms,
                commit_ms,
                figures.get("p50_ms"),
                figures.get("p99_ms"),
            ) {
                let floor = echo + commit;
                figures.add("floor_ms", "ms", floor);
                figures.add("p50_over_echo", "×", p50 / echo);
                figures.add("p50_over_floor", "×", p50 / floor);
                figures.add("p99_over_floor", "×", p99 / floor);
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let mut scale = Scale::new(args.quick);
    if !args.years.is_empty() {
        scale.years = args.years.clone();
    }
    let chosen: Vec<Workload> = match args.only {
        Some(one) => vec![one],
        None => Workload::value_variants().to_vec(),
    };
    // The limits each chosen workload is compared with run first, in the same run.
    let mut workloads: Vec<Workload> = Vec::new();
    for workload in chosen {
        for needed in workload.limits().iter().chain([&workload]) {
            if !workloads.contains(needed) {
                workloads.push(*needed);
            }
        }
    }
    let mut all = Vec::new();
    for workload in workloads {
        let figures = measure(workload, &scale, args.runs)
            .await
            .with_context(|| format!("workload {workload:?} failed"))?;
        all.push(figures);
        if let Some(server) = &args.db {
            let figures = over_postgres(workload, &scale, args.runs, server)
                .await
                .with_context(|| format!("workload {workload:?} over PostgreSQL failed"))?;
            all.extend(figures);
        }
    }
    add_ratios(&mut all);
    if !args.json {
        println!(
            "Medians of {} run(s){}:",
            args.runs,
            if args.quick { ", scaled down" } else { "" }
        );
        for figures in &all {
            for row in figures.table_rows() {
                println!("{row}");
            }
        }
        println!();
    }
    for figures in &all {
        println!("{}", figures.json(&args));
    }
    Ok(())
}
