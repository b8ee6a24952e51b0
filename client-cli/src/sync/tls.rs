//! Trusting the relay's TLS certificate: the system's roots, or the practice's own certificate
//! authority given at `init --ca-file`; TLS 1.3 only. Also turns certificate failures into
//! messages a person can act on.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;

/// Why the relay's certificate cannot be checked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TrustError {
    /// The CA file could not be read.
    #[error("could not read the practice's certificate authority file {path}: {detail}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// The CA text holds no usable certificate.
    #[error("{source_name} holds no usable CA certificate ({detail}); it should be a PEM file beginning with -----BEGIN CERTIFICATE-----, as your practice admin gave it")]
    NoCertificate {
        /// Where the text came from.
        source_name: String,
        /// What was wrong.
        detail: String,
    },
    /// Neither a CA file nor any system root is available.
    #[error("this computer has no trusted root certificates to check the relay with; give your practice's CA file with --ca-file")]
    NoRoots,
    /// rustls refused the configuration.
    #[error("could not set up TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// Reads and checks a practice CA file (PEM), returning its text to keep in the profile.
pub(crate) fn read_ca_file(path: &Path) -> Result<String, TrustError> {
    let text = std::fs::read_to_string(path).map_err(|err| TrustError::Unreadable {
        path: path.display().to_string(),
        detail: err.to_string(),
    })?;
    roots_from_pem(&text, &path.display().to_string())?;
    Ok(text)
}

fn roots_from_pem(pem: &str, source_name: &str) -> Result<RootCertStore, TrustError> {
    let no_certificate = |detail: String| TrustError::NoCertificate {
        source_name: source_name.to_owned(),
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| no_certificate(err.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(no_certificate("no CERTIFICATE block parses".to_owned()));
    }
    Ok(roots)
}

/// The TLS client configuration: the practice CA when given, otherwise the system's roots.
pub(crate) fn client_config(practice_ca: Option<&str>) -> Result<Arc<ClientConfig>, TrustError> {
    let roots = match practice_ca {
        Some(pem) => roots_from_pem(pem, "the practice CA kept in this profile")?,
        None => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(TrustError::NoRoots);
            }
            roots
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A sentence on what to do about a failed TLS connection, if `err` is a TLS failure.
pub(crate) fn explain(err: &(dyn std::error::Error + 'static), host: &str) -> Option<String> {
    between_shared::error::causes(err)
        .find_map(|cause| cause.downcast_ref::<rustls::Error>())
        .map(|tls| explain_rustls(tls, host))
}

fn explain_rustls(err: &rustls::Error, host: &str) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!(
                "the relay's certificate has expired (or this device's clock is wrong); ask your practice admin to renew the certificate of {host}"
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => format!(
                "the relay's certificate is not valid yet (check this device's clock); ask your practice admin about {host}"
            ),
            CertificateError::UnknownIssuer => format!(
                "the relay's certificate for {host} is not signed by an authority this device trusts; if your practice uses its own certificate authority, set this device up with --ca-file and the CA file from your practice admin. Do not go on if you did not expect this: someone may be pretending to be your relay"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the relay's certificate is not for {host}; check the relay address, and do not go on if it is right: someone may be pretending to be your relay"
                )
            }
            other => format!("the relay's certificate was refused ({other:?})"),
        },
        other => format!("the secure connection failed: {other}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = read_ca_file(&path).unwrap_err().to_string();
        assert!(err.contains("no usable CA certificate"), "{err}");
        assert!(err.contains("BEGIN CERTIFICATE"), "{err}");
        let missing = read_ca_file(&dir.path().join("absent.pem"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("could not read"), "{missing}");
    }

    #[test]
    fn certificate_failures_say_what_to_do() {
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert!(explain(&expired, "relay.example").is_some_and(|m| m.contains("expired")));
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(explain(&unknown, "relay.example").is_some_and(|m| m.contains("--ca-file")));
        let io = std::io::Error::other(unknown);
        assert!(
            explain(&io, "relay.example").is_some_and(|m| m.contains("--ca-file")),
            "the cause is found inside an I/O error"
        );
        assert!(explain(&std::io::Error::other("reset"), "relay.example").is_none());
    }
}
