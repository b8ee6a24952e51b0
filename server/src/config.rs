//! The relay's command line and configuration: flags, with `BETWEEN_RELAY_*` environment
//! variables and an optional TOML file as fallbacks (flag > environment > file > default).

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default database file, in the working directory.
pub(crate) const DEFAULT_DB: &str = "between-relay.sqlite3";
/// Default listening address: loopback only until TLS exists.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// The Between relay: stores and forwards end-to-end encrypted homework for a practice.
#[derive(Debug, Parser)]
#[command(name = "between-relay", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The SQLite database file [default: between-relay.sqlite3].
    #[arg(long, global = true, env = "BETWEEN_RELAY_DB")]
    pub(crate) db: Option<PathBuf>,
    /// A TOML config file with `db`, `listen` and `origin` keys.
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
}

#[derive(Debug, Default, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7070]; port 0 picks a free one.
    #[arg(long, env = "BETWEEN_RELAY_LISTEN")]
    pub(crate) listen: Option<SocketAddr>,
    /// The origin devices connect to, e.g. wss://relay.example.org [default: ws://LISTEN].
    #[arg(long, env = "BETWEEN_RELAY_ORIGIN")]
    pub(crate) origin: Option<String>,
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
    },
}

/// The optional config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<PathBuf>,
    listen: Option<SocketAddr>,
    origin: Option<String>,
}

/// Settings after flags, environment and file are combined.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) db: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) origin: Option<String>,
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
        if !listen.ip().is_loopback() {
            bail!(
                "refusing to listen on {listen}: without TLS the relay serves loopback only (127.0.0.1 or ::1); put it behind a TLS-terminating proxy on this machine"
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
        })
    }
}
