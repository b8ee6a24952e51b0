//! The relay service: the WebSocket endpoint, `/healthz` and `/metrics`, and what every
//! connection shares (the store, the subscription hub, limits, metrics, shutdown).
//!
//! [`run`] serves on a listener the caller bound (tests bind port 0) until the shutdown token
//! is cancelled; then it stops accepting, tells connected devices, waits for in-flight requests
//! (their commits finish on the storage thread) and returns.

pub(crate) mod core;
mod hub;
mod listener;
mod metrics;
pub(crate) mod peers;
mod session;

pub(crate) use listener::server_config as tls_server_config;
pub(crate) use metrics::Metrics;
pub(crate) use session::now_ms;

use crate::store::handle::StoreHandle;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use between_shared::protocol::{limits, DeviceId};
use hub::Hub;
use listener::{PeerAddr, RelayListener};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What each connection's WebSocket reads into at a time. tungstenite's default (128 KiB) is
/// allocated and zero-filled for every connection, idle or not, which made it most of a
/// connection's memory; a frame larger than this still arrives whole (the buffer grows to the
/// announced frame length, up to [`limits::MAX_FRAME_BYTES`]), only in more reads.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The path of the WebSocket endpoint.
pub(crate) const SYNC_PATH: &str = "/v1/sync";

/// Limits and timeouts of the relay.
#[derive(Debug, Clone)]
pub(crate) struct RelayConfig {
    /// The origin devices sign into (`ws://host:port`, or `wss://name` behind TLS).
    pub(crate) origin: String,
    /// Time allowed from connecting to signing in.
    pub(crate) handshake_timeout: Duration,
    /// A connection silent this long is closed.
    pub(crate) idle_timeout: Duration,
    /// How often the relay pings each connection.
    pub(crate) ping_interval: Duration,
    /// How far a sign-in timestamp may be from the relay's clock.
    pub(crate) max_skew: Duration,
    /// Open connections allowed from one address.
    pub(crate) connections_per_address: usize,
    /// TLS handshakes one address (an IPv6 /64) may have in flight (see `listener.rs`).
    pub(crate) handshakes_per_address: usize,
    /// Sustained requests per second allowed on one connection.
    pub(crate) messages_per_second: f64,
    /// Requests one connection may make in a burst.
    pub(crate) burst: f64,
}

impl RelayConfig {
    /// The rules of the relay core that come from this configuration.
    pub(crate) fn policy(&self) -> core::Policy {
        core::Policy {
            origin: self.origin.clone(),
            max_skew: self.max_skew,
        }
    }

    /// The protocol's suggested limits, for an origin.
    pub(crate) fn new(origin: String) -> Self {
        Self {
            origin,
            handshake_timeout: limits::HANDSHAKE_TIMEOUT,
            idle_timeout: limits::IDLE_TIMEOUT,
            ping_interval: limits::PING_INTERVAL,
            max_skew: limits::SIGN_IN_MAX_SKEW,
            connections_per_address: usize::try_from(
                crate::config::DEFAULT_CONNECTIONS_PER_ADDRESS,
            )
            .unwrap_or(usize::MAX),
            handshakes_per_address: usize::try_from(crate::config::DEFAULT_HANDSHAKES_PER_ADDRESS)
                .unwrap_or(usize::MAX),
            messages_per_second: 200.0,
            burst: 2000.0,
        }
    }
}

/// What every connection shares.
pub(crate) struct Relay {
    pub(crate) store: StoreHandle,
    hub: Hub,
    pub(crate) config: Arc<RelayConfig>,
    pub(crate) metrics: Metrics,
    shutdown: CancellationToken,
    next_connection: AtomicU64,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection slot for one address; released when dropped.
pub(crate) struct Permit {
    relay: Arc<Relay>,
    address: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self
            .relay
            .per_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

impl Relay {
    /// A relay over an opened store.
    pub(crate) fn new(
        store: StoreHandle,
        config: RelayConfig,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            hub: Hub::default(),
            config: Arc::new(config),
            metrics: Metrics::default(),
            shutdown,
            next_connection: AtomicU64::new(1),
            per_address: Mutex::new(HashMap::new()),
        })
    }

    fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Takes a connection slot for `address`, or `None` when it has too many open.
    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Permit> {
        let mut counts = self
            .per_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(address).or_insert(0);
        if *count >= self.config.connections_per_address {
            return None;
        }
        *count += 1;
        Some(Permit {
            relay: self.clone(),
            address,
        })
    }
}

/// Serves the relay on `listener` (over TLS when `tls` is given) until `relay`'s shutdown token
/// is cancelled.
pub(crate) async fn run(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    relay: Arc<Relay>,
) -> std::io::Result<()> {
    let tracker = TaskTracker::new();
    let app = Router::new()
        .route(SYNC_PATH, get(upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(AppState {
            relay: relay.clone(),
            tracker: tracker.clone(),
        });
    let shutdown = relay.shutdown.clone();
    let listener = RelayListener::start(listener, tls, relay.clone())?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<PeerAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    // Connections have been told to go; wait for their in-flight requests to finish.
    tracker.close();
    tracker.wait().await;
    relay.store.shutdown().await;
    Ok(())
}

#[derive(Clone)]
struct AppState {
    relay: Arc<Relay>,
    tracker: TaskTracker,
}

async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let relay = state.relay.clone();
    let tracker = state.tracker.clone();
    ws.max_message_size(limits::MAX_FRAME_BYTES)
        .max_frame_size(limits::MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            tracker
                .track_future(session::serve(relay, socket, peer.ip()))
                .await;
        })
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state
        .relay
        .store
        .try_call(|s| s.device(DeviceId([0; 16])))
        .await
    {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("storage unavailable: {err}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state
            .relay
            .metrics
            .render(state.relay.hub.watched_documents()),
    )
        .into_response()
}
