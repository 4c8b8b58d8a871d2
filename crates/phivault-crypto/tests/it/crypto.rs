//! Integration tests of the public API: known-answer tests for the primitives, record sealing,
//! the keyring file, data-key wrapping and rotation, blind indexes, tokens, and a golden
//! fixture that pins every stored format of version 1.

// clippy only exempts `#[test]` functions; in the helpers here a panic is a test failure too.
#![allow(clippy::unwrap_used)]

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, Verifier, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use phivault_crypto::*;
use proptest::prelude::*;
use serde_json::Value;
use sha2::Sha256;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

// ---------------------------------------------------------------- known answers

#[test]
fn kat_aes_256_gcm_nist_cavs() {
    // NIST CAVS gcmEncryptExtIV256.rsp (Keylen 256, IVlen 96, PTlen 128, AADlen 128, Taglen 128).
    let key = unhex("7da3bccaffb3464178ca7c722379836db50ce0bfb47640b9572163865332e486");
    let nonce = unhex("c04fd2e701c3dc62b68738b3");
    let pt = unhex("fd671cab1ee21f0df6bb610bf94f0e69");
    let aad = unhex("fec0311013202e4ffdc4204926ae0ddf");
    let expected = unhex("6be61b17b7f7d494a7cdf270562f37ba5e702a38323fe1160b780d17adad3e96");
    let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
    let nonce = nonce.as_slice().try_into().unwrap();
    let ct = cipher
        .encrypt(
            nonce,
            Payload {
                msg: &pt,
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(ct, expected);
    let back = cipher
        .decrypt(
            nonce,
            Payload {
                msg: &ct,
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(back, pt);
}

#[test]
fn kat_aes_256_gcm_mcgrew_viega_case_14() {
    // "The Galois/Counter Mode of Operation" test case 14: zero key, zero IV, one zero block.
    let cipher = Aes256Gcm::new_from_slice(&[0u8; 32]).unwrap();
    let ct = cipher
        .encrypt((&[0u8; 12]).into(), [0u8; 16].as_slice())
        .unwrap();
    assert_eq!(
        hex::encode(ct),
        "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
    );
}

#[test]
fn kat_hkdf_sha256_rfc5869_case_1() {
    let ikm = [0x0bu8; 22];
    let salt = unhex("000102030405060708090a0b0c");
    let info = unhex("f0f1f2f3f4f5f6f7f8f9");
    let (prk, hk) = Hkdf::<Sha256>::extract(Some(&salt), &ikm);
    assert_eq!(
        hex::encode(prk),
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    );
    let mut okm = [0u8; 42];
    hk.expand(&info, &mut okm).unwrap();
    assert_eq!(
        hex::encode(okm),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    );
}

#[test]
fn kat_hmac_sha256_rfc4231_case_2() {
    let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
    mac.update(b"what do ya want for nothing?");
    assert_eq!(
        hex::encode(mac.finalize().into_bytes()),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn kat_sha256_empty() {
    assert_eq!(
        hex::encode(sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

// ---------------------------------------------------------------- records

const AAD: RecordAad<'static> = RecordAad {
    collection: "patients",
    record_id: "rec-0001",
    version: 7,
    subject: "subj-42",
};

#[test]
fn record_round_trip() {
    let dek = DataKey::generate().unwrap();
    let pt = b"{\"name\":\"Test Patient\",\"dob\":\"1970-01-01\"}";
    let sealed = seal_record(&dek, &AAD, pt).unwrap();
    assert_eq!(sealed.len(), 1 + 12 + pt.len() + 16);
    assert_eq!(sealed[0], 1, "format byte");
    assert!(!sealed.windows(pt.len()).any(|w| w == pt));
    assert_eq!(open_record(&dek, &AAD, &sealed).unwrap().as_slice(), pt);
    // Fresh nonce per seal.
    assert_ne!(sealed, seal_record(&dek, &AAD, pt).unwrap());
    // Empty plaintext is fine.
    let empty = seal_record(&dek, &AAD, b"").unwrap();
    assert!(open_record(&dek, &AAD, &empty).unwrap().is_empty());
}

#[test]
fn record_bound_to_every_aad_field() {
    let dek = DataKey::generate().unwrap();
    let sealed = seal_record(&dek, &AAD, b"payload").unwrap();
    let moved = [
        RecordAad {
            collection: "notes",
            ..AAD
        },
        RecordAad {
            record_id: "rec-0002",
            ..AAD
        },
        RecordAad { version: 8, ..AAD },
        RecordAad {
            subject: "subj-43",
            ..AAD
        },
        // Shifting bytes between adjacent fields must not produce the same AAD.
        RecordAad {
            collection: "patientsr",
            record_id: "ec-0001",
            ..AAD
        },
    ];
    for aad in moved {
        assert_eq!(
            open_record(&dek, &aad, &sealed),
            Err(CryptoError::Integrity),
            "{aad:?}"
        );
    }
    let other_dek = DataKey::generate().unwrap();
    assert_eq!(
        open_record(&other_dek, &AAD, &sealed),
        Err(CryptoError::Integrity)
    );
}

#[test]
fn record_flipped_byte_fails_authentication() {
    let dek = DataKey::generate().unwrap();
    let sealed = seal_record(&dek, &AAD, b"some protected health information").unwrap();
    for i in 0..sealed.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = sealed.clone();
            bad[i] ^= bit;
            let expected = if i == 0 {
                // The format byte is checked before decryption: an unknown format, not a MAC failure.
                Err(CryptoError::Format("unknown sealed record format"))
            } else {
                Err(CryptoError::Integrity)
            };
            assert_eq!(open_record(&dek, &AAD, &bad), expected, "byte {i}");
        }
    }
}

#[test]
fn record_truncated_is_error_not_panic() {
    let dek = DataKey::generate().unwrap();
    let sealed = seal_record(&dek, &AAD, b"payload").unwrap();
    for len in 0..sealed.len() {
        let err = open_record(&dek, &AAD, &sealed[..len]).unwrap_err();
        assert!(
            matches!(err, CryptoError::Format(_) | CryptoError::Integrity),
            "len {len}: {err:?}"
        );
    }
    let mut longer = sealed;
    longer.push(0);
    assert_eq!(
        open_record(&dek, &AAD, &longer),
        Err(CryptoError::Integrity)
    );
}

// ---------------------------------------------------------------- keyring

const PASS: &[u8] = b"correct horse battery staple";

fn fast() -> KdfParams {
    KdfParams::insecure_fast_for_tests()
}

fn edit_json(file: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(file).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn keyring_seal_open_round_trip() {
    let mut ring = Keyring::generate().unwrap();
    ring.rotate().unwrap();
    let dek = DataKey::generate().unwrap();
    let wrapped = ring.wrap_data_key(&dek, "s1").unwrap();
    let file = ring.seal(PASS, &fast()).unwrap();

    let text = std::str::from_utf8(&file).unwrap();
    let v: Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["format"], "phivault-keyring");
    assert_eq!(v["version"], 1);
    assert_eq!(v["kdf"]["alg"], "argon2id");
    assert_eq!(v["kdf"]["m_cost_kib"], 64);
    assert_eq!(
        B64.decode(v["kdf"]["salt"].as_str().unwrap())
            .unwrap()
            .len(),
        16
    );
    assert_eq!(B64.decode(v["nonce"].as_str().unwrap()).unwrap().len(), 12);

    let back = Keyring::open(&file, PASS).unwrap();
    assert_eq!(back.kek_versions(), vec![1, 2]);
    assert_eq!(back.current_kek_version(), 2);
    assert_eq!(back.audit_verifying_key(), ring.audit_verifying_key());
    assert_eq!(
        back.pseudonym_key().expose_secret(),
        ring.pseudonym_key().expose_secret()
    );
    assert_eq!(
        back.blind_indexer().tag("c", "f", "v"),
        ring.blind_indexer().tag("c", "f", "v")
    );
    let sealed = seal_record(&dek, &AAD, b"x").unwrap();
    let dek2 = back.unwrap_data_key(&wrapped, "s1").unwrap();
    assert_eq!(open_record(&dek2, &AAD, &sealed).unwrap().as_slice(), b"x");

    // Every seal uses a new salt and nonce, so the files differ.
    assert_ne!(file, ring.seal(PASS, &fast()).unwrap());
    // Nothing of the key material appears in the file in clear.
    for needle in [
        hex::encode(ring.pseudonym_key().expose_secret()),
        B64.encode(ring.pseudonym_key().expose_secret()),
    ] {
        assert!(!text.contains(&needle));
    }
}

#[test]
fn keyring_wrong_passphrase() {
    let file = Keyring::generate().unwrap().seal(PASS, &fast()).unwrap();
    assert_eq!(
        Keyring::open(&file, b"correct horse battery stapler").unwrap_err(),
        CryptoError::WrongPassphrase
    );
    assert_eq!(
        Keyring::open(&file, b"").unwrap_err(),
        CryptoError::WrongPassphrase
    );
}

#[test]
fn keyring_empty_passphrase_refused() {
    let ring = Keyring::generate().unwrap();
    assert!(matches!(
        ring.seal(b"", &fast()),
        Err(CryptoError::Format(_))
    ));
}

#[test]
fn keyring_tampered_ciphertext_is_integrity() {
    let file = Keyring::generate().unwrap().seal(PASS, &fast()).unwrap();
    for field in ["ciphertext", "nonce"] {
        let bad = edit_json(&file, |v| {
            let mut bytes = B64.decode(v[field].as_str().unwrap()).unwrap();
            bytes[3] ^= 0x40;
            v[field] = Value::String(B64.encode(bytes));
        });
        assert_eq!(
            Keyring::open(&bad, PASS).unwrap_err(),
            CryptoError::Integrity,
            "{field}"
        );
    }
}

#[test]
fn keyring_any_flipped_byte_is_error() {
    let file = Keyring::generate().unwrap().seal(PASS, &fast()).unwrap();
    for i in 0..file.len() {
        let mut bad = file.clone();
        bad[i] ^= 0x01;
        assert!(Keyring::open(&bad, PASS).is_err(), "byte {i}");
    }
}

#[test]
fn keyring_header_downgrade_is_refused() {
    let strong = KdfParams {
        m_cost_kib: 256,
        t_cost: 2,
        p_cost: 1,
    };
    let file = Keyring::generate().unwrap().seal(PASS, &strong).unwrap();
    assert!(Keyring::open(&file, PASS).is_ok());
    let edits: [(&str, u32); 3] = [("m_cost_kib", 64), ("t_cost", 1), ("p_cost", 2)];
    for (param, value) in edits {
        let bad = edit_json(&file, |v| v["kdf"][param] = Value::from(value));
        // A different cost gives a different derived key, which is indistinguishable from a
        // wrong passphrase (documented on `Keyring::open`).
        assert_eq!(
            Keyring::open(&bad, PASS).unwrap_err(),
            CryptoError::WrongPassphrase,
            "{param}"
        );
    }
    let bad_salt = edit_json(&file, |v| {
        v["kdf"]["salt"] = Value::String(B64.encode([0u8; 16]));
    });
    assert_eq!(
        Keyring::open(&bad_salt, PASS).unwrap_err(),
        CryptoError::WrongPassphrase
    );
}

#[test]
fn keyring_junk_and_unknown_versions_are_format_errors() {
    let file = Keyring::generate().unwrap().seal(PASS, &fast()).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "empty"),
        (b"not json".to_vec(), "junk"),
        (b"{}".to_vec(), "empty object"),
        (b"[1,2,3]".to_vec(), "array"),
        (vec![0xff; 64], "binary"),
        (file[..file.len() / 2].to_vec(), "truncated"),
        (
            edit_json(&file, |v| v["version"] = Value::from(2)),
            "future version",
        ),
        (
            edit_json(&file, |v| v["version"] = Value::from(0)),
            "version 0",
        ),
        (
            edit_json(&file, |v| v["format"] = Value::from("other")),
            "format",
        ),
        (
            edit_json(&file, |v| v["kdf"]["alg"] = Value::from("argon2i")),
            "alg",
        ),
        (
            edit_json(&file, |v| v["kdf"]["m_cost_kib"] = Value::from(u32::MAX)),
            "huge memory cost",
        ),
        (
            edit_json(&file, |v| v["kdf"]["t_cost"] = Value::from(0)),
            "zero passes",
        ),
        (
            edit_json(&file, |v| v["kdf"]["salt"] = Value::from("AAAA")),
            "short salt",
        ),
        (
            edit_json(&file, |v| v["nonce"] = Value::from("!!")),
            "bad base64",
        ),
        (
            edit_json(&file, |v| v["extra"] = Value::from(1)),
            "unknown field",
        ),
        (
            edit_json(&file, |v| {
                v.as_object_mut().unwrap().remove("check");
            }),
            "missing field",
        ),
    ];
    for (bytes, what) in cases {
        let err = Keyring::open(&bytes, PASS).unwrap_err();
        assert!(matches!(err, CryptoError::Format(_)), "{what}: {err:?}");
        // Error text never echoes the input.
        assert!(!err.to_string().contains("AAAA"), "{what}");
    }
}

#[test]
fn rotation_keeps_old_keys_and_rewrap_moves_to_current() {
    let mut ring = Keyring::generate().unwrap();
    assert_eq!(ring.current_kek_version(), 1);
    let dek = DataKey::generate().unwrap();
    let sealed = seal_record(&dek, &AAD, b"phi").unwrap();
    let old = ring.wrap_data_key(&dek, "subj-42").unwrap();
    assert_eq!(old.kek_version, 1);

    assert_eq!(ring.rotate().unwrap(), 2);
    assert_eq!(ring.rotate().unwrap(), 3);
    assert_eq!(ring.kek_versions(), vec![1, 2, 3]);
    assert_eq!(ring.current_kek_version(), 3);

    let unwrapped = ring.unwrap_data_key(&old, "subj-42").unwrap();
    assert_eq!(
        open_record(&unwrapped, &AAD, &sealed).unwrap().as_slice(),
        b"phi"
    );

    let new = ring.rewrap_data_key(&old, "subj-42").unwrap();
    assert_eq!(new.kek_version, 3);
    assert_ne!(new.ciphertext, old.ciphertext);
    let via_new = ring.unwrap_data_key(&new, "subj-42").unwrap();
    assert_eq!(
        open_record(&via_new, &AAD, &sealed).unwrap().as_slice(),
        b"phi"
    );

    // Survives a seal/open of the keyring file.
    let reopened = Keyring::open(&ring.seal(PASS, &fast()).unwrap(), PASS).unwrap();
    assert!(reopened.unwrap_data_key(&old, "subj-42").is_ok());
    assert!(reopened.unwrap_data_key(&new, "subj-42").is_ok());
}

#[test]
fn unwrap_errors() {
    let ring = Keyring::generate().unwrap();
    let dek = DataKey::generate().unwrap();
    let wrapped = ring.wrap_data_key(&dek, "subj-1").unwrap();

    let unknown = WrappedKey {
        kek_version: 9,
        ..wrapped.clone()
    };
    assert_eq!(
        ring.unwrap_data_key(&unknown, "subj-1").unwrap_err(),
        CryptoError::UnknownKeyVersion(9)
    );
    assert_eq!(
        ring.rewrap_data_key(&unknown, "subj-1").unwrap_err(),
        CryptoError::UnknownKeyVersion(9)
    );
    // Bound to the subject: a wrapped key moved to another subject's row does not open.
    assert_eq!(
        ring.unwrap_data_key(&wrapped, "subj-2").unwrap_err(),
        CryptoError::Integrity
    );
    // A keyring with other keys cannot unwrap it.
    let other = Keyring::generate().unwrap();
    assert_eq!(
        other.unwrap_data_key(&wrapped, "subj-1").unwrap_err(),
        CryptoError::Integrity
    );
    let mut flipped = wrapped.clone();
    flipped.ciphertext[0] ^= 1;
    assert_eq!(
        ring.unwrap_data_key(&flipped, "subj-1").unwrap_err(),
        CryptoError::Integrity
    );
    let mut short = wrapped.clone();
    short.ciphertext.pop();
    assert!(matches!(
        ring.unwrap_data_key(&short, "subj-1"),
        Err(CryptoError::Format(_))
    ));
}

#[test]
fn wrapped_key_binds_its_version() {
    let mut ring = Keyring::generate().unwrap();
    let dek = DataKey::generate().unwrap();
    let mut wrapped = ring.wrap_data_key(&dek, "s").unwrap();
    ring.rotate().unwrap();
    wrapped.kek_version = 2;
    assert_eq!(
        ring.unwrap_data_key(&wrapped, "s").unwrap_err(),
        CryptoError::Integrity
    );
}

#[test]
fn wrapped_key_bytes_round_trip() {
    let ring = Keyring::generate().unwrap();
    let wrapped = ring
        .wrap_data_key(&DataKey::generate().unwrap(), "s")
        .unwrap();
    let bytes = wrapped.to_bytes();
    assert_eq!(bytes.len(), 65);
    assert_eq!(WrappedKey::from_bytes(&bytes).unwrap(), wrapped);
    assert!(
        ring.unwrap_data_key(&WrappedKey::from_bytes(&bytes).unwrap(), "s")
            .is_ok()
    );
}

#[test]
fn audit_key_signs_and_verifies() {
    let ring = Keyring::generate().unwrap();
    let sig = ring.audit_signing_key().sign(b"tree head");
    let vk = VerifyingKey::from_bytes(&ring.audit_verifying_key()).unwrap();
    assert!(vk.verify(b"tree head", &sig).is_ok());
    assert!(vk.verify(b"tree heads", &sig).is_err());
}

#[test]
fn public_debug_output_has_no_key_bytes() {
    let ring = Keyring::generate().unwrap();
    let key = ring.pseudonym_key().clone();
    let texts = [
        format!("{ring:?}"),
        format!("{key:?}"),
        format!("{:?}", ring.blind_indexer()),
        format!("{:?}", DataKey::generate().unwrap()),
    ];
    for text in &texts {
        assert!(!text.contains(&hex::encode(key.expose_secret())));
        assert!(!text.contains(&B64.encode(key.expose_secret())));
    }
    assert_eq!(texts[1], "Key32([REDACTED])");
    assert_eq!(texts[3], "DataKey([REDACTED])");
    let token = generate_token("pvt").unwrap();
    assert!(!format!("{token:?}").contains(token.expose_secret()));
}

#[test]
fn error_messages_are_static() {
    assert_eq!(
        CryptoError::Integrity.to_string(),
        "ciphertext failed authentication"
    );
    assert_eq!(
        CryptoError::UnknownKeyVersion(4).to_string(),
        "unknown key version 4"
    );
}

// ---------------------------------------------------------------- blind index

#[test]
fn blind_index_tags() {
    let ring = Keyring::generate().unwrap();
    let idx = ring.blind_indexer();
    let t = idx.tag("patients", "name", "john smith");
    assert_eq!(t, idx.tag("patients", "name", "john smith"));
    assert_eq!(t, idx.clone().tag("patients", "name", "john smith"));
    assert_ne!(t, idx.tag("patients", "name", "john smyth"));
    assert_ne!(t, idx.tag("clinicians", "name", "john smith"));
    assert_ne!(t, idx.tag("patients", "alias", "john smith"));
    // Length prefixes: moving bytes between collection and field changes the key.
    assert_ne!(idx.tag("ab", "c", "v"), idx.tag("a", "bc", "v"));
    let other = Keyring::generate().unwrap().blind_indexer();
    assert_ne!(t, other.tag("patients", "name", "john smith"));
    let fixed = BlindIndexer::new(Key32::from_bytes([1; 32]));
    assert_ne!(
        fixed.tag("c", "f", "v"),
        BlindIndexer::new(Key32::from_bytes([2; 32])).tag("c", "f", "v")
    );
}

#[test]
fn blind_indexer_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<BlindIndexer>();
    check::<Keyring>();
}

// ---------------------------------------------------------------- tokens

#[test]
fn token_format() {
    for prefix in ["pvt", "pvs"] {
        let t = generate_token(prefix).unwrap();
        let s = t.expose_secret();
        assert_eq!(s.len(), prefix.len() + 1 + 49);
        assert!(s.starts_with(&format!("{prefix}_")));
        assert!(
            s[prefix.len() + 1..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        );
        assert!(parse_token(s, prefix).is_ok());
        let other = if prefix == "pvt" { "pvs" } else { "pvt" };
        assert!(matches!(parse_token(s, other), Err(CryptoError::Format(_))));
    }
    assert_ne!(
        generate_token("pvt").unwrap().expose_secret(),
        generate_token("pvt").unwrap().expose_secret()
    );
}

#[test]
fn parse_token_rejects_malformed() {
    let t = generate_token("pvt").unwrap();
    let s = t.expose_secret();
    for bad in [
        String::new(),
        "pvt_".to_owned(),
        s[..s.len() - 1].to_owned(),
        format!("{s}0"),
        s.replacen("pvt_", "pvt-", 1),
        s.to_uppercase(),
        format!(" {s}"),
        format!("{}é", &s[..s.len() - 2]),
    ] {
        assert!(
            matches!(parse_token(&bad, "pvt"), Err(CryptoError::Format(_))),
            "{bad}"
        );
    }
}

#[test]
fn token_hash_is_domain_separated_and_stable() {
    let t = generate_token("pvt").unwrap();
    let parsed = parse_token(t.expose_secret(), "pvt").unwrap();
    assert_eq!(token_hash(&t), token_hash(&parsed));
    assert_ne!(token_hash(&t), sha256(t.expose_secret().as_bytes()));
    assert_ne!(token_hash(&t), token_hash(&generate_token("pvt").unwrap()));
    assert!(ct_eq(&token_hash(&t), &token_hash(&parsed)));
}

// ---------------------------------------------------------------- properties

fn fullwidth(c: char) -> char {
    // U+FF01..U+FF5E are the full-width forms of '!'..'~'; NFKC maps them back.
    if ('!'..='~').contains(&c) {
        char::from_u32(c as u32 + 0xFEE0).unwrap()
    } else {
        c
    }
}

proptest! {
    #[test]
    fn prop_record_round_trip(
        plaintext in proptest::collection::vec(any::<u8>(), 0..512),
        collection in any::<String>(),
        record_id in any::<String>(),
        version in any::<u64>(),
        subject in any::<String>(),
    ) {
        let dek = DataKey::generate().unwrap();
        let aad = RecordAad { collection: &collection, record_id: &record_id, version, subject: &subject };
        let sealed = seal_record(&dek, &aad, &plaintext).unwrap();
        let opened = open_record(&dek, &aad, &sealed).unwrap();
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
        let other_subject = format!("{subject}x");
        let moved = RecordAad { subject: &other_subject, ..aad };
        prop_assert_eq!(open_record(&dek, &moved, &sealed), Err(CryptoError::Integrity));
    }

    #[test]
    fn prop_normalise_is_idempotent(s in any::<String>()) {
        let once = normalise_for_index(&s);
        prop_assert_eq!(normalise_for_index(&once), once.clone());
        prop_assert_eq!(once.trim(), once.as_str());
        prop_assert!(!once.contains("  "));
    }

    #[test]
    fn prop_normalise_ignores_case_width_and_spacing(
        words in proptest::collection::vec("[a-zA-Z0-9]{1,8}", 1..5),
        seps in proptest::collection::vec(
            proptest::sample::select(vec![" ", "  ", "\t", "\n", "\u{3000}", "\u{a0}", " \u{2003} "]),
            6,
        ),
        upper in any::<bool>(),
        wide in any::<bool>(),
    ) {
        let expected = words.iter().map(|w| w.to_lowercase()).collect::<Vec<_>>().join(" ");
        let mut messy = seps[0].to_owned();
        for (i, w) in words.iter().enumerate() {
            let w = if upper { w.to_uppercase() } else { w.clone() };
            let w: String = if wide { w.chars().map(fullwidth).collect() } else { w };
            messy.push_str(&w);
            messy.push_str(seps[i + 1]);
        }
        prop_assert_eq!(normalise_for_index(&messy), expected);
    }

    #[test]
    fn prop_token_round_trip_and_single_char_change(
        pos in any::<proptest::sample::Index>(),
        replacement in proptest::char::any(),
        use_session in any::<bool>(),
    ) {
        let prefix = if use_session { "pvs" } else { "pvt" };
        let t = generate_token(prefix).unwrap();
        let s = t.expose_secret();
        let parsed = parse_token(s, prefix).unwrap();
        prop_assert_eq!(parsed.expose_secret(), s);
        prop_assert_eq!(token_hash(&parsed), token_hash(&t));

        let mut chars: Vec<char> = s.chars().collect();
        let i = pos.index(chars.len());
        prop_assume!(chars[i] != replacement);
        chars[i] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(matches!(parse_token(&changed, prefix), Err(CryptoError::Format(_))));
    }
}

// ---------------------------------------------------------------- golden fixture (format v1)

/// Every stored format of version 1, produced once by `write_golden_fixture` below. If this
/// test fails, a change broke files and rows already written: add a new version instead.
#[test]
fn golden_fixture_v1_still_opens() {
    let g: Value = serde_json::from_str(include_str!("../fixtures/golden-v1.json")).unwrap();
    let s = |k: &str| g[k].as_str().unwrap().to_owned();
    let ring = Keyring::open(s("keyring").as_bytes(), s("passphrase").as_bytes()).unwrap();
    assert_eq!(ring.kek_versions(), vec![1, 2]);
    assert_eq!(ring.current_kek_version(), 2);
    assert_eq!(
        hex::encode(ring.audit_verifying_key()),
        s("audit_verifying_key_hex")
    );

    let wrapped = WrappedKey::from_bytes(&unhex(&s("wrapped_dek_hex"))).unwrap();
    assert_eq!(wrapped.kek_version, 1);
    let dek = ring.unwrap_data_key(&wrapped, &s("subject")).unwrap();
    let aad = RecordAad {
        collection: &s("collection"),
        record_id: &s("record_id"),
        version: g["record_version"].as_u64().unwrap(),
        subject: &s("subject"),
    };
    let pt = open_record(&dek, &aad, &unhex(&s("sealed_record_hex"))).unwrap();
    assert_eq!(pt.as_slice(), s("plaintext").as_bytes());

    let tag = ring.blind_indexer().tag(
        &s("collection"),
        "name",
        &normalise_for_index(&s("index_input")),
    );
    assert_eq!(hex::encode(tag), s("blind_tag_hex"));

    let token = parse_token(&s("token"), "pvt").unwrap();
    assert_eq!(hex::encode(token_hash(&token)), s("token_hash_hex"));
}

/// Regenerates the fixture: `cargo test -p phivault-crypto -- --ignored write_golden_fixture`.
#[test]
#[ignore = "writes tests/fixtures/golden-v1.json; run only when adding a format version"]
fn write_golden_fixture() {
    let passphrase = "golden fixture passphrase";
    let mut ring = Keyring::generate().unwrap();
    let dek = DataKey::generate().unwrap();
    let subject = "subj-golden";
    let wrapped = ring.wrap_data_key(&dek, subject).unwrap();
    ring.rotate().unwrap();
    let aad = RecordAad {
        collection: "patients",
        record_id: "rec-golden",
        version: 3,
        subject,
    };
    let plaintext = "{\"name\":\"Synthetic Patient\"}";
    let sealed = seal_record(&dek, &aad, plaintext.as_bytes()).unwrap();
    let index_input = "  SYNTHETIC   Patient ";
    let tag = ring
        .blind_indexer()
        .tag("patients", "name", &normalise_for_index(index_input));
    let token = generate_token("pvt").unwrap();
    let keyring = String::from_utf8(ring.seal(passphrase.as_bytes(), &fast()).unwrap()).unwrap();
    let g = serde_json::json!({
        "note": "synthetic test data: these keys and this token protect nothing",
        "passphrase": passphrase,
        "keyring": keyring,
        "audit_verifying_key_hex": hex::encode(ring.audit_verifying_key()),
        "subject": subject,
        "wrapped_dek_hex": hex::encode(wrapped.to_bytes()),
        "collection": aad.collection,
        "record_id": aad.record_id,
        "record_version": aad.version,
        "plaintext": plaintext,
        "sealed_record_hex": hex::encode(sealed),
        "index_input": index_input,
        "blind_tag_hex": hex::encode(tag),
        "token": token.expose_secret(),
        "token_hash_hex": hex::encode(token_hash(&token)),
    });
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden-v1.json");
    let mut text = serde_json::to_string_pretty(&g).unwrap();
    text.push('\n');
    std::fs::write(path, text).unwrap();
}
