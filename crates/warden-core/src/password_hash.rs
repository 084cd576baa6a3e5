//! The `PasswordHash` a secret may hold for password logins: an Argon2id PHC string whose cost a
//! login can afford. The identity provider checks passwords against it; validation (rule 1) flags
//! a hash it could not check against.

use std::fmt;

use argon2::password_hash::Output;
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, PasswordHash, Version};

/// Why a `PasswordHash` value cannot be checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordHashProblem {
    /// Not a PHC string with parameters, salt and hash.
    NotPhc,
    /// A PHC string of another algorithm (argon2i, argon2d, bcrypt, …).
    NotArgon2id,
    /// Parameters beyond what a login may spend (memory, passes, lanes).
    TooCostly,
    /// Parameters below what keeps a stolen hash hard to crack (memory, work, salt, output).
    TooWeak,
}

impl fmt::Display for PasswordHashProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotPhc => "is not a PHC string with parameters, salt and hash",
            Self::NotArgon2id => "is not an Argon2id hash",
            Self::TooCostly => "asks for more memory or passes than a login may spend",
            Self::TooWeak => {
                "is too weak: at least 7 MiB of memory, 35 MiB x passes, an 8-byte salt and a 16-byte hash"
            }
        })
    }
}

/// Bounds on a `PasswordHash`'s cost. Above, a secret could make each login spend more than the
/// function is sized for (template.yaml: 1,024 MB, about 0.6 of a core: a check at the upper
/// bound takes about a third of a second, and a burst of guesses runs into the function's
/// reserved concurrency, not into other users' logins). Below, a stolen hash is cheap to crack.
/// The lower bounds are OWASP's weakest recommended Argon2id settings (7 MiB × 5 passes,
/// 9 MiB × 4, 12 MiB × 3, 19 MiB × 2, 46 MiB × 1: all at least 35 MiB × passes).
pub const MIN_HASH_MEMORY_KIB: u32 = 7 * 1024;
pub const MAX_HASH_MEMORY_KIB: u32 = 64 * 1024;
/// Memory × passes, in KiB: the work one check costs.
pub const MIN_HASH_WORK: u64 = 35 * 1024;
pub const MAX_HASH_WORK: u64 = 128 * 1024;
pub const MAX_HASH_LANES: u32 = 4;
const MIN_SALT_BYTES: usize = 8;
const MIN_OUTPUT_BYTES: usize = 16;

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
    let work = u64::from(params.m_cost()) * u64::from(params.t_cost());
    if params.m_cost() > MAX_HASH_MEMORY_KIB
        || work > MAX_HASH_WORK
        || params.p_cost() > MAX_HASH_LANES
    {
        return Err(PasswordHashProblem::TooCostly);
    }
    let salt_bytes = hash.salt.map_or(0, |s| s.len() * 3 / 4);
    let output_bytes = hash.hash.map_or(0, |h| h.len());
    if params.m_cost() < MIN_HASH_MEMORY_KIB
        || work < MIN_HASH_WORK
        || salt_bytes < MIN_SALT_BYTES
        || output_bytes < MIN_OUTPUT_BYTES
    {
        return Err(PasswordHashProblem::TooWeak);
    }
    Ok(hash)
}

thread_local! {
    /// Argon2 verifications run on this thread, so tests can count what a login cost.
    static VERIFICATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Argon2 verifications this thread has run so far.
pub fn verifications() -> usize {
    VERIFICATIONS.with(std::cell::Cell::get)
}

/// Argon2's working memory, kept between verifications (it grows to the largest hash seen, at
/// most [`MAX_HASH_MEMORY_KIB`]). Allocating 19 MiB per login and freeing it let glibc's heap
/// grow to ~160 MiB resident after ten logins; reusing one buffer keeps it at ~21 MiB. One
/// buffer for the process (a Lambda instance serves one login at a time), so that
/// [`prepare_memory`] can fill it on another thread.
static MEMORY: std::sync::Mutex<Vec<Block>> = std::sync::Mutex::new(Vec::new());

fn memory() -> std::sync::MutexGuard<'static, Vec<Block>> {
    // A panic while the lock was held leaves a buffer that is overwritten before use anyway.
    MEMORY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Allocates and touches the working memory a check at the recommended settings needs (19 MiB),
/// so that the first password login does not pay for the page faults: in a cold start measured
/// on 2 cores, the first check took ~75 ms against ~25 ms for the next. Meant to run on a thread
/// of its own as the process starts; a check that comes first waits for it, no longer than it
/// would have taken itself.
pub fn prepare_memory() {
    let Ok(dummy) = PasswordHash::new(DUMMY) else {
        return;
    };
    let Ok(params) = Params::try_from(&dummy) else {
        return;
    };
    let mut memory = memory();
    if memory.len() < params.block_count() {
        // `resize` writes every block, so every page is faulted in here.
        memory.resize(params.block_count(), Block::default());
    }
}

/// Whether `given` is the password `hash` was made from. `Err` when the hash cannot be checked
/// against after all (parameters the library refuses). The comparison is constant-time
/// ([`Output`]'s equality).
pub fn verify(given: &str, hash: &PasswordHash<'_>) -> Result<bool, PasswordHashProblem> {
    VERIFICATIONS.with(|v| v.set(v.get() + 1));
    fn not_phc<E>(_: E) -> PasswordHashProblem {
        PasswordHashProblem::NotPhc
    }
    let algorithm = Algorithm::try_from(hash.algorithm).map_err(not_phc)?;
    let version = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .map_err(not_phc)?;
    let params = Params::try_from(hash).map_err(not_phc)?;
    let expected = hash.hash.ok_or(PasswordHashProblem::NotPhc)?;
    let mut salt = [0u8; 64];
    let salt = hash
        .salt
        .ok_or(PasswordHashProblem::NotPhc)?
        .decode_b64(&mut salt)
        .map_err(not_phc)?;
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    {
        let mut memory = memory();
        if memory.len() < params.block_count() {
            memory.resize(params.block_count(), Block::default());
        }
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(
                given.as_bytes(),
                salt,
                out,
                &mut memory[..params.block_count()],
            )
            .map_err(not_phc)?;
    }
    let computed = Output::new(out).map_err(not_phc)?;
    Ok(computed == expected)
}

/// What a password login is checked against when the user has no hash of its own (unknown user,
/// plain `Password`, or a denial before the password is reached): an Argon2id hash with the
/// settings operators are told to use (19 MiB, 2 passes), so that path costs what a real check
/// costs. Made beforehand (argon2-cffi: `hash_secret(b"no password is this",
/// b"dummy-salt-of-sftp-warden", time_cost=2, memory_cost=19456, parallelism=1, hash_len=32,
/// type=Type.ID)`), so a cold start does not pay for making it.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZHVtbXktc2FsdC1vZi1zZnRwLXdhcmRlbg$hpu3W+PJ5MQZQAqJRopuXnAjbd7qti+3TvGiIhYQRhc";

/// Spends on `given` the time a real check would, and tells nothing.
pub fn verify_dummy(given: &str) {
    if let Ok(dummy) = PasswordHash::new(DUMMY) {
        let _ = verify(given, &dummy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `argon2.low_level.hash_secret(b"pw", b"saltsaltsalt", time_cost=5, memory_cost=7168,
    /// parallelism=1, hash_len=32, type=Type.ID)` (argon2-cffi, the reference C implementation):
    /// OWASP's weakest recommended setting, made by a second implementation.
    const PW_7MIB_5_PASSES: &str = "$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg";

    #[test]
    fn the_reused_memory_gives_the_same_answers_whatever_was_verified_before() {
        let small = parse(PW_7MIB_5_PASSES).unwrap();
        let large = parse(DUMMY).unwrap();
        for _ in 0..2 {
            assert_eq!(verify("no password is this", &large), Ok(true));
            assert_eq!(verify("pw", &small), Ok(true), "after a larger hash");
            assert_eq!(verify("pw!", &small), Ok(false));
            assert_eq!(verify("no password is thi", &large), Ok(false));
        }
    }

    #[test]
    fn a_hash_made_by_the_reference_implementation_verifies_its_password_only() {
        let hash = parse(PW_7MIB_5_PASSES).unwrap();
        assert_eq!(verify("pw", &hash), Ok(true));
        assert_eq!(verify("pW", &hash), Ok(false));
    }

    #[test]
    fn hashes_outside_the_cost_a_login_affords_are_refused_either_way() {
        for (hash, problem) in [
            // 64 KiB: far below the minimum memory.
            (
                "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$u6+ZeadSAoHmLPnrhAtsIWyy7AO6oEfGF6xJ6Ek8JXE",
                PasswordHashProblem::TooWeak,
            ),
            // 7 MiB but one pass: 7 MiB x passes is below 35.
            (
                "$argon2id$v=19$m=7168,t=1,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg",
                PasswordHashProblem::TooWeak,
            ),
            // A 4-byte salt.
            (
                "$argon2id$v=19$m=7168,t=5,p=1$c2FsdA$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg",
                PasswordHashProblem::TooWeak,
            ),
            // A 12-byte hash.
            (
                "$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHY",
                PasswordHashProblem::TooWeak,
            ),
            // 64 MiB x 3 passes: more work than a login may spend.
            (
                "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg",
                PasswordHashProblem::TooCostly,
            ),
            // 1 GiB.
            (
                "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg",
                PasswordHashProblem::TooCostly,
            ),
            // 8 lanes.
            (
                "$argon2id$v=19$m=19456,t=2,p=8$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg",
                PasswordHashProblem::TooCostly,
            ),
        ] {
            assert_eq!(parse(hash).err(), Some(problem), "{hash}");
        }
        for hash in [
            PW_7MIB_5_PASSES,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg",
            "$argon2id$v=19$m=65536,t=2,p=4$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg",
        ] {
            assert!(parse(hash).is_ok(), "{hash}");
        }
    }

    #[test]
    fn the_dummy_is_a_hash_a_login_accepts_with_the_recommended_settings() {
        let hash = parse(DUMMY).expect("within the bounds");
        let params = Params::try_from(&hash).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19 * 1024, 2, 1)
        );
        assert_eq!(verify("no password is this", &hash), Ok(true));
    }
}
