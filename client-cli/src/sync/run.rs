//! The connection loop of `between sync` and `between sync --watch`.
//!
//! It dials the relay, signs in (or finishes a registration that was interrupted), and then
//! shuttles messages between the socket and the [`Driver`](super::driver::Driver) on its
//! thread. `sync` stops once every document is caught up and every push is acknowledged.
//! `--watch` stays connected: every [`POLL_INTERVAL`] it asks the driver whether another
//! `between` command changed the store (SQLite's `PRAGMA data_version`) so local edits leave
//! within a second, and it applies incoming bundles as they arrive. A dropped connection is
//! dialed again after an exponential back-off with jitter, capped at [`MAX_BACKOFF`].

use crate::live::NoticeKind;
use std::time::Duration;

use between_shared::crypto::InviteSecret;
use between_shared::protocol::{limits, ClientMessage, ErrorCode, ServerMessage};
use rand::RngExt;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::account::AccountKeys;
use super::connection::{Auth, Connection, RelayError, Welcome};
use super::driver::{warn, DriverError, Mode, Summary};
use super::worker::Core;
use crate::store::Registration;

/// How often `--watch` checks the store for other commands' changes.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(300);
/// The first reconnection delay.
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// The longest reconnection delay.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How many times `between sync` reconnects after a connection that worked drops.
const ONCE_RETRIES: u32 = 3;
/// Most messages handed to the driver at once (one store transaction per document).
const MAX_BATCH: usize = 256;

/// Why a sync run ended without finishing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncFailure {
    /// The relay could not be reached or the connection failed.
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// The local side failed.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// Sharing (membership lists, keys for other members) failed.
    #[error(transparent)]
    Sharing(#[from] super::sharing::SharingError),
}

/// The delay before reconnection attempt `attempt` (0-based): exponential, capped, with "equal
/// jitter" (half fixed, half random) so many devices do not reconnect in step.
pub(crate) fn backoff(attempt: u32, rng: &mut impl rand::Rng) -> Duration {
    let base = MIN_BACKOFF
        .saturating_mul(2_u32.saturating_pow(attempt.min(16)))
        .min(MAX_BACKOFF);
    let half = base / 2;
    half + half.mul_f64(rng.random::<f64>())
}

/// How a connection ended.
enum End {
    /// Everything is synced (`Mode::Once`).
    Done,
    /// The engine asked to read the relay's log again.
    Reconnect,
    /// Ctrl-C while watching.
    Interrupted,
}

/// Signs in on a fresh connection, finishing an interrupted registration on the way.
pub(crate) async fn connect(
    core: &Core,
    keys: &AccountKeys,
    registration: &mut Registration,
) -> Result<Connection, SyncFailure> {
    // At most two rounds: a registration the relay already completed is followed by a sign-in.
    for _ in 0..2 {
        let mut conn = Connection::open(&keys.relay).await?;
        let result = authenticate(&mut conn, keys, registration).await;
        match result {
            Ok(welcome) => return welcomed(core, conn, welcome, registration).await,
            Err(RelayError::Refused {
                code: ErrorCode::AlreadyRegistered,
                ..
            }) if *registration != Registration::Done => {
                // The relay registered this device before the welcome got lost: sign in.
                core.call(|d| d.welcomed(None)).await??;
                *registration = Registration::Done;
            }
            Err(RelayError::Refused {
                code: ErrorCode::InviteInvalid,
                message,
            }) if matches!(registration, Registration::Invite(_)) => {
                // The invite may be spent because it registered this very device (and the
                // welcome was lost): a sign-in tells.
                let mut conn = Connection::open(&keys.relay).await?;
                let signed_in = conn
                    .authenticate(Auth::SignIn {
                        device: &keys.device,
                    })
                    .await;
                return match signed_in {
                    Ok(welcome) => welcomed(core, conn, welcome, registration).await,
                    Err(_) => Err(RelayError::Refused {
                        code: ErrorCode::InviteInvalid,
                        message,
                    }
                    .into()),
                };
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(
        RelayError::Protocol("the relay neither registered nor signed in this device".to_owned())
            .into(),
    )
}

/// Signs in, or registers this device the way its profile says it still has to.
async fn authenticate(
    conn: &mut Connection,
    keys: &AccountKeys,
    registration: &Registration,
) -> Result<Welcome, RelayError> {
    match registration {
        Registration::Done => {
            conn.authenticate(Auth::SignIn {
                device: &keys.device,
            })
            .await
        }
        Registration::Invite(bytes) => {
            let invite = <[u8; 32]>::try_from(bytes.as_slice())
                .map(InviteSecret::from_bytes)
                .map_err(|_| RelayError::Protocol("the stored invite is damaged".to_owned()))?;
            conn.authenticate(Auth::Register {
                invite: &invite,
                identity: keys.identity.public(),
                certificate: &keys.certificate,
                device: &keys.device,
            })
            .await
        }
        Registration::Pairing => {
            conn.authenticate(Auth::RegisterDevice {
                certificate: &keys.certificate,
                device: &keys.device,
            })
            .await
        }
    }
}

/// The relay welcomed this device: the driver learns the account, and registration is done.
async fn welcomed(
    core: &Core,
    conn: Connection,
    welcome: Welcome,
    registration: &mut Registration,
) -> Result<Connection, SyncFailure> {
    let account = welcome.account;
    core.call(move |d| d.welcomed(Some(account))).await??;
    *registration = Registration::Done;
    Ok(conn)
}

/// Runs sync until done (`Mode::Once`) or until `stop` completes (Ctrl-C for `Mode::Watch`,
/// the app closing the profile for `Mode::Embedded`), starting with `first` if a signed-in
/// connection is already open. A `nudge` says the app stored an edit ([`Driver::edit`]) to
/// push now. Returns what moved.
///
/// [`Driver::edit`]: super::driver::Driver::edit
pub(crate) async fn run(
    core: &Core,
    keys: &AccountKeys,
    mode: Mode,
    first: Option<Connection>,
    stop: impl std::future::Future,
    nudge: Option<&Notify>,
) -> Result<Summary, SyncFailure> {
    let mut registration = keys.registration.clone();
    let mut first = first;
    let mut failures: u32 = 0;
    let mut ever_connected = first.is_some();
    // Not `rand::rng()`: an embedded sync runs as a task that may move between threads.
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    let interrupt = stop;
    tokio::pin!(interrupt);
    if mode == Mode::Watch {
        println!(
            "Watching for changes; connected to {} when the network allows (Ctrl-C to stop).",
            keys.relay.display
        );
    }
    loop {
        let connection = match first.take() {
            Some(conn) => Ok(conn),
            None => connect(core, keys, &mut registration).await,
        };
        let outcome = match connection {
            Ok(mut conn) => {
                ever_connected = true;
                if mode == Mode::Embedded {
                    core.call(|d| {
                        d.tell(
                            NoticeKind::Online,
                            "connected to the relay; changes go out and come in".to_owned(),
                        )
                    })
                    .await?;
                }
                let outcome = session(core, &mut conn, mode, &mut interrupt, nudge).await;
                core.call(|d| d.disconnected()).await??;
                if matches!(outcome, Ok(End::Done | End::Interrupted)) {
                    conn.close().await;
                }
                outcome
            }
            Err(err) => Err(err),
        };
        // A failure to retry after a pause says why; every other outcome ends here.
        let why = match outcome {
            Ok(End::Done | End::Interrupted) => {
                return Ok(core.call(|d| d.summary()).await?);
            }
            Ok(End::Reconnect) => continue,
            Err(err) => retry_reason(err, mode, ever_connected, failures)?,
        };
        failures += 1;
        if !wait(core, mode, &why, failures, &mut rng, &mut interrupt).await {
            return Ok(core.call(|d| d.summary()).await?);
        }
    }
}

/// Whether a failed connection is tried again after a pause (and why, in words) or ends the
/// run with its error: a permanent refusal always ends it; so does any failure of a one-off
/// sync that never connected or already retried [`ONCE_RETRIES`] times. Watching, and the
/// app's embedded sync, ride out the rest.
fn retry_reason(
    err: SyncFailure,
    mode: Mode,
    ever_connected: bool,
    failures: u32,
) -> Result<String, SyncFailure> {
    match err {
        // The sharing pass runs before the loop of connections.
        err @ SyncFailure::Sharing(_) => Err(err),
        SyncFailure::Driver(err) => match err {
            DriverError::Refused { code, message } if !code.fatal() => {
                // Not expected: non-fatal refusals are handled per request.
                Err(RelayError::Refused { code, message }.into())
            }
            DriverError::Refused { code, message } => {
                let err = RelayError::Refused { code, message };
                if err.is_permanent() || mode == Mode::Once {
                    return Err(err.into());
                }
                Ok(err.to_string())
            }
            DriverError::Protocol(_) | DriverError::Sync(_) if mode.stays_connected() => {
                Ok(err.to_string())
            }
            other => Err(other.into()),
        },
        SyncFailure::Relay(err) => {
            let give_up = err.is_permanent()
                || (mode == Mode::Once && (!ever_connected || failures >= ONCE_RETRIES));
            if give_up {
                return Err(err.into());
            }
            Ok(err.to_string())
        }
    }
}

/// Sleeps before reconnecting; returns `false` if the stop signal came first.
async fn wait(
    core: &Core,
    mode: Mode,
    why: &str,
    failures: u32,
    rng: &mut impl rand::Rng,
    interrupt: &mut std::pin::Pin<&mut impl std::future::Future>,
) -> bool {
    let delay = backoff(failures.saturating_sub(1), rng);
    let text = format!("{why}; trying again in {:.1} s", delay.as_secs_f64());
    match mode {
        Mode::Watch => warn(&text),
        // Offline is a state an app shows, not an error: edits keep being stored.
        Mode::Embedded => {
            let _ = core.call(move |d| d.tell(NoticeKind::Offline, text)).await;
        }
        Mode::Once => {}
    }
    if mode.stays_connected() {
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = interrupt => false,
        }
    } else {
        tokio::time::sleep(delay).await;
        true
    }
}

/// One signed-in connection: the driver subscribes, then messages flow until done.
async fn session(
    core: &Core,
    conn: &mut Connection,
    mode: Mode,
    interrupt: &mut std::pin::Pin<&mut impl std::future::Future>,
    nudge: Option<&Notify>,
) -> Result<End, SyncFailure> {
    let step = core.call(|d| d.connected()).await?;
    for msg in &step.send {
        conn.send(msg).await?;
    }
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ping = tokio::time::interval_at(
        Instant::now() + limits::PING_INTERVAL,
        limits::PING_INTERVAL,
    );
    let mut last_heard = Instant::now();
    let mut last_progress = Instant::now();
    let mut nonce = 0_u64;
    loop {
        tokio::select! {
            _ = &mut *interrupt, if mode.stays_connected() => return Ok(End::Interrupted),
            () = nudged(nudge) => {
                let step = core.call(|d| d.take_pushes()).await?;
                for msg in &step.send {
                    conn.send(msg).await?;
                }
            }
            msg = conn.recv() => {
                let msg = msg?;
                last_heard = Instant::now();
                let mut batch = vec![msg];
                while batch.len() < MAX_BATCH {
                    match conn.recv_ready() {
                        Some(msg) => batch.push(msg?),
                        None => break,
                    }
                }
                if batch.iter().any(|m| !matches!(m, ServerMessage::Pong { .. })) {
                    last_progress = Instant::now();
                }
                let step = core.call(move |d| d.receive(batch)).await??;
                for msg in &step.send {
                    conn.send(msg).await?;
                }
                if step.reconnect {
                    return Ok(End::Reconnect);
                }
                if step.settled && mode == Mode::Once {
                    return Ok(End::Done);
                }
            }
            _ = poll.tick(), if mode.stays_connected() => {
                let step = core.call(|d| d.poll_local()).await??;
                for msg in &step.send {
                    conn.send(msg).await?;
                }
            }
            _ = ping.tick() => {
                let idle = if mode == Mode::Once { last_progress } else { last_heard };
                if idle.elapsed() > limits::IDLE_TIMEOUT {
                    return Err(RelayError::Timeout {
                        url: conn.url().display.clone(),
                        waiting_for: "more data",
                        after: limits::IDLE_TIMEOUT,
                    }
                    .into());
                }
                nonce += 1;
                conn.send(&ClientMessage::Ping { nonce }).await?;
            }
        }
    }
}

/// Completes when `nudge` is notified; never without one.
async fn nudged(nudge: Option<&Notify>) {
    match nudge {
        Some(nudge) => nudge.notified().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let mut rng = StdRng::seed_from_u64(7);
        let first = backoff(0, &mut rng);
        assert!(
            first >= MIN_BACKOFF / 2 && first <= MIN_BACKOFF,
            "{first:?}"
        );
        let later = backoff(3, &mut rng);
        assert!(
            later >= MIN_BACKOFF * 4 && later <= MIN_BACKOFF * 8,
            "{later:?}"
        );
        for attempt in [10, 20, 1000] {
            let capped = backoff(attempt, &mut rng);
            assert!(
                capped >= MAX_BACKOFF / 2 && capped <= MAX_BACKOFF,
                "{capped:?}"
            );
        }
        // Not every device waits the same.
        let delays: std::collections::BTreeSet<_> = (0..10).map(|_| backoff(5, &mut rng)).collect();
        assert!(delays.len() > 5);
    }
}
