//! Counters the relay exposes at `/metrics` in the Prometheus text format: connections, pushes,
//! bytes, errors and commit latency. Counts only — never an id, a name or an address.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The relay's counters.
#[derive(Default)]
pub(crate) struct Metrics {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    pushes: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    errors: AtomicU64,
    commit_micros_total: AtomicU64,
    commits: AtomicU64,
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

impl Metrics {
    pub(crate) fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn push(&self) {
        self.pushes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        add(&self.bytes_in, n);
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        add(&self.bytes_out, n);
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn commit(&self, took: Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_micros_total.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self, watched_documents: usize) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "between_connections_open",
            "gauge",
            "Open device connections.",
            get(&self.connections_open) as f64,
        );
        metric(
            "between_connections_total",
            "counter",
            "Connections accepted.",
            get(&self.connections_total) as f64,
        );
        metric(
            "between_pushes_total",
            "counter",
            "Bundles appended.",
            get(&self.pushes) as f64,
        );
        metric(
            "between_bytes_received_total",
            "counter",
            "Frame bytes received.",
            get(&self.bytes_in) as f64,
        );
        metric(
            "between_bytes_sent_total",
            "counter",
            "Frame bytes sent.",
            get(&self.bytes_out) as f64,
        );
        metric(
            "between_errors_total",
            "counter",
            "Refused or malformed requests.",
            get(&self.errors) as f64,
        );
        metric(
            "between_commit_seconds_sum",
            "counter",
            "Time spent in durable commits of pushes.",
            get(&self.commit_micros_total) as f64 / 1e6,
        );
        metric(
            "between_commit_seconds_count",
            "counter",
            "Durable commits of pushes.",
            get(&self.commits) as f64,
        );
        metric(
            "between_documents_watched",
            "gauge",
            "Documents with a subscribed device.",
            watched_documents as f64,
        );
        out
    }
}
