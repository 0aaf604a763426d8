//! Random tokens and digests: session ids, CSRF tokens and nonces from the operating system's
//! generator, base64url without padding; SHA-256 for what the store keeps of a session id.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// `bytes` random bytes from the OS, base64url without padding (32 bytes: 43 characters).
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The SHA-256 of `value`, as lowercase hex.
pub fn sha256_hex(value: &str) -> String {
    crate::link::hex(&Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_256_bits_and_never_repeat() {
        let a = super::token(32);
        let b = super::token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(super::sha256_hex("abc").len(), 64);
    }
}
