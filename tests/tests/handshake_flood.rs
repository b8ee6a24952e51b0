//! A flood of slow TLS handshakes from one address (defect 6 of issue 10): 300 TCP connections
//! from 127.0.0.2 that never send a ClientHello, held open against the real `between-relay`
//! serving TLS. Devices connecting from 127.0.0.1 meanwhile complete their TLS handshakes and
//! sync, and the relay closed at once every flood connection beyond the per-address limit of
//! pending handshakes (so they never took one of the relay's shared handshake slots).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use between_e2e::flood::{closed_by_relay, open_silent};
use between_e2e::practice::{
    client_with_invite, practice_certificate, sync_clean, therapist_with_invite,
};
use between_e2e::relay::RelayProcess;
use between_e2e::{assert_mentions, Device};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Silent connections in the flood: more than the relay's 256 shared handshake slots.
const FLOOD: usize = 300;
/// Pending TLS handshakes one address may hold by default (docs/self-hosting.md).
const HANDSHAKES_PER_ADDRESS: usize = 16;
/// Where the flood comes from; the devices connect from 127.0.0.1.
const FLOODER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handshakes_from_one_address_leave_other_addresses_syncing() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, files) = practice_certificate(dir.path());
    // The flood's held connections must not time out while the test looks at them.
    let relay = RelayProcess::start_tls(dir.path(), &files, &ca, &["--handshake-timeout", "300"]);
    let ca_file = ca.write(dir.path(), "practice-ca.pem");
    let ca_file = ca_file.to_string_lossy();
    let (dr, invite) = therapist_with_invite(&relay, dir.path(), &ca_file, "office");
    let laptop: Device = client_with_invite(dir.path(), "sam-laptop", &invite, &ca_file);

    let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), relay.port());
    let mut flood = open_silent(FLOODER, address, FLOOD).await.unwrap();

    // While the flood is held, both devices connect, complete TLS, sign in and sync.
    laptop
        .run(&[
            "entry",
            "new",
            "-t",
            "journal",
            "--set",
            "text=Wrote during the flood",
        ])
        .out();
    sync_clean(&laptop);
    sync_clean(&dr);
    assert_mentions(
        &dr.run(&["--client", "Sam", "entry", "list"]).out(),
        &["journal"],
    );

    // Every flood connection was queued before the devices' connections, so the relay has
    // dealt with each by now: all but the per-address allowance were closed at once, and the
    // allowance is still held (waiting for a ClientHello).
    let closed = closed_by_relay(&mut flood).unwrap();
    assert_eq!(
        (closed, FLOOD - closed),
        (FLOOD - HANDSHAKES_PER_ADDRESS, HANDSHAKES_PER_ADDRESS),
        "(closed, still pending) flood connections"
    );
    relay.assert_no_panic();
}
