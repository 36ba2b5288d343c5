//! The TLS client configuration, built once per run and shared by every connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A `--cacert` file is missing, unreadable or holds no usable certificate.
    #[error("--cacert {}: {problem}", path.display())]
    CaCert {
        /// The file as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A `--cert` file is missing, unreadable, or does not go with its key.
    #[error("--cert {}: {problem}", path.display())]
    ClientCert {
        /// The file as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A `--key` file is missing or holds no private key.
    #[error("--key {}: {problem}", path.display())]
    ClientKey {
        /// The file as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// rustls refused the configuration (should not happen with the bundled provider).
    #[error("TLS set-up failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// What the TLS configuration is built from (`--cacert`, `--cert`/`--key`).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted roots, PEM files.
    pub extra_roots: Vec<PathBuf>,
    /// A client certificate chain and its private key, PEM files (mutual TLS).
    pub client_auth: Option<(PathBuf, PathBuf)>,
}

/// Builds a client configuration: the system's roots, the bundled Mozilla roots and any
/// `--cacert` files, a client certificate if given; HTTP/1.1 over ALPN. With `insecure`, the
/// server's certificate is not checked at all (the handshake's signatures still are).
pub fn client_config(
    options: &TlsOptions,
    insecure: bool,
) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
    client_config_for(options, insecure, false)
}

/// As [`client_config`]; with `http2`, offers `h2` before `http/1.1` over ALPN.
pub fn client_config_for(
    options: &TlsOptions,
    insecure: bool,
    http2: bool,
) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Unreadable system certificates are not fatal: the bundled set still applies.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    for path in &options.extra_roots {
        add_ca_file(&mut roots, path)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match &options.client_auth {
        Some((cert, key)) => builder
            .with_client_auth_cert(read_chain(cert)?, read_key(key)?)
            .map_err(|e| TlsConfigError::ClientCert {
                path: cert.clone(),
                problem: e.to_string(),
            })?,
        None => builder.with_no_client_auth(),
    };
    if insecure {
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(NoVerification(provider)));
    }
    config.alpn_protocols = match http2 {
        true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        false => vec![b"http/1.1".to_vec()],
    };
    Ok(Arc::new(config))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    read_certificates(path).map_err(|problem| TlsConfigError::ClientCert {
        path: path.to_owned(),
        problem,
    })
}

/// The certificates of a PEM file, or what is wrong with it (the caller names the flag).
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("holds no certificate (expected -----BEGIN CERTIFICATE-----)".to_owned());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let problem = |problem: String| TlsConfigError::ClientKey {
        path: path.to_owned(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        problem(format!(
            "holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"
        ))
    })
}

/// `--insecure`: accepts any server certificate. The handshake's signatures are still
/// verified, so the connection is encrypted to whoever answered — just not authenticated.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsConfigError> {
    let problem = |problem: String| TlsConfigError::CaCert {
        path: path.to_owned(),
        problem,
    };
    let certs = read_certificates(path).map_err(problem)?;
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| problem(format!("a certificate in it is not usable: {e}")))?;
    }
    Ok(())
}
