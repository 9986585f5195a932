//! Signed commits: whatever an allowed-signers file and a commit's signature
//! header hold, reading the file and judging the signature end in a verdict
//! or an error, never a panic; a commit is accepted only for a key the file
//! lists, valid at the commit's time.
#![no_main]

use arbitrary::Arbitrary;
use hookbox::source::git::allowed_signers::{AllowedSigners, fingerprint};
use hookbox::source::git::signing::verify_signature;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    allowed_signers: &'a str,
    signature: &'a [u8],
    signed: &'a [u8],
    time: i64,
}

fuzz_target!(|input: Input<'_>| {
    let Ok(signers) = AllowedSigners::parse(input.allowed_signers) else {
        return;
    };
    if let Ok(signer) = verify_signature(&signers, input.signature, input.signed, input.time) {
        assert!(signers.signers().iter().any(|listed| {
            fingerprint(listed.key.key_data()) == signer.fingerprint
                && listed.principals == signer.principals
                && listed.invalid_at(input.time).is_none()
                && listed.allows_namespace("git")
        }));
    }
});
