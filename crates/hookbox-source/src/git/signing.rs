//! Whether a fetched commit may be used when the operator requires signed
//! commits (`GIT_ALLOWED_SIGNERS`): it must carry an SSH signature (git's
//! `gpg.format=ssh`, the `gpgsig` header) for namespace `git`, made by a key
//! of the allowed-signers file that was valid at the commit's committer time,
//! as `git verify-commit` decides with `gpg.ssh.allowedSignersFile`.
//!
//! The signature covers the commit object minus its `gpgsig` header: the
//! tree id, parents, author, committer and message. A tree changed after
//! signing is a different commit whose signature no longer matches.
//! OpenPGP and X.509 signatures are refused by name: only SSH signatures
//! are verified.

use ssh_key::{PublicKey, SshSig};

use super::allowed_signers::{AllowedSigners, fingerprint};
use hookbox_record::Signer;

/// The namespace git signs commits under.
pub const NAMESPACE: &str = "git";

/// Why a commit was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRefusal {
    /// The commit has no signature.
    #[error(
        "the commit is not signed; sign it with an allowed SSH key (git commit -S, gpg.format=ssh)"
    )]
    Unsigned,
    /// The signature is not an SSH one.
    #[error("the commit is signed with {0}; only SSH signatures (gpg.format=ssh) are verified")]
    NotSsh(&'static str),
    /// The signature cannot be decoded.
    #[error("the signature cannot be read: {0}")]
    Malformed(String),
    /// The signature was made for another namespace than `git`.
    #[error("the signature is for namespace {0:?}, not \"git\": it was not made by git commit -S")]
    WrongNamespace(String),
    /// The key is not listed.
    #[error("the signing key is not in the allowed signers")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the signature does not match the commit: it was altered after signing, or forged")]
    BadSignature,
    /// The listed key may not sign for `git`.
    #[error("the allowed signers do not let this key sign git commits (namespaces= on line {0})")]
    NamespaceNotAllowed(usize),
    /// The listed key was not valid at the commit's time.
    #[error("{0}")]
    NotValidAt(String),
    /// The branch moved back: the tip was committed before the commit in
    /// use.
    #[error(
        "the commit is older than {last}, the verified commit in use: a branch moved back to an \
         older signed commit is not followed; push a new signed commit (git revert) instead"
    )]
    Older {
        /// The commit in use.
        last: String,
    },
    /// The commit's committer time cannot be read.
    #[error("the commit's committer time cannot be read: {0}")]
    NoTime(String),
}

hookbox_core::failure::categorized!(Unavailable: SignatureRefusal);

/// A refused commit: why, and which key signed it, if one did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    /// The signing key's fingerprint, with the principals the file lists for
    /// it, when the signature could be read.
    pub key: Option<String>,
    /// Why it was refused.
    pub refusal: SignatureRefusal,
}

impl From<SignatureRefusal> for Unverified {
    fn from(refusal: SignatureRefusal) -> Unverified {
        Unverified { key: None, refusal }
    }
}

/// The signer of `commit` if `signers` let it be used.
pub fn verify(signers: &AllowedSigners, commit: &gix::Commit<'_>) -> Result<Signer, Unverified> {
    let time = commit
        .committer()
        .and_then(|committer| committer.time())
        .map_err(|e| SignatureRefusal::NoTime(e.to_string()))?
        .seconds;
    let (signature, signed) = commit
        .signature()
        .map_err(|e| SignatureRefusal::Malformed(e.to_string()))?
        .ok_or(SignatureRefusal::Unsigned)?;
    verify_signature(signers, signature.as_ref(), &signed.to_bstring(), time)
}

/// The signer of `signed` (the commit without its signature header), whose
/// `gpgsig` header is `signature`, committed at `time` (seconds since the
/// epoch), if `signers` let it be used.
pub fn verify_signature(
    signers: &AllowedSigners,
    signature: &[u8],
    signed: &[u8],
    time: i64,
) -> Result<Signer, Unverified> {
    let text = String::from_utf8_lossy(signature);
    let text = text.trim();
    if text.starts_with("-----BEGIN PGP SIGNATURE-----") {
        return Err(SignatureRefusal::NotSsh("OpenPGP").into());
    }
    if text.starts_with("-----BEGIN SIGNED MESSAGE-----") {
        return Err(SignatureRefusal::NotSsh("X.509").into());
    }
    let sshsig = SshSig::from_pem(text).map_err(|e| SignatureRefusal::Malformed(e.to_string()))?;
    let fingerprint = fingerprint(sshsig.public_key());
    let listed: Vec<_> = signers.listing(sshsig.public_key()).collect();
    let key = match listed.first() {
        Some(first) => format!("{fingerprint} ({})", first.principals),
        None => fingerprint.clone(),
    };
    let refused = |refusal| Unverified {
        key: Some(key.clone()),
        refusal,
    };
    if sshsig.namespace() != NAMESPACE {
        return Err(refused(SignatureRefusal::WrongNamespace(
            sshsig.namespace().to_owned(),
        )));
    }
    if listed.is_empty() {
        return Err(refused(SignatureRefusal::UnknownKey));
    }
    PublicKey::from(sshsig.public_key().clone())
        .verify(NAMESPACE, signed, &sshsig)
        .map_err(|_| refused(SignatureRefusal::BadSignature))?;
    // As git (`ssh-keygen -Y find-principals` at the commit's time, then
    // `-Y verify -n git`): the first line listing the key that is valid at
    // the commit's time decides, namespaces included.
    let Some(signer) = listed
        .iter()
        .find(|signer| signer.invalid_at(time).is_none())
    else {
        let first = listed[0].invalid_at(time).unwrap_or_default();
        return Err(refused(SignatureRefusal::NotValidAt(first)));
    };
    if !signer.allows_namespace(NAMESPACE) {
        return Err(refused(SignatureRefusal::NamespaceNotAllowed(signer.line)));
    }
    Ok(Signer {
        principals: signer.principals.clone(),
        fingerprint,
    })
}
