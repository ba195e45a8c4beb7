//! Password hashing (Argon2id) and the rules a new password must meet.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so the
//! parameters travel with each hash and can be raised later without breaking old ones
//! (see [`needs_rehash`]).

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use parking_lot::Mutex;
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
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$Zd6XUYFlg82BCCILjcZrwQ$\
                              vMzooGqNwZVpHZBXPH9NGEv2P9ClRtQEwYVUbgIOzaA";

/// The Argon2 parameters of a stored hash, if they are within our bounds.
///
/// The raw numbers are checked *before* `argon2` sees them: besides the memory bound,
/// argon2 0.5.3's `Params::new` computes `p_cost * 8` unchecked, which panics (debug) or
/// wraps (release) for a huge `p` — found by the property test below.
fn stored_params(parsed: &PasswordHash<'_>) -> Option<Params> {
    for (name, value) in parsed.params.iter() {
        let max = match name.as_str() {
            "m" => MAX_STORED_M_COST_KIB,
            "t" => MAX_STORED_T_COST,
            "p" => MAX_STORED_P_COST,
            _ => continue,
        };
        if value.decimal().ok()? > max {
            return None;
        }
    }
    Params::try_from(parsed).ok()
}

fn hasher() -> Result<Argon2<'static>, AuthError> {
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
        .map_err(|e| AuthError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// One Argon2 work area for the whole process, reused by every hash and check.
///
/// Argon2 needs `m` KiB of scratch memory per call. Allocated afresh each time, glibc
/// raises its mmap threshold after the first free and then keeps every 19 MiB block it
/// hands out: a node grew from 70 MiB to 485 MiB over 36 sign-ins (BENCHMARKS.md). With
/// one reused area the node holds 19 MiB for passwords, for good. It also makes password
/// checks take turns (~50 ms each), which bounds the CPU that a flood of sign-in attempts
/// can take from the clinic's other work.
static WORK_AREA: Mutex<Vec<Block>> = Mutex::new(Vec::new());

/// Argon2 of `password` with `salt`, computed in the shared work area.
fn compute(argon: &Argon2<'_>, params: &Params, password: &[u8], salt: Salt<'_>) -> Option<Output> {
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).ok()?;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let blocks = params.block_count();
    let mut area = WORK_AREA.lock();
    if area.len() < blocks {
        area.resize(blocks, Block::default());
    }
    let output = Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(password, salt_bytes, out, &mut area[..blocks])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .ok();
    // A stored hash with a larger memory cost than ours is rare: give that memory back.
    let usual = (ARGON2_M_COST_KIB as usize).max(8);
    if area.len() > usual {
        area.truncate(usual);
        area.shrink_to_fit();
    }
    output
}

/// Hashes `password` with Argon2id (m=19456 KiB, t=2, p=1) and a fresh random salt, and
/// returns the PHC string to store.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    let argon = hasher()?;
    let params = argon.params().clone();
    let hash = compute(&argon, &params, password.as_bytes(), salt.as_salt())
        .ok_or_else(|| AuthError::Hashing("argon2 failed".to_owned()))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| AuthError::Hashing(e.to_string()))?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the stored PHC string `phc`. The comparison is constant-time
/// (`Output`'s equality). A malformed hash, another algorithm than Argon2id, or parameters
/// beyond sane bounds give `false`; this never panics.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let Some(params) = stored_params(&parsed) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let argon = Argon2::new(Algorithm::Argon2id, version, params.clone());
    compute(&argon, &params, password.as_bytes(), salt).is_some_and(|got| got == expected)
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
    let Some(params) = stored_params(&parsed) else {
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
    if !user.is_empty() && (lower == user || (user.chars().count() >= 3 && lower.contains(&user))) {
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
    let mut out =
        String::with_capacity(TEMPORARY_PASSWORD_GROUPS * (TEMPORARY_PASSWORD_GROUP_LEN + 1) - 1);
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

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn the_shared_work_area_agrees_with_the_argon2_crate() {
        // Hashes made by the crate's own hasher verify here, and ours verify there.
        let theirs = hasher()
            .unwrap()
            .hash_password(
                b"correct horse battery staple",
                &SaltString::generate(&mut OsRng),
            )
            .unwrap()
            .to_string();
        assert!(verify_password("correct horse battery staple", &theirs));
        assert!(!verify_password("correct horse battery stapler", &theirs));
        let ours = hash_password("correct horse battery staple").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        use argon2::password_hash::PasswordVerifier;
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery staple", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
    }

    #[test]
    fn hash_round_trip_and_wrong_password() {
        let started = std::time::Instant::now();
        let phc = hash_password("correct horse battery staple").unwrap();
        println!(
            "argon2id hash (m=19456,t=2,p=1) took {:?}",
            started.elapsed()
        );
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify_password("correct horse battery staple", &phc));
        assert!(!verify_password("correct horse battery stapler", &phc));
        assert!(!verify_password("Correct horse battery staple", &phc));
        assert!(!verify_password("", &phc));
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn same_password_gets_a_fresh_salt_each_time() {
        let a = hash_password("same password twice").unwrap();
        let b = hash_password("same password twice").unwrap();
        assert_ne!(a, b);
        assert!(verify_password("same password twice", &a));
        assert!(verify_password("same password twice", &b));
    }

    #[test]
    fn malformed_or_foreign_hashes_never_verify() {
        let good = hash_password("a fine password").unwrap();
        // 40 of 43 output characters: still parses (a 30-byte output), must not verify.
        let truncated = &good[..good.len() - 3];
        let argon2i = good.replacen("$argon2id$", "$argon2i$", 1);
        let bad = [
            "",
            "garbage",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            truncated,
            &argon2i,
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            // Parameters a corrupt or hostile record could carry: must not allocate 4 TiB.
            "$argon2id$v=19$m=4294967295,t=2,p=1$Zd6XUYFlg82BCCILjcZrwQ$\
             vMzooGqNwZVpHZBXPH9NGEv2P9ClRtQEwYVUbgIOzaA",
            "$argon2id$v=19$m=19456,t=4294967295,p=1$Zd6XUYFlg82BCCILjcZrwQ$\
             vMzooGqNwZVpHZBXPH9NGEv2P9ClRtQEwYVUbgIOzaA",
            "$argon2id$v=19$m=19456,t=2,p=255$Zd6XUYFlg82BCCILjcZrwQ$\
             vMzooGqNwZVpHZBXPH9NGEv2P9ClRtQEwYVUbgIOzaA",
            // Overflows `p * 8` inside argon2 0.5.3 (found by the property test below).
            "$argon2id$v=19$m=8,t=0,p=536870912$0AA+",
            "$argon2id$v=19$m=19456,t=2,p=536870912$Zd6XUYFlg82BCCILjcZrwQ$\
             vMzooGqNwZVpHZBXPH9NGEv2P9ClRtQEwYVUbgIOzaA",
        ];
        for phc in bad {
            assert!(!verify_password("a fine password", phc), "{phc:?}");
            // A truncated output can still parse (with today's parameters); everything
            // else is unusable and must be replaced.
            if phc != truncated {
                assert!(needs_rehash(phc), "{phc:?}");
            }
        }
    }

    #[test]
    fn weaker_parameters_need_a_rehash_but_still_verify() {
        let params = Params::new(8192, 1, 1, None).unwrap();
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"old password here", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify_password("old password here", &weak));
        assert!(needs_rehash(&weak));
    }

    #[test]
    fn dummy_hash_costs_like_a_real_one_and_never_matches() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(
            !needs_rehash(DUMMY_HASH),
            "dummy must use today's parameters"
        );
        assert!(!verify_dummy("anything"));
        assert!(!verify_dummy(""));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn verify_never_panics_on_arbitrary_stored_hashes(phc in ".{0,120}", pw in ".{0,20}") {
            prop_assert!(!verify_password(&pw, &phc));
        }

        #[test]
        fn verify_never_panics_on_argon2_shaped_garbage(
            m in any::<u32>(), t in any::<u32>(), p in any::<u32>(), tail in "[A-Za-z0-9$=,+/]{0,60}"
        ) {
            let phc = format!("$argon2id$v=19$m={m},t={t},p={p}${tail}");
            prop_assert!(!verify_password("pw", &phc));
        }
    }

    #[test]
    fn new_password_rules() {
        use AuthError as E;
        type Expected = Option<fn(&AuthError) -> bool>;
        let cases: &[(&str, &str, Expected)] = &[
            (
                "Kx9!mQ2#vL7",
                "alice",
                Some(|e| matches!(e, E::PasswordTooShort { min: 12 })),
            ),
            ("Kx9!mQ2#vL7p", "alice", None),
            ("correct horse battery staple", "alice", None),
            // 12 characters, more than 12 bytes: counted in characters.
            ("crème brûlée", "alice", None),
            (
                "crème brûlé",
                "alice",
                Some(|e| matches!(e, E::PasswordTooShort { .. })),
            ),
            (
                "alicealice12",
                "alice",
                Some(|e| matches!(e, E::PasswordContainsUsername)),
            ),
            (
                "my-ALICE-password",
                "Alice",
                Some(|e| matches!(e, E::PasswordContainsUsername)),
            ),
            (
                "dr.smith.clinic",
                "dr.smith.clinic",
                Some(|e| matches!(e, E::PasswordContainsUsername)),
            ),
            // A two-letter username does not forbid every password containing those letters.
            ("also a valid password", "al", None),
            (
                "aaaaaaaaaaaa",
                "alice",
                Some(|e| matches!(e, E::PasswordTooSimple)),
            ),
            (
                "abababababab",
                "alice",
                Some(|e| matches!(e, E::PasswordTooSimple)),
            ),
            (
                "123123123123",
                "alice",
                Some(|e| matches!(e, E::PasswordTooSimple)),
            ),
            (
                "abcdefghijklm",
                "alice",
                Some(|e| matches!(e, E::PasswordTooSimple)),
            ),
            (
                "123456789012",
                "alice",
                Some(|e| matches!(e, E::PasswordTooSimple)),
            ),
            (
                "9876543210987",
                "alice",
                Some(|e| matches!(e, E::PasswordTooSimple)),
            ),
            (
                "QWERTYUIOPAS",
                "alice",
                Some(|e| matches!(e, E::PasswordTooSimple)),
            ),
            (
                "zyxwvutsrqpo",
                "alice",
                Some(|e| matches!(e, E::PasswordTooSimple)),
            ),
            // Only digits is allowed when not a pattern: no composition rules.
            ("739104628351", "alice", None),
        ];
        for (password, username, expected) in cases {
            let result = check_new_password(password, username);
            match expected {
                None => assert!(result.is_ok(), "{password:?} refused: {result:?}"),
                Some(is_expected) => {
                    let err = result.expect_err(password);
                    assert!(is_expected(&err), "{password:?}: {err:?}");
                }
            }
        }
        assert!(check_new_password(&"Ab1 ".repeat(32), "alice").is_ok()); // 128 chars
        let too_long = check_new_password(&format!("{}x", "Ab1 ".repeat(32)), "alice");
        assert!(matches!(
            too_long,
            Err(AuthError::PasswordTooLong { max: 128 })
        ));
    }

    #[test]
    fn password_rule_messages_name_the_field_and_never_the_password() {
        let err = check_new_password("short-secret", "short-secret").unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(err.to_string().starts_with("new password:"), "{shown}");
        assert!(!shown.contains("short-secret"), "{shown}");
        let err = check_new_password("tiny", "alice").unwrap_err();
        assert_eq!(
            err.to_string(),
            "new password: must be at least 12 characters long"
        );
    }

    #[test]
    fn temporary_password_format() {
        let ambiguous = ['0', 'O', '1', 'l', 'I'];
        for _ in 0..200 {
            let pw = generate_temporary_password();
            assert_eq!(pw.len(), 19, "{pw}");
            let groups: Vec<&str> = pw.split('-').collect();
            assert_eq!(groups.len(), 4, "{pw}");
            for group in groups {
                assert_eq!(group.len(), 4, "{pw}");
                assert!(
                    group
                        .bytes()
                        .all(|b| TEMPORARY_PASSWORD_ALPHABET.contains(&b)),
                    "{pw}"
                );
            }
            assert!(!pw.contains(ambiguous), "{pw}");
            assert_eq!(
                normalize_temporary_password(&pw).as_deref(),
                Some(pw.as_str())
            );
        }
    }

    #[test]
    fn temporary_password_alphabet_has_no_look_alikes_and_gives_80_bits() {
        let alphabet: HashSet<u8> = TEMPORARY_PASSWORD_ALPHABET.iter().copied().collect();
        assert_eq!(alphabet.len(), 32, "symbols must be distinct");
        for c in b"0O1lI" {
            assert!(!alphabet.contains(c), "{}", char::from(*c));
        }
        let bits = (TEMPORARY_PASSWORD_ALPHABET.len() as f64).log2()
            * (TEMPORARY_PASSWORD_GROUPS * TEMPORARY_PASSWORD_GROUP_LEN) as f64;
        assert_eq!(bits, 80.0);
    }

    #[test]
    fn temporary_passwords_are_unique_and_use_the_whole_alphabet_evenly() {
        let mut seen = HashSet::new();
        let mut counts: HashMap<char, usize> = HashMap::new();
        for _ in 0..1000 {
            let pw = generate_temporary_password();
            for c in pw.chars().filter(|c| *c != '-') {
                *counts.entry(c).or_default() += 1;
            }
            assert!(seen.insert(pw), "duplicate temporary password");
        }
        // 16 000 symbols over 32: about 500 each (σ ≈ 22). Far outside [350, 650] means a
        // biased or truncated generator.
        assert_eq!(counts.len(), 32, "{counts:?}");
        for (c, n) in &counts {
            assert!((350..=650).contains(n), "{c}: {n}");
        }
    }

    #[test]
    fn typed_temporary_passwords_are_normalized() {
        let canonical = Some("K7QX-M4PD-9TRW-H2CZ".to_owned());
        assert_eq!(
            normalize_temporary_password("K7QX-M4PD-9TRW-H2CZ"),
            canonical
        );
        assert_eq!(
            normalize_temporary_password("k7qx m4pd 9trw h2cz"),
            canonical
        );
        assert_eq!(
            normalize_temporary_password(" K7QXM4PD9TRWH2CZ "),
            canonical
        );
        assert_eq!(normalize_temporary_password("K7QX-M4PD-9TRW-H2C"), None);
        assert_eq!(normalize_temporary_password("K7QX-M4PD-9TRW-H2CZA"), None);
        assert_eq!(normalize_temporary_password("K7QX-M4PD-9TRW-H2C0"), None);
        assert_eq!(normalize_temporary_password("K7QX-M4PD-9TRW-H2Cé"), None);
    }
}
