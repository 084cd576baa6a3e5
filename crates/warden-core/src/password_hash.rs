//! The `PasswordHash` a secret may hold for password logins: an Argon2id PHC string whose cost a
//! login can afford. The identity provider checks passwords against it; validation (rule 1) flags
//! a hash it could not check against.

use std::fmt;

use argon2::password_hash::Error as HashError;
use argon2::{ARGON2ID_IDENT, Argon2, Params, PasswordHash, PasswordVerifier};

/// Why a `PasswordHash` value cannot be checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordHashProblem {
    /// Not a PHC string with parameters, salt and hash.
    NotPhc,
    /// A PHC string of another algorithm (argon2i, argon2d, bcrypt, …).
    NotArgon2id,
    /// Parameters beyond what a login may spend (memory, passes, lanes).
    TooCostly,
}

impl fmt::Display for PasswordHashProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotPhc => "is not a PHC string with parameters, salt and hash",
            Self::NotArgon2id => "is not an Argon2id hash",
            Self::TooCostly => "asks for more memory or passes than a login may spend",
        })
    }
}

/// Upper bounds on a `PasswordHash`'s cost, so a secret cannot make a login exhaust the
/// function's memory or time: 64 MiB, 8 passes, 4 lanes (OWASP's minimum is 19 MiB, 2 passes).
pub const MAX_HASH_MEMORY_KIB: u32 = 64 * 1024;
pub const MAX_HASH_PASSES: u32 = 8;
pub const MAX_HASH_LANES: u32 = 4;

/// Parses a `PasswordHash` value and checks it is an Argon2id PHC string a login can afford.
pub fn parse(text: &str) -> Result<PasswordHash<'_>, PasswordHashProblem> {
    let hash = PasswordHash::new(text).map_err(|_| PasswordHashProblem::NotPhc)?;
    if hash.algorithm != ARGON2ID_IDENT {
        return Err(PasswordHashProblem::NotArgon2id);
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(PasswordHashProblem::NotPhc);
    }
    let params = Params::try_from(&hash).map_err(|_| PasswordHashProblem::NotPhc)?;
    if params.m_cost() > MAX_HASH_MEMORY_KIB
        || params.t_cost() > MAX_HASH_PASSES
        || params.p_cost() > MAX_HASH_LANES
    {
        return Err(PasswordHashProblem::TooCostly);
    }
    Ok(hash)
}

/// Whether `given` is the password `hash` was made from. `Err` when the hash cannot be checked
/// against after all (parameters the library refuses).
pub fn verify(given: &str, hash: &PasswordHash<'_>) -> Result<bool, PasswordHashProblem> {
    match Argon2::default().verify_password(given.as_bytes(), hash) {
        Ok(()) => Ok(true),
        Err(HashError::Password) => Ok(false),
        Err(_) => Err(PasswordHashProblem::NotPhc),
    }
}
