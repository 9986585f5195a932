//! TLS client configuration, the one place trust is decided: the system's
//! roots plus the operator's CA bundle, over rustls with the ring provider
//! (no C crypto library). Used by every TLS path of hooks (`wasi:http`,
//! HTTP over sockets, `wrap_socket`: `sandbox::egress`) and by git over
//! HTTPS (`source::git`). Verification is switched off only for a
//! destination the operator listed (`unverified_tls`), and only when the hook
//! asked for it.
//!
//! The rules ([`Verifier`]): a server's chain must lead to a trusted root
//! (webpki: signatures, validity, name, key usage). As OpenSSL does, a
//! server certificate that is itself one of the operator's CA bundle
//! certificates is trusted as it is, even when it says `CA:TRUE` (what
//! `openssl req -x509` makes, and many internal collectors show): its name
//! and validity period are still checked, and the handshake proves the
//! server holds its key.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;

/// TLS client settings shared by every run of a runtime, built on first use
/// (loading the system's roots takes a few milliseconds).
#[derive(Debug, Default)]
pub struct TlsSettings {
    extra_roots: Vec<CertificateDer<'static>>,
    config: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
    unverified: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
}

impl TlsSettings {
    /// Settings that trust the system roots plus the PEM certificates given.
    /// The bundle is parsed now, so a bad one is refused at start-up; the
    /// system roots are loaded on the first HTTPS request.
    pub fn new(ca_bundle: &[u8]) -> Result<TlsSettings, String> {
        Ok(TlsSettings {
            extra_roots: parse_ca_bundle(ca_bundle)?,
            config: OnceLock::new(),
            unverified: OnceLock::new(),
        })
    }

    /// The client configuration, built on first use.
    pub fn config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        self.config
            .get_or_init(|| client_config(&self.extra_roots).map(Arc::new))
            .clone()
    }

    /// A client configuration that accepts any certificate: for a
    /// destination an `unverified_tls` rule names, when the hook turned
    /// verification off, and nowhere else.
    pub fn unverified_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        self.unverified
            .get_or_init(|| {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let verifier = Arc::new(AnyCertificate(provider.clone()));
                let mut config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Ok(Arc::new(config))
            })
            .clone()
    }
}

/// Accepts any certificate and name, still checking the handshake's
/// signatures (the server holds the key of the certificate it sent).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `config` presenting the client certificate chain `certificates_pem` with
/// the private key `key_pem` (PEM, unencrypted) to a server that asks for
/// one, or why they cannot be used.
pub fn with_client_identity(
    config: &rustls::ClientConfig,
    certificates_pem: &[u8],
    key_pem: &[u8],
) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;

    let certificates = CertificateDer::pem_slice_iter(certificates_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the client certificate is not valid PEM: {e}"))?;
    if certificates.is_empty() {
        return Err("the client certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| {
        "the client key is not an unencrypted private key in PEM (PKCS#8, PKCS#1 or SEC1)"
            .to_owned()
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = rustls::sign::CertifiedKey::from_der(certificates, key, &provider).map_err(
        |e| match e {
            rustls::Error::InconsistentKeys(_) => {
                format!("the client certificate and key do not go together: {e}")
            }
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(ref other))
                if other.to_string().contains("UnsupportedCertVersion") =>
            {
                format!(
                    "the client certificate cannot be used: {e}: it is an X.509 version 1 \
                     certificate, and TLS clients here need version 3 (`openssl x509 -req` \
                     makes version 1 unless given extensions, e.g. `-extfile` with \
                     `basicConstraints=CA:FALSE`)"
                )
            }
            _ => format!("the client certificate cannot be used: {e}"),
        },
    )?;
    let mut config = config.clone();
    config.client_auth_cert_resolver = Arc::new(rustls::sign::SingleCertAndKey::from(certified));
    Ok(config)
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

/// Verifies a server's certificate: its chain against the roots, else
/// (see the module's documentation) as one of the operator's certificates
/// trusted as it is.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    /// The operator's CA bundle.
    operator_certificates: Vec<CertificateDer<'static>>,
}

impl rustls::client::danger::ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verified {
            Err(_)
                if self
                    .operator_certificates
                    .iter()
                    .any(|trusted| trusted.as_ref() == end_entity.as_ref()) =>
            {
                trusted_as_it_is(end_entity, server_name, now)
            }
            verified => verified,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki
            .verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki
            .verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Checks a certificate the operator trusts as it is: valid now and for
/// `server_name`.
fn trusted_as_it_is(
    certificate: &CertificateDer<'_>,
    server_name: &rustls::pki_types::ServerName<'_>,
    now: rustls::pki_types::UnixTime,
) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
    use rustls::CertificateError;
    use x509_parser::prelude::FromDer;

    let invalid = rustls::Error::InvalidCertificate;
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(certificate)
        .map_err(|_| invalid(CertificateError::BadEncoding))?;
    let now_seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let now_asn1 = x509_parser::time::ASN1Time::from_timestamp(now_seconds)
        .map_err(|_| invalid(CertificateError::BadEncoding))?;
    if now_asn1 < parsed.validity().not_before {
        return Err(invalid(CertificateError::NotValidYet));
    }
    if now_asn1 > parsed.validity().not_after {
        return Err(invalid(CertificateError::Expired));
    }
    webpki::EndEntityCert::try_from(certificate)
        .map_err(|_| invalid(CertificateError::BadEncoding))?
        .verify_is_valid_for_subject_name(server_name)
        .map_err(|_| invalid(CertificateError::NotValidForName))?;
    Ok(rustls::client::danger::ServerCertVerified::assertion())
}

/// Builds the TLS client configuration: the system's roots plus the
/// operator's extra roots.
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
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let verifier = Verifier {
        webpki,
        operator_certificates: extra_roots.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
