//! Certificate authorities made for one test or benchmark run, so that
//! HTTPS on loopback is verified as in production: a server CA with a
//! certificate for `localhost` and 127.0.0.1, a self-signed server
//! certificate that is its own CA, and a client CA for mutual TLS.

use std::sync::Arc;

/// A TLS acceptor for a loopback server.
pub type TlsAcceptor = tokio_rustls::TlsAcceptor;

/// A certificate authority made for one run, and a server certificate it
/// signed for `localhost` and 127.0.0.1.
pub struct TestCa {
    /// The CA certificate (PEM), to give hookbox as its CA bundle.
    pub ca_pem: String,
    /// The server certificate (PEM), for servers the test does not write.
    pub server_cert_pem: String,
    /// Its private key (PEM).
    pub server_key_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// Makes a fresh CA and server certificate.
    pub fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        // Distinct names: OpenSSL (the real python3's ssl) takes a leaf whose
        // subject is its issuer's for a self-signed certificate.
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hookbox test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let (server_cert_pem, server_key_pem) = (leaf.pem(), leaf_key.serialize_pem());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .unwrap();
        TestCa {
            ca_pem: ca.as_ref().pem(),
            server_cert_pem,
            server_key_pem,
            server: Arc::new(server),
        }
    }

    /// A server certificate that is its own CA (`CA:TRUE`, self-signed, for
    /// `localhost` and 127.0.0.1), as `openssl req -x509` makes one:
    /// `ca_pem` is that certificate itself.
    pub fn self_signed_ca() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "self-signed collector");
        let certificate = params.self_signed(&key).unwrap();
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate.der().clone()], der)
            .unwrap();
        TestCa {
            ca_pem: certificate.pem(),
            server_cert_pem: certificate.pem(),
            server_key_pem: key.serialize_pem(),
            server: Arc::new(server),
        }
    }

    /// A TLS acceptor presenting the server certificate and requiring a
    /// client certificate that `clients` signed (mutual TLS).
    pub fn acceptor_requiring(&self, clients: &ClientCa) -> TlsAcceptor {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(clients.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let chain = vec![CertificateDer::from_pem_slice(self.server_cert_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    /// A TLS acceptor presenting the server certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server.clone())
    }
}

/// A certificate authority for clients, and one client certificate (with
/// its key) it signed: for servers that require mutual TLS.
pub struct ClientCa {
    /// The client CA's certificate (PEM).
    pub ca_pem: String,
    /// The client's certificate (PEM).
    pub cert_pem: String,
    /// The client's private key (PEM, unencrypted).
    pub key_pem: String,
}

impl ClientCa {
    /// Makes a fresh client CA and a client certificate.
    pub fn new() -> ClientCa {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hookbox test client CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "hoop agent");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &ca).unwrap();
        ClientCa {
            ca_pem: ca.as_ref().pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl Default for ClientCa {
    fn default() -> Self {
        ClientCa::new()
    }
}
