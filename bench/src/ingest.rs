//! Durable ingest: how many pushes per second the real relay acknowledges — each acknowledged only
//! after its commit — when many devices push at once; and the machinery that fills a relay's
//! store through the real protocol (W4 builds on it).
//!
//! A [`Fleet`] is the real `between-relay` binary serving TLS on loopback over a real SQLite file,
//! plus devices registered on it the way a client's first device is (an admin invite each,
//! `Register` with a fresh identity, device key and certificate). Every bundle a device pushes is
//! a real Automerge change (a sentence appended to a journal text) sealed with the shared crate's
//! envelope (XChaCha20-Poly1305, signed with Ed25519) under a document epoch key; the bundles are
//! made before any timed phase so the harness's own CPU goes to pushing. Each device keeps a
//! window of pushes in flight on its one connection, spread over its documents round-robin (the
//! protocol allows several requests in flight: each carries an id, and acks name it).

use crate::procfs;
use crate::stats::{median, micros, quantile};
use anyhow::{anyhow, bail, Context, Result};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use between_e2e::postgres::TestDatabase;
use between_e2e::relay::{self, new_doc, new_epoch_key, Peer, RelayProcess, TIMEOUT};
use between_e2e::tls::{PracticeCa, ServerFiles};
use between_shared::crypto::{DeviceKeypair, EpochKey};
use between_shared::protocol::{DocId, RequestId, ServerMessage};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::sync::{Barrier, Semaphore};

/// How much work one durable-ingest measurement does.
pub(crate) struct IngestScale {
    /// Devices pushing at once, each on its own connection.
    pub(crate) devices: usize,
    /// Documents each device pushes to (round-robin).
    pub(crate) docs_per_device: usize,
    /// Pushes each device makes in one timed run.
    pub(crate) pushes_per_device: usize,
    /// Pushes a device keeps in flight.
    pub(crate) window: usize,
}

/// The per-address limits asked of the relay (`--max-connections-per-address`,
/// `--max-handshakes-per-address`).
const MANY_CONNECTIONS: usize = 100_000;
/// Admin `invite create` processes run at once while registering devices.
const INVITE_PARALLELISM: usize = 4;

/// One registered device: its keys, the epoch key of its documents and its author counter.
pub(crate) struct FleetDevice {
    pub(crate) device: DeviceKeypair,
    key: EpochKey,
    /// The documents it created, in order.
    pub(crate) docs: std::sync::Mutex<Vec<DocId>>,
}

/// Where a fleet's relays keep their data.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// One relay over a SQLite file in its folder.
    Sqlite,
    /// `relays` relays over one fresh database on the PostgreSQL server at `server`.
    Postgres { server: String, relays: usize },
}

/// The real relay over TLS on loopback with registered devices.
pub(crate) struct Fleet {
    /// Holds the relay's folder (database, certificate, log) until dropped.
    _dir: TempDir,
    pub(crate) relay: RelayProcess,
    /// More relays over the same (PostgreSQL) database; devices are spread over all of them.
    others: Vec<RelayProcess>,
    /// The PostgreSQL database, dropped after the relays (fields drop in order).
    pub(crate) ca: PracticeCa,
    pub(crate) files: ServerFiles,
    pub(crate) devices: Vec<Arc<FleetDevice>>,
    /// Extra `serve` flags (the connection limit, when the relay has the flag).
    pub(crate) serve_flags: Vec<String>,
    /// The next author counter per device (bundles of one author count up).
    counters: Vec<std::sync::atomic::AtomicU64>,
    _database: Option<TestDatabase>,
}

/// What filling a store took.
pub(crate) struct Population {
    pub(crate) bundles: usize,
    /// Making (Automerge changes, sealing) the bundles.
    pub(crate) generate: Duration,
    /// Creating the documents and pushing every bundle until acknowledged.
    pub(crate) push: Duration,
}

/// One device's part of a phase: its new documents, and the bundles to push in order.
type DeviceWork = (Vec<DocId>, Vec<(DocId, Vec<u8>)>);

/// One timed push phase.
struct PushRun {
    acked: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Turns a task's panic (the e2e `Peer` panics, with a message, on a broken or late reply) into
/// an error.
pub(crate) async fn joined<T>(handle: tokio::task::JoinHandle<Result<T>>, what: &str) -> Result<T> {
    match handle.await {
        Ok(result) => result.with_context(|| what.to_string()),
        Err(err) if err.is_panic() => {
            let payload = err.into_panic();
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "a panic".to_string());
            Err(anyhow!("{what}: {message}"))
        }
        Err(err) => Err(anyhow!("{what}: {err}")),
    }
}

async fn join_all<T>(
    handles: Vec<tokio::task::JoinHandle<Result<T>>>,
    what: &str,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(joined(handle, what).await?);
    }
    Ok(out)
}

/// `count` real Automerge changes: a fresh document gets one change per bundle, a ~60-character
/// journal line put under its own key of a map (one operation each, so making W4's million
/// bundles stays cheap).
fn make_changes(count: usize) -> Result<Vec<Vec<u8>>> {
    let mut journal = AutoCommit::new();
    let lines = journal
        .put_object(ROOT, "journal", ObjType::Map)
        .context("an Automerge map")?;
    journal.commit();
    let mut changes = Vec::with_capacity(count);
    for i in 0..count {
        let line = format!("{i:05} Walked to the river after work and felt calmer today.");
        journal
            .put(&lines, format!("{i:05}"), line)
            .context("add a journal line")?;
        journal.commit();
        changes.push(
            journal
                .get_last_local_change()
                .context("the change just committed")?
                .raw_bytes()
                .to_vec(),
        );
    }
    Ok(changes)
}

/// `changes` sealed as bundles of `doc` by `device` (the shared crate's real envelope), with
/// author counters from `first_counter`.
fn seal_all(
    device: &DeviceKeypair,
    key: &EpochKey,
    doc: DocId,
    first_counter: u64,
    changes: &[Vec<u8>],
) -> Vec<Vec<u8>> {
    changes
        .iter()
        .enumerate()
        .map(|(i, change)| relay::sealed_bundle(doc, device, first_counter + i as u64, change, key))
        .collect()
}

#[cfg(test)]
fn make_bundles(
    device: &DeviceKeypair,
    key: &EpochKey,
    doc: DocId,
    first_counter: u64,
    count: usize,
) -> Result<Vec<Vec<u8>>> {
    Ok(seal_all(
        device,
        key,
        doc,
        first_counter,
        &make_changes(count)?,
    ))
}

/// Pushes `bundles` (each for the given document) on a signed-in connection with `window`
/// requests in flight; returns the ack latency of each, in the order sent.
async fn push_windowed(
    peer: &mut Peer,
    bundles: Vec<(DocId, Vec<u8>)>,
    window: usize,
) -> Result<Vec<Duration>> {
    let total = bundles.len();
    let mut pending = bundles.into_iter();
    let mut in_flight: HashMap<RequestId, Instant> = HashMap::with_capacity(window);
    let mut latencies = Vec::with_capacity(total);
    for (doc, bundle) in pending.by_ref().take(window.max(1)) {
        let sent = Instant::now();
        let request = peer.send_push(doc, bundle).await;
        in_flight.insert(request, sent);
    }
    while !in_flight.is_empty() {
        match peer.recv().await {
            ServerMessage::Ack { request, .. } => {
                let sent = in_flight
                    .remove(&request)
                    .with_context(|| format!("an ack for request {request:?} never sent"))?;
                latencies.push(sent.elapsed());
                if let Some((doc, bundle)) = pending.next() {
                    let sent = Instant::now();
                    let request = peer.send_push(doc, bundle).await;
                    in_flight.insert(request, sent);
                }
            }
            ServerMessage::Error {
                request,
                code,
                message,
            } => bail!("the relay refused a push ({request:?}): {code:?}: {message}"),
            // Live bundles of other devices' documents, pongs: not expected, harmless.
            _ => {}
        }
    }
    if latencies.len() != total {
        bail!("{} of {total} pushes acknowledged", latencies.len());
    }
    Ok(latencies)
}

impl Fleet {
    /// Starts the relay with TLS in a fresh folder and registers `devices` devices, each a new
    /// client account with its own admin invite.
    pub(crate) async fn start(devices: usize) -> Result<Self> {
        Self::start_on(devices, &Backend::Sqlite).await
    }

    /// Like [`Fleet::start`], over `backend`.
    pub(crate) async fn start_on(devices: usize, backend: &Backend) -> Result<Self> {
        let dir = tempfile::tempdir().context("a folder for the relay")?;
        let (ca, files) = crate::scene::relay_certificate(dir.path());
        // Every device connects from 127.0.0.1, all at once: lift the per-address limits.
        let serve_flags = vec![
            "--max-connections-per-address".to_string(),
            MANY_CONNECTIONS.to_string(),
            "--max-handshakes-per-address".to_string(),
            MANY_CONNECTIONS.to_string(),
        ];
        let flags: Vec<&str> = serve_flags.iter().map(String::as_str).collect();
        let (database, relays) = match backend {
            Backend::Sqlite => (None, 1),
            Backend::Postgres { server, relays } => {
                (Some(TestDatabase::create_on(server)), (*relays).max(1))
            }
        };
        let db = match &database {
            Some(database) => PathBuf::from(database.url()),
            None => dir.path().join("relay.sqlite3"),
        };
        let mut started = Vec::with_capacity(relays);
        for i in 0..relays {
            // The first relay logs into the fleet's folder (beside a SQLite database), each
            // further one into a folder of its own.
            let folder = match i {
                0 => dir.path().to_path_buf(),
                _ => dir.path().join(format!("relay-{i}")),
            };
            std::fs::create_dir_all(&folder).context("a folder for a relay")?;
            started.push(RelayProcess::start_tls_over(
                &folder, &db, &files, &ca, &flags,
            ));
        }
        let relay = started.remove(0);
        let mut fleet = Self {
            _dir: dir,
            relay,
            others: started,
            ca,
            files,
            devices: Vec::new(),
            serve_flags,
            counters: Vec::new(),
            _database: database,
        };
        fleet.register(devices).await?;
        Ok(fleet)
    }

    /// The fleet's folder (with SQLite, the database is `relay.sqlite3` in it).
    pub(crate) fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// The first relay's process id (it must be running).
    pub(crate) fn pid(&self) -> Result<u32> {
        self.relay.pid().context("the relay is not running")
    }

    /// Every relay, the first one first.
    fn relays(&self) -> impl Iterator<Item = &RelayProcess> {
        std::iter::once(&self.relay).chain(&self.others)
    }

    /// The CPU seconds every relay process has used so far.
    fn relays_cpu_seconds(&self) -> Result<f64> {
        let mut total = 0.0;
        for relay in self.relays() {
            total += procfs::cpu_seconds(relay.pid().context("a relay is not running")?)?;
        }
        Ok(total)
    }

    async fn register(&mut self, count: usize) -> Result<()> {
        // Invites: the real admin command, a few processes at a time.
        let db: PathBuf = self.relay.db().to_path_buf();
        let codes = {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let codes = Arc::new(std::sync::Mutex::new(Vec::with_capacity(count)));
            std::thread::scope(|scope| -> Result<()> {
                let workers: Vec<_> = (0..INVITE_PARALLELISM)
                    .map(|_| {
                        let next = next.clone();
                        let codes = codes.clone();
                        let db = db.clone();
                        scope.spawn(move || -> Result<()> {
                            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                                let code = invite(&db)?;
                                codes.lock().map_err(|_| anyhow!("poisoned"))?.push(code);
                            }
                            Ok(())
                        })
                    })
                    .collect();
                for worker in workers {
                    worker
                        .join()
                        .map_err(|_| anyhow!("an invite worker panicked"))??;
                }
                Ok(())
            })?;
            let codes = std::mem::take(&mut *codes.lock().map_err(|_| anyhow!("poisoned"))?);
            codes
        };
        let relay = Arc::new(RelayHandle::of(&self.relay)?);
        let gate = Arc::new(Semaphore::new(count.max(1)));
        let mut handles = Vec::with_capacity(count);
        for code in codes {
            let relay = relay.clone();
            let gate = gate.clone();
            handles.push(tokio::spawn(async move {
                let _slot = gate.acquire_owned().await?;
                let (mut peer, account) = relay.register(&code).await;
                peer.close().await;
                Ok(account)
            }));
        }
        for account in join_all(handles, "registering a device").await? {
            self.devices.push(Arc::new(FleetDevice {
                device: account.device,
                key: new_epoch_key(),
                docs: std::sync::Mutex::new(Vec::new()),
            }));
            self.counters.push(std::sync::atomic::AtomicU64::new(1));
        }
        Ok(())
    }

    /// Takes the next `count` author counters of device `index`.
    fn take_counters(&self, index: usize, count: usize) -> Result<u64> {
        let counter = self.counters.get(index).context("no such device")?;
        Ok(counter.fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed))
    }

    /// For each device, `docs` new document ids with `bundles` real bundles each, made on all
    /// cores. Returns per device the list of (document, bundle) in push order (round-robin
    /// over its documents).
    fn prepare(&self, docs: usize, bundles: usize) -> Result<Vec<DeviceWork>> {
        let jobs: Vec<(usize, u64)> = (0..self.devices.len())
            .map(|i| Ok((i, self.take_counters(i, docs * bundles)?)))
            .collect::<Result<_>>()?;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let chunk = jobs.len().div_ceil(threads).max(1);
        let mut out: Vec<Option<DeviceWork>> = (0..self.devices.len()).map(|_| None).collect();
        std::thread::scope(|scope| -> Result<()> {
            let workers: Vec<_> = jobs
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || -> Result<Vec<(usize, DeviceWork)>> {
                        let mut made = Vec::with_capacity(part.len());
                        for &(index, first) in part {
                            let device = &self.devices[index];
                            let ids: Vec<DocId> = (0..docs).map(|_| new_doc()).collect();
                            // One run of changes per device, sealed separately for each of its documents
                            // (fresh nonce, document id and author counter each time).
                            let changes = make_changes(bundles)?;
                            let per_doc: Vec<Vec<Vec<u8>>> = ids
                                .iter()
                                .enumerate()
                                .map(|(d, &doc)| {
                                    seal_all(
                                        &device.device,
                                        &device.key,
                                        doc,
                                        first + (d * bundles) as u64,
                                        &changes,
                                    )
                                })
                                .collect();
                            // Round-robin: bundle 0 of every document, then bundle 1, …
                            let mut iters: Vec<_> =
                                per_doc.into_iter().map(Vec::into_iter).collect();
                            let mut order = Vec::with_capacity(docs * bundles);
                            for _ in 0..bundles {
                                for (d, it) in iters.iter_mut().enumerate() {
                                    if let Some(bundle) = it.next() {
                                        order.push((ids[d], bundle));
                                    }
                                }
                            }
                            made.push((index, (ids, order)));
                        }
                        Ok(made)
                    })
                })
                .collect();
            for worker in workers {
                let made = worker
                    .join()
                    .map_err(|_| anyhow!("a bundle-making thread panicked"))??;
                for (index, work) in made {
                    out[index] = Some(work);
                }
            }
            Ok(())
        })?;
        out.into_iter()
            .map(|o| o.context("a device's bundles were not made"))
            .collect()
    }

    /// Every device signs in, creates its documents (untimed) and waits; then all push their
    /// bundles at once, `window` in flight each; timed from the common start to the last ack.
    async fn push_all(&self, work: Vec<DeviceWork>, window: usize) -> Result<PushRun> {
        let handles_of_relays = self
            .relays()
            .map(|relay| RelayHandle::of(relay).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let mut acked = 0;
        let mut latencies = Vec::new();
        let devices: Vec<_> = self.devices.iter().cloned().zip(work).collect();
        let barrier = Arc::new(Barrier::new(devices.len() + 1));
        let mut handles = Vec::with_capacity(devices.len());
        for (i, (device, (ids, bundles))) in devices.into_iter().enumerate() {
            // Devices spread over the relays, as a load balancer would spread them.
            let relay = handles_of_relays[i % handles_of_relays.len()].clone();
            let barrier = barrier.clone();
            handles.push(tokio::spawn(async move {
                let (mut peer, _) = relay.sign_in(&device.device).await;
                for &doc in &ids {
                    peer.create_document(doc).await;
                }
                device
                    .docs
                    .lock()
                    .map_err(|_| anyhow!("poisoned"))?
                    .extend(ids);
                let count = bundles.len();
                barrier.wait().await;
                let latencies = push_windowed(&mut peer, bundles, window).await?;
                let done = Instant::now();
                peer.close().await;
                Ok((count, latencies, done))
            }));
        }
        // Released once every device is signed in with its documents made.
        let wait = tokio::time::timeout(TIMEOUT * 6, barrier.wait()).await;
        let start = Instant::now();
        if wait.is_err() {
            // Some device failed before the barrier: report its error.
            for handle in handles {
                if handle.is_finished() {
                    joined(handle, "a device before pushing").await?;
                }
            }
            bail!("devices did not get ready to push within {:?}", TIMEOUT * 6);
        }
        let mut last = start;
        for (count, mut lat, done) in join_all(handles, "a pushing device").await? {
            acked += count;
            latencies.append(&mut lat);
            last = last.max(done);
        }
        Ok(PushRun {
            acked,
            elapsed: last - start,
            latencies,
        })
    }

    /// Fills the store: every device creates `docs` documents and pushes `bundles` bundles to
    /// each (the bundles are made first, on all cores). Used by W4.
    pub(crate) async fn populate(
        &self,
        docs: usize,
        bundles: usize,
        window: usize,
    ) -> Result<Population> {
        let started = Instant::now();
        let work = self.prepare(docs, bundles)?;
        let generate = started.elapsed();
        let pushing = Instant::now();
        let run = self.push_all(work, window).await?;
        Ok(Population {
            bundles: run.acked,
            generate,
            push: pushing.elapsed(),
        })
    }
}

/// Creates a client invite with the relay's admin command over `db`; returns its code.
fn invite(db: &Path) -> Result<String> {
    let output = std::process::Command::new(between_e2e::binary("between-relay"))
        .arg("--db")
        .arg(db)
        .args(["invite", "create", "--role", "client"])
        .env_remove("BETWEEN_RELAY_DB")
        .env_remove("BETWEEN_RELAY_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .context("run between-relay invite create")?;
    if !output.status.success() {
        bail!(
            "between-relay invite create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// What a task needs to connect to the relay ([`RelayProcess`] itself stays with its owner).
pub(crate) struct RelayHandle {
    url: String,
    origin: String,
    trust: Arc<rustls::ClientConfig>,
}

impl RelayHandle {
    pub(crate) fn of(relay: &RelayProcess) -> Result<Self> {
        Ok(Self {
            url: relay.url(),
            origin: relay.origin(),
            trust: relay.trust().context("the relay serves TLS")?,
        })
    }

    /// Connects over TLS and reads the challenge.
    pub(crate) async fn connect(&self) -> (Peer, relay::Hello) {
        Peer::connect_tls(&self.url, self.trust.clone()).await
    }

    /// Signs `device` in on a new connection.
    pub(crate) async fn sign_in(
        &self,
        device: &DeviceKeypair,
    ) -> (Peer, between_shared::protocol::AccountId) {
        let (mut peer, hello) = self.connect().await;
        peer.send(&relay::sign_in_frame(&hello, device, relay::now_ms()))
            .await;
        let (account, _) = relay::expect_welcome(peer.recv().await);
        (peer, account)
    }

    /// Registers a new account's first device with the invite `code`.
    async fn register(&self, code: &str) -> (Peer, relay::Account) {
        let identity = relay::new_identity();
        let device = relay::new_device();
        let certificate = relay::certificate(&identity, &device);
        let (mut peer, hello) = self.connect().await;
        assert_eq!(hello.origin, self.origin, "the relay's origin");
        peer.send(&relay::register_frame(
            &hello,
            &relay::invite_secret(code),
            &identity,
            &device,
            certificate.clone(),
        ))
        .await;
        let (account, _) = relay::expect_welcome(peer.recv().await);
        (
            peer,
            relay::Account {
                identity,
                device,
                certificate,
                account,
            },
        )
    }
}

/// Durable ingest: `scale.devices` devices push `scale.pushes_per_device` bundles each, `window`
/// in flight, over `docs_per_device` documents; the same relays for all runs (one over SQLite,
/// or one or more over PostgreSQL, the devices spread over them), fresh documents per run. The
/// CPU figures are the relays' (a PostgreSQL server's own processes are not counted).
pub(crate) async fn run(scale: &IngestScale, runs: u32, backend: &Backend) -> Result<Value> {
    let setup = Instant::now();
    let fleet = Fleet::start_on(scale.devices, backend)
        .await
        .context("start the relays and register devices")?;
    let setup = setup.elapsed();
    let mut rates = Vec::new();
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut cpu_per_push_us = Vec::new();
    let mut cpu = Vec::new();
    let mut bundle_bytes = Vec::new();
    for _ in 0..runs {
        let per_doc = scale
            .pushes_per_device
            .div_ceil(scale.docs_per_device.max(1));
        let work = fleet.prepare(scale.docs_per_device, per_doc)?;
        let sizes: Vec<f64> = work
            .iter()
            .flat_map(|(_, b)| b.iter().map(|(_, bytes)| bytes.len() as f64))
            .collect();
        bundle_bytes.push(median(&sizes).unwrap_or(f64::NAN));
        let cpu_before = fleet.relays_cpu_seconds()?;
        let measured = fleet.push_all(work, scale.window).await?;
        let cpu_used = fleet.relays_cpu_seconds()? - cpu_before;
        rates.push(measured.acked as f64 / measured.elapsed.as_secs_f64());
        let p = |q| quantile(&measured.latencies, q).map_or(f64::NAN, micros);
        p50s.push(p(0.5));
        p99s.push(p(0.99));
        cpu.push(cpu_used);
        cpu_per_push_us.push(cpu_used * 1e6 / measured.acked as f64);
    }
    let peak_kib = procfs::peak_resident_kib(fleet.pid()?)?;
    for relay in fleet.relays() {
        relay.assert_no_panic();
    }
    Ok(json!({
        "relays": fleet.others.len() + 1,
        "devices": fleet.devices.len(),
        "docs_per_device": scale.docs_per_device,
        "pushes_per_device": scale.pushes_per_device,
        "window": scale.window,
        "bundle_bytes": median(&bundle_bytes),
        "pushes_per_s": median(&rates),
        "ack_p50_us": median(&p50s),
        "ack_p99_us": median(&p99s),
        "relay_cpu_s": median(&cpu),
        "relay_cpu_us_per_push": median(&cpu_per_push_us),
        "relay_peak_rss_kib": peak_kib,
        "setup_s": setup.as_secs_f64(),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bundles_are_small_real_sealed_changes() {
        let device = relay::new_device();
        let key = new_epoch_key();
        let bundles = make_bundles(&device, &key, new_doc(), 1, 20).unwrap();
        assert_eq!(bundles.len(), 20);
        for bundle in &bundles {
            assert!(
                (100..=400).contains(&bundle.len()),
                "{} bytes",
                bundle.len()
            );
        }
    }
}
