//! The relay's commands: `serve` (the default) and the admin commands that work on the database
//! directly (`init`, `invite create`, `devices`, `documents`, `backup`).

use crate::config::{Cli, Command, InviteCommand, InviteRole, ServeArgs, Settings};
use crate::relay::{self, now_ms, Relay, RelayConfig};
use crate::store::handle::StoreHandle;
use crate::store::sqlite::{backup_database, SqliteStore};
use crate::store::{AccountRole, InviteHash, InviteRecord, RelayStore};
use anyhow::{Context, Result};
use between_shared::crypto::InviteSecret;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Runs the command the operator typed.
pub(crate) fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        None => serve(&cli, &ServeArgs::default()),
        Some(Command::Serve(args)) => serve(&cli, args),
        Some(Command::Init) => {
            let settings = Settings::resolve(&cli, None)?;
            let store = SqliteStore::open(&settings.db)?;
            store.verify_integrity()?;
            println!("The relay database at {} is ready.", settings.db.display());
            Ok(())
        }
        Some(Command::Invite(InviteCommand::Create {
            role,
            expires_in_hours,
        })) => {
            let settings = Settings::resolve(&cli, None)?;
            let mut store = SqliteStore::open(&settings.db)?;
            let secret = InviteSecret::generate(&mut rand::rng());
            let now = now_ms();
            store.create_invite(&InviteRecord {
                hash: InviteHash::from_bytes(secret.hash()),
                kind: match role {
                    InviteRole::Client => AccountRole::Client,
                    InviteRole::Therapist => AccountRole::Therapist,
                },
                created_by: None,
                created_at_ms: now,
                expires_at_ms: now + i64::from(*expires_in_hours) * 3_600_000,
            })?;
            println!("{}", secret.to_code());
            eprintln!(
                "One-time invite for a {} account, valid for {expires_in_hours} hours. The relay keeps only its hash.",
                match role {
                    InviteRole::Client => "client",
                    InviteRole::Therapist => "therapist",
                }
            );
            Ok(())
        }
        Some(Command::Devices) => {
            let settings = Settings::resolve(&cli, None)?;
            let store = SqliteStore::open(&settings.db)?;
            println!(
                "{:<32}  {:<32}  {:<9}  {:<13}  state",
                "device", "account", "role", "registered"
            );
            for d in store.list_devices()? {
                println!(
                    "{:<32}  {:<32}  {:<9}  {:<13}  {}",
                    d.device,
                    d.account,
                    d.role,
                    d.registered_at_ms,
                    if d.disabled { "disabled" } else { "active" }
                );
            }
            Ok(())
        }
        Some(Command::Documents) => {
            let settings = Settings::resolve(&cli, None)?;
            let store = SqliteStore::open(&settings.db)?;
            println!(
                "{:<32}  {:>8}  {:>12}  {:>8}  snapshot",
                "document", "bundles", "bytes", "head"
            );
            for d in store.documents()? {
                println!(
                    "{:<32}  {:>8}  {:>12}  {:>8}  {}",
                    d.doc,
                    d.bundles,
                    d.bytes,
                    d.head.0,
                    d.snapshot_covers
                        .map_or_else(|| "-".to_string(), |s| format!("covers {}", s.0))
                );
            }
            Ok(())
        }
        Some(Command::Backup { dest }) => {
            let settings = Settings::resolve(&cli, None)?;
            backup_database(&settings.db, dest)?;
            println!("Backed up {} to {}.", settings.db.display(), dest.display());
            Ok(())
        }
    }
}

fn serve(cli: &Cli, args: &ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let settings = Settings::resolve(cli, Some(args))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        let store = StoreHandle::open_sqlite(settings.db.clone())
            .await
            .with_context(|| {
                format!(
                    "could not open the relay database {}",
                    settings.db.display()
                )
            })?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("could not listen on {}", settings.listen))?;
        let address = listener.local_addr().context("the bound address")?;
        let origin = settings
            .origin
            .clone()
            .unwrap_or_else(|| format!("ws://{address}"));
        let shutdown = CancellationToken::new();
        let mut config = RelayConfig::new(origin.clone());
        if let Some(secs) = args.handshake_timeout {
            config.handshake_timeout = std::time::Duration::from_secs(secs);
        }
        let relay = Relay::new(store, config, shutdown.clone());
        tokio::spawn(stop_on_signal(shutdown.clone()));
        tokio::spawn(purge_expired(relay.store.clone(), shutdown));
        info!(%address, %origin, db = %settings.db.display(), "serving");
        // Tests and scripts read this line to learn the port.
        println!("listening on ws://{address}");
        relay::run(listener, relay)
            .await
            .context("the relay stopped")?;
        info!("stopped");
        Ok(())
    })
}

/// How often expired pairing payloads and invites are deleted.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes expired pairing payloads (sealed identity and document keys) and invites, so they
/// do not linger in the database after they can no longer be used.
async fn purge_expired(store: StoreHandle, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match store.try_call(|s| s.purge_expired(now_ms())).await {
            Ok(purged) => {
                if purged.pairings + purged.invites > 0 {
                    info!(
                        pairings = purged.pairings,
                        invites = purged.invites,
                        "purged expired"
                    );
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not purge expired pairings and invites")
            }
        }
    }
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    info!("shutting down: finishing in-flight requests");
    shutdown.cancel();
}
