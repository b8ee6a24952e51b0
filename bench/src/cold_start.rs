//! W4 — cold start with a large store: the real relay started over a store of many documents
//! (filled through the real protocol by [`crate::ingest::Fleet`]); the time from spawning the
//! process to the first completed TLS + WebSocket handshake that delivers the relay's
//! `Challenge`, its resident memory right then, and after every device signed in, subscribed to
//! each of its documents and read every bundle until `caught_up`.
//!
//! Two stores are measured with the same accounts and devices: a small one (each device owns one
//! document; copied with the relay's own `between-relay backup` after the first round of
//! pushes) and the full one (each device owns `docs_per_device`), so memory after start can be
//! compared between 1,000 and 10,000 documents at full scale.

use crate::ingest::{Fleet, FleetDevice, RelayHandle};
use crate::procfs;
use crate::stats::median;
use anyhow::{anyhow, bail, Context, Result};
use between_e2e::relay::{RelayProcess, TIMEOUT};
use between_shared::protocol::{decode_server, Seq, ServerMessage};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How much work W4 does.
pub(crate) struct ColdStartScale {
    /// Devices (each its own client account).
    pub(crate) devices: usize,
    /// Documents each device owns in the full store (the small store has one each).
    pub(crate) docs_per_device: usize,
    /// Bundles in every document.
    pub(crate) bundles_per_doc: usize,
}

/// Pushes each device keeps in flight while filling the store.
const POPULATE_WINDOW: usize = 16;
/// Between connection attempts while the relay starts.
const POLL_EVERY: Duration = Duration::from_millis(1);
/// The longest a start may take before W4 fails.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A free loopback port (bound, read and released; the relay binds it right after).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// One attempt: TCP, TLS 1.3, the WebSocket upgrade, then the first frame, which must be the
/// relay's `Challenge`.
async fn handshake(url: &str, trust: Arc<rustls::ClientConfig>) -> Result<()> {
    let dial = tokio_tungstenite::connect_async_tls_with_config(
        url,
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(trust)),
    );
    let (mut ws, _) = dial.await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                return match decode_server(&bytes)? {
                    ServerMessage::Challenge { .. } => {
                        let _ = ws.close(None).await;
                        Ok(())
                    }
                    other => Err(anyhow!("the first frame was not a challenge: {other:?}")),
                };
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.into()),
            None => bail!("the connection ended before the challenge"),
        }
    }
}

/// A cold start: spawns `serve` over the store in `dir` and polls until a handshake completes.
/// Returns the running relay and the time from spawn to that first challenge.
async fn cold_start(dir: &Path, fleet: &Fleet) -> Result<(RelayProcess, Duration)> {
    let port = free_port()?;
    let flags: Vec<&str> = fleet.serve_flags.iter().map(String::as_str).collect();
    let spawned = Instant::now();
    let relay = RelayProcess::spawn_tls_unready(dir, &fleet.files, &fleet.ca, &flags, port)
        .context("spawn between-relay serve")?;
    let trust = relay.trust().context("the relay serves TLS")?;
    let url = relay.url();
    let mut last_error = None;
    while spawned.elapsed() < START_DEADLINE {
        match tokio::time::timeout(TIMEOUT, handshake(&url, trust.clone())).await {
            Ok(Ok(())) => return Ok((relay, spawned.elapsed())),
            Ok(Err(err)) => last_error = Some(err.to_string()),
            Err(_) => last_error = Some(format!("a handshake took over {TIMEOUT:?}")),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    bail!(
        "the relay accepted no connection within {START_DEADLINE:?} (last: {}); its log:\n{}",
        last_error.unwrap_or_default(),
        relay.logs()
    )
}

/// Every device signs in, subscribes to each of its documents from nothing and reads every
/// bundle up to `caught_up`; the connections stay open until all are caught up. Returns the bundles read and the time it took.
async fn catch_up_all(
    relay: &RelayProcess,
    fleet: &Fleet,
    bundles_per_doc: usize,
) -> Result<(usize, Duration)> {
    let handle = Arc::new(RelayHandle::of(relay)?);
    let started = Instant::now();
    let mut read = 0;
    let devices: Vec<Arc<FleetDevice>> = fleet.devices.clone();
    let all_caught_up = Arc::new(tokio::sync::Barrier::new(devices.len()));
    let mut handles = Vec::with_capacity(devices.len());
    for device in &devices {
        let device = device.clone();
        let handle = handle.clone();
        let all_caught_up = all_caught_up.clone();
        handles.push(tokio::spawn(async move {
            let docs = device.docs.lock().map_err(|_| anyhow!("poisoned"))?.clone();
            let (mut peer, _) = handle.sign_in(&device.device).await;
            let mut read = 0;
            for doc in docs {
                let catch_up = peer.subscribe(doc, Seq(0)).await;
                if catch_up.bundles.len() != bundles_per_doc
                    || catch_up.head != Seq(bundles_per_doc as u64)
                {
                    bail!(
                        "a document caught up with {} bundles to head {:?}, not {bundles_per_doc}",
                        catch_up.bundles.len(),
                        catch_up.head
                    );
                }
                read += catch_up.bundles.len();
            }
            all_caught_up.wait().await;
            Ok((peer, read))
        }));
    }
    let mut peers = Vec::with_capacity(devices.len());
    for handle in handles {
        let (peer, n) = crate::ingest::joined(handle, "a device catching up").await?;
        read += n;
        peers.push(peer);
    }
    for mut peer in peers {
        peer.close().await;
    }
    Ok((read, started.elapsed()))
}

/// The figures of one store.
struct StoreFigures {
    start_ms: Vec<f64>,
    rss_after_start_kib: Vec<f64>,
    rss_after_catch_up_kib: f64,
    peak_rss_kib: f64,
    catch_up_s: f64,
    bundles_read: usize,
}

/// `runs` cold starts over the store in `dir`; after the last one, every device catches up.
async fn measure_store(
    dir: &Path,
    fleet: &Fleet,
    runs: u32,
    bundles_per_doc: usize,
) -> Result<StoreFigures> {
    let mut start_ms = Vec::new();
    let mut rss_after_start_kib = Vec::new();
    for run in 0..runs {
        let (mut relay, took) = cold_start(dir, fleet).await?;
        let pid = relay.pid().context("the relay is running")?;
        start_ms.push(took.as_secs_f64() * 1e3);
        rss_after_start_kib.push(procfs::resident_kib(pid)? as f64);
        if run + 1 == runs {
            let (bundles_read, catch_up) = catch_up_all(&relay, fleet, bundles_per_doc).await?;
            let figures = StoreFigures {
                start_ms,
                rss_after_start_kib,
                rss_after_catch_up_kib: procfs::resident_kib(pid)? as f64,
                peak_rss_kib: procfs::peak_resident_kib(pid)? as f64,
                catch_up_s: catch_up.as_secs_f64(),
                bundles_read,
            };
            relay.assert_no_panic();
            relay.stop();
            return Ok(figures);
        }
        relay.stop();
    }
    bail!("W4 needs at least one run")
}

/// W4: fill a store through the real protocol (every device: one document, copy the store with
/// `between-relay backup`, then the remaining documents), then measure cold starts over the small
/// and the full store.
pub(crate) async fn run(scale: &ColdStartScale, runs: u32) -> Result<Value> {
    let started = Instant::now();
    let mut fleet = Fleet::start(scale.devices)
        .await
        .context("start the relay and register devices")?;
    let register_s = started.elapsed().as_secs_f64();
    let first = fleet
        .populate(1, scale.bundles_per_doc, POPULATE_WINDOW)
        .await
        .context("fill the small store")?;
    let small_dir = tempfile::tempdir().context("a folder for the small store")?;
    let small_db = small_dir.path().join("relay.sqlite3");
    let output = fleet.relay.admin(&["backup", &small_db.to_string_lossy()]);
    if !output.status.success() {
        bail!(
            "between-relay backup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let rest = fleet
        .populate(
            scale.docs_per_device.saturating_sub(1),
            scale.bundles_per_doc,
            POPULATE_WINDOW,
        )
        .await
        .context("fill the full store")?;
    let populate_s = started.elapsed().as_secs_f64() - register_s;
    let pushed = first.bundles + rest.bundles;
    let push_s = (first.push + rest.push).as_secs_f64();
    let generate_s = (first.generate + rest.generate).as_secs_f64();
    fleet.relay.stop();

    // The small store: every device's first document only.
    let full_docs: Vec<Vec<_>> = fleet
        .devices
        .iter()
        .map(|d| {
            d.docs
                .lock()
                .map(|docs| docs.clone())
                .map_err(|_| anyhow!("poisoned"))
        })
        .collect::<Result<_>>()?;
    for (device, docs) in fleet.devices.iter().zip(&full_docs) {
        *device.docs.lock().map_err(|_| anyhow!("poisoned"))? =
            docs.iter().take(1).copied().collect();
    }
    let small = measure_store(small_dir.path(), &fleet, runs, scale.bundles_per_doc)
        .await
        .context("cold start over the small store")?;
    for (device, docs) in fleet.devices.iter().zip(full_docs) {
        *device.docs.lock().map_err(|_| anyhow!("poisoned"))? = docs;
    }
    let full_dir = fleet.dir().to_path_buf();
    let full = measure_store(&full_dir, &fleet, runs, scale.bundles_per_doc)
        .await
        .context("cold start over the full store")?;
    // Keep the fleet's relay handle consistent (it was stopped above).
    fleet.relay.stop();
    let db_bytes = std::fs::metadata(full_dir.join("relay.sqlite3")).map_or(0, |m| m.len());
    let small_docs = scale.devices;
    let full_docs = scale.devices * scale.docs_per_device;
    Ok(json!({
        "devices": scale.devices,
        "bundles_per_doc": scale.bundles_per_doc,
        "small_docs": small_docs,
        "full_docs": full_docs,
        "full_store_bytes": db_bytes,
        "start_ms": median(&full.start_ms),
        "start_ms_max": full.start_ms.iter().copied().fold(f64::NAN, f64::max),
        "rss_after_start_kib": median(&full.rss_after_start_kib),
        "rss_after_catch_up_kib": full.rss_after_catch_up_kib,
        "peak_rss_kib": full.peak_rss_kib,
        "catch_up_s": full.catch_up_s,
        "bundles_read": full.bundles_read,
        "small_start_ms": median(&small.start_ms),
        "small_rss_after_start_kib": median(&small.rss_after_start_kib),
        "small_rss_after_catch_up_kib": small.rss_after_catch_up_kib,
        "small_peak_rss_kib": small.peak_rss_kib,
        "small_catch_up_s": small.catch_up_s,
        "rss_after_start_full_over_small": median(&full.rss_after_start_kib).zip(median(&small.rss_after_start_kib)).map(|(f, s)| f / s),
        "populate_s": populate_s,
        "populate_generate_s": generate_s,
        "populate_push_s": push_s,
        "populate_pushes_per_s": pushed as f64 / push_s,
        "register_s": register_s,
    }))
}
