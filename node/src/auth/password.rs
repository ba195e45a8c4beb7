//! Password hashing (Argon2id) and the rules a new password must meet.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so the
//! parameters travel with each hash and can be raised later without breaking old ones
//! (see [`needs_rehash`]).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use rand::rngs::OsRng;

use super::AuthError;

/// Argon2id memory cost in KiB (19 MiB): the OWASP Password Storage Cheat Sheet minimum.
pub const ARGON2_M_COST_KIB: u32 = 19_456;
/// Argon2id iterations.
pub const ARGON2_T_COST: u32 = 2;
/// Argon2id parallelism.
pub const ARGON2_P_COST: u32 = 1;

/// Upper bounds on the parameters we accept from a *stored* hash. A hash is data that
/// arrives by sync; without bounds a corrupt or hostile `m=4294967295` would make a
/// single login try to allocate 4 TiB.
const MAX_STORED_M_COST_KIB: u32 = 262_144; // 256 MiB
const MAX_STORED_T_COST: u32 = 16;
const MAX_STORED_P_COST: u32 = 8;

/// Shortest acceptable new password, in characters (NIST SP 800-63B asks for at least 8;
/// we ask for 12 because staff sign in to patient records).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest acceptable new password, in characters: long enough for any passphrase, short
/// enough that hashing it is not a denial-of-service lever.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// A password with fewer distinct characters than this is refused ("aaaaaaaaaaaa",
/// "abababababab", "123123123123").
const MIN_DISTINCT_CHARS: usize = 4;

/// The 32 symbols of temporary passwords: capitals and digits without the look-alikes
/// 0/O and 1/I (lowercase, and so `l`, is never used). 32 symbols = 5 bits each.
pub const TEMPORARY_PASSWORD_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Temporary passwords are `TEMPORARY_PASSWORD_GROUPS` groups of
/// `TEMPORARY_PASSWORD_GROUP_LEN` symbols joined by `-`: 16 × 5 = 80 random bits.
pub const TEMPORARY_PASSWORD_GROUPS: usize = 4;
pub const TEMPORARY_PASSWORD_GROUP_LEN: usize = 4;

/// A valid Argon2id hash (with our parameters) of a random password nobody knows. When a
/// sign-in names an unknown user, verify against this so the answer takes as long as for
/// a real account and the timing does not reveal which usernames exist.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2lnbi1pbi1kdW1teS1zYWx0$\
                              jcbWvCKvV8dIyWHIlMVKZ1yb4sAs9B3B2RE0R3Tfk5I";

fn hasher() -> Result<Argon2<'static>, AuthError> {
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
        .map_err(|e| AuthError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with Argon2id (m=19456 KiB, t=2, p=1) and a fresh random salt, and
/// returns the PHC string to store.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| AuthError::Hashing(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string `phc`. The comparison is constant-time
/// (done by the `argon2` crate). A malformed hash, another algorithm than Argon2id, or
/// parameters beyond sane bounds give `false`; this never panics.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_STORED_M_COST_KIB
        || params.t_cost() > MAX_STORED_T_COST
        || params.p_cost() > MAX_STORED_P_COST
    {
        return false;
    }
    // The verifier takes algorithm, version, parameters and salt from the stored hash.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Burns the same time as [`verify_password`] against a real account, for sign-ins that
/// name an unknown user. Always `false`.
pub fn verify_dummy(password: &str) -> bool {
    // The result is discarded on purpose: nobody knows the dummy password.
    let _ = verify_password(password, DUMMY_HASH);
    false
}

/// Whether a stored hash was made with other parameters than today's (or is not a valid
/// Argon2id hash), so it should be replaced by a fresh hash at the next successful login.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm != Algorithm::Argon2id.ident()
        || parsed.version != Some(Version::V0x13.into())
        || params.m_cost() != ARGON2_M_COST_KIB
        || params.t_cost() != ARGON2_T_COST
        || params.p_cost() != ARGON2_P_COST
}

/// Checks a password someone chose, in the spirit of NIST SP 800-63B: length is what
/// matters, and there are **no composition rules** (no "one capital, one digit, one
/// symbol"). Any Unicode character, including spaces, is allowed. Refused are:
///
/// - fewer than [`MIN_PASSWORD_CHARS`] (12) or more than [`MAX_PASSWORD_CHARS`] (128)
///   characters (counted as Unicode scalar values, not bytes);
/// - the username itself, or any password containing it (ignoring case; containment is
///   only checked for usernames of 3 characters or more, so "al" does not forbid "also");
/// - repetition: fewer than 4 distinct characters ("aaaaaaaaaaaa", "abababababab",
///   "123123123123");
/// - a run along the alphabet, the digits or a keyboard row, forwards or backwards,
///   ignoring case ("abcdefghijklm", "123456789012", "qwertyuiopas", "0987654321098").
pub fn check_new_password(new: &str, username: &str) -> Result<(), AuthError> {
    let chars = new.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AuthError::PasswordTooShort {
            min: MIN_PASSWORD_CHARS,
        });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AuthError::PasswordTooLong {
            max: MAX_PASSWORD_CHARS,
        });
    }
    let lower = new.to_lowercase();
    let user = username.trim().to_lowercase();
    if !user.is_empty() && (lower == user || (user.chars().count() >= 3 && lower.contains(&user)))
    {
        return Err(AuthError::PasswordContainsUsername);
    }
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT_CHARS || is_simple_sequence(&lower) {
        return Err(AuthError::PasswordTooSimple);
    }
    Ok(())
}

/// Whether `lower` is a stretch of one of the well-known sequences (cycled, so
/// "7890123456789" counts), forwards or backwards.
fn is_simple_sequence(lower: &str) -> bool {
    const SEQUENCES: [&str; 3] = [
        "0123456789",
        "abcdefghijklmnopqrstuvwxyz",
        "qwertyuiopasdfghjklzxcvbnm",
    ];
    let len = lower.chars().count();
    SEQUENCES.iter().any(|seq| {
        // Enough copies that every starting point has `len` characters after it.
        let copies = len / seq.len() + 2;
        let forwards = seq.repeat(copies);
        let backwards: String = forwards.chars().rev().collect();
        forwards.contains(lower) || backwards.contains(lower)
    })
}

/// A fresh temporary password, such as `K7QX-M4PD-9TRW-H2CZ`: 16 symbols from
/// [`TEMPORARY_PASSWORD_ALPHABET`] drawn with the operating system's CSPRNG (80 bits),
/// in groups of four so it can be read aloud over the phone.
pub fn generate_temporary_password() -> String {
    let mut rng = OsRng;
    let mut out = String::with_capacity(
        TEMPORARY_PASSWORD_GROUPS * (TEMPORARY_PASSWORD_GROUP_LEN + 1) - 1,
    );
    for group in 0..TEMPORARY_PASSWORD_GROUPS {
        if group > 0 {
            out.push('-');
        }
        for _ in 0..TEMPORARY_PASSWORD_GROUP_LEN {
            let i = rng.gen_range(0..TEMPORARY_PASSWORD_ALPHABET.len());
            out.push(char::from(TEMPORARY_PASSWORD_ALPHABET[i]));
        }
    }
    out
}

/// What a person typed, put back into the canonical temporary-password form if it can be:
/// spaces and dashes are dropped, letters upper-cased, and the 16 symbols regrouped
/// (`k7qx m4pd 9trw h2cz` → `K7QX-M4PD-9TRW-H2CZ`). `None` if it is not 16 symbols of the
/// alphabet.
pub fn normalize_temporary_password(typed: &str) -> Option<String> {
    let symbols: Vec<u8> = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .map(|c| u8::try_from(c).ok())
        .collect::<Option<_>>()?;
    if symbols.len() != TEMPORARY_PASSWORD_GROUPS * TEMPORARY_PASSWORD_GROUP_LEN
        || !symbols
            .iter()
            .all(|b| TEMPORARY_PASSWORD_ALPHABET.contains(b))
    {
        return None;
    }
    let mut out = String::with_capacity(symbols.len() + TEMPORARY_PASSWORD_GROUPS - 1);
    for (i, b) in symbols.iter().enumerate() {
        if i > 0 && i % TEMPORARY_PASSWORD_GROUP_LEN == 0 {
            out.push('-');
        }
        out.push(char::from(*b));
    }
    Some(out)
}
