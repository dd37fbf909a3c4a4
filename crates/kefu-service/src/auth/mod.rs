//! Credentials: password hashing, signed access tokens, opaque secrets, TOTP.

pub mod password;
pub mod tokens;
pub mod totp;
