//! The relay's commands: `serve` (the default) and the admin commands that work on the database
//! directly (`init`, `check`, `invite create`, `devices`, `documents`, `backup`, `accounts`,
//! `disable`, `enable`, `audit verify`, `migrate`).

use crate::config::{
    AccountRoleArg, AuditCommand, Cli, Command, InviteCommand, InviteRole, ServeArgs, Settings,
};
use crate::database::Database;
use crate::integrity;
use crate::migrate;
use crate::relay::{self, now_ms, Relay, RelayConfig};
use crate::store::handle::StoreHandle;
use crate::store::postgres::target::Target;
use crate::store::sqlite::{backup_database, SqliteStore};
use crate::store::{
    AccountId, AccountRole, AuditHead, AuditRecord, InviteHash, InviteRecord, RelayStore,
};
use anyhow::{anyhow, bail, Context, Result};
use between_shared::crypto::InviteSecret;
use between_shared::protocol::audit::AuditAction;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Runs the command the operator typed.
pub(crate) fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        None => serve(&cli, &ServeArgs::default()),
        Some(Command::Serve(args)) => serve(&cli, args),
        Some(Command::Init) => init(&cli),
        Some(Command::Check) => check(&cli),
        Some(Command::Invite(InviteCommand::Create {
            role,
            expires_in_hours,
            label,
        })) => invite_create(&cli, *role, *expires_in_hours, label.as_deref()),
        Some(Command::Invite(InviteCommand::Therapist {
            expires_in_hours,
            label,
        })) => invite_create(
            &cli,
            InviteRole::Therapist,
            *expires_in_hours,
            label.as_deref(),
        ),
        Some(Command::Devices) => devices(&cli),
        Some(Command::Documents) => documents(&cli),
        Some(Command::Backup { dest }) => backup(&cli, dest),
        Some(Command::Accounts { role, json }) => accounts(&cli, *role, *json),
        Some(Command::Disable { account }) => set_disabled(&cli, account, true),
        Some(Command::Enable { account }) => set_disabled(&cli, account, false),
        Some(Command::Audit(AuditCommand::Verify { known_head })) => {
            audit_verify(&cli, known_head.as_deref())
        }
        Some(Command::Migrate { from, to }) => migrate_database(from, to),
    }
}

/// `init`: creates the database or brings its schema up to date (as `serve` does); a SQLite
/// file is also checked whole.
fn init(cli: &Cli) -> Result<()> {
    let settings = Settings::resolve(cli, None)?;
    match &settings.db {
        Database::Sqlite(path) => SqliteStore::open(path)?.verify_integrity()?,
        Database::Postgres(_) => drop(settings.db.open()?),
    }
    println!("The relay database at {} is ready.", settings.db);
    Ok(())
}

/// `devices`: every registered device as a table of ids, roles, times and states (the relay
/// knows no names).
fn devices(cli: &Cli) -> Result<()> {
    let settings = Settings::resolve(cli, None)?;
    let store = settings.db.open()?;
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

/// `documents`: every document as a table of ids, sizes and log positions (the relay cannot
/// read them).
fn documents(cli: &Cli) -> Result<()> {
    let settings = Settings::resolve(cli, None)?;
    let store = settings.db.open()?;
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

/// `migrate`: moves a SQLite relay into an empty PostgreSQL database and says what moved.
fn migrate_database(from: &Database, to: &Database) -> Result<()> {
    let moved = migrate::migrate(from, to)?;
    for (table, rows) in &moved.rows {
        println!("{table:<18} {rows:>10} rows");
    }
    println!("Moved the relay from {from} to {to}: every row, and the audit trail's hash chain verifies there (head {}). Serve with --db pointing at the new database; keep the SQLite file as a backup.", moved.audit);
    Ok(())
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
    raise_open_files_limit();
    let tls = settings
        .tls
        .as_ref()
        .map(|files| relay::tls_server_config(&files.cert, &files.key))
        .transpose()
        .context("could not set up TLS")?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        // Without the full-file check, which runs in the background below: start-up time must
        // not grow with the database.
        let store = settings.db.open_for_serving().await?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("could not listen on {}", settings.listen))?;
        let address = listener.local_addr().context("the bound address")?;
        let origin = settings
            .origin
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{address}"));
        let shutdown = CancellationToken::new();
        let mut config = RelayConfig::new(origin.clone());
        config.handshake_timeout = settings.handshake_timeout;
        config.connections_per_address = settings.connections_per_address;
        config.handshakes_per_address = settings.handshakes_per_address;
        let relay = Relay::new(store, config, shutdown.clone());
        tokio::spawn(stop_on_signal(shutdown.clone()));
        tokio::spawn(purge_expired(relay.store.clone(), shutdown.clone()));
        // Other relays may share a PostgreSQL database: their devices' changes reach ours live.
        if let Database::Postgres(url) = &settings.db {
            let target =
                Target::parse(url).with_context(|| format!("cannot use {}", settings.db))?;
            tokio::spawn(relay::peers::follow(
                target,
                relay.clone(),
                shutdown.clone(),
            ));
        }
        // PostgreSQL checks its own pages (data checksums); a SQLite file is checked here.
        let check = match &settings.db {
            Database::Sqlite(path) => Some(tokio::spawn(integrity::check_in_background(
                path.clone(),
                shutdown,
            ))),
            Database::Postgres(_) => None,
        };
        info!(%address, %origin, tls = tls.is_some(), db = %settings.db, "serving");
        // Tests and scripts read this line to learn the port.
        println!("listening on {scheme}://{address}");
        relay::run(listener, tls, relay)
            .await
            .context("the relay stopped")?;
        // The check ends with the relay (damage is what stopped it, or it was interrupted).
        if let (Some(check), Database::Sqlite(path)) = (check, &settings.db) {
            if let Ok(integrity::Outcome::Failed(err)) = check.await {
                info!("stopped");
                bail!("{}", integrity::failure_message(path, &err));
            }
        }
        info!("stopped");
        Ok(())
    })
}

/// `check`: the thorough checks of an existing database, while the relay may serve it. SQLite:
/// refused at open if `quick_check` fails, then the full `PRAGMA integrity_check`; both: the
/// audit trail's hash chain. Exits non-zero on any finding.
fn check(cli: &Cli) -> Result<()> {
    let settings = Settings::resolve(cli, None)?;
    let store = match &settings.db {
        Database::Sqlite(path) => {
            // Not `open`'s creation of a missing file: there is nothing to check there.
            if !between_sqlite_file::exists(path)? {
                bail!(
                    "there is no relay database at {}; check the path you configured",
                    path.display()
                );
            }
            let store = SqliteStore::open(path)?;
            store.verify_integrity()?;
            Box::new(store) as Box<dyn RelayStore>
        }
        Database::Postgres(_) => settings.db.open()?,
    };
    let head = store.verify_audit().with_context(|| {
        format!(
            "the audit trail in {} failed verification; keep this database for investigation and restore from a backup whose trail verifies",
            settings.db
        )
    })?;
    match &settings.db {
        Database::Sqlite(_) => println!(
            "OK: the relay database at {} passed SQLite's integrity check, and its audit trail's hash chain is intact ({} rows).",
            settings.db, head.rows
        ),
        Database::Postgres(_) => println!(
            "OK: the audit trail's hash chain in {} is intact ({} rows). PostgreSQL checks its own pages: see docs/self-hosting.md for data checksums and amcheck.",
            settings.db, head.rows
        ),
    }
    Ok(())
}

/// `backup DEST`: SQLite's online backup of the file, or, on PostgreSQL, the database's own tool
/// (`pg_dump --format=custom`, restored with `pg_restore`), both consistent while serving.
fn backup(cli: &Cli, dest: &std::path::Path) -> Result<()> {
    let settings = Settings::resolve(cli, None)?;
    match &settings.db {
        Database::Sqlite(path) => backup_database(path, dest)?,
        Database::Postgres(url) => {
            let status = std::process::Command::new("pg_dump")
                .arg("--format=custom")
                .arg("--file")
                .arg(dest)
                .arg("--dbname")
                .arg(url)
                .status()
                .context("could not run pg_dump, PostgreSQL's backup tool: install PostgreSQL's client programs (Debian: postgresql-client) or run pg_dump yourself")?;
            if !status.success() {
                bail!(
                    "pg_dump could not back up {} ({status}); its message is above",
                    settings.db
                );
            }
        }
    }
    println!("Backed up {} to {}.", settings.db, dest.display());
    Ok(())
}

/// Raises the soft limit on open files to the hard limit. Every connection is a file
/// descriptor, and the usual soft limit (1024) is far below what a relay serving a few thousand
/// devices needs, while the hard limit the administrator set is usually much higher. Failing to
/// raise it is not fatal: the relay serves as many connections as the limit allows, and says so.
fn raise_open_files_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        /// The soft limit aimed for when the hard limit is "unlimited", which some systems
        /// (macOS) do not accept as a soft limit.
        const UNLIMITED_TARGET: u64 = 65_536;
        let limit = getrlimit(Resource::Nofile);
        let target = limit.maximum.unwrap_or(UNLIMITED_TARGET);
        if limit.current.is_none_or(|current| current >= target) {
            return;
        }
        let raised = Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => info!(
                from = ?limit.current,
                to = target,
                "raised the open file limit"
            ),
            Err(err) => tracing::warn!(
                error = %err,
                limit = ?limit.current,
                "could not raise the open file limit; connections beyond it will be refused"
            ),
        }
    }
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

/// `invite create`: a one-time invite, printed once; the relay keeps its hash (and, for a
/// therapist, the label the admin chose).
fn invite_create(
    cli: &Cli,
    role: InviteRole,
    expires_in_hours: u32,
    label: Option<&str>,
) -> Result<()> {
    let kind = match role {
        InviteRole::Client => AccountRole::Client,
        InviteRole::Therapist => AccountRole::Therapist,
    };
    let label = label.map(str::trim);
    if kind == AccountRole::Client && label.is_some() {
        bail!("client invites take no --label: the relay never holds a client's name (the therapist knows their clients by name on their own devices)");
    }
    let settings = Settings::resolve(cli, None)?;
    let mut store = settings.db.open()?;
    let secret = InviteSecret::generate(&mut rand::rng());
    let now = now_ms();
    store
        .create_invite(&InviteRecord {
            hash: InviteHash(secret.hash()),
            kind,
            created_by: None,
            created_at_ms: now,
            expires_at_ms: now + i64::from(expires_in_hours) * 3_600_000,
            label: label.map(str::to_owned),
        })
        .context("the invite was not created")?;
    println!("{}", secret.to_code());
    eprintln!(
        "One-time invite for a {kind} account{}, valid for {expires_in_hours} hours. The relay keeps only its hash.",
        label.map(|l| format!(" labelled \"{l}\"")).unwrap_or_default()
    );
    Ok(())
}

/// `accounts [--role R] [--json]`: ids, roles, staff labels, device counts, times and state.
fn accounts(cli: &Cli, role: Option<AccountRoleArg>, json: bool) -> Result<()> {
    let settings = Settings::resolve(cli, None)?;
    let store = settings.db.open()?;
    let role = role.map(|r| match r {
        AccountRoleArg::Client => AccountRole::Client,
        AccountRoleArg::Therapist => AccountRole::Therapist,
        AccountRoleArg::Admin => AccountRole::Admin,
    });
    let accounts = store.list_accounts(role)?;
    if json {
        let list: Vec<_> = accounts
            .iter()
            .map(|a| {
                serde_json::json!({
                    "account": a.account.to_string(),
                    "role": a.role.as_str(),
                    "label": a.label,
                    "devices": a.devices,
                    "created_at_ms": a.created_at_ms,
                    "created": utc(a.created_at_ms),
                    "state": if a.disabled_at_ms.is_some() { "disabled" } else { "active" },
                    "disabled_at_ms": a.disabled_at_ms,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:<32}  {:<9}  {:>7}  {:<20}  {:<8}  label",
        "account", "role", "devices", "created (UTC)", "state"
    );
    for a in &accounts {
        println!(
            "{:<32}  {:<9}  {:>7}  {:<20}  {:<8}  {}",
            a.account,
            a.role,
            a.devices,
            utc(a.created_at_ms),
            if a.disabled_at_ms.is_some() {
                "disabled"
            } else {
                "active"
            },
            a.label.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// `disable ACCOUNT` / `enable ACCOUNT`. The serving relay notices within seconds (its sessions
/// re-check their device's state), so this works on the database while it serves. The change is
/// recorded in the audit trail under the account acted on.
fn set_disabled(cli: &Cli, account: &str, disable: bool) -> Result<()> {
    let id: AccountId = account.trim().parse().map_err(|err| {
        anyhow!("{account:?} is not an account id ({err}); `between-relay accounts` lists them")
    })?;
    let settings = Settings::resolve(cli, None)?;
    let mut store = settings.db.open()?;
    let record = store.account(id)?.ok_or_else(|| {
        anyhow!("there is no account {id} on this relay; `between-relay accounts` lists them")
    })?;
    let who = match &record.label {
        Some(label) => format!("{} account {id} ({label})", record.role),
        None => format!("{} account {id}", record.role),
    };
    let now = now_ms();
    let action = if disable {
        if let Some(since) = record.disabled_at_ms {
            println!("The {who} is already disabled (since {} UTC).", utc(since));
            return Ok(());
        }
        store.disable_account(id, now)?;
        AuditAction::DisableAccount
    } else {
        if !store.enable_account(id)? {
            println!("The {who} is not disabled.");
            return Ok(());
        }
        AuditAction::EnableAccount
    };
    store
        .append_audit(&AuditRecord {
            at_ms: now,
            account: Some(id),
            device: None,
            doc: None,
            action: action.token().to_owned(),
        })
        .context("the account's state changed, but recording it in the audit trail failed")?;
    if disable {
        println!("Disabled the {who}: its devices are refused from now on, and those connected are disconnected within a few seconds.");
    } else {
        println!("Enabled the {who} again: its devices may sign in.");
    }
    Ok(())
}

/// `audit verify [--known-head ROWS:HASH]`: walks the hash chain; an error (and a non-zero exit)
/// names the first row found altered or missing.
fn audit_verify(cli: &Cli, known_head: Option<&str>) -> Result<()> {
    let known = known_head
        .map(|text| {
            AuditHead::parse(text).ok_or_else(|| {
                anyhow!("--known-head {text:?} is not a head as `audit verify` prints it (ROWS:HASH, the hash as 64 hex digits)")
            })
        })
        .transpose()?;
    let settings = Settings::resolve(cli, None)?;
    let store = settings.db.open()?;
    let head = match &known {
        Some(known) => store.verify_audit_since(known),
        None => store.verify_audit(),
    }
    .with_context(|| {
        format!(
            "the audit trail in {} failed verification; keep this database for investigation and restore from a backup whose trail verifies",
            settings.db
        )
    })?;
    println!(
        "OK: the audit trail's hash chain is intact ({} rows).",
        head.rows
    );
    if known.is_some() {
        println!("It still passes through the head you recorded.");
    }
    println!("Head: {head}");
    println!("Record this head somewhere the relay cannot change it; `between-relay audit verify --known-head {head}` then also detects a trail cut short or rewritten before it.");
    Ok(())
}

/// A Unix time in milliseconds as `YYYY-MM-DD HH:MM:SS` UTC (the relay has no time zone
/// database, and admins compare these with logs).
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_times_are_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_772_442_000_123), "2026-03-02 09:00:00");
        assert_eq!(utc(-1000), "1969-12-31 23:59:59");
    }
}
