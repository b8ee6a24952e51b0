//! How the relay reaches its PostgreSQL server: the `--db` URL read once into a connection
//! configuration, with the TLS it asks for.
//!
//! The URL's `sslmode` decides, with libpq's names but never libpq's unverified encryption:
//!
//! - none, or `disable`: plain TCP (or a Unix socket), for a server on the same machine or a
//!   private network the practice trusts. This is what a URL without `sslmode` always did.
//! - `require`, `verify-ca` or `verify-full`: TLS 1.2 or 1.3, and the server's certificate is
//!   always verified, its host name included — against the system's trusted roots, or against
//!   the CA certificates in the PEM file `sslrootcert=PATH` names (a practice's own CA). libpq's
//!   `require` encrypts without checking whom it talks to, which protects against nobody who can
//!   tamper with the network; the relay does not offer that.
//! - `prefer` or `allow`: refused with what to write instead, for the same reason (they fall back
//!   to plain text whenever an attacker makes TLS fail).
//!
//! With TLS, SCRAM authentication also binds to the TLS channel when the server offers it
//! (SCRAM-SHA-256-PLUS, the driver's default `channel_binding=prefer`), so a password exchange
//! is of no use to anyone in the middle. The tests' throwaway server trusts local connections,
//! so they do not exercise it.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Config, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Why a PostgreSQL URL cannot be used. Messages never quote the URL (it may hold a password).
#[derive(Debug, thiserror::Error)]
pub(crate) enum TargetError {
    /// The URL does not parse.
    #[error("the PostgreSQL URL cannot be read ({0}); write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE")]
    Unreadable(String),
    /// `sslmode` asks for encryption that may silently fall back to plain text.
    #[error("sslmode={0} falls back to an unencrypted connection whenever TLS fails, which an attacker on the network can cause; write sslmode=require (TLS, the server's certificate verified) or sslmode=disable (a server on this machine or a private network)")]
    Downgradable(String),
    /// `sslmode` has a value libpq does not know either.
    #[error("sslmode={0} is not a TLS mode; write sslmode=require or sslmode=disable")]
    UnknownMode(String),
    /// The `sslrootcert` file cannot be read.
    #[error("cannot read the CA certificate file {} that sslrootcert names: {detail}", .path.display())]
    RootCertUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The `sslrootcert` file holds no certificate.
    #[error("the file {} that sslrootcert names holds no PEM certificate ({detail}); name the CA certificate that signed the PostgreSQL server's certificate", .path.display())]
    RootCertEmpty {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// TLS is asked for, no `sslrootcert` is given, and the system trusts no root.
    #[error("sslmode=require needs trusted CA certificates, and this system has none; install the ca-certificates package or name your CA's certificate with sslrootcert=PATH")]
    NoSystemRoots,
    /// rustls refused the configuration.
    #[error("cannot set up TLS to PostgreSQL: {0}")]
    Tls(#[from] rustls::Error),
}

/// A PostgreSQL server as the relay connects to it: where, as whom, and over what.
#[derive(Clone)]
pub(crate) struct Target {
    /// Host, port, user, database, password, and the TLS mode (`Disable` or `Require`).
    config: Config,
    /// The TLS connector; used only when `config` requires TLS.
    tls: MakeRustlsConnect,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("database", &super::redacted_location(&self.config))
            .field("tls", &self.uses_tls())
            .finish_non_exhaustive()
    }
}

/// What the relay reads from a URL before handing the rest to the PostgreSQL driver, which
/// knows neither `sslrootcert` nor the `verify-*` modes.
struct Extracted {
    /// The URL without `sslrootcert` and with any `sslmode` removed.
    url: String,
    /// `sslmode`, if given.
    mode: Option<String>,
    /// `sslrootcert`, if given (percent-decoded).
    root_cert: Option<PathBuf>,
}

/// Splits the relay's own parameters out of a `postgres://…?key=value&…` URL.
fn extract(url: &str) -> Extracted {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root_cert = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = || percent_decode_str(value).decode_utf8_lossy().into_owned();
        match key {
            "sslmode" => mode = Some(decoded()),
            "sslrootcert" => root_cert = Some(PathBuf::from(decoded())),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Extracted {
        url,
        mode,
        root_cert,
    }
}

/// Reads `url` into a driver configuration, without the TLS settings (for naming the database
/// in messages, and for [`Target::parse`]).
pub(crate) fn read_config(url: &str) -> Result<Config, TargetError> {
    Config::from_str(&extract(url).url).map_err(|err| TargetError::Unreadable(err.to_string()))
}

impl Target {
    /// Reads a `postgres://` or `postgresql://` URL (see the module documentation for its TLS
    /// parameters).
    pub(crate) fn parse(url: &str) -> Result<Target, TargetError> {
        let extracted = extract(url);
        let mut config = Config::from_str(&extracted.url)
            .map_err(|err| TargetError::Unreadable(err.to_string()))?;
        let tls_wanted = match extracted.mode.as_deref() {
            None | Some("disable") => false,
            Some("require" | "verify-ca" | "verify-full") => true,
            Some(mode @ ("prefer" | "allow")) => {
                return Err(TargetError::Downgradable(mode.to_owned()))
            }
            Some(other) => return Err(TargetError::UnknownMode(other.to_owned())),
        };
        let roots = if tls_wanted {
            match &extracted.root_cert {
                Some(path) => roots_from_file(path)?,
                None => system_roots()?,
            }
        } else {
            RootCertStore::empty()
        };
        config.ssl_mode(if tls_wanted {
            SslMode::Require
        } else {
            SslMode::Disable
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Target {
            config,
            tls: MakeRustlsConnect::new(client),
        })
    }

    /// Whether connections use TLS.
    pub(crate) fn uses_tls(&self) -> bool {
        self.config.get_ssl_mode() == SslMode::Require
    }

    /// The database as messages name it, without its password.
    pub(crate) fn location(&self) -> String {
        super::redacted_location(&self.config)
    }

    /// Opens a blocking connection (the store's).
    pub(crate) fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::from(self.config.clone()).connect(self.tls.clone())
    }

    /// Opens an asynchronous connection (for listening); the connection half must be polled for
    /// the client to work.
    pub(crate) async fn connect_async(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<
                Socket,
                <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream,
            >,
        ),
        tokio_postgres::Error,
    > {
        self.config.connect(self.tls.clone()).await
    }
}

/// The CA certificates in the PEM file at `path`.
fn roots_from_file(path: &std::path::Path) -> Result<RootCertStore, TargetError> {
    let pem = std::fs::read(path).map_err(|err| TargetError::RootCertUnreadable {
        path: path.to_owned(),
        detail: err.to_string(),
    })?;
    let empty = |detail: String| TargetError::RootCertEmpty {
        path: path.to_owned(),
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| empty(err.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(empty("no CERTIFICATE block parses".to_owned()));
    }
    Ok(roots)
}

/// The system's trusted roots.
fn system_roots() -> Result<RootCertStore, TargetError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err(TargetError::NoSystemRoots);
    }
    Ok(roots)
}

/// What to do about a failed connection, when the failure is the server's certificate.
pub(crate) fn certificate_hint(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let reason = between_shared::error::causes(error).find_map(|cause| {
        match cause.downcast_ref::<rustls::Error>() {
            Some(rustls::Error::InvalidCertificate(reason)) => Some(reason),
            _ => None,
        }
    })?;
    Some(match reason {
        rustls::CertificateError::NotValidForName
        | rustls::CertificateError::NotValidForNameContext { .. } => {
            "the PostgreSQL server's certificate does not name the host in --db; connect by a name the certificate holds"
        }
        rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. } => {
            "the PostgreSQL server's certificate has expired; renew it"
        }
        _ => {
            "the PostgreSQL server's certificate is not signed by a CA this relay trusts; name your CA's certificate with sslrootcert=PATH in --db"
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;

    fn refused(url: &str) -> TargetError {
        match Target::parse(url) {
            Ok(target) => panic!("{url} was accepted: {target:?}"),
            Err(err) => err,
        }
    }

    #[test]
    fn no_sslmode_or_disable_is_plain() {
        for url in [
            "postgres://relay:secret@db.example:5432/between",
            "postgres://relay@db.example/between?sslmode=disable",
            "postgresql://relay@db.example/between?connect_timeout=5",
        ] {
            let target = Target::parse(url).expect("parses");
            assert!(!target.uses_tls(), "{url}");
        }
    }

    #[test]
    fn require_and_verify_modes_use_verified_tls() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = format!("postgres://relay@db.example/between?sslmode={mode}");
            match Target::parse(&url) {
                Ok(target) => assert!(target.uses_tls(), "{mode}"),
                // A system without any trusted root still reads the mode; it says what to do.
                Err(TargetError::NoSystemRoots) => {}
                Err(err) => panic!("{mode}: {err}"),
            }
        }
    }

    #[test]
    fn modes_that_fall_back_to_plain_text_are_refused_with_what_to_write() {
        for mode in ["prefer", "allow"] {
            let err = refused(&format!("postgres://relay@db/between?sslmode={mode}"));
            assert!(matches!(err, TargetError::Downgradable(_)), "{err}");
            assert!(err.to_string().contains("sslmode=require"), "{err}");
        }
        let err = refused("postgres://relay@db/between?sslmode=yes");
        assert!(matches!(err, TargetError::UnknownMode(_)), "{err}");
    }

    #[test]
    fn sslrootcert_is_read_by_the_relay_and_the_rest_reaches_the_driver() {
        let extracted = extract(
            "postgres://relay:pw@db/between?connect_timeout=5&sslrootcert=%2Fetc%2Fca%20x.pem&sslmode=require",
        );
        assert_eq!(
            extracted.url,
            "postgres://relay:pw@db/between?connect_timeout=5"
        );
        assert_eq!(extracted.mode.as_deref(), Some("require"));
        assert_eq!(extracted.root_cert, Some(PathBuf::from("/etc/ca x.pem")));
        let config =
            read_config("postgres://relay:pw@db/between?sslrootcert=/x&application_name=a")
                .expect("the driver reads what is left");
        assert_eq!(config.get_application_name(), Some("a"));
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named_and_no_password_is_shown() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.pem");
        let err = refused(&format!(
            "postgres://relay:hunter2@db/between?sslmode=require&sslrootcert={}",
            missing.display()
        ));
        assert!(
            matches!(err, TargetError::RootCertUnreadable { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("missing.pem"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = refused(&format!(
            "postgres://relay:hunter2@db/between?sslmode=require&sslrootcert={}",
            empty.display()
        ));
        assert!(matches!(err, TargetError::RootCertEmpty { .. }), "{err}");

        let err = refused("postgres://relay:hunter2@db:notaport/between");
        assert!(matches!(err, TargetError::Unreadable(_)), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
