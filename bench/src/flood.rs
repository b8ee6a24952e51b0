//! Handshake flood (issue 10, defect 6): one address holds many slow TLS handshakes — TCP
//! connections from 127.0.0.2 that never send a ClientHello — while a client's laptop on
//! 127.0.0.1 runs `between sync` (process start, TCP, TLS, sign-in, sync). Its sync time is
//! measured without the flood, then with a fresh flood held open around each sync, and reported
//! as a ratio. The relay runs with its default limits, so what the flood's connections do is
//! what the relay's per-address limit on pending handshakes makes of them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use between_e2e::flood::{closed_by_relay, open_silent};

use crate::scene::{self, Practice};

/// Where the flood comes from (all of 127.0.0.0/8 is loopback on Linux); the laptop connects
/// from 127.0.0.1.
const FLOODER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// One run: the laptop's sync times without and with the flood, and what became of the
/// flood's connections.
pub(crate) struct FloodRun {
    /// `between sync` wall times with no flood.
    pub(crate) before: Vec<Duration>,
    /// `between sync` wall times, each while a fresh flood was held.
    pub(crate) during: Vec<Duration>,
    /// Flood connections the relay had closed by the end of each sync (the median over syncs).
    pub(crate) closed: usize,
    /// Flood connections it still held, waiting for a ClientHello.
    pub(crate) held: usize,
}

/// Runs the workload once: `syncs` syncs before and `syncs` during floods of `flood`
/// connections.
pub(crate) async fn run(flood: usize, syncs: usize) -> Result<FloodRun> {
    let practice = Practice::start(&[])?;
    let (_dr, invite) = practice.therapist("dr-office", "Dr Ada Park")?;
    let laptop = practice.client("sam-laptop", "Sam", &invite)?;
    scene::new_journal(&laptop, "Before the flood")?;
    scene::sync(&laptop)?;
    let relay = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), practice.relay.port());

    let mut before = Vec::with_capacity(syncs);
    for _ in 0..syncs {
        let started = Instant::now();
        scene::sync(&laptop)?;
        before.push(started.elapsed());
    }
    let mut during = Vec::with_capacity(syncs);
    let mut closed = Vec::with_capacity(syncs);
    for _ in 0..syncs {
        // A fresh flood for every sync, so none of its handshakes has timed out yet; the
        // previous one closes as it is dropped.
        let mut connections = open_silent(FLOODER, relay, flood)
            .await
            .context("opening the flood's connections from 127.0.0.2")?;
        let started = Instant::now();
        scene::sync(&laptop)?;
        during.push(started.elapsed());
        closed.push(closed_by_relay(&mut connections).context("looking at the flood")?);
    }
    practice.relay.assert_no_panic();
    closed.sort_unstable();
    let Some(&closed) = closed.get(closed.len() / 2) else {
        bail!("no sync was measured");
    };
    Ok(FloodRun {
        before,
        during,
        closed,
        held: flood - closed,
    })
}
