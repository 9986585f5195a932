//! Where a hook that ran came from: the commit of the runbooks repository and
//! who signed it, so an audit can say who authored what ran.

use serde::{Deserialize, Serialize};

/// The commit a hook was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The commit (full hex id).
    pub commit: String,
    /// The branch it was fetched from.
    pub branch: String,
    /// Who signed it, when the operator requires signed commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
}

/// The key that signed a commit, as the allowed-signers file lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// The principals of the allowed-signers line (e.g. `alice@example.com`).
    pub principals: String,
    /// The key's SHA-256 fingerprint (`SHA256:…`, as `ssh-keygen -l` prints it).
    pub fingerprint: String,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.principals, self.fingerprint)
    }
}
