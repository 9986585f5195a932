//! Client certificates the operator holds for destinations (`[egress]
//! client_certificates`, `--client-cert`): the host presents one when a
//! hook's TLS connection to its destination is asked for a certificate, so
//! the private key never enters the sandbox or the runbooks repository and
//! the hook connects without naming it. A certificate the hook loads itself
//! (`load_cert_chain`) is offered instead of the operator's.
//!
//! The destination is the connection's real one: the name a hook's HTTPS
//! request was resolved from, or, for a socket the hook wraps, the address
//! it is connected to and the names that address stands for in this run.
//! A name the hook merely claims for TLS selects nothing.

use std::path::Path;

use super::address::Host;
use super::policy::{Rule, RuleError, Scheme};
use super::tls_session::ClientIdentity;

/// The operator's client certificates, each for the destinations of a rule.
#[derive(Debug, Clone, Default)]
pub struct OperatorIdentities(Vec<OperatorIdentity>);

/// One client certificate and the destinations it is presented to.
#[derive(Clone)]
pub struct OperatorIdentity {
    destination: Rule,
    identity: ClientIdentity,
}

/// Why an operator's client certificate cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The destination is not a rule for TLS.
    #[error(transparent)]
    Destination(#[from] RuleError),
    /// A file cannot be read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The certificate and key do not make a usable identity.
    #[error("{0}")]
    Unusable(String),
}

impl OperatorIdentity {
    /// The identity in the files `cert` (a PEM chain, the client's own
    /// certificate first) and `key` (an unencrypted PEM private key) for
    /// the destinations of `destination`, an `https://` or `tcp://` rule.
    pub fn load(destination: &str, cert: &Path, key: &Path) -> Result<Self, IdentityError> {
        let rule = Rule::for_tls(destination, "a client certificate")?;
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| IdentityError::Unreadable {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        };
        let identity = ClientIdentity {
            certificates: read(cert)?,
            key: read(key)?,
        };
        let config = hookbox_crypto::tls::TlsSettings::new(&[])
            .and_then(|settings| settings.unverified_config())
            .map_err(IdentityError::Unusable)?;
        hookbox_crypto::tls::with_client_identity(&config, &identity.certificates, &identity.key)
            .map_err(IdentityError::Unusable)?;
        Ok(OperatorIdentity {
            destination: rule,
            identity,
        })
    }

    /// The certificate and key.
    pub fn identity(&self) -> &ClientIdentity {
        &self.identity
    }

    /// What a record says of it: whose it is, the SHA-256 of its
    /// certificate and the rule that chose it (never anything of the key).
    pub fn note(&self) -> String {
        format!(
            "operator's {} (client certificate for {})",
            self.identity.note(),
            self.destination
        )
    }
}

impl std::fmt::Debug for OperatorIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OperatorIdentity({} {:?})",
            self.destination, self.identity
        )
    }
}

impl OperatorIdentities {
    /// These identities.
    pub fn new(identities: Vec<OperatorIdentity>) -> Self {
        OperatorIdentities(identities)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first identity whose rule covers one of `hosts` at `port` for
    /// one of `schemes`.
    pub fn for_destination(
        &self,
        schemes: &[Scheme],
        hosts: &[Host],
        port: u16,
    ) -> Option<&OperatorIdentity> {
        self.0.iter().find(|candidate| {
            let rule = &candidate.destination;
            schemes.iter().any(|&scheme| rule.covers(scheme, port))
                && hosts.iter().any(|host| rule.matches_host(host))
        })
    }
}

hookbox_core::failure::categorized!(Usage: IdentityError);
