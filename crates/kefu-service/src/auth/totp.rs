//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps,
//! 6 digits), as every authenticator app implements them, plus one-time
//! recovery codes.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;

pub const STEP_SECS: i64 = 30;
const DIGITS: u32 = 6;

/// A new random 160-bit secret, base32 as authenticator apps expect.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    BASE32_NOPAD.encode(&bytes)
}

/// The code for one time step (RFC 4226 HOTP).
pub fn code_at(secret_b32: &str, step: i64) -> Option<String> {
    let key = BASE32_NOPAD.decode(secret_b32.as_bytes()).ok()?;
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).ok()?;
    mac.update(&(step as u64).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    Some(format!(
        "{:0width$}",
        bin % 10u32.pow(DIGITS),
        width = DIGITS as usize
    ))
}

/// The time step whose code `code` is at `now_unix`, allowing one step of
/// clock drift either way; the comparison is constant-time. The caller must
/// refuse a step already used, so that a code works once.
pub fn matching_step(secret_b32: &str, code: &str, now_unix: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = now_unix.div_euclid(STEP_SECS);
    (step - 1..=step + 1).find(|s| {
        code_at(secret_b32, *s).is_some_and(|want| {
            subtle::ConstantTimeEq::ct_eq(want.as_bytes(), code.as_bytes()).into()
        })
    })
}

/// The URI an authenticator app scans from a QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={}",
        pct(issuer),
        pct(account),
        secret_b32,
        pct(issuer),
        DIGITS,
        STEP_SECS
    )
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Ten recovery codes like `k7fq2-9xw4m` (50 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
    let mut rng = rand::rngs::OsRng;
    (0..10)
        .map(|_| {
            let mut s = String::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    s.push('-');
                }
                s.push(ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char);
            }
            s
        })
        .collect()
}

/// Recovery codes are compared case-insensitively, with or without the dash.
pub fn normalise_recovery_code(code: &str) -> String {
    code.trim().to_ascii_lowercase().replace(['-', ' '], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B vectors (SHA-1 secret "12345678901234567890"),
    /// truncated to 6 digits.
    #[test]
    fn matches_rfc_6238_vectors() {
        let secret = BASE32_NOPAD.encode(b"12345678901234567890");
        for (t, want) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(code_at(&secret, t / 30).unwrap(), want, "t={t}");
        }
    }

    #[test]
    fn verify_allows_one_step_of_drift_only() {
        let s = new_secret();
        let now = 1_700_000_000;
        let step = now / 30;
        let code = code_at(&s, step).unwrap();
        assert_eq!(matching_step(&s, &code, now), Some(step));
        assert_eq!(matching_step(&s, &code, now + 30), Some(step));
        assert_eq!(matching_step(&s, &code, now + 90), None);
        assert_eq!(matching_step(&s, "12345", now), None);
        assert_eq!(matching_step(&s, "abcdef", now), None);
    }

    #[test]
    fn uri_and_recovery_codes() {
        let uri = otpauth_uri("Kefu 客服", "li@example.com", "ABC");
        assert!(uri.starts_with(
            "otpauth://totp/Kefu%20%E5%AE%A2%E6%9C%8D:li@example.com?secret=ABC&issuer="
        ));
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 11 && &c[5..6] == "-"));
        assert_eq!(normalise_recovery_code(" K7FQ2-9XW4M "), "k7fq29xw4m");
    }
}
