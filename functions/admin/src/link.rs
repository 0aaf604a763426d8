//! The signed admin link (API.md, "Entering"): minted by the operator CLI or by Learn Amp's own
//! app, checked here. `sig = hex(HMAC-SHA256(key, "personio-sync-admin-link/v1\n" + tenant +
//! "\n" + expires + "\n" + nonce))`.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The version tag that starts every signed message.
pub const LINK_VERSION: &str = "personio-sync-admin-link/v1";
/// A link expires at most this long after it is opened.
pub const MAX_LINK_LIFETIME: Duration = Duration::minutes(15);
/// The shortest key accepted.
pub const MIN_KEY_BYTES: usize = 32;

/// What a link grants once checked: a session for this tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    pub tenant_id: String,
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a link was refused. Never shown to the admin (who reads only "expired or already used"),
/// logged by kind only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    #[error("malformed link")]
    Malformed,
    #[error("signature does not match")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("expiry too far ahead")]
    TooFarAhead,
    #[error("nonce already used")]
    Replayed,
}

/// Whether `tenant` is a tenant id a link may name: 1 to 64 of `A-Z a-z 0-9 _ . - :`.
pub fn valid_tenant_id(tenant: &str) -> bool {
    (1..=64).contains(&tenant.len())
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'))
}

fn valid_nonce(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn mac(key: &[u8], tenant: &str, expires: &str, nonce: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{LINK_VERSION}\n{tenant}\n{expires}\n{nonce}").as_bytes());
    mac.finalize().into_bytes().into()
}

/// The link's signature, as lowercase hex.
pub fn sign(key: &[u8], tenant: &str, expires: &str, nonce: &str) -> String {
    hex(&mac(key, tenant, expires, nonce))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The keys a parameter's value holds: the current one, and during a rotation the previous one
/// on a second line. Each is its line's UTF-8 bytes, blanks around it dropped.
pub fn parse_keys(value: &str) -> Result<Vec<Vec<u8>>, &'static str> {
    let keys: Vec<Vec<u8>> = value
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect();
    match keys.len() {
        0 => Err("holds no key"),
        1 | 2 if keys.iter().all(|k| k.len() >= MIN_KEY_BYTES) => Ok(keys),
        1 | 2 => Err("holds a key shorter than 32 bytes: make one with `openssl rand -base64 48`"),
        _ => Err("holds more than two keys: the current one and, during a rotation, the previous one on a second line"),
    }
}

/// A random nonce: 16 bytes, base64url (22 characters).
pub fn new_nonce() -> String {
    crate::random::token(16)
}

/// A link to `base_url` for `tenant`, valid for `valid` (at most [`MAX_LINK_LIFETIME`]).
pub fn mint(
    key: &[u8],
    base_url: &str,
    tenant: &str,
    valid: Duration,
    now: DateTime<Utc>,
) -> String {
    let expires = (now + valid.min(MAX_LINK_LIFETIME)).timestamp().to_string();
    let nonce = new_nonce();
    let sig = sign(key, tenant, &expires, &nonce);
    format!(
        "{}/enter?tenant={}&expires={expires}&nonce={nonce}&sig={sig}",
        base_url.trim_end_matches('/'),
        urlencoding::encode(tenant)
    )
}

/// Checks a link's signature (under any of `keys`) and times; the nonce is the caller's to
/// consume. Every check runs, in constant time for the signature.
pub fn verify(
    keys: &[Vec<u8>],
    tenant: &str,
    expires: &str,
    nonce: &str,
    sig: &str,
    now: DateTime<Utc>,
) -> Result<LinkClaims, LinkRefusal> {
    if !valid_tenant_id(tenant)
        || !valid_nonce(nonce)
        || expires.is_empty()
        || expires.len() > 12
        || !expires.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(LinkRefusal::Malformed);
    }
    let given = unhex(sig)
        .filter(|s| s.len() == 32)
        .ok_or(LinkRefusal::Malformed)?;
    let mut matched = subtle::Choice::from(0);
    for key in keys {
        matched |= mac(key, tenant, expires, nonce).ct_eq(given.as_slice());
    }
    if !bool::from(matched) {
        return Err(LinkRefusal::BadSignature);
    }
    let expires_at = expires
        .parse::<i64>()
        .ok()
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .ok_or(LinkRefusal::Malformed)?;
    if expires_at <= now {
        return Err(LinkRefusal::Expired);
    }
    if expires_at > now + MAX_LINK_LIFETIME {
        return Err(LinkRefusal::TooFarAhead);
    }
    Ok(LinkClaims {
        tenant_id: tenant.to_string(),
        nonce: nonce.to_string(),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"example-admin-link-key-do-not-use-0123456789";

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn the_documented_example_holds() {
        // API.md's worked example, byte for byte.
        let sig = sign(KEY, "acme-gmbh", "1796212800", "q3Y0rN8mX2p5Vb7tL1cK9w");
        assert_eq!(
            sig,
            "8f4e40518617fe261b2a2540c31c16993f432eda90c8b4c48a67e2bf1e36f16e"
        );
        let api_md = include_str!("../API.md");
        assert!(api_md.contains(&sig) && api_md.contains(std::str::from_utf8(KEY).unwrap()));
        let claims = verify(
            &[KEY.to_vec()],
            "acme-gmbh",
            "1796212800",
            "q3Y0rN8mX2p5Vb7tL1cK9w",
            &sig.to_uppercase(),
            at(1796212800 - 600),
        )
        .unwrap();
        assert_eq!(claims.tenant_id, "acme-gmbh");
        assert_eq!(claims.expires_at, at(1796212800));
    }

    #[test]
    fn forged_expired_too_far_and_other_key_links_are_refused() {
        let now = at(1_800_000_000);
        let expires = (now.timestamp() + 600).to_string();
        let nonce = "AAAAAAAAAAAAAAAAAAAAAA";
        let good = sign(KEY, "acme", &expires, nonce);
        let keys = [KEY.to_vec()];
        assert!(verify(&keys, "acme", &expires, nonce, &good, now).is_ok());
        // Another tenant with acme's signature.
        assert_eq!(
            verify(&keys, "globex", &expires, nonce, &good, now),
            Err(LinkRefusal::BadSignature)
        );
        // One hex digit changed.
        let mut forged = good.clone().into_bytes();
        forged[0] = if forged[0] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            verify(&keys, "acme", &expires, nonce, &forged, now),
            Err(LinkRefusal::BadSignature)
        );
        // Signed with another key.
        let other = sign(
            b"another-key-of-at-least-thirty-two-bytes!",
            "acme",
            &expires,
            nonce,
        );
        assert_eq!(
            verify(&keys, "acme", &expires, nonce, &other, now),
            Err(LinkRefusal::BadSignature)
        );
        // Expired, and just expired.
        for past in [now.timestamp() - 1, now.timestamp()] {
            let e = past.to_string();
            let s = sign(KEY, "acme", &e, nonce);
            assert_eq!(
                verify(&keys, "acme", &e, nonce, &s, now),
                Err(LinkRefusal::Expired)
            );
        }
        // Too far ahead: 15 minutes is the most.
        let far = (now.timestamp() + 15 * 60 + 1).to_string();
        let s = sign(KEY, "acme", &far, nonce);
        assert_eq!(
            verify(&keys, "acme", &far, nonce, &s, now),
            Err(LinkRefusal::TooFarAhead)
        );
        let edge = (now.timestamp() + 15 * 60).to_string();
        let s = sign(KEY, "acme", &edge, nonce);
        assert!(verify(&keys, "acme", &edge, nonce, &s, now).is_ok());
        // Malformed parts.
        for (tenant, expires, nonce, sig) in [
            ("", expires.as_str(), nonce, good.as_str()),
            ("a/b", expires.as_str(), nonce, good.as_str()),
            ("acme", "+1800000600", nonce, good.as_str()),
            ("acme", expires.as_str(), "short", good.as_str()),
            ("acme", expires.as_str(), nonce, "zz"),
            ("acme", expires.as_str(), nonce, &good[..62]),
        ] {
            assert_eq!(
                verify(&keys, tenant, expires, nonce, sig, now),
                Err(LinkRefusal::Malformed),
                "{tenant} {expires} {nonce} {sig}"
            );
        }
    }

    #[test]
    fn during_a_rotation_either_key_opens_a_link() {
        let keys = parse_keys(&format!(
            "{}\n  old-key-that-is-also-thirty-two-bytes-long\n",
            std::str::from_utf8(KEY).unwrap()
        ))
        .unwrap();
        let now = at(1_800_000_000);
        let expires = (now.timestamp() + 60).to_string();
        let nonce = "BBBBBBBBBBBBBBBBBBBBBB";
        for key in &keys {
            let s = sign(key, "acme", &expires, nonce);
            assert!(verify(&keys, "acme", &expires, nonce, &s, now).is_ok());
        }
        assert!(parse_keys("").is_err());
        assert!(parse_keys("short").is_err());
        assert!(parse_keys(&format!("{0}\n{0}\n{0}", "k".repeat(32))).is_err());
    }

    #[test]
    fn a_minted_link_verifies_and_its_lifetime_is_capped() {
        let now = Utc::now();
        let link = mint(
            KEY,
            "http://127.0.0.1:8080/",
            "personio:x",
            Duration::hours(2),
            now,
        );
        let query = link.split_once("/enter?").unwrap().1;
        let params: std::collections::HashMap<String, String> =
            serde_urlencoded::from_str(query).unwrap();
        let claims = verify(
            &[KEY.to_vec()],
            &params["tenant"],
            &params["expires"],
            &params["nonce"],
            &params["sig"],
            now,
        )
        .unwrap();
        assert_eq!(claims.tenant_id, "personio:x");
        assert_eq!(
            claims.expires_at.timestamp(),
            (now + MAX_LINK_LIFETIME).timestamp()
        );
    }
}
