//! SHA-256, the one digest for everything a hook or a client can influence:
//! cache keys of compiled hooks and of hooks' bytecode, script digests and
//! delivery keys. (A fast non-cryptographic hash is not collision resistant
//! against someone who crafts the input.)

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The SHA-256 of `bytes` in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}
