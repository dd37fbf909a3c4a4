//! Checking an ID token (OpenID Connect Core §3.1.3.7): the JWS signature
//! against the provider's keys — `ring` does the cryptography — then
//! issuer, audience, authorized party, times and nonce.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;

/// Clock difference tolerated between us and the provider, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// One key of a JWK set (RFC 7517), the fields we use.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// `aud` is a string or an array of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims of a verified ID token that a sign-in uses.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    aud: Audience,
    #[serde(default)]
    azp: Option<String>,
    pub exp: i64,
    pub iat: i64,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Some providers send `"true"` as a string.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub email_verified: bool,
    #[serde(default)]
    pub name: Option<String>,
    /// Authentication methods (RFC 8176).
    #[serde(default)]
    pub amr: Vec<String>,
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::String(s) => s == "true",
        _ => false,
    })
}

impl IdClaims {
    /// Whether the provider reports a second factor (RFC 8176 `amr`).
    pub fn multi_factor(&self) -> bool {
        self.amr
            .iter()
            .any(|m| matches!(m.as_str(), "mfa" | "otp" | "hwk" | "swk" | "sms" | "fido"))
    }
}

/// Why a token was refused; each becomes the code of the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not a JWS, or claims that do not parse.
    Malformed,
    /// `none`, HMAC or an algorithm we do not verify.
    Algorithm,
    /// No key of the set has the token's `kid` (or fits it).
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    Expired,
    Nonce,
}

impl Invalid {
    pub fn code(self) -> &'static str {
        match self {
            Invalid::Malformed | Invalid::Algorithm | Invalid::UnknownKey | Invalid::Signature => {
                "sso_token_invalid"
            }
            Invalid::Issuer => "sso_issuer_mismatch",
            Invalid::Audience => "sso_audience_mismatch",
            Invalid::Expired => "sso_token_expired",
            Invalid::Nonce => "sso_nonce_mismatch",
        }
    }
}

/// What a token must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: i64,
}

/// The `kid` of a token's header (to look a key up before verifying), or
/// `None` when it names none.
pub fn key_id(token: &str) -> Result<Option<String>, Invalid> {
    Ok(header(token)?.kid)
}

fn header(token: &str) -> Result<Header, Invalid> {
    let head = token.split('.').next().ok_or(Invalid::Malformed)?;
    let bytes = B64.decode(head).map_err(|_| Invalid::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Invalid::Malformed)
}

/// Verifies `token` with `keys` and checks its claims against `want`.
pub fn verify(token: &str, keys: &JwkSet, want: Expected<'_>) -> Result<IdClaims, Invalid> {
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid::Malformed);
    };
    let header = header(token)?;
    let sig = B64.decode(sig).map_err(|_| Invalid::Malformed)?;
    let signed = &token[..head.len() + 1 + body.len()];
    let (kty, check) = algorithm(&header.alg)?;
    let candidates: Vec<&Jwk> = keys
        .keys
        .iter()
        .filter(|k| k.kty == kty && k.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == header.alg))
        .filter(|k| match (&header.kid, &k.kid) {
            (Some(want), Some(have)) => want == have,
            (Some(_), None) => false,
            (None, _) => true,
        })
        .collect();
    // Without a `kid`, a token is accepted only when exactly one key fits.
    let key = match candidates.as_slice() {
        [one] => *one,
        _ => return Err(Invalid::UnknownKey),
    };
    check(key, signed.as_bytes(), &sig)?;
    let claims: IdClaims =
        serde_json::from_slice(&B64.decode(body).map_err(|_| Invalid::Malformed)?)
            .map_err(|_| Invalid::Malformed)?;
    if claims.iss != want.issuer {
        return Err(Invalid::Issuer);
    }
    let audiences: Vec<&str> = match &claims.aud {
        Audience::One(a) => vec![a.as_str()],
        Audience::Many(v) => v.iter().map(String::as_str).collect(),
    };
    if !audiences.contains(&want.client_id) {
        return Err(Invalid::Audience);
    }
    // Several audiences: `azp` must name us; when present it must anyway.
    let azp_ok = match &claims.azp {
        Some(azp) => azp == want.client_id,
        None => audiences.len() == 1,
    };
    if !azp_ok {
        return Err(Invalid::Audience);
    }
    if claims.exp + LEEWAY_SECS <= want.now || claims.iat - LEEWAY_SECS > want.now {
        return Err(Invalid::Expired);
    }
    if claims.nonce.as_deref() != Some(want.nonce) {
        return Err(Invalid::Nonce);
    }
    Ok(claims)
}

type Check = fn(&Jwk, &[u8], &[u8]) -> Result<(), Invalid>;

/// The key type and the check for a JWS `alg`.
fn algorithm(alg: &str) -> Result<(&'static str, Check), Invalid> {
    Ok(match alg {
        "RS256" => ("RSA", |k, m, s| {
            rsa(k, m, s, &signature::RSA_PKCS1_2048_8192_SHA256)
        }),
        "RS384" => ("RSA", |k, m, s| {
            rsa(k, m, s, &signature::RSA_PKCS1_2048_8192_SHA384)
        }),
        "RS512" => ("RSA", |k, m, s| {
            rsa(k, m, s, &signature::RSA_PKCS1_2048_8192_SHA512)
        }),
        "PS256" => ("RSA", |k, m, s| {
            rsa(k, m, s, &signature::RSA_PSS_2048_8192_SHA256)
        }),
        "PS384" => ("RSA", |k, m, s| {
            rsa(k, m, s, &signature::RSA_PSS_2048_8192_SHA384)
        }),
        "PS512" => ("RSA", |k, m, s| {
            rsa(k, m, s, &signature::RSA_PSS_2048_8192_SHA512)
        }),
        "ES256" => ("EC", |k, m, s| {
            ec(k, m, s, "P-256", 32, &signature::ECDSA_P256_SHA256_FIXED)
        }),
        "ES384" => ("EC", |k, m, s| {
            ec(k, m, s, "P-384", 48, &signature::ECDSA_P384_SHA384_FIXED)
        }),
        _ => return Err(Invalid::Algorithm),
    })
}

fn field(v: &Option<String>) -> Result<Vec<u8>, Invalid> {
    B64.decode(v.as_deref().ok_or(Invalid::UnknownKey)?)
        .map_err(|_| Invalid::UnknownKey)
}

fn rsa(
    key: &Jwk,
    msg: &[u8],
    sig: &[u8],
    params: &'static signature::RsaParameters,
) -> Result<(), Invalid> {
    let (n, e) = (field(&key.n)?, field(&key.e)?);
    RsaPublicKeyComponents { n: &n, e: &e }
        .verify(params, msg, sig)
        .map_err(|_| Invalid::Signature)
}

fn ec(
    key: &Jwk,
    msg: &[u8],
    sig: &[u8],
    curve: &str,
    size: usize,
    alg: &'static signature::EcdsaVerificationAlgorithm,
) -> Result<(), Invalid> {
    if key.crv.as_deref() != Some(curve) {
        return Err(Invalid::UnknownKey);
    }
    let (x, y) = (field(&key.x)?, field(&key.y)?);
    if x.len() != size || y.len() != size {
        return Err(Invalid::UnknownKey);
    }
    // SEC 1 uncompressed point: 0x04 ‖ x ‖ y.
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(4);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    UnparsedPublicKey::new(alg, &point)
        .verify(msg, sig)
        .map_err(|_| Invalid::Signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    struct Issuer {
        pair: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl Issuer {
        fn new() -> Self {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            Self { pair, rng }
        }

        fn jwks(&self, kid: &str) -> JwkSet {
            let p = self.pair.public_key().as_ref();
            serde_json::from_value(json!({"keys": [{
                "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                "x": B64.encode(&p[1..33]), "y": B64.encode(&p[33..65]),
            }]}))
            .unwrap()
        }

        fn token(&self, header: serde_json::Value, claims: serde_json::Value) -> String {
            let signed = format!(
                "{}.{}",
                B64.encode(header.to_string()),
                B64.encode(claims.to_string())
            );
            let sig = self.pair.sign(&self.rng, signed.as_bytes()).unwrap();
            format!("{signed}.{}", B64.encode(sig.as_ref()))
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn want() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            client_id: "kefu",
            nonce: "n-1",
            now: NOW,
        }
    }

    fn claims() -> serde_json::Value {
        json!({"iss": "https://idp.example", "sub": "alice", "aud": "kefu", "exp": NOW + 300,
               "iat": NOW, "nonce": "n-1", "email": "a@corp.example", "email_verified": true})
    }

    fn with(f: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
        let mut c = claims();
        f(&mut c);
        c
    }

    #[test]
    fn a_good_es256_token_verifies() {
        let idp = Issuer::new();
        let t = idp.token(json!({"alg": "ES256", "kid": "k1"}), claims());
        let c = verify(&t, &idp.jwks("k1"), want()).unwrap();
        assert_eq!((c.sub.as_str(), c.email_verified), ("alice", true));
        assert_eq!(key_id(&t).unwrap().as_deref(), Some("k1"));
    }

    #[test]
    fn each_claim_is_checked() {
        let idp = Issuer::new();
        let keys = idp.jwks("k1");
        let h = json!({"alg": "ES256", "kid": "k1"});
        let cases = [
            (
                with(|c| c["iss"] = json!("https://evil.example")),
                Invalid::Issuer,
            ),
            (with(|c| c["aud"] = json!("other")), Invalid::Audience),
            (
                with(|c| c["aud"] = json!(["kefu", "other"])),
                Invalid::Audience,
            ),
            (with(|c| c["azp"] = json!("other")), Invalid::Audience),
            (
                with(|c| c["exp"] = json!(NOW - LEEWAY_SECS)),
                Invalid::Expired,
            ),
            (
                with(|c| c["iat"] = json!(NOW + LEEWAY_SECS + 1)),
                Invalid::Expired,
            ),
            (with(|c| c["nonce"] = json!("n-2")), Invalid::Nonce),
            (
                with(|c| {
                    c.as_object_mut().unwrap().remove("nonce");
                }),
                Invalid::Nonce,
            ),
        ];
        for (c, why) in cases {
            assert_eq!(
                verify(&idp.token(h.clone(), c.clone()), &keys, want()).unwrap_err(),
                why,
                "{c}"
            );
        }
        let several = with(|c| {
            c["aud"] = json!(["kefu", "other"]);
            c["azp"] = json!("kefu");
        });
        assert!(verify(&idp.token(h, several), &keys, want()).is_ok());
    }

    #[test]
    fn forged_or_unsigned_tokens_fail() {
        let idp = Issuer::new();
        let other = Issuer::new();
        let h = json!({"alg": "ES256", "kid": "k1"});
        let t = other.token(h.clone(), claims());
        assert_eq!(
            verify(&t, &idp.jwks("k1"), want()).unwrap_err(),
            Invalid::Signature
        );
        let t = idp.token(h, claims());
        assert_eq!(
            verify(&t, &idp.jwks("k2"), want()).unwrap_err(),
            Invalid::UnknownKey
        );
        let (head_body, _) = t.rsplit_once('.').unwrap();
        let none = format!(
            "{}.{}.",
            B64.encode(json!({"alg": "none"}).to_string()),
            head_body.split('.').nth(1).unwrap()
        );
        assert_eq!(
            verify(&none, &idp.jwks("k1"), want()).unwrap_err(),
            Invalid::Algorithm
        );
        let hs = idp.token(json!({"alg": "HS256", "kid": "k1"}), claims());
        assert_eq!(
            verify(&hs, &idp.jwks("k1"), want()).unwrap_err(),
            Invalid::Algorithm
        );
        // A body swapped under a valid signature.
        let forged = with(|c| c["sub"] = json!("mallory"));
        let parts: Vec<&str> = t.split('.').collect();
        let swapped = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(forged.to_string()),
            parts[2]
        );
        assert_eq!(
            verify(&swapped, &idp.jwks("k1"), want()).unwrap_err(),
            Invalid::Signature
        );
        assert_eq!(
            verify("a.b", &idp.jwks("k1"), want()).unwrap_err(),
            Invalid::Malformed
        );
    }

    #[test]
    fn amr_tells_a_second_factor() {
        let mut c: IdClaims = serde_json::from_value(claims()).unwrap();
        assert!(!c.multi_factor());
        c.amr = vec!["pwd".into(), "otp".into()];
        assert!(c.multi_factor());
        let s: IdClaims =
            serde_json::from_value(with(|c| c["email_verified"] = json!("true"))).unwrap();
        assert!(s.email_verified);
    }
}
