//! The RFC 9162 Merkle tree: known answers, and every proof the library produces checked
//! by an independent verifier written here from the RFC's text (§2.1.3.2, §2.1.4.2), for
//! every tree size up to 70 and every pair of sizes, plus proofs that must fail.

use phivault_audit::merkle::{
    self, MemoryTree, consistency_proof, inclusion_proof, leaf_hash, root,
};
use phivault_audit::{Frontier, Hash, LogBreakKind, LogVerifier, SignedTreeHead};
use sha2::{Digest, Sha256};

// ----- an independent reference, straight from RFC 9162 §2.1 ----------------------------

fn h(parts: &[&[u8]]) -> Hash {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

fn ref_leaf(data: &[u8]) -> Hash {
    h(&[&[0u8], data])
}

fn ref_node(l: &Hash, r: &Hash) -> Hash {
    h(&[&[1u8], l, r])
}

/// k: the largest power of two smaller than n.
fn ref_k(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]) by the recursive definition.
fn ref_mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => h(&[]),
        1 => ref_leaf(&d[0]),
        n => {
            let k = ref_k(n);
            ref_node(&ref_mth(&d[..k]), &ref_mth(&d[k..]))
        }
    }
}

/// §2.1.3.2, written out again: verify an inclusion proof.
fn rfc_verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf: Hash,
    path: &[Hash],
    root: &Hash,
) -> bool {
    // 1. Compare leaf_index from the inclusion_path_v2 structure against tree_size. If
    //    leaf_index is greater than or equal to tree_size, then fail the proof verification.
    if leaf_index >= tree_size {
        return false;
    }
    // 2. Set fn to leaf_index and sn to tree_size - 1.
    let mut f = leaf_index;
    let mut s = tree_size - 1;
    // 3. Set r to hash.
    let mut r = leaf;
    // 4. For each value p in the inclusion_path array:
    for p in path {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if s == 0 {
            return false;
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if f & 1 == 1 || f == s {
            // i. Set r to HASH(0x01 || p || r).
            r = ref_node(p, &r);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            //     either LSB(fn) is set or fn is 0.
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f /= 2;
                    s /= 2;
                }
            }
        } else {
            // Otherwise: Set r to HASH(0x01 || r || p).
            r = ref_node(&r, p);
        }
        // c. Finally, right-shift both fn and sn one time.
        f /= 2;
        s /= 2;
    }
    // 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and
    //    the root_hash are equal, then the log has proven the inclusion of hash.
    s == 0 && &r == root
}

/// §2.1.4.2, written out again: verify a consistency proof (0 < first < second).
fn rfc_verify_consistency(
    first: u64,
    second: u64,
    first_hash: &Hash,
    second_hash: &Hash,
    consistency_path: &[Hash],
) -> bool {
    if first == 0 || first >= second {
        return false;
    }
    // 1. If consistency_path is an empty array, stop and fail the proof verification.
    if consistency_path.is_empty() {
        return false;
    }
    // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path.
    let mut path: Vec<Hash> = Vec::new();
    if first.count_ones() == 1 {
        path.push(*first_hash);
    }
    path.extend_from_slice(consistency_path);
    // 3. Set fn to first - 1 and sn to second - 1.
    let mut f = first - 1;
    let mut s = second - 1;
    // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while f & 1 == 1 {
        f /= 2;
        s /= 2;
    }
    // 5. Set both fr and sr to the first value in the consistency_path array.
    let mut fr = path[0];
    let mut sr = path[0];
    // 6. For each subsequent value c in the consistency_path array:
    for c in &path[1..] {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if s == 0 {
            return false;
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if f & 1 == 1 || f == s {
            // i. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr).
            fr = ref_node(c, &fr);
            sr = ref_node(c, &sr);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            //     either LSB(fn) is set or fn is 0.
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f /= 2;
                    s /= 2;
                }
            }
        } else {
            // Otherwise: Set sr to HASH(0x01 || sr || c).
            sr = ref_node(&sr, c);
        }
        // c. Finally, right-shift both fn and sn one time.
        f /= 2;
        s /= 2;
    }
    // 7. fr equals first_hash, sr equals second_hash, and sn is 0.
    &fr == first_hash && &sr == second_hash && s == 0
}

fn data(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{{\"event\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 13)).into_bytes())
        .collect()
}

fn tree(d: &[Vec<u8>]) -> MemoryTree {
    let mut t = MemoryTree::new();
    for x in d {
        t.push_data(x);
    }
    t
}

fn unhex(s: &str) -> Hash {
    let mut out = [0u8; 32];
    assert!(hex::decode_to_slice(s, &mut out).is_ok());
    out
}

// ----- known answers ----------------------------------------------------------------------

/// The RFC 6962 reference test vectors (certificate-transparency merkle_tree_test), which
/// RFC 9162 hashes identically.
#[test]
fn merkle_roots_match_rfc6962_reference_vectors() {
    let leaves: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x00],
        vec![0x10],
        vec![0x20, 0x21],
        vec![0x30, 0x31],
        vec![0x40, 0x41, 0x42, 0x43],
        vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        (0x60..=0x6f).collect(),
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let mut t = MemoryTree::new();
    let mut f = Frontier::new();
    assert_eq!(
        merkle::empty_root(),
        unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    for (i, leaf) in leaves.iter().enumerate() {
        t.push_data(leaf);
        f.push(leaf_hash(leaf));
        let want = unhex(roots[i]);
        assert_eq!(root(&mut t, i as u64 + 1).unwrap(), want, "size {}", i + 1);
        assert_eq!(f.root(), want, "frontier size {}", i + 1);
        assert_eq!(ref_mth(&leaves[..=i]), want, "reference size {}", i + 1);
    }
}

#[test]
fn leaf_and_node_hashes_are_domain_separated() {
    let a = [7u8; 32];
    let b = [9u8; 32];
    let mut concat = a.to_vec();
    concat.extend_from_slice(&b);
    // A 64-byte leaf that spells two node hashes never collides with their parent node.
    assert_ne!(leaf_hash(&concat), merkle::node_hash(&a, &b));
    assert_eq!(leaf_hash(b"x"), ref_leaf(b"x"));
    assert_eq!(merkle::node_hash(&a, &b), ref_node(&a, &b));
}

// ----- every size, every proof ------------------------------------------------------------

#[test]
fn roots_and_frontier_match_the_reference_for_every_size() {
    let d = data(130);
    let mut t = MemoryTree::new();
    let mut f = Frontier::new();
    for n in 1..=d.len() {
        t.push_data(&d[n - 1]);
        f.push(leaf_hash(&d[n - 1]));
        let want = ref_mth(&d[..n]);
        assert_eq!(f.root(), want, "frontier {n}");
        for m in 1..=n {
            // Every prefix root is available from the nodes kept for the larger tree.
            assert_eq!(
                root(&mut t, m as u64).unwrap(),
                ref_mth(&d[..m]),
                "root {m} of {n}"
            );
        }
    }
}

#[test]
fn inclusion_proofs_verify_independently_for_every_leaf_and_size() {
    let d = data(70);
    let mut t = tree(&d);
    for n in 1..=d.len() as u64 {
        let r = ref_mth(&d[..n as usize]);
        for i in 0..n {
            let p = inclusion_proof(&mut t, i, n).unwrap();
            let leaf = ref_leaf(&d[i as usize]);
            assert!(rfc_verify_inclusion(i, n, leaf, &p, &r), "leaf {i} of {n}");
            assert!(merkle::verify_inclusion(&leaf, i, n, &p, &r));
            // Proofs that must fail: wrong leaf, wrong index, wrong size, wrong root,
            // a flipped path node, a truncated or an extended path.
            let other = ref_leaf(b"forged");
            assert!(!rfc_verify_inclusion(i, n, other, &p, &r));
            assert!(!merkle::verify_inclusion(&other, i, n, &p, &r));
            if n > 1 {
                let j = (i + 1) % n;
                assert!(
                    !rfc_verify_inclusion(j, n, leaf, &p, &r),
                    "index {j} of {n}"
                );
                assert!(!merkle::verify_inclusion(&leaf, j, n, &p, &r));
            }
            // (A proof for size n can verify under size n + 1 with the same root: RFC 9162
            // binds size and root through the signed tree head, not the path.)
            assert!(!merkle::verify_inclusion(&leaf, n, n, &p, &r));
            let mut bad_root = r;
            bad_root[0] ^= 1;
            assert!(!merkle::verify_inclusion(&leaf, i, n, &p, &bad_root));
            if !p.is_empty() {
                let mut q = p.clone();
                q[p.len() / 2][31] ^= 0x80;
                assert!(!rfc_verify_inclusion(i, n, leaf, &q, &r));
                assert!(!merkle::verify_inclusion(&leaf, i, n, &q, &r));
                assert!(!merkle::verify_inclusion(
                    &leaf,
                    i,
                    n,
                    &p[..p.len() - 1],
                    &r
                ));
            }
            let mut longer = p.clone();
            longer.push(r);
            assert!(!rfc_verify_inclusion(i, n, leaf, &longer, &r));
            assert!(!merkle::verify_inclusion(&leaf, i, n, &longer, &r));
        }
    }
}

#[test]
fn consistency_proofs_verify_independently_for_every_pair_of_sizes() {
    let d = data(70);
    let mut t = tree(&d);
    for n in 1..=d.len() as u64 {
        let rn = ref_mth(&d[..n as usize]);
        for m in 1..n {
            let rm = ref_mth(&d[..m as usize]);
            let p = consistency_proof(&mut t, m, n).unwrap();
            assert!(rfc_verify_consistency(m, n, &rm, &rn, &p), "{m} -> {n}");
            assert!(merkle::verify_consistency(m, n, &rm, &rn, &p));
            // Must fail: a rewritten old tree, a rewritten new tree, swapped sizes,
            // a flipped node, a dropped node.
            let mut bm = rm;
            bm[5] ^= 1;
            let mut bn = rn;
            bn[9] ^= 1;
            assert!(!rfc_verify_consistency(m, n, &bm, &rn, &p));
            assert!(!merkle::verify_consistency(m, n, &bm, &rn, &p));
            assert!(!rfc_verify_consistency(m, n, &rm, &bn, &p));
            assert!(!merkle::verify_consistency(m, n, &rm, &bn, &p));
            assert!(!merkle::verify_consistency(n, m, &rn, &rm, &p));
            if m + 1 < n {
                assert!(!rfc_verify_consistency(m + 1, n, &rm, &rn, &p));
                assert!(!merkle::verify_consistency(m + 1, n, &rm, &rn, &p));
            }
            for k in 0..p.len() {
                let mut q = p.clone();
                q[k][0] ^= 0x40;
                assert!(
                    !rfc_verify_consistency(m, n, &rm, &rn, &q),
                    "{m}->{n} node {k}"
                );
                assert!(!merkle::verify_consistency(m, n, &rm, &rn, &q));
            }
            assert!(!merkle::verify_consistency(
                m,
                n,
                &rm,
                &rn,
                &p[..p.len() - 1]
            ));
        }
        // Trivial cases: equal sizes need an empty proof and equal roots; size 0 is the
        // empty tree, a prefix of everything.
        assert!(consistency_proof(&mut t, n, n).unwrap().is_empty());
        assert!(merkle::verify_consistency(n, n, &rn, &rn, &[]));
        assert!(merkle::verify_consistency(
            0,
            n,
            &merkle::empty_root(),
            &rn,
            &[]
        ));
    }
}

#[test]
fn a_rewritten_prefix_has_no_consistency_proof() {
    let d = data(40);
    let mut forged = d.clone();
    forged[3] = b"rewritten".to_vec();
    let mut ft = tree(&forged);
    for m in 4..40u64 {
        let honest_old = ref_mth(&d[..m as usize]);
        let forged_new = ref_mth(&forged);
        let p = consistency_proof(&mut ft, m, 40).unwrap();
        assert!(!rfc_verify_consistency(m, 40, &honest_old, &forged_new, &p));
        assert!(!merkle::verify_consistency(
            m,
            40,
            &honest_old,
            &forged_new,
            &p
        ));
    }
}

#[test]
fn proofs_out_of_range_are_refused() {
    let mut t = tree(&data(5));
    assert!(inclusion_proof(&mut t, 5, 5).is_err());
    assert!(consistency_proof(&mut t, 6, 5).is_err());
    // The memory tree cannot prove beyond its size.
    assert!(inclusion_proof(&mut t, 0, 6).is_err());
}

// ----- signed tree heads -------------------------------------------------------------------

fn key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn signed_tree_heads_verify_and_refuse_any_change() {
    let k = key(1);
    let pk = k.verifying_key().to_bytes();
    let head = SignedTreeHead::sign(&k, 42, 1_700_000_000_000, [3u8; 32]);
    assert!(head.verify(&pk));
    assert!(!head.verify(&key(2).verifying_key().to_bytes()));
    let mut h = head.clone();
    h.tree_size = 41;
    assert!(!h.verify(&pk));
    let mut h = head.clone();
    h.root_hash[0] ^= 1;
    assert!(!h.verify(&pk));
    let mut h = head.clone();
    h.timestamp_ms += 1;
    assert!(!h.verify(&pk));
    // JSON round trip (the HEAD.json format).
    let json = serde_json::to_string(&head).unwrap();
    assert!(json.contains("\"tree_size\":42"));
    let back: SignedTreeHead = serde_json::from_str(&json).unwrap();
    assert_eq!(back, head);
}

#[test]
fn log_verifier_catches_truncation_and_rewrites_against_signed_heads() {
    use phivault_audit::{AuditEntry, GENESIS_HASH};
    let k = key(3);
    let pk = k.verifying_key().to_bytes();
    let events: Vec<_> = (0..20).map(super::sample_event).collect();
    let mut entries = Vec::new();
    let mut prev = GENESIS_HASH;
    for (i, e) in events.iter().enumerate() {
        let entry = AuditEntry::chain(i as u64 + 1, prev, e);
        prev = entry.hash;
        entries.push(entry);
    }
    let mut t = MemoryTree::new();
    for e in &entries {
        t.push_data(e.event_json.as_bytes());
    }
    let head = |n: u64, t: &mut MemoryTree| SignedTreeHead::sign(&k, n, 0, root(t, n).unwrap());
    let h10 = head(10, &mut t);
    let h20 = head(20, &mut t);

    // Intact.
    let mut v = LogVerifier::new([h10.clone(), h20.clone()], &pk);
    for e in &entries {
        v.push(e, None).unwrap();
    }
    v.finish().unwrap();

    // Truncated to 15: the head of 20 names entry 16 as the first missing one.
    let mut v = LogVerifier::new([h10.clone(), h20.clone()], &pk);
    for e in &entries[..15] {
        v.push(e, None).unwrap();
    }
    let b = v.finish().unwrap_err();
    assert_eq!(b.seq, 16);
    assert_eq!(b.kind, LogBreakKind::Truncated { tree_size: 20 });

    // Rewritten from entry 13 on, re-chained consistently (no key needed for the chain).
    let mut forged = entries[..12].to_vec();
    let mut prev = entries[11].hash;
    for i in 12..20u64 {
        let mut e = events[i as usize].clone();
        e.action = "record.read".into();
        e.request_id = format!("forged-{i}");
        let entry = AuditEntry::chain(i + 1, prev, &e);
        prev = entry.hash;
        forged.push(entry);
    }
    let mut v = LogVerifier::new([h10.clone(), h20.clone()], &pk);
    let b = forged
        .iter()
        .find_map(|e| v.push(e, None).err())
        .expect("forgery detected");
    assert_eq!(b.seq, 11, "first entry after the last matching head");
    assert_eq!(b.kind, LogBreakKind::RootMismatch { tree_size: 20 });

    // A head signed by another key is not trusted, and is reported.
    let fake = SignedTreeHead::sign(&key(9), 20, 0, [0u8; 32]);
    let v = LogVerifier::new([fake], &pk);
    assert_eq!(v.rejected_heads(), &[20]);
}
