//! TLS client configuration, the one place trust is decided: the system's
//! roots plus the operator's CA bundle, over rustls with the ring provider
//! (no C crypto library). Used by hooks' HTTPS (`sandbox::egress`) and by git
//! over HTTPS (`source::git`). Verification cannot be switched off.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;

/// TLS client settings shared by every run of a runtime, built on first use
/// (loading the system's roots takes a few milliseconds).
#[derive(Debug, Default)]
pub struct TlsSettings {
    extra_roots: Vec<CertificateDer<'static>>,
    config: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
}

impl TlsSettings {
    /// Settings that trust the system roots plus the PEM certificates given.
    /// The bundle is parsed now, so a bad one is refused at start-up; the
    /// system roots are loaded on the first HTTPS request.
    pub fn new(ca_bundle: &[u8]) -> Result<TlsSettings, String> {
        Ok(TlsSettings {
            extra_roots: parse_ca_bundle(ca_bundle)?,
            config: OnceLock::new(),
        })
    }

    /// The client configuration, built on first use.
    pub fn config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        self.config
            .get_or_init(|| client_config(&self.extra_roots).map(Arc::new))
            .clone()
    }
}

/// Reads the operator's CA bundle (PEM): the certificates in it, or why it
/// cannot be used. An empty bundle gives none.
pub fn parse_ca_bundle(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;

    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the CA bundle is not valid PEM: {e}"))?;
    if !pem.is_empty() && certificates.is_empty() {
        return Err("the CA bundle holds no certificate".into());
    }
    let mut check = rustls::RootCertStore::empty();
    for certificate in &certificates {
        check
            .add(certificate.clone())
            .map_err(|e| format!("the CA bundle holds an unusable certificate: {e}"))?;
    }
    Ok(certificates)
}

/// Builds the TLS client configuration: the system's roots plus the
/// operator's extra roots. Verification cannot be switched off.
pub fn client_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for certificate in native.certs {
        let _ = roots.add(certificate);
    }
    for certificate in extra_roots {
        roots
            .add(certificate.clone())
            .map_err(|e| format!("the CA bundle holds an unusable certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
