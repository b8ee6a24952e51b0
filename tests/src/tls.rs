//! A private certificate authority for TLS tests, made with rcgen: the practice's CA, the relay
//! certificates it issues (valid, expired, for another name), and files for `--tls-cert`,
//! `--tls-key` and `between init --ca-file`.

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A practice's own certificate authority.
pub struct PracticeCa {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

/// A relay certificate and key, written to files.
#[derive(Debug, Clone)]
pub struct ServerFiles {
    /// The certificate (PEM), for `--tls-cert`.
    pub cert: PathBuf,
    /// The private key (PEM), for `--tls-key`.
    pub key: PathBuf,
}

/// Whether an issued certificate is valid now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Valid from yesterday-ish for years.
    Current,
    /// Expired years ago.
    Expired,
}

impl PracticeCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a CA key");
        let pem = params.self_signed(&key).expect("self-sign the CA").pem();
        Self { params, key, pem }
    }

    /// The CA certificate (PEM).
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Writes the CA certificate to `dir/NAME` (for `between init --ca-file`).
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).expect("write the CA file");
        path
    }

    /// Issues a relay certificate for `names` (DNS names or IP addresses) and writes it and its
    /// key to `dir/PREFIX.crt` and `dir/PREFIX.key`.
    pub fn issue(
        &self,
        dir: &Path,
        prefix: &str,
        names: &[&str],
        validity: Validity,
    ) -> ServerFiles {
        let names: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
        let mut params = CertificateParams::new(names).expect("relay certificate parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "between relay");
        match validity {
            Validity::Current => {
                params.not_before = date_time_ymd(2020, 1, 1);
                params.not_after = date_time_ymd(2090, 1, 1);
            }
            Validity::Expired => {
                params.not_before = date_time_ymd(2020, 1, 1);
                params.not_after = date_time_ymd(2021, 1, 1);
            }
        }
        let key = KeyPair::generate().expect("a relay key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .expect("sign the relay certificate");
        let files = ServerFiles {
            cert: dir.join(format!("{prefix}.crt")),
            key: dir.join(format!("{prefix}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).expect("write the relay certificate");
        std::fs::write(&files.key, key.serialize_pem()).expect("write the relay key");
        files
    }

    /// A TLS client configuration that trusts only this CA (for [`crate::relay::Peer`]).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(self.pem.as_bytes()) {
            roots.add(cert.expect("the CA parses")).expect("add the CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13])
                .expect("TLS 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}
