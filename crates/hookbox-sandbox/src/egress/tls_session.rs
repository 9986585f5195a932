//! What a hook's `ssl` module may know of a TLS session the host speaks
//! for it: version, cipher, application protocol and the server's
//! certificate (DER, and the fields Python's `getpeercert()` gives), so
//! libraries that look at them (urllib3's `assert_fingerprint`, a hook
//! logging the peer) work as under `python3`.

use rustls::ClientConnection;
use wasmtime::component::{ComponentType, Lift, Lower};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};
use x509_parser::time::ASN1Time;

/// `hookbox:runner/egress.tls-session`.
#[derive(Debug, Clone, Default, PartialEq, Eq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct TlsSession {
    /// The protocol version, as Python names it (`TLSv1.3`).
    pub version: String,
    /// The cipher suite's OpenSSL name.
    pub cipher: String,
    /// The cipher's secret key bits.
    #[component(name = "cipher-bits")]
    pub cipher_bits: u32,
    /// The application protocol agreed, empty when none.
    pub alpn: String,
    /// The server's certificate (DER), empty when none.
    #[component(name = "peer-certificate")]
    pub peer_certificate: Vec<u8>,
    /// The certificate's `getpeercert()` fields as JSON, empty when none.
    #[component(name = "peer-certificate-fields")]
    pub peer_certificate_fields: String,
}

/// `hookbox:runner/egress.client-identity`: a certificate chain and its
/// key (PEM) a hook presents when a server asks for one.
#[derive(Clone, PartialEq, Eq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct ClientIdentity {
    /// The certificate chain (PEM), the hook's own first.
    pub certificates: Vec<u8>,
    /// The private key (PEM).
    pub key: Vec<u8>,
}

impl ClientIdentity {
    /// What a record says of it: the SHA-256 of the hook's own certificate
    /// (never anything of the key).
    pub fn note(&self) -> String {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let fingerprint = CertificateDer::pem_slice_iter(&self.certificates)
            .next()
            .and_then(Result::ok)
            .map_or_else(
                || "unreadable".into(),
                |der| hookbox_crypto::digest::sha256_hex(&der),
            );
        format!("client certificate sha256:{fingerprint} offered to the server")
    }
}

/// A client certificate a connection offers, with what its record says
/// of it: the hook's own ([`ClientIdentity::note`]) or the operator's
/// ([`super::operator_identity::OperatorIdentity::note`]).
#[derive(Debug, Clone)]
pub struct OfferedIdentity {
    /// The certificate chain and key.
    pub identity: ClientIdentity,
    /// The record's note.
    pub note: String,
}

impl From<&super::operator_identity::OperatorIdentity> for OfferedIdentity {
    fn from(operator: &super::operator_identity::OperatorIdentity) -> Self {
        OfferedIdentity {
            identity: operator.identity().clone(),
            note: operator.note(),
        }
    }
}

impl From<ClientIdentity> for OfferedIdentity {
    fn from(identity: ClientIdentity) -> Self {
        let note = identity.note();
        OfferedIdentity { identity, note }
    }
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(
            f,
            "ClientIdentity({} bytes of certificates)",
            self.certificates.len()
        )
    }
}

impl TlsSession {
    /// A session that stands for one under `hookbox test`, which records
    /// the plain bytes and has no server.
    pub fn recorded() -> TlsSession {
        TlsSession {
            version: "TLS (recorded as plain text by hookbox test)".into(),
            ..TlsSession::default()
        }
    }

    /// What `connection`, handshake done, agreed.
    pub fn of(connection: &ClientConnection) -> TlsSession {
        let version = connection
            .protocol_version()
            .and_then(|version| version.as_str())
            .unwrap_or("TLS")
            .replace("TLSv1_", "TLSv1.");
        let (cipher, cipher_bits) = connection
            .negotiated_cipher_suite()
            .and_then(|suite| suite.suite().as_str())
            .map_or((String::new(), 0), openssl_cipher);
        let alpn = connection
            .alpn_protocol()
            .map(|protocol| String::from_utf8_lossy(protocol).into_owned())
            .unwrap_or_default();
        let peer_certificate = connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|certificate| certificate.to_vec())
            .unwrap_or_default();
        let peer_certificate_fields = certificate_fields(&peer_certificate).unwrap_or_default();
        TlsSession {
            version,
            cipher,
            cipher_bits,
            alpn,
            peer_certificate,
            peer_certificate_fields,
        }
    }
}

/// A rustls suite name as OpenSSL names it (TLS 1.3's `TLS_AES_…`; TLS
/// 1.2's IANA names are kept), and its key bits.
fn openssl_cipher(name: &str) -> (String, u32) {
    let name = match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_owned(),
    };
    let bits = if name.contains("AES_128") { 128 } else { 256 };
    (name, bits)
}

/// The fields of a DER certificate as Python's `SSLSocket.getpeercert()`
/// returns them (lists for its tuples), as JSON.
pub fn certificate_fields(der: &[u8]) -> Option<String> {
    let (_, certificate) = X509Certificate::from_der(der).ok()?;
    let mut fields = serde_json::Map::new();
    fields.insert("subject".into(), name_fields(certificate.subject()));
    fields.insert("issuer".into(), name_fields(certificate.issuer()));
    fields.insert("version".into(), (certificate.version().0 + 1).into());
    fields.insert(
        "serialNumber".into(),
        hex::encode_upper(certificate.raw_serial()).into(),
    );
    let validity = certificate.validity();
    fields.insert("notBefore".into(), openssl_time(validity.not_before).into());
    fields.insert("notAfter".into(), openssl_time(validity.not_after).into());
    if let Ok(Some(names)) = certificate.subject_alternative_name() {
        let names: Vec<serde_json::Value> = names
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(serde_json::json!(["DNS", dns])),
                GeneralName::IPAddress(bytes) => {
                    ip_text(bytes).map(|ip| serde_json::json!(["IP Address", ip]))
                }
                GeneralName::RFC822Name(email) => Some(serde_json::json!(["email", email])),
                GeneralName::URI(uri) => Some(serde_json::json!(["URI", uri])),
                _ => None,
            })
            .collect();
        fields.insert("subjectAltName".into(), names.into());
    }
    serde_json::to_string(&fields).ok()
}

/// A distinguished name as `getpeercert()` gives it: one list per RDN of
/// (attribute, value) pairs, attributes by OpenSSL's long names.
fn name_fields(name: &X509Name<'_>) -> serde_json::Value {
    let registry = x509_parser::objects::oid_registry();
    name.iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type();
                    let key = x509_parser::objects::oid2sn(oid, registry)
                        .map_or_else(|_| oid.to_id_string(), str::to_owned);
                    let value = attribute.as_str().unwrap_or_default().to_owned();
                    serde_json::json!([key, value])
                })
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .into()
}

/// A time as OpenSSL prints it, `Jan  5 09:03:00 2027 GMT`.
fn openssl_time(time: ASN1Time) -> String {
    let time = time.to_datetime();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][usize::from(u8::from(time.month())) - 1];
    format!(
        "{month} {:>2} {:02}:{:02}:{:02} {} GMT",
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        time.year()
    )
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        // Python prints IPv6 addresses in SANs in full, upper case.
        16 => {
            let groups: Vec<String> = bytes
                .chunks(2)
                .map(|pair| format!("{:X}", u16::from_be_bytes([pair[0], pair[1]])))
                .collect();
            Some(groups.join(":"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificates_fields_are_those_python_shows() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["siem.example.com".into(), "127.0.0.1".into()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "siem.example.com");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        let certificate = params.self_signed(&key).unwrap();
        let fields: serde_json::Value =
            serde_json::from_str(&certificate_fields(certificate.der()).unwrap()).unwrap();
        assert_eq!(
            fields["subject"],
            serde_json::json!([
                [["commonName", "siem.example.com"]],
                [["organizationName", "Example"]]
            ])
        );
        assert_eq!(
            fields["subjectAltName"],
            serde_json::json!([["DNS", "siem.example.com"], ["IP Address", "127.0.0.1"]])
        );
        assert_eq!(fields["version"], 3);
        assert!(
            fields["notAfter"].as_str().unwrap().ends_with(" GMT"),
            "{fields}"
        );
    }

    #[test]
    fn suites_take_their_openssl_names() {
        assert_eq!(
            openssl_cipher("TLS13_AES_256_GCM_SHA384"),
            ("TLS_AES_256_GCM_SHA384".into(), 256)
        );
        assert_eq!(
            openssl_cipher("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(), 128)
        );
    }
}
