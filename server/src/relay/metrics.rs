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
    /// Commits per latency bucket (not cumulative; [`Metrics::render`] sums them up).
    commit_buckets: [AtomicU64; COMMIT_BUCKETS.len()],
    tls_handshake_failures: AtomicU64,
    tls_handshakes_refused: AtomicU64,
}

/// Upper bounds (seconds) of the commit latency histogram's buckets; `+Inf` is implied.
const COMMIT_BUCKETS: [f64; 11] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// A counter's current value.
fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
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

    pub(crate) fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tls_handshake_refused(&self) {
        self.tls_handshakes_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn commit(&self, took: Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        if let Some(bucket) = COMMIT_BUCKETS.iter().position(|&upper| seconds <= upper) {
            self.commit_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.commit_micros_total.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The Prometheus text exposition: every counter and gauge, then the commit latency
    /// histogram.
    pub(crate) fn render(&self, watched_documents: usize) -> String {
        let mut out = String::new();
        self.render_counters(&mut out, watched_documents);
        self.render_commit_histogram(&mut out);
        out
    }

    /// Every counter and gauge, each with its help and type lines.
    fn render_counters(&self, out: &mut String, watched_documents: usize) {
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
            "between_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or timed out (plain ws:// clients, distrusting clients, scanners).",
            get(&self.tls_handshake_failures) as f64,
        );
        metric(
            "between_tls_handshakes_refused_total",
            "counter",
            "Connections closed unanswered because their address already had its limit of pending TLS handshakes.",
            get(&self.tls_handshakes_refused) as f64,
        );
        metric(
            "between_documents_watched",
            "gauge",
            "Documents with a subscribed device.",
            watched_documents as f64,
        );
    }

    /// The commit latency as one histogram family: cumulative buckets, then the sum and count
    /// of all commits.
    fn render_commit_histogram(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP between_commit_seconds Time a push waits for its durable commit.\n# TYPE between_commit_seconds histogram"
        );
        let mut cumulative = 0;
        for (upper, bucket) in COMMIT_BUCKETS.iter().zip(&self.commit_buckets) {
            cumulative += get(bucket);
            let _ = writeln!(
                out,
                "between_commit_seconds_bucket{{le=\"{upper}\"}} {cumulative}"
            );
        }
        let commits = get(&self.commits);
        let _ = writeln!(
            out,
            "between_commit_seconds_bucket{{le=\"+Inf\"}} {commits}\nbetween_commit_seconds_sum {}\nbetween_commit_seconds_count {commits}",
            get(&self.commit_micros_total) as f64 / 1e6
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn commit_latency_is_a_cumulative_histogram() {
        let metrics = Metrics::default();
        for micros in [300, 3_000, 2_000_000] {
            metrics.commit(Duration::from_micros(micros));
        }
        let text = metrics.render(0);
        assert!(
            text.contains("# TYPE between_commit_seconds histogram"),
            "{text}"
        );
        assert_eq!(
            value(&text, "between_commit_seconds_bucket{le=\"0.0005\"}"),
            1.0
        );
        assert_eq!(
            value(&text, "between_commit_seconds_bucket{le=\"0.0025\"}"),
            1.0
        );
        assert_eq!(
            value(&text, "between_commit_seconds_bucket{le=\"0.005\"}"),
            2.0
        );
        assert_eq!(value(&text, "between_commit_seconds_bucket{le=\"1\"}"), 2.0);
        assert_eq!(
            value(&text, "between_commit_seconds_bucket{le=\"+Inf\"}"),
            3.0
        );
        assert_eq!(value(&text, "between_commit_seconds_count"), 3.0);
        assert!((value(&text, "between_commit_seconds_sum") - 2.0033).abs() < 1e-9);
        // Every sample line belongs to a family with HELP and TYPE.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|f| text.contains(&format!("# TYPE {f} histogram")))
                .unwrap_or(name);
            assert!(text.contains(&format!("# TYPE {family} ")), "{line}");
        }
    }
}
