//! One WebSocket connection to the relay: dialing, the challenge handshake, and frames.
//!
//! The relay speaks first (`Challenge`). The device answers with `SignIn`, `Register` or
//! `RegisterDevice`, signing `crypto::sign_in_message(challenge, origin, timestamp)` where the
//! origin is the `scheme://host:port` of the URL *this device dialed* — never a value taken
//! from the relay, so a signature made for one relay is useless at another. Before signing in,
//! only `TakePairing` may be sent (pairing a new device).
//!
//! Every frame is one binary WebSocket message holding one protocol message, encoded and
//! decoded with `between_shared::protocol`. A frame that does not decode ends the connection
//! (the caller reconnects with back-off). Every wait has a timeout, so a relay that stops
//! answering cannot hang a command.

use std::time::Duration;

use between_shared::crypto::{
    sign_in_message, DeviceCertificate, DeviceKeypair, IdentityPublic, InviteSecret,
};
use between_shared::protocol::{
    decode_server, encode_client, limits, AccountId, ClientMessage, ErrorCode, ServerMessage,
    PROTOCOL_VERSION,
};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::tls;
use crate::clock::real_unix_ms;

/// How long dialing (TCP and the WebSocket upgrade) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `between init` keeps dialing a relay that refuses the connection. Nothing
/// listening yet is what a relay that is starting looks like (`between-relay serve &`, then at
/// once `between init`), and setting up is the one moment someone waits for the relay on
/// purpose; any other failure is reported at once.
pub(crate) const RELAY_STARTING_PATIENCE: Duration = Duration::from_secs(5);

/// The first pause between two dials of a relay that is starting; it doubles each time.
const FIRST_REDIAL_PAUSE: Duration = Duration::from_millis(25);

/// The WebSocket path of the sync endpoint, under the relay's URL.
const SYNC_PATH: &str = "/v1/sync";

/// A relay address as the person typed it, what follows from it, and whom to trust for its
/// TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelayUrl {
    /// What the person typed, normalised (no trailing slash): stored and shown.
    pub(crate) display: String,
    /// `scheme://host:port`: the origin signed at sign-in.
    pub(crate) origin: String,
    /// The WebSocket URL of the sync endpoint.
    pub(crate) endpoint: String,
    /// The host name, for messages about its certificate.
    host: String,
    /// `wss://`: the connection is TLS.
    tls: bool,
    /// The practice's CA (PEM) to check the certificate against instead of the system's roots.
    practice_ca: Option<String>,
}

impl RelayUrl {
    /// Reads a relay URL such as `wss://relay.example.org` or, for a relay on this machine,
    /// `ws://127.0.0.1:40123` (a trailing `/v1/sync` is accepted).
    pub(crate) fn parse(text: &str) -> Result<Self, RelayError> {
        let bad = |why: &str| RelayError::BadUrl {
            url: text.to_owned(),
            why: why.to_owned(),
        };
        let trimmed = text.trim();
        let uri: Uri = trimmed
            .parse()
            .map_err(|_| bad("it is not a URL such as wss://relay.example.org"))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| bad("it has no scheme; start it with wss://"))?
            .to_ascii_lowercase();
        let (tls, default_port) = match scheme.as_str() {
            "wss" => (true, 443),
            "ws" => (false, 80),
            _ => {
                return Err(bad(
                    "the scheme must be wss:// (or ws:// for a relay on this computer)",
                ))
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("it names no host"))?
            .to_ascii_lowercase();
        if !tls && !is_loopback(&host) {
            return Err(bad(
                "ws:// (without TLS) is only for a relay on this computer; use the relay's wss:// address",
            ));
        }
        if uri.query().is_some() {
            return Err(bad("it must not have a query (?…)"));
        }
        let path = uri.path().trim_end_matches('/');
        let base_path = path.strip_suffix(SYNC_PATH).unwrap_or(path);
        let port = uri.port_u16().unwrap_or(default_port);
        let origin = format!("{scheme}://{host}:{port}");
        let display = format!("{origin}{base_path}");
        let endpoint = format!("{display}{SYNC_PATH}");
        Ok(Self {
            display,
            origin,
            endpoint,
            host,
            tls,
            practice_ca: None,
        })
    }

    /// Checks the relay's certificate against the practice's CA (PEM) instead of the system's
    /// roots.
    pub(crate) fn with_practice_ca(mut self, practice_ca: Option<String>) -> Self {
        self.practice_ca = practice_ca;
        self
    }

    /// The practice CA this address trusts, if any.
    pub(crate) fn practice_ca(&self) -> Option<&str> {
        self.practice_ca.as_deref()
    }
}

impl RelayUrl {
    /// What to tell the person when dialing failed.
    fn dial_error(&self, err: &tokio_tungstenite::tungstenite::Error) -> RelayError {
        use tokio_tungstenite::tungstenite::Error as WsError;
        if let Some(detail) = tls::explain(err, &self.host) {
            return RelayError::Untrusted {
                url: self.display.clone(),
                detail,
            };
        }
        let refused = matches!(err, WsError::Io(io) if matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::TimedOut
        ));
        let detail = if !self.tls && !refused {
            // A TLS relay answers a plain HTTP upgrade with a TLS alert or by hanging up.
            format!("{err}; if the relay uses TLS, its address starts with wss://")
        } else {
            err.to_string()
        };
        RelayError::Unreachable {
            url: self.display.clone(),
            detail,
        }
    }
}

/// Whether `host` is this computer, where plain `ws://` is acceptable.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why dialing failed.
enum Dial {
    /// The connection was refused: nothing listens on the relay's port (yet).
    Refused(RelayError),
    /// Anything else.
    Failed(RelayError),
}

/// What went wrong talking to the relay.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    /// The relay URL cannot be used.
    #[error("'{url}' is not a usable relay address: {why}")]
    BadUrl {
        /// What was given.
        url: String,
        /// Why not.
        why: String,
    },
    /// Dialing failed: nothing was exchanged with the relay.
    #[error("could not reach the relay at {url}: {detail}")]
    Unreachable {
        /// The relay.
        url: String,
        /// The network's reason.
        detail: String,
    },
    /// The relay's TLS certificate is not trusted (or TLS could not be set up).
    #[error("could not connect securely to the relay at {url}: {detail}")]
    Untrusted {
        /// The relay.
        url: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// The relay did not answer in time.
    #[error("the relay at {url} did not answer within {} seconds ({waiting_for})", .after.as_secs())]
    Timeout {
        /// The relay.
        url: String,
        /// What was awaited.
        waiting_for: &'static str,
        /// How long.
        after: Duration,
    },
    /// The relay refused something and said why.
    #[error("the relay refused: {message} ({code})")]
    Refused {
        /// The protocol error code.
        code: ErrorCode,
        /// The relay's explanation.
        message: String,
    },
    /// The relay sent something that does not fit the protocol.
    #[error("the relay broke the protocol: {0}")]
    Protocol(String),
    /// The connection closed.
    #[error("the connection to the relay closed{}", .0.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Closed(Option<String>),
    /// The WebSocket failed after it was up.
    #[error("the connection to the relay failed: {0}")]
    Transport(String),
}

impl RelayError {
    /// Whether the relay refused this device for good (retrying the same way cannot help).
    pub(crate) fn is_permanent(&self) -> bool {
        match self {
            RelayError::BadUrl { .. } | RelayError::Untrusted { .. } => true,
            RelayError::Refused { code, .. } => matches!(
                code,
                ErrorCode::UnknownDevice
                    | ErrorCode::DeviceRevoked
                    | ErrorCode::BadCertificate
                    | ErrorCode::InviteInvalid
                    | ErrorCode::UnsupportedVersion
                    | ErrorCode::BadSignature
            ),
            _ => false,
        }
    }
}

/// How this device proves who it is after the challenge.
pub(crate) enum Auth<'a> {
    /// An already registered device.
    SignIn {
        /// This device's keys.
        device: &'a DeviceKeypair,
    },
    /// The first device of a new account, with a one-time invite.
    Register {
        /// The invite.
        invite: &'a InviteSecret,
        /// The new account's identity.
        identity: IdentityPublic,
        /// This device's certificate, signed by `identity`.
        certificate: &'a DeviceCertificate,
        /// This device's keys.
        device: &'a DeviceKeypair,
    },
    /// A further device of an existing account (after pairing).
    RegisterDevice {
        /// This device's certificate, signed by the account's identity.
        certificate: &'a DeviceCertificate,
        /// This device's keys.
        device: &'a DeviceKeypair,
    },
}

/// The relay's welcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Welcome {
    /// The account the device belongs to.
    pub(crate) account: AccountId,
}

/// An open connection to the relay (see the module docs).
pub(crate) struct Connection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    url: RelayUrl,
    challenge: [u8; 32],
    relay_origin: String,
}

impl Connection {
    /// Dials the relay and signs in as a registered device.
    pub(crate) async fn signed_in(
        url: &RelayUrl,
        device: &DeviceKeypair,
    ) -> Result<Self, RelayError> {
        let mut conn = Self::open(url).await?;
        conn.authenticate(Auth::SignIn { device }).await?;
        Ok(conn)
    }

    /// Dials the relay and waits for its challenge.
    pub(crate) async fn open(url: &RelayUrl) -> Result<Self, RelayError> {
        Self::open_patiently(url, Duration::ZERO).await
    }

    /// Like [`Connection::open`], but while the relay refuses the connection (nothing listens
    /// on its port yet: it is starting), dials again with growing pauses until `patience` has
    /// passed; then reports the refusal as [`Connection::open`] would.
    pub(crate) async fn open_patiently(
        url: &RelayUrl,
        patience: Duration,
    ) -> Result<Self, RelayError> {
        let give_up = tokio::time::Instant::now() + patience;
        let mut pause = FIRST_REDIAL_PAUSE;
        loop {
            match Self::dial(url).await {
                Err(Dial::Refused(_)) if tokio::time::Instant::now() + pause < give_up => {
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2);
                }
                Err(Dial::Refused(err) | Dial::Failed(err)) => return Err(err),
                Ok(conn) => return conn.challenged().await,
            }
        }
    }

    /// Dials the relay: TCP (and TLS) and the WebSocket upgrade, nothing more.
    async fn dial(url: &RelayUrl) -> Result<Self, Dial> {
        let config = WebSocketConfig::default()
            .max_message_size(Some(limits::MAX_FRAME_BYTES))
            .max_frame_size(Some(limits::MAX_FRAME_BYTES));
        let connector = if url.tls {
            let tls = tls::client_config(url.practice_ca()).map_err(|err| {
                Dial::Failed(RelayError::Untrusted {
                    url: url.display.clone(),
                    detail: err.to_string(),
                })
            })?;
            Connector::Rustls(tls)
        } else {
            Connector::Plain
        };
        let dial = tokio_tungstenite::connect_async_tls_with_config(
            &url.endpoint,
            Some(config),
            true,
            Some(connector),
        );
        let (ws, _response) = tokio::time::timeout(CONNECT_TIMEOUT, dial)
            .await
            .map_err(|_| {
                Dial::Failed(RelayError::Unreachable {
                    url: url.display.clone(),
                    detail: format!("no answer within {} seconds", CONNECT_TIMEOUT.as_secs()),
                })
            })?
            .map_err(|err| {
                let refused = matches!(&err, tokio_tungstenite::tungstenite::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::ConnectionRefused);
                let err = url.dial_error(&err);
                if refused {
                    Dial::Refused(err)
                } else {
                    Dial::Failed(err)
                }
            })?;
        Ok(Self {
            ws,
            url: url.clone(),
            challenge: [0; 32],
            relay_origin: String::new(),
        })
    }

    /// Waits for the relay's challenge on a connection just dialed.
    async fn challenged(self) -> Result<Self, RelayError> {
        let mut conn = self;
        let first = conn
            .recv_within(limits::HANDSHAKE_TIMEOUT, "its challenge")
            .await?;
        match first {
            ServerMessage::Challenge {
                challenge,
                relay_origin,
                min_version,
                max_version,
                ..
            } => {
                if !(min_version..=max_version).contains(&PROTOCOL_VERSION) {
                    return Err(RelayError::Protocol(format!(
                        "the relay speaks protocol versions {min_version} to {max_version}, this Between speaks {PROTOCOL_VERSION}; upgrade whichever is older"
                    )));
                }
                conn.challenge = challenge.0;
                conn.relay_origin = relay_origin;
                Ok(conn)
            }
            ServerMessage::Error { code, message, .. } => {
                Err(RelayError::Refused { code, message })
            }
            other => Err(RelayError::Protocol(format!(
                "expected a challenge first, got {}",
                other.name()
            ))),
        }
    }

    /// The relay this connection goes to.
    pub(crate) fn url(&self) -> &RelayUrl {
        &self.url
    }

    /// Proves who this device is and waits for the relay's welcome.
    pub(crate) async fn authenticate(&mut self, auth: Auth<'_>) -> Result<Welcome, RelayError> {
        let timestamp_ms = real_unix_ms();
        let message = sign_in_message(&self.challenge, &self.url.origin, timestamp_ms);
        let (msg, expected) = match auth {
            Auth::SignIn { device } => (
                ClientMessage::SignIn {
                    device: device.device_id(),
                    timestamp_ms,
                    signature: device.sign(&message),
                },
                device.device_id(),
            ),
            Auth::Register {
                invite,
                identity,
                certificate,
                device,
            } => (
                ClientMessage::Register {
                    invite: invite.as_bytes().to_vec(),
                    identity: identity.0,
                    certificate: certificate.to_bytes().to_vec(),
                    timestamp_ms,
                    signature: device.sign(&message),
                },
                device.device_id(),
            ),
            Auth::RegisterDevice {
                certificate,
                device,
            } => (
                ClientMessage::RegisterDevice {
                    certificate: certificate.to_bytes().to_vec(),
                    timestamp_ms,
                    signature: device.sign(&message),
                },
                device.device_id(),
            ),
        };
        self.send(&msg).await?;
        match self
            .recv_within(limits::HANDSHAKE_TIMEOUT, "its welcome")
            .await
        {
            Ok(ServerMessage::Welcome { account, device }) => {
                if device != expected {
                    return Err(RelayError::Protocol(format!(
                        "it welcomed device {device}, but this is device {expected}"
                    )));
                }
                Ok(Welcome { account })
            }
            Ok(ServerMessage::Error { code, message, .. }) => {
                Err(self.explain_refusal(code, message))
            }
            Ok(other) => Err(RelayError::Protocol(format!(
                "expected a welcome, got {}",
                other.name()
            ))),
            Err(err) => Err(err),
        }
    }

    /// A refusal at sign-in, with what this device can tell about it.
    fn explain_refusal(&self, code: ErrorCode, message: String) -> RelayError {
        let message = match code {
            ErrorCode::BadSignature if self.relay_origin != self.url.origin => format!(
                "{message} — this device signed for {}, but the relay calls itself {}; use the address the relay was set up with",
                self.url.origin, self.relay_origin
            ),
            ErrorCode::StaleSignIn => {
                format!("{message} — check that this device's clock is right")
            }
            _ => message,
        };
        RelayError::Refused { code, message }
    }

    /// Sends a request and waits for the reply carrying its request id (before the sync
    /// loop runs: other frames are not expected and are refused).
    pub(crate) async fn request(
        &mut self,
        msg: &ClientMessage,
        waiting_for: &'static str,
    ) -> Result<ServerMessage, RelayError> {
        let Some(request) = msg.request() else {
            return Err(RelayError::Protocol(format!(
                "{} carries no request id",
                msg.name()
            )));
        };
        self.send(msg).await?;
        loop {
            let reply = self.recv_within(limits::IDLE_TIMEOUT, waiting_for).await?;
            match reply {
                ServerMessage::Pong { .. } => continue,
                ServerMessage::Error {
                    request: None,
                    code,
                    message,
                } => return Err(RelayError::Refused { code, message }),
                reply if reply.request() == Some(request) => return Ok(reply),
                other => {
                    return Err(RelayError::Protocol(format!(
                        "expected the answer to {}, got {}",
                        msg.name(),
                        other.name()
                    )))
                }
            }
        }
    }

    /// Sends one message as one binary frame.
    pub(crate) async fn send(&mut self, msg: &ClientMessage) -> Result<(), RelayError> {
        let bytes = encode_client(msg).map_err(|err| {
            RelayError::Protocol(format!("could not encode {}: {err}", msg.name()))
        })?;
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(|err| RelayError::Transport(err.to_string()))
    }

    /// The next message from the relay (WebSocket pings are answered by the library).
    /// Cancel-safe: nothing is lost if the future is dropped.
    pub(crate) async fn recv(&mut self) -> Result<ServerMessage, RelayError> {
        loop {
            let frame = self.ws.next().await;
            if let Some(msg) = Self::decode_frame(frame)? {
                return Ok(msg);
            }
        }
    }

    /// A message that has already arrived, without waiting (to handle bursts in batches).
    pub(crate) fn recv_ready(&mut self) -> Option<Result<ServerMessage, RelayError>> {
        loop {
            let frame = self.ws.next().now_or_never()?;
            match Self::decode_frame(frame) {
                Ok(Some(msg)) => return Some(Ok(msg)),
                Ok(None) => continue,
                Err(err) => return Some(Err(err)),
            }
        }
    }

    /// Like [`Connection::recv`], giving up after `after`.
    pub(crate) async fn recv_within(
        &mut self,
        after: Duration,
        waiting_for: &'static str,
    ) -> Result<ServerMessage, RelayError> {
        tokio::time::timeout(after, self.recv())
            .await
            .map_err(|_| RelayError::Timeout {
                url: self.url.display.clone(),
                waiting_for,
                after,
            })?
    }

    /// Decodes one WebSocket frame: `Ok(None)` for control frames.
    fn decode_frame(
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<Option<ServerMessage>, RelayError> {
        match frame {
            None => Err(RelayError::Closed(None)),
            Some(Err(err)) => Err(RelayError::Transport(err.to_string())),
            Some(Ok(Message::Binary(bytes))) => decode_server(&bytes)
                .map(Some)
                .map_err(|err| RelayError::Protocol(format!("a frame did not decode: {err}"))),
            Some(Ok(Message::Text(_))) => Err(RelayError::Protocol(
                "the relay sent a text frame; only binary frames are allowed".to_owned(),
            )),
            Some(Ok(Message::Close(reason))) => Err(RelayError::Closed(
                reason
                    .map(|r| r.reason.to_string())
                    .filter(|r| !r.is_empty()),
            )),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(None),
        }
    }

    /// Closes the connection politely (best effort).
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls_are_normalised() {
        let url = RelayUrl::parse("ws://127.0.0.1:40123").unwrap();
        assert_eq!(url.origin, "ws://127.0.0.1:40123");
        assert_eq!(url.endpoint, "ws://127.0.0.1:40123/v1/sync");
        assert_eq!(url.display, "ws://127.0.0.1:40123");
        for same in [
            "ws://127.0.0.1:40123/",
            " WS://127.0.0.1:40123/v1/sync ",
            "ws://127.0.0.1:40123/v1/sync/",
        ] {
            assert_eq!(RelayUrl::parse(same).unwrap(), url, "{same}");
        }
        let url = RelayUrl::parse("wss://Relay.Example/between").unwrap();
        assert_eq!(url.origin, "wss://relay.example:443");
        assert_eq!(url.endpoint, "wss://relay.example:443/between/v1/sync");
        assert!(url.tls);
        let url = RelayUrl::parse("ws://localhost:7070").unwrap();
        assert_eq!(url.origin, "ws://localhost:7070");
        assert!(!url.tls);
        assert!(RelayUrl::parse("ws://[::1]:7070").is_ok());
    }

    #[test]
    fn unusable_relay_urls_say_why() {
        for (bad, why) in [
            ("relay.example", "scheme"),
            ("http://relay.example", "wss://"),
            ("ws://relay.example", "only for a relay on this computer"),
            ("ws://10.0.0.5:7070", "only for a relay on this computer"),
            ("wss://relay.example/?x=1", "query"),
            ("not a url", "not a URL"),
        ] {
            let err = RelayUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
