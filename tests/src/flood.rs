//! Silent connections, as a flood of slow TLS handshakes makes them: TCP connections that never
//! send a ClientHello, opened from a chosen loopback address (all of `127.0.0.0/8` is loopback
//! on Linux), so that a test or the benchmark can hold them while a device from another address
//! syncs, and then see which of them the relay closed.

use std::io::{ErrorKind, Read};
use std::net::{IpAddr, SocketAddr};

/// A connection that connected and then said nothing.
pub struct SilentConnection {
    stream: std::net::TcpStream,
}

impl SilentConnection {
    /// Connects to `relay` from `from` (any free port) and sends nothing.
    pub async fn open(from: IpAddr, relay: SocketAddr) -> std::io::Result<Self> {
        let socket = match from {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(from, 0))?;
        let stream = socket.connect(relay).await?.into_std()?;
        // Looking at it later must never wait.
        stream.set_nonblocking(true)?;
        Ok(Self { stream })
    }

    /// Whether the relay has closed this connection (end of stream or reset), without waiting:
    /// a connection the relay still holds has nothing to read yet.
    pub fn closed_by_relay(&mut self) -> std::io::Result<bool> {
        let mut byte = [0_u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => Ok(true),
            Ok(_) => Ok(false),
            Err(err) if err.kind() == ErrorKind::WouldBlock => Ok(false),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => Ok(true),
            Err(err) => Err(err),
        }
    }
}

/// Opens `count` silent connections to `relay` from `from`, one after another (each has
/// connected, so the relay's kernel queues them in this order ahead of any later connection).
pub async fn open_silent(
    from: IpAddr,
    relay: SocketAddr,
    count: usize,
) -> std::io::Result<Vec<SilentConnection>> {
    let mut flood = Vec::with_capacity(count);
    for _ in 0..count {
        flood.push(SilentConnection::open(from, relay).await?);
    }
    Ok(flood)
}

/// How many of `flood` the relay has closed so far.
pub fn closed_by_relay(flood: &mut [SilentConnection]) -> std::io::Result<usize> {
    let mut closed = 0;
    for connection in flood {
        if connection.closed_by_relay()? {
            closed += 1;
        }
    }
    Ok(closed)
}
