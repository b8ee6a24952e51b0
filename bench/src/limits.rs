//! The raw limits of this machine (L1–L3 of WORKLOADS.md), measured in the same run as the
//! workloads so that every workload figure can be given as a ratio to what the machine allows:
//!
//! - L1: a minimal WebSocket echo (tokio-tungstenite on both ends, no application logic) —
//!   round trips of 60-byte messages on loopback;
//! - L2: SQLite in WAL mode with `synchronous=FULL` (the relay's durability setting) appending
//!   1 KiB blobs, one commit per row and 100 rows per commit;
//! - L3: Automerge alone — applying the changes of a journal typed keystroke by keystroke (each
//!   its own commit) to an empty document, and loading the document's save;
//! - the client's floor — starting the `between` process (`between --version`) and opening a
//!   new SQLite file in WAL mode with `synchronous=FULL` and committing one row: what any
//!   client command costs before it does anything.

use anyhow::{bail, Context, Result};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc, ROOT};
use futures_util::{SinkExt, StreamExt};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// The size of one echoed message (about one short sentence with framing).
const ECHO_BYTES: usize = 60;
/// Round trips before measuring (connection warm-up, allocator, branch predictors).
const ECHO_WARMUP: usize = 100;
/// The size of one appended row, as a small sealed bundle.
const ROW_BYTES: usize = 1024;
/// Rows per commit in the batched case.
const BATCH: usize = 100;

/// L1: `count` measured round trips of a 60-byte binary message through a WebSocket echo server
/// on loopback (Nagle off on both ends, as the relay and client run).
pub(crate) async fn echo_round_trips(count: usize) -> Result<Vec<Duration>> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind the echo server")?;
    let address = listener.local_addr().context("the echo server's address")?;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let mut ws = tokio_tungstenite::accept_async(tcp).await?;
        while let Some(message) = ws.next().await {
            let message = message?;
            if message.is_binary() {
                ws.send(message).await?;
            } else if message.is_close() {
                break;
            }
        }
        Ok::<_, anyhow::Error>(())
    });
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{address}"), None, true)
            .await
            .context("connect to the echo server")?;
    let payload = vec![0x5a_u8; ECHO_BYTES];
    let mut samples = Vec::with_capacity(count);
    for i in 0..ECHO_WARMUP + count {
        let start = Instant::now();
        ws.send(Message::Binary(payload.clone().into())).await?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(_))) => break,
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Err(err.into()),
                None => bail!("the echo server closed the connection"),
            }
        }
        if i >= ECHO_WARMUP {
            samples.push(start.elapsed());
        }
    }
    ws.close(None).await.ok();
    server.await.context("the echo server task")??;
    Ok(samples)
}

/// L2: rows per second appending 1 KiB blobs to a fresh WAL database under `dir` with
/// `synchronous=FULL`: `(one commit per row, 100 rows per commit)`.
pub(crate) fn sqlite_appends(dir: &Path, single: usize, batched: usize) -> Result<(f64, f64)> {
    let path = dir.join("l2.sqlite3");
    let mut conn = rusqlite::Connection::open(&path).context("open the L2 database")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute(
        "CREATE TABLE rows (id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
        [],
    )?;
    let blob = vec![0xa5_u8; ROW_BYTES];
    let start = Instant::now();
    for _ in 0..single {
        let tx = conn.transaction()?;
        tx.execute("INSERT INTO rows (data) VALUES (?1)", [&blob])?;
        tx.commit()?;
    }
    let single_rate = single as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for chunk in 0..batched.div_ceil(BATCH) {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached("INSERT INTO rows (data) VALUES (?1)")?;
            for _ in 0..BATCH.min(batched - chunk * BATCH) {
                insert.execute([&blob])?;
            }
        }
        tx.commit()?;
    }
    let batched_rate = batched as f64 / start.elapsed().as_secs_f64();
    Ok((single_rate, batched_rate))
}

/// What L3 measured.
pub(crate) struct Keystrokes {
    /// Applying every change, in one call, to an empty document.
    pub(crate) apply: Duration,
    /// Loading the document's (compressed) save.
    pub(crate) load: Duration,
    /// The save's size in bytes.
    pub(crate) save_bytes: usize,
}

/// L3: a journal entry typed as `keystrokes` single-character edits, each its own commit (as
/// W2's laptop does); then the time to apply all those changes to an empty document and to load
/// the document's save. Building the changes is not timed.
pub(crate) fn automerge_keystrokes(keystrokes: usize) -> Result<Keystrokes> {
    let mut typed = AutoCommit::new();
    let text = typed.put_object(ROOT, "journal", ObjType::Text)?;
    typed.commit();
    // Letters and spaces from a fixed pseudo-random sequence: prose compresses far less than a
    // repeated alphabet would, and the run is the same every time.
    let mut state: u32 = 0x2545_f491;
    for i in 0..keystrokes {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let pick = (state >> 24) % 32;
        let key = if pick >= 26 {
            ' '
        } else {
            char::from(b'a' + u8::try_from(pick).unwrap_or(0))
        };
        typed.splice_text(&text, i, 0, &key.to_string())?;
        typed.commit();
    }
    let changes: Vec<automerge::Change> = typed.get_changes(&[]);
    let save = typed.save();

    let mut fresh = AutoCommit::new();
    let start = Instant::now();
    fresh.apply_changes(changes)?;
    let apply = start.elapsed();
    let start = Instant::now();
    let loaded = AutoCommit::load(&save)?;
    let load = start.elapsed();
    // Both must hold the whole text, or the timing measured nothing.
    for doc in [&fresh, &loaded] {
        let (_, id) = doc
            .get(ROOT, "journal")?
            .context("the journal text is missing")?;
        if doc.length(&id) != keystrokes {
            bail!(
                "a replica holds {} of {keystrokes} characters",
                doc.length(&id)
            );
        }
    }
    Ok(Keystrokes {
        apply,
        load,
        save_bytes: save.len(),
    })
}

/// The client's floor: the median wall time of `between --version` (process start-up) and of
/// opening a new SQLite database as the client's store does and committing one row durably.
pub(crate) fn client_floor(dir: &Path, repeats: usize) -> Result<(Duration, Duration)> {
    let between = between_e2e::binary("between");
    let mut start_up = Vec::with_capacity(repeats);
    let mut open_commit = Vec::with_capacity(repeats);
    for k in 0..repeats {
        let started = Instant::now();
        let status = std::process::Command::new(&between)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .status()
            .context("run between --version")?;
        start_up.push(started.elapsed());
        if !status.success() {
            bail!("`between --version` failed");
        }
        let path = dir.join(format!("floor-{k}.sqlite3"));
        let started = Instant::now();
        let conn = rusqlite::Connection::open(&path).context("open an empty database")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute("CREATE TABLE t (x BLOB)", [])?;
        conn.execute("INSERT INTO t (x) VALUES (x'00')", [])?;
        drop(conn);
        open_commit.push(started.elapsed());
    }
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples.get(samples.len() / 2).copied().unwrap_or_default()
    };
    Ok((median(start_up), median(open_commit)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_echo_measures_every_round_trip() {
        let samples = echo_round_trips(20).await.unwrap();
        assert_eq!(samples.len(), 20);
        assert!(samples.iter().all(|d| *d > Duration::ZERO));
    }

    #[test]
    fn sqlite_appends_count_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (single, batched) = sqlite_appends(dir.path(), 5, 250).unwrap();
        assert!(single > 0.0 && batched > 0.0);
        let conn = rusqlite::Connection::open(dir.path().join("l2.sqlite3")).unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM rows", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 255);
    }

    #[test]
    fn keystrokes_rebuild_the_whole_text() {
        let measured = automerge_keystrokes(300).unwrap();
        assert!(measured.save_bytes > 0);
    }
}
