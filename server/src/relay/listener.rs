//! Accepting connections: TCP, then (when the relay has a certificate) the TLS handshake.
//!
//! A background task owns the TCP listener. Each TLS handshake runs in its own task with a
//! deadline, so one slow or silent peer never holds up the next connection; only finished
//! handshakes reach axum through [`RelayListener::accept`]. Without TLS the task hands TCP
//! streams over as they come.
//!
//! Handshakes in flight share [`MAX_PENDING_HANDSHAKES`] slots. So that one address cannot take
//! them all (300 silent connections from one machine used to stall every other device's sync
//! for the length of the handshake timeout), each address may have only
//! [`RelayConfig::handshakes_per_address`](crate::relay::RelayConfig::handshakes_per_address) of them pending; a connection beyond that is closed as
//! soon as it is accepted, before it waits for a shared slot. An IPv6 address counts by its /64
//! prefix, which one machine typically holds whole.

use crate::relay::Relay;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls::ServerConfig;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;

/// A connection as axum sees it: plain TCP or TLS over TCP.
pub(crate) type RelayIo = Either<TcpStream, TlsStream<TcpStream>>;

/// TLS handshakes allowed in flight at once; more wait for a slot (the kernel's backlog holds them).
const MAX_PENDING_HANDSHAKES: usize = 256;

/// Addresses whose pending handshakes are counted before the table is swept of addresses with
/// none pending (the sweep then runs again at twice the size left, so it costs O(1) a connection).
const SWEEP_AFTER_ADDRESSES: usize = 1024;

/// Why the relay's certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsSetupError {
    /// A file could not be read or holds no PEM item of the expected kind.
    #[error("could not read {what} from {path}: {detail}")]
    Pem {
        /// "the certificate chain" or "the private key".
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// rustls refused the pair (for example a key that does not match the certificate).
    #[error("the certificate and key cannot be used together: {0}")]
    Config(#[from] rustls::Error),
}

/// Builds the relay's TLS configuration from PEM files: TLS 1.3 only, no early data (0-RTT data
/// can be replayed), HTTP/1.1 for the WebSocket upgrade.
pub(crate) fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsSetupError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pem_error = |what: &'static str, path: &Path, detail: String| TlsSetupError::Pem {
        what,
        path: path.display().to_string(),
        detail,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| pem_error("the certificate chain", cert, err.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(
            "the certificate chain",
            cert,
            "it holds no CERTIFICATE block".to_owned(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| pem_error("the private key", key, err.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    config.max_early_data_size = 0;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The relay's listener (see the module docs).
pub(crate) struct RelayListener {
    local: SocketAddr,
    incoming: mpsc::Receiver<(RelayIo, SocketAddr)>,
}

impl RelayListener {
    /// Starts accepting on `tcp`, with TLS when `tls` is given, until the relay shuts down.
    pub(crate) fn start(
        tcp: TcpListener,
        tls: Option<Arc<ServerConfig>>,
        relay: Arc<Relay>,
    ) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (sender, incoming) = mpsc::channel(64);
        let acceptor = tls.map(TlsAcceptor::from);
        tokio::spawn(accept_loop(tcp, acceptor, relay, sender));
        Ok(Self { local, incoming })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: Option<TlsAcceptor>,
    relay: Arc<Relay>,
    sender: mpsc::Sender<(RelayIo, SocketAddr)>,
) {
    let shutdown = relay.shutdown.clone();
    let handshakes = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    let mut per_address = PendingByAddress::new(relay.config.handshakes_per_address);
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            () = shutdown.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(error = %err, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Small frames must not wait for delayed acknowledgements (Nagle's algorithm).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        let Some(acceptor) = acceptor.clone() else {
            if sender.send((Either::Left(stream), peer)).await.is_err() {
                return;
            }
            continue;
        };
        let Some(own_slot) = per_address.take(peer.ip()) else {
            // Dropping the stream closes it: nothing of the relay's is spent on it.
            relay.metrics.tls_handshake_refused();
            tracing::debug!(peer = %peer.ip(), "too many pending TLS handshakes from one address");
            continue;
        };
        let Ok(shared_slot) = handshakes.clone().acquire_owned().await else {
            return;
        };
        tokio::spawn(handshake(
            acceptor,
            stream,
            peer,
            [own_slot, shared_slot],
            relay.clone(),
            sender.clone(),
        ));
    }
}

/// Runs one TLS handshake within the relay's handshake timeout (part of the time a new
/// connection has to sign in), holding `slots` until it ends, and hands the connection to axum.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    slots: [OwnedSemaphorePermit; 2],
    relay: Arc<Relay>,
    sender: mpsc::Sender<(RelayIo, SocketAddr)>,
) {
    let outcome =
        tokio::time::timeout(relay.config.handshake_timeout, acceptor.accept(stream)).await;
    drop(slots);
    match outcome {
        Ok(Ok(tls)) => {
            let _ = sender.send((Either::Right(tls), peer)).await;
        }
        Ok(Err(err)) => {
            relay.metrics.tls_handshake_failed();
            // A plain ws:// client, a scanner or a client that distrusts our
            // certificate: nothing the operator must act on, so not a warning.
            tracing::info!(error = %err, "TLS handshake failed");
        }
        Err(_) => {
            relay.metrics.tls_handshake_failed();
            tracing::info!("TLS handshake timed out");
        }
    }
}

/// The pending handshakes of each address: a semaphore of
/// [`RelayConfig::handshakes_per_address`](crate::relay::RelayConfig::handshakes_per_address) permits per address, owned by the accept loop; each
/// handshake's task holds one permit until it ends.
struct PendingByAddress {
    limit: usize,
    addresses: HashMap<IpAddr, Arc<Semaphore>>,
    sweep_at: usize,
}

impl PendingByAddress {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            addresses: HashMap::new(),
            sweep_at: SWEEP_AFTER_ADDRESSES,
        }
    }

    /// A pending-handshake slot for `address`, or `None` when it has all of its own in use.
    fn take(&mut self, address: IpAddr) -> Option<OwnedSemaphorePermit> {
        if self.addresses.len() >= self.sweep_at {
            let limit = self.limit;
            self.addresses
                .retain(|_, pending| pending.available_permits() < limit);
            self.sweep_at = (2 * self.addresses.len()).max(SWEEP_AFTER_ADDRESSES);
        }
        let limit = self.limit;
        self.addresses
            .entry(counted_as(address))
            .or_insert_with(|| Arc::new(Semaphore::new(limit)))
            .clone()
            .try_acquire_owned()
            .ok()
    }
}

/// The address `address` counts as: itself for IPv4 (also when mapped into IPv6), its /64
/// prefix for IPv6.
fn counted_as(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

impl Listener for RelayListener {
    type Io = RelayIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept loop has stopped (shutdown): axum stops asking on its own.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The peer's address, for axum's `ConnectInfo`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

impl Connected<IncomingStream<'_, RelayListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, RelayListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_address_has_only_its_own_pending_handshakes() {
        let mut pending = PendingByAddress::new(2);
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let first = pending.take(one).unwrap();
        let _second = pending.take(one).unwrap();
        assert!(pending.take(one).is_none(), "a third pending handshake");
        // Another address is not affected.
        assert!(pending.take(other).is_some());
        // A handshake that ends gives its address's slot back.
        drop(first);
        assert!(pending.take(one).is_some());
    }

    #[test]
    fn an_ipv6_address_counts_by_its_prefix_and_a_mapped_ipv4_as_itself() {
        let mut pending = PendingByAddress::new(1);
        let _held = pending.take("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(pending
            .take("2001:db8:1:2:ffff::9".parse().unwrap())
            .is_none());
        assert!(pending.take("2001:db8:1:3::1".parse().unwrap()).is_some());
        let _v4 = pending.take("192.0.2.7".parse().unwrap()).unwrap();
        assert!(pending.take("::ffff:192.0.2.7".parse().unwrap()).is_none());
    }

    #[test]
    fn addresses_with_nothing_pending_are_forgotten() {
        let mut pending = PendingByAddress::new(1);
        let held = pending.take("10.0.0.1".parse().unwrap()).unwrap();
        for i in 0..=SWEEP_AFTER_ADDRESSES * 3 {
            let address = IpAddr::V6(Ipv6Addr::from_bits(u128::try_from(i).unwrap() << 64));
            drop(pending.take(address));
        }
        assert!(pending.addresses.len() <= SWEEP_AFTER_ADDRESSES);
        // The address still pending kept its count through every sweep.
        assert!(pending.take("10.0.0.1".parse().unwrap()).is_none());
        drop(held);
        assert!(pending.take("10.0.0.1".parse().unwrap()).is_some());
    }
}
