//! `between-bench`: the benchmark harness. It measures the raw limits of this machine (L1–L3 of
//! WORKLOADS.md) and prints a table and one JSON object per workload; every figure is the median
//! of several runs. The relay workloads (W1–W4), given as ratios to these limits, build on it.
//! Never part of the test suite (a smoke test runs a scaled-down pass and parses its JSON).

mod limits;
mod stats;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use serde_json::{json, Map, Value};
use stats::{median, micros, quantile};

/// Measure what this machine allows: a WebSocket echo, durable SQLite appends, Automerge alone.
#[derive(Debug, Parser)]
#[command(name = "between-bench", version, about)]
struct Args {
    /// Run only this workload.
    #[arg(long, value_enum)]
    only: Option<Workload>,
    /// A scaled-down pass (about a tenth of the work) for a quick look or a smoke test.
    #[arg(long)]
    quick: bool,
    /// Runs per workload; every figure is the median over them.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Print only the JSON objects (one per line), not the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// WebSocket echo round trip on loopback.
    L1,
    /// SQLite WAL appends with synchronous=FULL.
    L2,
    /// Automerge: applying a journal typed keystroke by keystroke, and loading its save.
    L3,
}

/// How much work one run of each workload does.
struct Scale {
    echoes: usize,
    single_rows: usize,
    batched_rows: usize,
    keystrokes: usize,
}

impl Scale {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                echoes: 200,
                single_rows: 50,
                batched_rows: 2_000,
                keystrokes: 2_000,
            }
        } else {
            Self {
                echoes: 2_000,
                single_rows: 500,
                batched_rows: 20_000,
                keystrokes: 20_000,
            }
        }
    }
}

/// One workload's figures over several runs: name → per-run values.
struct Figures {
    workload: Workload,
    what: &'static str,
    values: Vec<(&'static str, &'static str, Vec<f64>)>,
}

impl Figures {
    fn new(workload: Workload, what: &'static str) -> Self {
        Self {
            workload,
            what,
            values: Vec::new(),
        }
    }

    fn add(&mut self, key: &'static str, unit: &'static str, value: f64) {
        match self.values.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, values)) => values.push(value),
            None => self.values.push((key, unit, vec![value])),
        }
    }

    fn json(&self, args: &Args) -> Value {
        let mut object = Map::new();
        object.insert("workload".into(), json!(format!("{:?}", self.workload)));
        object.insert("runs".into(), json!(args.runs));
        object.insert("quick".into(), json!(args.quick));
        for (key, _, values) in &self.values {
            object.insert((*key).into(), json!(median(values)));
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
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let scale = Scale::new(args.quick);
    let workloads: Vec<Workload> = match args.only {
        Some(one) => vec![one],
        None => Workload::value_variants().to_vec(),
    };
    let mut all = Vec::new();
    for workload in workloads {
        let figures = measure(workload, &scale, args.runs)
            .await
            .with_context(|| format!("workload {workload:?} failed"))?;
        all.push(figures);
    }
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
