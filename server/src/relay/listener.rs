//! Accepting connections: TCP, then (when the relay has a certificate) the TLS handshake.
//!
//! A background task owns the TCP listener. Each TLS handshake runs in its own task with a
//! deadline, so one slow or silent peer never holds up the next connection; only finished
//! handshakes reach axum through [`RelayListener::accept`]. Without TLS the task hands TCP
//! streams over as they come.

use crate::relay::Relay;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;

/// A connection as axum sees it: plain TCP or TLS over TCP.
pub(crate) type RelayIo = Either<TcpStream, TlsStream<TcpStream>>;

/// TLS handshakes allowed in flight at once; more wait for a slot (the kernel's backlog holds them).
const MAX_PENDING_HANDSHAKES: usize = 256;

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
    // A TLS handshake is part of the time a new connection has to sign in.
    let handshake_timeout = relay.config.handshake_timeout;
    let handshakes = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
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
        let Ok(slot) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let sender = sender.clone();
        let relay = relay.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
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
        });
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
