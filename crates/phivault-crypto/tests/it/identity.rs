//! Identity primitives: TOTP (RFC 6238/4226 known answers, window, replay), password hashing
//! and policy, recovery codes.

#![allow(clippy::unwrap_used)]

use phivault_crypto::{
    CryptoError, PasswordHashParams, PasswordRejection, TotpAlgorithm, TotpParams, TotpSecret,
    check_password_policy, dummy_verify_password, generate_recovery_codes, hash_password,
    otpauth_uri, recovery_code_hash, totp_code, totp_verify, verify_password,
};

const SEED_SHA1: &[u8] = b"12345678901234567890";
const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

fn secret(b: &[u8]) -> TotpSecret {
    TotpSecret::from_bytes(b.to_vec()).unwrap()
}

fn params(algorithm: TotpAlgorithm, digits: u32, step_seconds: u64) -> TotpParams {
    TotpParams {
        algorithm,
        digits,
        step_seconds,
    }
}

#[test]
fn rfc6238_appendix_b_vectors() {
    let table: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];
    let cases = [
        (TotpAlgorithm::Sha1, SEED_SHA1),
        (TotpAlgorithm::Sha256, SEED_SHA256),
        (TotpAlgorithm::Sha512, SEED_SHA512),
    ];
    let mut checked = 0;
    for (time, sha1, sha256, sha512) in table {
        for ((alg, seed), expected) in cases.iter().zip([sha1, sha256, sha512]) {
            let p = params(*alg, 8, 30);
            let s = secret(seed);
            assert_eq!(totp_code(&s, &p, time), expected, "{alg:?} at {time}");
            assert_eq!(totp_verify(&s, &p, expected, time, None), Some(time / 30));
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn rfc4226_appendix_d_hotp_values() {
    // TOTP with a 1-second step and time = counter is HOTP(counter).
    let expected = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    let s = secret(SEED_SHA1);
    let p = params(TotpAlgorithm::Sha1, 6, 1);
    for (counter, code) in expected.iter().enumerate() {
        assert_eq!(
            totp_code(&s, &p, counter as u64),
            *code,
            "counter {counter}"
        );
    }
}

#[test]
fn default_params_are_what_apps_support() {
    assert_eq!(TotpParams::default(), params(TotpAlgorithm::Sha1, 6, 30));
    let s = secret(SEED_SHA1);
    // RFC 6238 SHA-1 at T=59 is 94287082; 6 digits keeps the low six.
    assert_eq!(totp_code(&s, &TotpParams::default(), 59), "287082");
}

#[test]
fn window_accepts_one_step_either_side_only() {
    let s = TotpSecret::generate().unwrap();
    let p = TotpParams::default();
    let now = 1_700_000_000u64;
    let step = now / 30;
    for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
        let t = (now as i64 + offset * 30) as u64;
        let code = totp_code(&s, &p, t);
        let want = accepted.then(|| (step as i64 + offset) as u64);
        assert_eq!(
            totp_verify(&s, &p, &code, now, None),
            want,
            "offset {offset}"
        );
    }
}

#[test]
fn replay_and_older_steps_are_refused() {
    let s = TotpSecret::generate().unwrap();
    let p = TotpParams::default();
    let now = 1_700_000_000u64;
    let code = totp_code(&s, &p, now);
    let used = totp_verify(&s, &p, &code, now, None).unwrap();
    assert_eq!(used, now / 30);
    // The same code again (same step) is a replay.
    assert_eq!(totp_verify(&s, &p, &code, now, Some(used)), None);
    assert_eq!(totp_verify(&s, &p, &code, now + 30, Some(used)), None);
    // After a newer step was used, the previous step's code is refused too.
    let newer = totp_code(&s, &p, now + 30);
    let used2 = totp_verify(&s, &p, &newer, now + 30, Some(used)).unwrap();
    assert_eq!(used2, used + 1);
    let older = totp_code(&s, &p, now);
    assert_eq!(totp_verify(&s, &p, &older, now + 30, Some(used2)), None);
}

#[test]
fn malformed_codes_are_refused() {
    let s = secret(SEED_SHA1);
    let p = TotpParams::default();
    let good = totp_code(&s, &p, 59);
    assert_eq!(totp_verify(&s, &p, &good, 59, None), Some(1));
    for bad in [
        "",
        "28708",
        "2870820",
        "28708a",
        " 287082",
        "287082 ",
        "２８７０８２",
        "-28708",
    ] {
        assert_eq!(totp_verify(&s, &p, bad, 59, None), None, "{bad:?}");
    }
    // Unsigned values that wrap would be wrong too: step 0 has no predecessor.
    let c0 = totp_code(&s, &p, 0);
    assert_eq!(totp_verify(&s, &p, &c0, 0, None), Some(0));
}

#[test]
fn secret_length_and_base32() {
    assert!(matches!(
        TotpSecret::from_bytes(vec![7; 19]),
        Err(CryptoError::Format(_))
    ));
    let s = TotpSecret::generate().unwrap();
    assert_eq!(s.expose_secret().len(), 20);
    let b32 = s.to_base32();
    assert_eq!(b32.len(), 32);
    assert!(!b32.contains('='));
    let back = TotpSecret::from_base32(&b32).unwrap();
    assert_eq!(back.expose_secret(), s.expose_secret());
    // Lower case with spaces, as typed by a person, decodes the same.
    let typed = b32
        .to_lowercase()
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        TotpSecret::from_base32(&typed).unwrap().expose_secret(),
        s.expose_secret()
    );
    // RFC 6238 SHA-1 seed has a well-known base32 form.
    assert_eq!(
        secret(SEED_SHA1).to_base32().as_str(),
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    );
    // 64-byte secret: length not a multiple of 5 bytes.
    let long = secret(SEED_SHA512);
    assert_eq!(
        TotpSecret::from_base32(&long.to_base32())
            .unwrap()
            .expose_secret(),
        SEED_SHA512
    );
    for bad in [
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",
        "GEZDGNBVGY3TQOJQ",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQA",
        "!!",
    ] {
        assert!(
            matches!(TotpSecret::from_base32(bad), Err(CryptoError::Format(_))),
            "{bad}"
        );
    }
}

#[test]
fn totp_secret_debug_is_redacted() {
    let s = secret(SEED_SHA1);
    let text = format!("{s:?}");
    assert_eq!(text, "TotpSecret([REDACTED])");
    let cloned = s.clone();
    assert_eq!(format!("{cloned:?}"), "TotpSecret([REDACTED])");
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn otpauth_uri_parses_back() {
    let s = secret(SEED_SHA1);
    let uri = otpauth_uri(&s, &TotpParams::default(), "phivault", "alice@example.org");
    assert_eq!(
        uri,
        "otpauth://totp/phivault:alice%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
         &issuer=phivault&algorithm=SHA1&digits=6&period=30"
    );

    let p = params(TotpAlgorithm::Sha256, 8, 60);
    let issuer = "St. Mary's Clinic: A&E";
    let account = "dr jane/doe:1?x";
    let uri = otpauth_uri(&s, &p, issuer, account);
    let rest = uri.strip_prefix("otpauth://totp/").unwrap();
    let (label, query) = rest.split_once('?').unwrap();
    assert!(!query.contains('?') && !label.contains('?'));
    let (l_issuer, l_account) = label.split_once(':').unwrap();
    assert_eq!(percent_decode(l_issuer), issuer);
    assert_eq!(percent_decode(l_account), account);
    assert!(!l_issuer.contains(' ') && !l_account.contains(' ') && !l_account.contains('/'));
    assert_eq!(
        percent_decode(query_param(query, "issuer").unwrap()),
        issuer
    );
    let b32 = query_param(query, "secret").unwrap();
    assert_eq!(
        TotpSecret::from_base32(b32).unwrap().expose_secret(),
        SEED_SHA1
    );
    assert_eq!(query_param(query, "algorithm"), Some("SHA256"));
    assert_eq!(query_param(query, "digits"), Some("8"));
    assert_eq!(query_param(query, "period"), Some("60"));
    assert_eq!(query.split('&').count(), 5);
}

#[test]
fn password_hash_round_trip() {
    let p = PasswordHashParams::insecure_fast_for_tests();
    let phc = hash_password("correct horse battery staple", &p).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
    assert!(verify_password("correct horse battery staple", &phc).unwrap());
    assert!(!verify_password("correct horse battery stapler", &phc).unwrap());
    assert!(!verify_password("", &phc).unwrap());
    // Fresh salt each time.
    assert_ne!(
        phc,
        hash_password("correct horse battery staple", &p).unwrap()
    );
}

#[test]
fn malformed_phc_is_a_format_error() {
    let p = PasswordHashParams::insecure_fast_for_tests();
    let phc = hash_password("pw", &p).unwrap();
    let scrypt = phc.replacen("argon2id", "scrypt", 1);
    let argon2i = phc.replacen("argon2id", "argon2i", 1);
    let no_hash = phc.rsplit_once('$').unwrap().0.to_owned();
    for bad in [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=8,t=1,p=1",
        &scrypt,
        &argon2i,
        &no_hash,
    ] {
        assert!(
            matches!(verify_password("pw", bad), Err(CryptoError::Format(_))),
            "{bad:?}"
        );
    }
    // Memory above 1 GiB is refused without running Argon2.
    let huge = phc.replacen("m=8,", "m=2097152,", 1);
    assert_ne!(huge, phc);
    assert!(matches!(
        verify_password("pw", &huge),
        Err(CryptoError::Format(_))
    ));
}

#[test]
fn recommended_params_are_owasp_argon2id() {
    let p = PasswordHashParams::recommended();
    assert_eq!((p.m_cost_kib, p.t_cost, p.p_cost), (19456, 2, 1));
    let phc = hash_password("a recommended-cost password", &p).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(verify_password("a recommended-cost password", &phc).unwrap());
}

#[test]
fn dummy_verify_runs() {
    let p = PasswordHashParams::insecure_fast_for_tests();
    dummy_verify_password("whatever", &p);
    dummy_verify_password("whatever again", &p);
    // Out-of-range parameters must not panic either.
    dummy_verify_password(
        "x",
        &PasswordHashParams {
            m_cost_kib: 0,
            t_cost: 0,
            p_cost: 0,
        },
    );
}

#[test]
fn policy_rejections() {
    use PasswordRejection::*;
    let cases: &[(&str, &str, PasswordRejection)] = &[
        ("short", "alice", TooShort),
        ("elevenchars", "alice", TooShort),
        ("ééééééééééé", "alice", TooShort), // 11 scalars, 22 bytes
        (&"x7Qp".repeat(33), "alice", TooLong),
        ("password1234", "alice", Common),
        ("PASSWORD1234", "alice", Common),
        ("qwertyuiop123", "alice", Common),
        ("iloveyou1234", "alice", Common),
        ("123456789012", "alice", Common),
        ("letmein12345", "alice", Common),
        ("P@ssw0rd2024!!", "alice", Common),
        ("Sunshine!!!!!!", "alice", Common),
        ("dr4g0n-1234567", "alice", Common),
        ("alice-in-the-vault-77", "alice", ContainsUsername),
        ("my-ALICE-secret-phrase", "Alice", ContainsUsername),
        ("aaaaaaaaaaaaaa", "bob", Repetitive),
        ("abcabcabcabc", "bob", Repetitive),
        ("zx9zx9zx9zx9zx9", "bob", Repetitive),
        ("121212121212", "bob", Repetitive),
        ("qwertyqwerty", "bob", Repetitive),
        ("mnbvcxzlkjhgf", "bob", Repetitive),
        ("lmnopqrstuvwxyz", "bob", Repetitive),
        ("34567890123456", "bob", Repetitive),
        ("aaaaaaaaaaab", "bob", Repetitive),
    ];
    for (pw, user, want) in cases {
        assert_eq!(check_password_policy(pw, user), Err(*want), "{pw:?}");
    }
    // A short username is not checked (it would match by chance).
    assert_eq!(
        check_password_policy("velvet-ox-harbour-tide", "ox"),
        Ok(())
    );
    assert_eq!(TooShort.code(), "password_too_short");
    assert_eq!(TooLong.code(), "password_too_long");
    assert_eq!(Common.code(), "password_common");
    assert_eq!(ContainsUsername.code(), "password_contains_username");
    assert_eq!(Repetitive.code(), "password_repetitive");
}

#[test]
fn policy_accepts_good_passphrases() {
    for pw in [
        "correct horse battery staple",
        "Tr0ub4dor&3-xylophone",
        "velvet-ox-harbour-tide",
        "twelve chars",
    ] {
        assert_eq!(check_password_policy(pw, "alice"), Ok(()), "{pw:?}");
    }
    // Exactly 128 scalar values is allowed; 129 is too long.
    let max: String = (0..128u32)
        .map(|i| char::from(b'a' + ((i * 7 + i / 26) % 26) as u8))
        .collect();
    assert_eq!(check_password_policy(&max, "bob"), Ok(()));
    let over = format!("{max}q");
    assert_eq!(
        check_password_policy(&over, "bob"),
        Err(PasswordRejection::TooLong)
    );
}

#[test]
fn recovery_codes() {
    let codes = generate_recovery_codes(10).unwrap();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::HashSet<&str> = codes.iter().map(|c| c.as_str()).collect();
    assert_eq!(distinct.len(), 10);
    for code in &codes {
        assert_eq!(code.len(), 19, "{}", code.as_str());
        for (i, group) in code.split('-').enumerate() {
            assert!(i < 4);
            assert_eq!(group.len(), 4);
            assert!(
                group
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
            );
        }
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(recovery_code_hash(&typed), recovery_code_hash(code));
    }
    assert_eq!(
        recovery_code_hash("abcd-efgh-ijkl-mnop"),
        recovery_code_hash("ABCDEFGHIJKLMNOP")
    );
    assert_eq!(
        recovery_code_hash(" abcd efgh\tIJKL-mnop "),
        recovery_code_hash("ABCD-EFGH-IJKL-MNOP")
    );
    assert_ne!(
        recovery_code_hash("ABCDEFGHIJKLMNOP"),
        recovery_code_hash("ABCDEFGHIJKLMNOQ")
    );
    // Domain-separated: not plain SHA-256 of the code.
    assert_ne!(
        recovery_code_hash("ABCDEFGHIJKLMNOP"),
        phivault_crypto::sha256(b"ABCDEFGHIJKLMNOP")
    );
    assert!(generate_recovery_codes(0).is_err());
    assert!(generate_recovery_codes(1000).is_err());
}
