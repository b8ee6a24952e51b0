//! A harness for the relay's end-to-end tests: the real `between-relay` binary serving on a
//! loopback port, and [`Peer`], a device that speaks the wire protocol directly
//! (`between_shared::protocol`) with real keys, certificates and sealed bundles
//! (`between_shared::crypto`) over a real WebSocket.
//!
//! Everything waits on events with a deadline ([`TIMEOUT`]) and never sleeps: a relay that stops
//! answering fails the test with what it was waiting for, and the relay's log (kept in the test's
//! folder) is printed when it does not start.

use crate::binary;
use crate::tls::{PracticeCa, ServerFiles};
use between_shared::crypto::{
    seal_bundle, BundleHeader, BundleKind, DeviceKeypair, EpochKey, IdentityKeypair, InviteSecret,
};
use between_shared::protocol::{
    decode_server, encode_client, AccountId, ClientMessage, DeviceId, DocId, ErrorCode, RequestId,
    Seq, ServerMessage,
};
use between_shared::{Role, Timestamp};
use futures_util::{SinkExt, StreamExt};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest any single wait (relay start, a reply, a close) may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The WebSocket endpoint's path.
pub const SYNC_PATH: &str = "/v1/sync";

/// The time now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("a sane clock")
}

/// A running `between-relay serve` on `127.0.0.1` with a free port, over a database in a test's
/// folder (or a PostgreSQL database, [`RelayProcess::start_tls_over`]). Killed (SIGKILL) when
/// dropped.
pub struct RelayProcess {
    /// The folder holding the log (and the SQLite database).
    dir: PathBuf,
    /// What `--db` is given: the SQLite file, or a PostgreSQL URL.
    db: PathBuf,
    log: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
    port: u16,
    /// `wss` when serving TLS, else `ws`.
    scheme: &'static str,
    /// What a [`Peer`] trusts for the relay's certificate (TLS only).
    trust: Option<Arc<rustls::ClientConfig>>,
}

impl RelayProcess {
    /// Starts the relay over `dir/relay.sqlite3`; returns once it prints `listening on`.
    /// Its log (stderr) goes to `dir/relay.log`.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// Like [`RelayProcess::start`], with extra `serve` flags (e.g. a short handshake timeout).
    pub fn start_with(dir: &Path, extra: &[&str]) -> Self {
        Self::start_over(dir, dir.join("relay.sqlite3"), extra)
    }

    /// Starts the relay over the database `db` (what `--db` is given: a file or a PostgreSQL
    /// URL, which several relays may share), with its log in `dir/relay.log`.
    pub fn start_over(dir: &Path, db: impl AsRef<Path>, extra: &[&str]) -> Self {
        let db = db.as_ref().to_path_buf();
        let log = dir.join("relay.log");
        let extra: Vec<String> = extra.iter().map(|a| (*a).to_string()).collect();
        let (child, port, scheme) = spawn(&db, &log, &extra);
        Self {
            dir: dir.to_path_buf(),
            db,
            log,
            extra,
            child: Some(child),
            port,
            scheme,
            trust: None,
        }
    }

    /// Starts the relay serving TLS with `files`, signed by `ca` (which [`RelayProcess::connect`]
    /// then trusts), plus `extra` flags.
    pub fn start_tls(dir: &Path, files: &ServerFiles, ca: &PracticeCa, extra: &[&str]) -> Self {
        Self::start_tls_over(dir, dir.join("relay.sqlite3"), files, ca, extra)
    }

    /// Like [`RelayProcess::start_tls`] over the database `db`: a SQLite file, or a PostgreSQL
    /// URL (`postgres://…`), which several relays may share. The log goes to `dir/relay.log`,
    /// so relays sharing a database need folders of their own.
    pub fn start_tls_over(
        dir: &Path,
        db: impl AsRef<Path>,
        files: &ServerFiles,
        ca: &PracticeCa,
        extra: &[&str],
    ) -> Self {
        let cert = files.cert.to_string_lossy().into_owned();
        let key = files.key.to_string_lossy().into_owned();
        let mut flags = vec!["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
        flags.extend_from_slice(extra);
        let mut relay = Self::start_over(dir, db, &flags);
        assert_eq!(
            relay.scheme, "wss",
            "a relay given a certificate serves TLS"
        );
        relay.trust = Some(ca.client_config());
        relay
    }

    /// Spawns `serve` over `dir/relay.sqlite3` with TLS on `127.0.0.1:port` and returns at once,
    /// without waiting for it to listen: for measuring how long the relay takes to start (the
    /// caller polls [`RelayProcess::url`] until it answers). Its stdout and stderr go to
    /// `dir/relay.log`.
    pub fn spawn_tls_unready(
        dir: &Path,
        files: &ServerFiles,
        ca: &PracticeCa,
        extra: &[&str],
        port: u16,
    ) -> std::io::Result<Self> {
        let db = dir.join("relay.sqlite3");
        let log = dir.join("relay.log");
        let mut extra: Vec<String> = extra.iter().map(|a| (*a).to_string()).collect();
        extra.splice(
            0..0,
            [
                "--tls-cert".to_string(),
                files.cert.to_string_lossy().into_owned(),
                "--tls-key".to_string(),
                files.key.to_string_lossy().into_owned(),
            ],
        );
        let output = File::options().create(true).append(true).open(&log)?;
        let child = relay_command(&db)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(&extra)
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            db,
            log,
            extra,
            child: Some(child),
            port,
            scheme: "wss",
            trust: Some(ca.client_config()),
        })
    }

    /// The WebSocket endpoint, `ws://127.0.0.1:PORT/v1/sync` (`wss://` with TLS).
    pub fn url(&self) -> String {
        format!("{}{SYNC_PATH}", self.origin())
    }

    /// The origin devices sign into, `ws://127.0.0.1:PORT` (`wss://` with TLS).
    pub fn origin(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// Connects a [`Peer`] (over TLS, trusting the test CA, when the relay serves TLS) and
    /// reads the challenge.
    pub async fn connect(&self) -> (Peer, Hello) {
        match &self.trust {
            Some(trust) => Peer::connect_tls(&self.url(), trust.clone()).await,
            None => Peer::connect(&self.url()).await,
        }
    }

    /// The relay process's id, or `None` once it was stopped or killed.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What a [`Peer`] trusts for the relay's certificate (`None` without TLS).
    pub fn trust(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.trust.clone()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database file.
    pub fn db(&self) -> &Path {
        &self.db
    }

    /// Everything the relay has logged so far (all runs over this database).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Asserts that the relay has not logged a panic (a panicking task would not stop the
    /// process, so `/healthz` alone would not notice).
    #[track_caller]
    pub fn assert_no_panic(&self) {
        let logs = self.logs();
        assert!(!logs.contains("panicked"), "the relay panicked:\n{logs}");
    }

    /// Kills the relay with SIGKILL (no shutdown, no flush) and waits until it is gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix.
            child.kill().expect("kill the relay");
            child.wait().expect("reap the relay");
        }
    }

    /// Starts the relay again over the same database (on a new port); kills it first if running.
    pub fn restart(&mut self) {
        self.kill9();
        let (child, port, _) = spawn(&self.db, &self.log, &self.extra);
        self.child = Some(child);
        self.port = port;
    }

    /// Whether the relay process is running (started and not stopped or killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The folder holding the log (and the SQLite database).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the relay gracefully (SIGTERM: it finishes in-flight requests and closes the
    /// database) and waits until it has exited; SIGKILL if it has not within [`TIMEOUT`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM the relay failed");
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            if child.try_wait().expect("poll the relay").is_some() {
                return;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the relay did not stop within {TIMEOUT:?} of SIGTERM; its log:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the relay again over the same database **on the same port**, so devices that
    /// saved its address reach it; kills it first (SIGKILL) if it is running. Retries for a
    /// while if the port is not free yet.
    pub fn restart_on_same_port(&mut self) {
        self.kill9();
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            match try_spawn(&self.db, &self.log, &self.extra, self.port) {
                Ok((child, port, _)) => {
                    assert_eq!(port, self.port);
                    self.child = Some(child);
                    return;
                }
                Err(err) if std::time::Instant::now() > deadline => {
                    panic!("could not restart the relay on port {}: {err}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Starts the relay again **on the same port** over another database `db` (a PostgreSQL URL
    /// after `between-relay migrate`, say); kills it first (SIGKILL) if it is running.
    pub fn restart_over(&mut self, db: impl AsRef<Path>) {
        self.db = db.as_ref().to_path_buf();
        self.restart_on_same_port();
    }

    /// Runs an admin command (`documents`, `backup FILE`, …) on the relay's database.
    pub fn admin(&self, args: &[&str]) -> std::process::Output {
        relay_command(&self.db)
            .args(args)
            .output()
            .expect("run a between-relay admin command")
    }

    /// A blocking HTTP GET of `path` (e.g. `/metrics`); `None` if the relay does not answer.
    pub fn get(&self, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(TIMEOUT)).ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
    }

    /// One counter or gauge of `/metrics` (e.g. `between_pushes_total`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.get("/metrics")?.lines().find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse().ok())?
        })
    }

    /// Creates a one-time invite with the admin command (`client` or `therapist`); returns the
    /// code it printed.
    pub fn invite(&self, role: &str) -> String {
        self.invite_with(role, &[])
    }

    /// Creates an invite that expires after `hours` (0: already expired).
    pub fn invite_expiring(&self, role: &str, hours: u32) -> String {
        self.invite_with(role, &["--expires-in-hours", &hours.to_string()])
    }

    fn invite_with(&self, role: &str, extra: &[&str]) -> String {
        let output = relay_command(&self.db)
            .args(["invite", "create", "--role", role])
            .args(extra)
            .output()
            .expect("run between-relay invite create");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "invite create failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let code = stdout.trim().to_string();
        InviteSecret::from_code(&code)
            .unwrap_or_else(|e| panic!("`invite create` printed {code:?}, not a code: {e}"));
        code
    }

    /// An HTTP GET of `path` on the relay's port; returns the status code and body.
    pub async fn http_get(&self, path: &str) -> (u16, String) {
        let exchange = async {
            let mut stream = TcpStream::connect(("127.0.0.1", self.port))
                .await
                .expect("connect for HTTP");
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            stream
                .write_all(request.as_bytes())
                .await
                .expect("send the HTTP request");
            let mut response = Vec::new();
            stream
                .read_to_end(&mut response)
                .await
                .expect("read the HTTP response");
            String::from_utf8_lossy(&response).into_owned()
        };
        let response = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| panic!("GET {path}: no answer within {TIMEOUT:?}"));
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("GET {path}: not an HTTP response: {response:?}"));
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// Asserts that the relay is up and healthy: `/healthz` answers 200 and a fresh connection
    /// receives a challenge.
    pub async fn assert_healthy(&self) {
        self.assert_no_panic();
        let (status, body) = self.http_get("/healthz").await;
        assert_eq!(status, 200, "/healthz: {body}");
        let (mut peer, hello) = self.connect().await;
        assert_eq!(hello.origin, self.origin());
        peer.close().await;
    }

    /// Asserts that the relay is up and still serves `device`: `/healthz` answers 200, and a
    /// fresh connection signs in and gets a `Pong` for a `Ping`.
    pub async fn assert_up(&self, device: &DeviceKeypair) {
        self.assert_no_panic();
        let (status, body) = self.http_get("/healthz").await;
        assert_eq!(status, 200, "/healthz: {body}");
        let (mut peer, _) = sign_in(self, device).await;
        peer.ping().await;
        peer.close().await;
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `between-relay --db DB` with no configuration leaking in from the environment.
fn relay_command(db: &Path) -> Command {
    let mut command = Command::new(binary("between-relay"));
    command
        .arg("--db")
        .arg(db)
        .env_remove("BETWEEN_RELAY_DB")
        .env_remove("BETWEEN_RELAY_CONFIG")
        .env_remove("BETWEEN_RELAY_LISTEN")
        .env_remove("BETWEEN_RELAY_ORIGIN")
        .stdin(Stdio::null());
    command
}

/// Spawns `serve` on a free port and waits for its `listening on ws://127.0.0.1:PORT` line
/// (`wss://` with TLS); returns the process, the port and the scheme.
fn spawn(db: &Path, log: &Path, extra: &[String]) -> (Child, u16, &'static str) {
    try_spawn(db, log, extra, 0).unwrap_or_else(|err| panic!("{err}"))
}

/// Spawns `serve` on `port` (0: a free one) and waits for its `listening on` line; an error
/// (with the relay's log) if it does not print it, e.g. because the port is taken.
fn try_spawn(
    db: &Path,
    log: &Path,
    extra: &[String],
    port: u16,
) -> Result<(Child, u16, &'static str), String> {
    let stderr = File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("open the relay's log file");
    let mut child = relay_command(db)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start between-relay");
    let stdout = child.stdout.take().expect("the relay's stdout");
    let (lines_tx, lines_rx) = mpsc::channel();
    // Reads stdout until the relay exits, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                for scheme in ["ws", "wss"] {
                    let prefix = format!("listening on {scheme}://127.0.0.1:");
                    if let Some(address) = line.trim().strip_prefix(&prefix) {
                        let port = address
                            .parse()
                            .unwrap_or_else(|_| panic!("a port in {line:?}"));
                        return Ok((child, port, scheme));
                    }
                }
            }
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the relay did not print `listening on` ({err}); its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                ));
            }
        }
    }
}

/// The relay's first frame, `Challenge`.
#[derive(Debug, Clone)]
pub struct Hello {
    /// The challenge to sign.
    pub challenge: [u8; 32],
    /// The origin the relay says it serves (signed with the challenge).
    pub origin: String,
    /// The relay's clock.
    pub server_time_ms: i64,
    /// Oldest protocol version the relay speaks.
    pub min_version: u16,
    /// Newest protocol version the relay speaks.
    pub max_version: u16,
}

/// What arrives on a connection.
#[derive(Debug)]
pub enum Event {
    /// A protocol frame from the relay.
    Message(ServerMessage),
    /// The connection ended (close frame, end of stream or a transport error), and why.
    Closed(String),
}

/// What a `Subscribe` catch-up delivered before `CaughtUp`.
#[derive(Debug, Default)]
pub struct CatchUp {
    /// The snapshot, if any: what it covers and its bytes (its parts joined).
    pub snapshot: Option<(Seq, Vec<u8>)>,
    /// How many parts the snapshot came in.
    pub snapshot_parts: u32,
    /// The bundles, in the order received.
    pub bundles: Vec<(Seq, Vec<u8>)>,
    /// The head `CaughtUp` reported.
    pub head: Seq,
}

/// One WebSocket connection to the relay, speaking the protocol frame by frame.
pub struct Peer {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_request: u64,
}

impl Peer {
    /// Connects and reads the relay's `Challenge` (panics if the first frame is anything else).
    pub async fn connect(url: &str) -> (Peer, Hello) {
        Peer::connect_raw(url).await.read_challenge().await
    }

    async fn read_challenge(self) -> (Peer, Hello) {
        let mut peer = self;
        match peer.recv().await {
            ServerMessage::Challenge {
                challenge,
                relay_origin,
                server_time_ms,
                min_version,
                max_version,
            } => (
                peer,
                Hello {
                    challenge: challenge.0,
                    origin: relay_origin,
                    server_time_ms,
                    min_version,
                    max_version,
                },
            ),
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    /// Connects over TLS trusting `trust`, and reads the relay's `Challenge`.
    pub async fn connect_tls(url: &str, trust: Arc<rustls::ClientConfig>) -> (Peer, Hello) {
        let dial = tokio_tungstenite::connect_async_tls_with_config(
            url,
            None,
            true,
            Some(tokio_tungstenite::Connector::Rustls(trust)),
        );
        let (ws, _) = tokio::time::timeout(TIMEOUT, dial)
            .await
            .unwrap_or_else(|_| panic!("connecting to {url} took longer than {TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        Peer {
            ws,
            next_request: 1,
        }
        .read_challenge()
        .await
    }

    /// Connects without reading anything.
    pub async fn connect_raw(url: &str) -> Peer {
        let (ws, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
            .unwrap_or_else(|_| panic!("connecting to {url} took longer than {TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        Peer {
            ws,
            next_request: 1,
        }
    }

    /// A fresh request id for this connection.
    pub fn request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    /// Sends one protocol message as a binary frame.
    pub async fn send(&mut self, message: &ClientMessage) {
        let bytes = encode_client(message).expect("encode a client message");
        self.send_raw(Message::Binary(bytes.into()))
            .await
            .expect("send a frame");
    }

    /// Sends any WebSocket message (garbage, text, oversized …); the error, if the transport
    /// refused it, is returned rather than panicking.
    pub async fn send_raw(
        &mut self,
        message: Message,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        tokio::time::timeout(TIMEOUT, self.ws.send(message))
            .await
            .unwrap_or_else(|_| panic!("sending took longer than {TIMEOUT:?}"))
    }

    /// The next frame or the end of the connection (WebSocket pings are answered on the way).
    pub async fn next_event(&mut self) -> Event {
        let next = async {
            loop {
                match self.ws.next().await {
                    None => return Event::Closed("end of stream".to_string()),
                    Some(Err(err)) => return Event::Closed(format!("transport error: {err}")),
                    Some(Ok(Message::Binary(bytes))) => {
                        let message = decode_server(&bytes).unwrap_or_else(|e| {
                            panic!("the relay sent a frame this device cannot decode: {e}")
                        });
                        return Event::Message(message);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Event::Closed(format!("close frame {frame:?}"))
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Text(text))) => {
                        panic!("the relay sent a text frame: {text:?}")
                    }
                }
            }
        };
        tokio::time::timeout(TIMEOUT, next)
            .await
            .unwrap_or_else(|_| panic!("nothing arrived within {TIMEOUT:?}"))
    }

    /// The next protocol frame; panics if the connection ends first.
    pub async fn recv(&mut self) -> ServerMessage {
        match self.next_event().await {
            Event::Message(message) => message,
            Event::Closed(why) => panic!("expected a frame, but the connection ended: {why}"),
        }
    }

    /// Asserts that the relay ends the connection next, without sending another frame.
    pub async fn expect_closed(&mut self) {
        match self.next_event().await {
            Event::Closed(_) => {}
            Event::Message(message) => {
                panic!("expected the connection to close, got {message:?}")
            }
        }
    }

    /// Asserts that the next frame is an `Error` with `code` answering `request`; returns its
    /// message.
    pub async fn expect_error(&mut self, request: Option<RequestId>, code: ErrorCode) -> String {
        match self.recv().await {
            ServerMessage::Error {
                request: got_request,
                code: got_code,
                message,
            } => {
                assert_eq!(
                    (got_code, got_request),
                    (code, request),
                    "unexpected error: {message}"
                );
                assert!(!message.is_empty(), "an error without a message");
                message
            }
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    /// Asserts a fatal error (`request` is `None`): the `Error` frame, then the close.
    pub async fn expect_fatal(&mut self, code: ErrorCode) -> String {
        assert!(code.fatal(), "{code:?} is not a fatal code");
        let message = self.expect_error(None, code).await;
        self.expect_closed().await;
        message
    }

    /// Sends a `Ping` and asserts that the very next frame is its `Pong`.
    pub async fn ping(&mut self) {
        let nonce = rand::random();
        self.send(&ClientMessage::Ping { nonce }).await;
        match self.recv().await {
            ServerMessage::Pong { nonce: got } => assert_eq!(got, nonce),
            other => panic!("expected pong, got {other:?}"),
        }
    }

    /// `CreateDocument`, expecting `Done`.
    pub async fn create_document(&mut self, doc: DocId) {
        let request = self.request_id();
        self.send(&ClientMessage::CreateDocument { request, doc })
            .await;
        match self.recv().await {
            ServerMessage::Done { request: got } => assert_eq!(got, request),
            other => panic!("expected done for create_document, got {other:?}"),
        }
    }

    /// Sends a `Push` without waiting; returns its request id.
    pub async fn send_push(&mut self, doc: DocId, bundle: Vec<u8>) -> RequestId {
        let request = self.request_id();
        self.send(&ClientMessage::Push {
            request,
            doc,
            bundle,
        })
        .await;
        request
    }

    /// `Push`, expecting its `Ack` as the next frame; returns the sequence number.
    pub async fn push(&mut self, doc: DocId, bundle: Vec<u8>) -> Seq {
        let request = self.send_push(doc, bundle).await;
        match self.recv().await {
            ServerMessage::Ack {
                request: got,
                doc: got_doc,
                seq,
            } => {
                assert_eq!((got, got_doc), (request, doc));
                seq
            }
            other => panic!("expected ack, got {other:?}"),
        }
    }

    /// Sends a `Subscribe` without waiting; returns its request id.
    pub async fn send_subscribe(&mut self, doc: DocId, since: Seq) -> RequestId {
        let request = self.request_id();
        self.send(&ClientMessage::Subscribe {
            request,
            doc,
            since,
        })
        .await;
        request
    }

    /// `Subscribe` and read the catch-up up to `CaughtUp`; checks that the frames are for
    /// `doc` and in the documented order (snapshot first).
    pub async fn subscribe(&mut self, doc: DocId, since: Seq) -> CatchUp {
        let request = self.send_subscribe(doc, since).await;
        let mut catch_up = CatchUp::default();
        loop {
            match self.recv().await {
                ServerMessage::Snapshot {
                    doc: got,
                    covers,
                    part,
                    parts,
                    snapshot,
                } => {
                    assert_eq!(got, doc);
                    assert!(catch_up.bundles.is_empty(), "a snapshot must come first");
                    // Parts come in order, one after another; the test sees them joined.
                    match &mut catch_up.snapshot {
                        None => {
                            assert_eq!(part, 0, "a snapshot begins with part 0");
                            catch_up.snapshot = Some((covers, snapshot));
                        }
                        Some((joined_covers, joined)) => {
                            assert_eq!(*joined_covers, covers);
                            assert_eq!(part, catch_up.snapshot_parts, "parts in order, once");
                            joined.extend(snapshot);
                        }
                    }
                    catch_up.snapshot_parts = part + 1;
                    assert!(catch_up.snapshot_parts <= parts);
                }
                ServerMessage::Bundle {
                    doc: got,
                    seq,
                    bundle,
                } => {
                    assert_eq!(got, doc);
                    catch_up.bundles.push((seq, bundle));
                }
                ServerMessage::CaughtUp {
                    request: got,
                    doc: got_doc,
                    head,
                } => {
                    assert_eq!((got, got_doc), (request, doc));
                    catch_up.head = head;
                    return catch_up;
                }
                other => panic!("unexpected frame during catch-up: {other:?}"),
            }
        }
    }

    /// Closes the connection politely and waits for the relay to finish it.
    pub async fn close(&mut self) {
        let _ = self.send_raw(Message::Close(None)).await;
        loop {
            if let Event::Closed(_) = self.next_event().await {
                return;
            }
        }
    }
}

/// One person's first device as registered with the relay.
pub struct Account {
    /// The person's identity key.
    pub identity: IdentityKeypair,
    /// The device's keys.
    pub device: DeviceKeypair,
    /// The device's certificate, signed by `identity`.
    pub certificate: Vec<u8>,
    /// The account the relay assigned.
    pub account: AccountId,
}

impl Account {
    /// The registered device's id.
    pub fn device_id(&self) -> DeviceId {
        self.device.device_id()
    }
}

/// A fresh identity key.
pub fn new_identity() -> IdentityKeypair {
    IdentityKeypair::generate(&mut rand::rng())
}

/// A fresh device key.
pub fn new_device() -> DeviceKeypair {
    DeviceKeypair::generate(&mut rand::rng())
}

/// A fresh random document id.
pub fn new_doc() -> DocId {
    DocId(rand::random())
}

/// A fresh random epoch key.
pub fn new_epoch_key() -> EpochKey {
    EpochKey::generate(&mut rand::rng())
}

/// A client-role certificate for `device`, signed by `identity`, issued now.
pub fn certificate(identity: &IdentityKeypair, device: &DeviceKeypair) -> Vec<u8> {
    identity
        .certify(&device.public(), Role::Client, Timestamp(now_ms()))
        .to_bytes()
        .to_vec()
}

/// The sign-in signature over the challenge, the relay's origin and `timestamp_ms`.
pub fn sign_in_signature(hello: &Hello, device: &DeviceKeypair, timestamp_ms: i64) -> [u8; 64] {
    device.sign(&between_shared::crypto::sign_in_message(
        &hello.challenge,
        &hello.origin,
        timestamp_ms,
    ))
}

/// A `SignIn` answering `hello`, signed at `timestamp_ms`.
pub fn sign_in_frame(hello: &Hello, device: &DeviceKeypair, timestamp_ms: i64) -> ClientMessage {
    ClientMessage::SignIn {
        device: device.device_id(),
        timestamp_ms,
        signature: sign_in_signature(hello, device, timestamp_ms),
    }
}

/// A `Register` answering `hello`: `device` with `certificate`, claiming `identity`, with the
/// raw invite secret.
pub fn register_frame(
    hello: &Hello,
    invite: &[u8],
    identity: &IdentityKeypair,
    device: &DeviceKeypair,
    certificate: Vec<u8>,
) -> ClientMessage {
    let timestamp_ms = now_ms();
    ClientMessage::Register {
        invite: invite.to_vec(),
        identity: identity.public().0,
        certificate,
        timestamp_ms,
        signature: sign_in_signature(hello, device, timestamp_ms),
    }
}

/// A `RegisterDevice` answering `hello` for `device` with `certificate`.
pub fn register_device_frame(
    hello: &Hello,
    device: &DeviceKeypair,
    certificate: Vec<u8>,
) -> ClientMessage {
    let timestamp_ms = now_ms();
    ClientMessage::RegisterDevice {
        certificate,
        timestamp_ms,
        signature: sign_in_signature(hello, device, timestamp_ms),
    }
}

/// The secret inside an invite code.
pub fn invite_secret(code: &str) -> Vec<u8> {
    InviteSecret::from_code(code)
        .expect("an invite code")
        .as_bytes()
        .to_vec()
}

/// Asserts that `message` is `Welcome` and returns the account and device in it.
#[track_caller]
pub fn expect_welcome(message: ServerMessage) -> (AccountId, DeviceId) {
    match message {
        ServerMessage::Welcome { account, device } => (account, device),
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Registers a new account (fresh identity and device) with the invite `code`; returns the
/// signed-in connection and the account.
pub async fn register(relay: &RelayProcess, code: &str) -> (Peer, Account) {
    let identity = new_identity();
    let device = new_device();
    let certificate = certificate(&identity, &device);
    let (mut peer, hello) = relay.connect().await;
    assert_eq!(hello.origin, relay.origin());
    peer.send(&register_frame(
        &hello,
        &invite_secret(code),
        &identity,
        &device,
        certificate.clone(),
    ))
    .await;
    let (account, welcomed) = expect_welcome(peer.recv().await);
    assert_eq!(welcomed, device.device_id());
    (
        peer,
        Account {
            identity,
            device,
            certificate,
            account,
        },
    )
}

/// Signs `device` in on a new connection; returns it and the account the relay named.
pub async fn sign_in(relay: &RelayProcess, device: &DeviceKeypair) -> (Peer, AccountId) {
    let (mut peer, hello) = relay.connect().await;
    peer.send(&sign_in_frame(&hello, device, now_ms())).await;
    let (account, welcomed) = expect_welcome(peer.recv().await);
    assert_eq!(welcomed, device.device_id());
    (peer, account)
}

/// Registers `device` as a further device of `identity`'s account (certificate signed by
/// `identity`); returns the signed-in connection and the account the relay named.
pub async fn register_device(
    relay: &RelayProcess,
    identity: &IdentityKeypair,
    device: &DeviceKeypair,
) -> (Peer, AccountId) {
    let (mut peer, hello) = relay.connect().await;
    peer.send(&register_device_frame(
        &hello,
        device,
        certificate(identity, device),
    ))
    .await;
    let (account, welcomed) = expect_welcome(peer.recv().await);
    assert_eq!(welcomed, device.device_id());
    (peer, account)
}

/// A real sealed bundle of changes: header naming `doc`, epoch 1, `device` as author and
/// `counter`; `plaintext` encrypted under `key` and signed by `device`.
pub fn sealed_bundle(
    doc: DocId,
    device: &DeviceKeypair,
    counter: u64,
    plaintext: &[u8],
    key: &EpochKey,
) -> Vec<u8> {
    seal(BundleKind::Changes, doc, device, counter, plaintext, key)
}

/// A real sealed snapshot (a bundle of kind snapshot), as `put_snapshot` uploads.
pub fn sealed_snapshot(
    doc: DocId,
    device: &DeviceKeypair,
    counter: u64,
    plaintext: &[u8],
    key: &EpochKey,
) -> Vec<u8> {
    seal(BundleKind::Snapshot, doc, device, counter, plaintext, key)
}

fn seal(
    kind: BundleKind,
    doc: DocId,
    device: &DeviceKeypair,
    counter: u64,
    plaintext: &[u8],
    key: &EpochKey,
) -> Vec<u8> {
    let header = BundleHeader::new(kind, doc, 1, device.device_id(), counter);
    seal_bundle(&mut rand::rng(), header, key, device, plaintext)
        .expect("seal a bundle")
        .to_bytes()
}
