//! The relay's command line and configuration: flags, with `BETWEEN_RELAY_*` environment
//! variables and an optional TOML file as fallbacks (flag > environment > file > default).

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use between_shared::protocol::limits;

use crate::database::Database;

/// Default database file, in the working directory.
pub(crate) const DEFAULT_DB: &str = "between-relay.sqlite3";
/// Default listening address: loopback, which needs no TLS.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:7070";
/// Default number of open connections allowed from one IP address: a household's or a small
/// office's devices, with room to spare, while one address cannot exhaust the relay.
pub(crate) const DEFAULT_CONNECTIONS_PER_ADDRESS: u64 = 64;
/// Default number of TLS handshakes one IP address (an IPv6 /64) may have in flight: a
/// handshake takes milliseconds, so even a practice behind one NAT rarely has more than a few
/// pending at once, while one address can no longer take the relay's 256 shared handshake slots
/// with silent connections.
pub(crate) const DEFAULT_HANDSHAKES_PER_ADDRESS: u64 = 16;

/// The Between relay: stores and forwards end-to-end encrypted homework for a practice.
#[derive(Debug, Parser)]
#[command(name = "between-relay", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The database: a SQLite file (a path, or sqlite:PATH) or a PostgreSQL server
    /// (postgres://USER@HOST/DATABASE, which several relays may share) [default:
    /// between-relay.sqlite3].
    #[arg(long, global = true, env = "BETWEEN_RELAY_DB")]
    pub(crate) db: Option<Database>,
    /// A TOML config file with `db`, `listen`, `origin`, `tls_cert`, `tls_key`, `behind_proxy`,
    /// `handshake_timeout`, `max_connections_per_address` and `max_handshakes_per_address` keys.
    #[arg(long, global = true, env = "BETWEEN_RELAY_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve devices (the default when no command is given).
    Serve(ServeArgs),
    /// Create the database (serve does this too) and check it.
    Init,
    /// Check an existing database thoroughly (SQLite's full integrity check and the audit
    /// trail's hash chain); safe while the relay serves.
    Check,
    /// Invites for new accounts.
    #[command(subcommand)]
    Invite(InviteCommand),
    /// List registered devices (ids and roles only: the relay knows no names).
    Devices,
    /// List documents (ids and sizes only: the relay cannot read them).
    Documents,
    /// Copy the database to a file with SQLite's online backup (safe while serving).
    Backup {
        /// Where to write the copy.
        dest: PathBuf,
    },
    /// List accounts: ids, role, the label of staff accounts (never a client's name), devices,
    /// when created, and whether disabled.
    Accounts {
        /// Only accounts of this role.
        #[arg(long, value_enum)]
        role: Option<AccountRoleArg>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account (a departed therapist): all its devices are refused at once, and those
    /// connected now are disconnected within seconds.
    Disable {
        /// The account id (32 hex digits, as `accounts` lists it).
        account: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account id (32 hex digits, as `accounts` lists it).
        account: String,
    },
    /// The hash-chained audit trail of sign-ins and document accesses.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Move the relay from its SQLite file to an empty PostgreSQL database, every row as it is
    /// (devices notice only a restart). Stop the relay first; serve with --db TO afterwards.
    Migrate {
        /// The SQLite database to move (sqlite:PATH, or a path).
        #[arg(long, value_name = "sqlite:PATH")]
        from: Database,
        /// The empty PostgreSQL database to move it to.
        #[arg(long, value_name = "postgres://USER@HOST/DATABASE")]
        to: Database,
    },
}

/// An account role, to filter listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AccountRoleArg {
    /// People in therapy.
    Client,
    /// Therapists.
    Therapist,
    /// Practice administrators.
    Admin,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the whole hash chain; exits non-zero, naming the first bad row, if a row was
    /// altered or removed.
    Verify {
        /// A head printed by an earlier `audit verify` (`ROWS:HASH`): also check that the trail
        /// still passes through it, which catches a trail cut back or rewritten since.
        #[arg(long, value_name = "ROWS:HASH")]
        known_head: Option<String>,
    },
}

#[derive(Debug, Default, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7070]; port 0 picks a free one.
    #[arg(long, env = "BETWEEN_RELAY_LISTEN")]
    pub(crate) listen: Option<SocketAddr>,
    /// The origin devices connect to, e.g. wss://relay.example.org [default: wss://LISTEN with
    /// TLS, ws://LISTEN without].
    #[arg(long, env = "BETWEEN_RELAY_ORIGIN")]
    pub(crate) origin: Option<String>,
    /// The relay's certificate chain (PEM) for TLS 1.3; needs --tls-key.
    #[arg(long, env = "BETWEEN_RELAY_TLS_CERT", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "BETWEEN_RELAY_TLS_KEY", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Serve plain WebSocket on a non-loopback address because a TLS-terminating reverse proxy
    /// sits in front (set --origin to the proxy's wss:// address).
    #[arg(long, env = "BETWEEN_RELAY_BEHIND_PROXY")]
    pub(crate) behind_proxy: bool,
    /// Seconds a new connection has to sign in [default: 10].
    #[arg(long, env = "BETWEEN_RELAY_HANDSHAKE_TIMEOUT", value_parser = clap::value_parser!(u64).range(HANDSHAKE_TIMEOUT_SECS))]
    pub(crate) handshake_timeout: Option<u64>,
    /// Open connections allowed from one IP address [default: 64]. Raise it when many devices
    /// reach the relay from one address: a practice behind one NAT, or a load test.
    #[arg(long, env = "BETWEEN_RELAY_MAX_CONNECTIONS_PER_ADDRESS", value_parser = clap::value_parser!(u64).range(MAX_CONNECTIONS_PER_ADDRESS))]
    pub(crate) max_connections_per_address: Option<u64>,
    /// TLS handshakes one IP address (an IPv6 /64) may have in flight [default: 16]; its further
    /// connections are closed at once. Raise it for a load test that opens many TLS connections
    /// from one address at the same moment.
    #[arg(long, env = "BETWEEN_RELAY_MAX_HANDSHAKES_PER_ADDRESS", value_parser = clap::value_parser!(u64).range(MAX_HANDSHAKES_PER_ADDRESS))]
    pub(crate) max_handshakes_per_address: Option<u64>,
}

/// The `--handshake-timeout` values accepted, in seconds.
const HANDSHAKE_TIMEOUT_SECS: std::ops::RangeInclusive<u64> = 1..=300;

/// The `--max-connections-per-address` values accepted.
const MAX_CONNECTIONS_PER_ADDRESS: std::ops::RangeInclusive<u64> = 1..=1_000_000;

/// The `--max-handshakes-per-address` values accepted.
const MAX_HANDSHAKES_PER_ADDRESS: std::ops::RangeInclusive<u64> = 1..=1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InviteRole {
    /// A client's first device.
    Client,
    /// A therapist's first device.
    Therapist,
}

#[derive(Debug, Subcommand)]
pub(crate) enum InviteCommand {
    /// Create a one-time invite and print its code.
    Create {
        /// Who the invite is for.
        #[arg(long, value_enum)]
        role: InviteRole,
        /// Hours until it expires.
        #[arg(long, default_value_t = 72)]
        expires_in_hours: u32,
        /// Therapist invites only: how the account is labelled in `accounts` (e.g. "Dr Ada
        /// Park"). Client invites take no label: the relay never holds a client's name.
        #[arg(long)]
        label: Option<String>,
    },
    /// Shorthand for `create --role therapist`: an invite for a therapist's first device.
    Therapist {
        /// Hours until it expires.
        #[arg(long, default_value_t = 72)]
        expires_in_hours: u32,
        /// How the account is labelled in `accounts` (e.g. "Dr Ada Park").
        #[arg(long)]
        label: Option<String>,
    },
}

/// The optional config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<String>,
    listen: Option<SocketAddr>,
    origin: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    behind_proxy: Option<bool>,
    handshake_timeout: Option<u64>,
    max_connections_per_address: Option<u64>,
    max_handshakes_per_address: Option<u64>,
}

/// Settings after flags, environment and file are combined.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) db: Database,
    pub(crate) listen: SocketAddr,
    pub(crate) origin: Option<String>,
    /// The certificate chain and key files, when the relay terminates TLS itself.
    pub(crate) tls: Option<TlsFiles>,
    /// Time a new connection has to sign in.
    pub(crate) handshake_timeout: Duration,
    /// Open connections allowed from one IP address.
    pub(crate) connections_per_address: usize,
    /// TLS handshakes one IP address may have in flight.
    pub(crate) handshakes_per_address: usize,
}

/// Where the relay's certificate chain and private key are.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// Checks a number from the config file against the range its flag accepts.
fn in_range(key: &str, value: u64, range: std::ops::RangeInclusive<u64>) -> Result<u64> {
    if !range.contains(&value) {
        bail!(
            "{key} in the config file is {value}; it must be from {} to {}",
            range.start(),
            range.end()
        );
    }
    Ok(value)
}

/// A number from its flag (already checked by clap, environment included), else from the config
/// file under `key` (checked against `range` here), else `default`.
fn number(
    flag: Option<u64>,
    (key, from_file): (&str, Option<u64>),
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<u64> {
    match (flag, from_file) {
        (Some(value), _) => Ok(value),
        (None, Some(value)) => in_range(key, value, range),
        (None, None) => Ok(default),
    }
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the config file {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("the config file {} is not valid", path.display()))
}

impl Settings {
    /// Combines the command line (which already includes the environment) with the file.
    pub(crate) fn resolve(cli: &Cli, serve: Option<&ServeArgs>) -> Result<Self> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen = match serve.and_then(|s| s.listen).or(file.listen) {
            Some(listen) => listen,
            None => DEFAULT_LISTEN
                .parse()
                .context("the default listen address")?,
        };
        let cert = serve.and_then(|s| s.tls_cert.clone()).or(file.tls_cert);
        let key = serve.and_then(|s| s.tls_key.clone()).or(file.tls_key);
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => bail!("TLS needs both a certificate (--tls-cert) and its key (--tls-key)"),
        };
        let behind_proxy =
            serve.is_some_and(|s| s.behind_proxy) || file.behind_proxy.unwrap_or(false);
        if tls.is_none() && !behind_proxy && !listen.ip().is_loopback() {
            bail!(
                "refusing to listen on {listen} without TLS: give --tls-cert and --tls-key, or, if a TLS-terminating reverse proxy forwards to this address, say so with --behind-proxy; without either the relay serves loopback only (127.0.0.1 or ::1)"
            );
        }
        let origin = serve.and_then(|s| s.origin.clone()).or(file.origin);
        if let Some(origin) = &origin {
            if !(origin.starts_with("ws://") || origin.starts_with("wss://")) {
                bail!("--origin must start with ws:// or wss://, e.g. wss://relay.example.org");
            }
        }
        let handshake_timeout = number(
            serve.and_then(|s| s.handshake_timeout),
            ("handshake_timeout", file.handshake_timeout),
            HANDSHAKE_TIMEOUT_SECS,
            limits::HANDSHAKE_TIMEOUT.as_secs(),
        )?;
        let connections_per_address = number(
            serve.and_then(|s| s.max_connections_per_address),
            (
                "max_connections_per_address",
                file.max_connections_per_address,
            ),
            MAX_CONNECTIONS_PER_ADDRESS,
            DEFAULT_CONNECTIONS_PER_ADDRESS,
        )?;
        let handshakes_per_address = number(
            serve.and_then(|s| s.max_handshakes_per_address),
            (
                "max_handshakes_per_address",
                file.max_handshakes_per_address,
            ),
            MAX_HANDSHAKES_PER_ADDRESS,
            DEFAULT_HANDSHAKES_PER_ADDRESS,
        )?;
        Ok(Self {
            handshakes_per_address: usize::try_from(handshakes_per_address)
                .context("max_handshakes_per_address does not fit this machine")?,
            handshake_timeout: Duration::from_secs(handshake_timeout),
            connections_per_address: usize::try_from(connections_per_address)
                .context("max_connections_per_address does not fit this machine")?,
            db: match (&cli.db, file.db) {
                (Some(db), _) => db.clone(),
                (None, Some(text)) => Database::from_str(&text)?,
                (None, None) => Database::Sqlite(PathBuf::from(DEFAULT_DB)),
            },
            listen,
            origin,
            tls,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Parses `serve` with `flags`, reading `toml` as the config file.
    fn resolve(dir: &Path, toml: &str, flags: &[&str]) -> Result<Settings> {
        let file = dir.join("relay.toml");
        std::fs::write(&file, toml).unwrap();
        let mut args = vec!["between-relay", "--config", file.to_str().unwrap(), "serve"];
        args.extend_from_slice(flags);
        let cli = Cli::try_parse_from(args)?;
        let Some(Command::Serve(serve)) = &cli.command else {
            panic!("not serve: {:?}", cli.command);
        };
        Settings::resolve(&cli, Some(serve))
    }

    // One test for everything that reads the environment: tests run in parallel, and the
    // variables are process-wide.
    #[test]
    fn serve_limits_come_from_flags_then_environment_then_file() {
        const MAX_ENV: &str = "BETWEEN_RELAY_MAX_CONNECTIONS_PER_ADDRESS";
        const TIMEOUT_ENV: &str = "BETWEEN_RELAY_HANDSHAKE_TIMEOUT";
        std::env::remove_var(MAX_ENV);
        std::env::remove_var(TIMEOUT_ENV);
        std::env::remove_var("BETWEEN_RELAY_MAX_HANDSHAKES_PER_ADDRESS");
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();

        let defaults = resolve(dir, "", &[]).unwrap();
        assert_eq!(defaults.connections_per_address, 64);
        assert_eq!(defaults.handshake_timeout, limits::HANDSHAKE_TIMEOUT);
        assert_eq!(defaults.handshakes_per_address, 16);

        let file = "max_connections_per_address = 4000\nhandshake_timeout = 30\nmax_handshakes_per_address = 40\n";
        let from_file = resolve(dir, file, &[]).unwrap();
        assert_eq!(from_file.connections_per_address, 4000);
        assert_eq!(from_file.handshakes_per_address, 40);
        assert_eq!(from_file.handshake_timeout, Duration::from_secs(30));

        std::env::set_var(MAX_ENV, "5000");
        std::env::set_var(TIMEOUT_ENV, "20");
        let from_env = resolve(dir, file, &[]);
        let from_flags = resolve(
            dir,
            file,
            &[
                "--max-connections-per-address",
                "6000",
                "--handshake-timeout",
                "5",
                "--max-handshakes-per-address",
                "50",
            ],
        );
        std::env::set_var(MAX_ENV, "0");
        let env_refused = resolve(dir, "", &[]);
        std::env::remove_var(MAX_ENV);
        std::env::remove_var(TIMEOUT_ENV);

        let from_env = from_env.unwrap();
        assert_eq!(from_env.connections_per_address, 5000);
        assert_eq!(from_env.handshake_timeout, Duration::from_secs(20));
        let from_flags = from_flags.unwrap();
        assert_eq!(from_flags.connections_per_address, 6000);
        assert_eq!(from_flags.handshake_timeout, Duration::from_secs(5));
        assert_eq!(from_flags.handshakes_per_address, 50);
        assert!(env_refused.is_err());

        // Out-of-range values are refused wherever they come from.
        assert!(resolve(dir, "", &["--max-connections-per-address", "0"]).is_err());
        let err = resolve(dir, "max_connections_per_address = 0\n", &[])
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("max_connections_per_address"),
            "{err}"
        );
        assert!(resolve(dir, "handshake_timeout = 0\n", &[]).is_err());
        assert!(resolve(dir, "max_handshakes_per_address = 0\n", &[]).is_err());
        assert!(resolve(dir, "", &["--max-handshakes-per-address", "0"]).is_err());
        assert!(resolve(dir, "max_connections_per_address = -1\n", &[]).is_err());
    }
}
