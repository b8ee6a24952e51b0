//! The relay's command line and configuration: flags, with `BETWEEN_RELAY_*` environment
//! variables and an optional TOML file as fallbacks (flag > environment > file > default).

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default database file, in the working directory.
pub(crate) const DEFAULT_DB: &str = "between-relay.sqlite3";
/// Default listening address: loopback, which needs no TLS.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// The Between relay: stores and forwards end-to-end encrypted homework for a practice.
#[derive(Debug, Parser)]
#[command(name = "between-relay", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The SQLite database file [default: between-relay.sqlite3].
    #[arg(long, global = true, env = "BETWEEN_RELAY_DB")]
    pub(crate) db: Option<PathBuf>,
    /// A TOML config file with `db`, `listen`, `origin`, `tls_cert`, `tls_key` and
    /// `behind_proxy` keys.
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
    #[arg(long, env = "BETWEEN_RELAY_HANDSHAKE_TIMEOUT", value_parser = clap::value_parser!(u64).range(1..=300))]
    pub(crate) handshake_timeout: Option<u64>,
}

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
    db: Option<PathBuf>,
    listen: Option<SocketAddr>,
    origin: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    behind_proxy: Option<bool>,
}

/// Settings after flags, environment and file are combined.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) db: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) origin: Option<String>,
    /// The certificate chain and key files, when the relay terminates TLS itself.
    pub(crate) tls: Option<TlsFiles>,
}

/// Where the relay's certificate chain and private key are.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
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
        Ok(Self {
            db: cli
                .db
                .clone()
                .or(file.db)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DB)),
            listen,
            origin,
            tls,
        })
    }
}
