//! The RFC 9162 (Certificate Transparency v2) Merkle tree over audit events.
//!
//! Leaves are the events' canonical bytes ([`crate::AuditEntry::event_json`]):
//! `leaf = SHA-256(0x00 || event bytes)`, `node = SHA-256(0x01 || left || right)`, and the
//! empty tree hashes to `SHA-256("")`. The tree over `n` leaves splits at the largest power
//! of two below `n` (RFC 9162 §2.1.1), so every tree is a sequence of *perfect* subtrees,
//! each aligned to its own size. A store keeps those perfect subtree hashes (at most about
//! `2n` of them, written as entries are appended, see [`append_nodes`]), and every root,
//! inclusion proof and consistency proof is computed from `O(log n)` of them through a
//! [`NodeSource`]; nothing rehashes the whole log.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::chain::Hash;

/// The prefix of a leaf hash (RFC 9162 §2.1.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// The prefix of an interior node hash (RFC 9162 §2.1.1).
pub const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 || data)`: the hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where perfect-subtree hashes come from.
///
/// `node(level, index)` is the hash of the perfect subtree over leaves
/// `[index << level, (index + 1) << level)`; level 0 holds the leaf hashes. A source is only
/// ever asked for subtrees that lie wholly inside the tree being proven.
pub trait NodeSource {
    /// The source's failure (a store error, or `MissingNode` from a memory tree).
    type Error;
    /// The perfect subtree hash at `(level, index)`.
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    /// The requested sizes or index do not describe a proof (e.g. index beyond the tree).
    #[error("invalid proof request")]
    OutOfRange,
    /// The node source failed.
    #[error("node source failed")]
    Source(E),
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    let p = 1u64 << (63 - (n - 1).leading_zeros());
    if p == n { p >> 1 } else { p }
}

/// MTH(D[start:end]) for the ranges that RFC 9162's recursions produce: `start` is a
/// multiple of a power of two at least `end - start`, so the range is a run of perfect,
/// aligned subtrees of decreasing size.
fn range_root<S: NodeSource>(
    src: &mut S,
    start: u64,
    end: u64,
) -> Result<Hash, ProofError<S::Error>> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return src.node(level, start >> level).map_err(ProofError::Source);
    }
    let k = split(n);
    let left = range_root(src, start, start + k)?;
    let right = range_root(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The root hash of the tree over the first `size` leaves.
pub fn root<S: NodeSource>(src: &mut S, size: u64) -> Result<Hash, ProofError<S::Error>> {
    range_root(src, 0, size)
}

/// The audit path of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1),
/// innermost sibling first.
pub fn inclusion_proof<S: NodeSource>(
    src: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::OutOfRange);
    }
    let mut out = Vec::new();
    path(src, index, 0, size, &mut out)?;
    Ok(out)
}

fn path<S: NodeSource>(
    src: &mut S,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError<S::Error>> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(src, m, start, start + k, out)?;
        out.push(range_root(src, start + k, end)?);
    } else {
        path(src, m - k, start + k, end, out)?;
        out.push(range_root(src, start, start + k)?);
    }
    Ok(())
}

/// The proof that the tree of `old` leaves is a prefix of the tree of `new` leaves
/// (RFC 9162 §2.1.4.1). Empty when `old == new` or `old == 0`.
pub fn consistency_proof<S: NodeSource>(
    src: &mut S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old > new {
        return Err(ProofError::OutOfRange);
    }
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(src, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

fn subproof<S: NodeSource>(
    src: &mut S,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError<S::Error>> {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(range_root(src, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, start + k, complete, out)?;
        out.push(range_root(src, start + k, end)?);
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(range_root(src, start, start + k)?);
    }
    Ok(())
}

fn eq(a: &Hash, b: &Hash) -> bool {
    bool::from(a.ct_eq(b))
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2): that `leaf` is leaf `index` of the
/// tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && eq(&r, root)
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): that the tree of `old` leaves with
/// root `old_root` is a prefix of the tree of `new` leaves with root `new_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && eq(old_root, new_root);
    }
    if old == 0 {
        return proof.is_empty() && eq(old_root, &empty_root());
    }
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    // With `old` a power of two, the old root is itself the first node of the path.
    let (start, path) = if old.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*start, *start);
    for c in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && eq(&fr, old_root) && eq(&sr, new_root)
}

/// The perfect-subtree nodes completed by appending leaf `index` with hash `leaf`:
/// `(0, index, leaf)` and then one node per level for as long as `index` is a right child.
/// `left(level, i)` returns the stored left sibling at `(level, i)`.
///
/// Appending costs one leaf write plus, amortised, one node read and write: the frontier
/// of a tree is exactly its stored perfect subtrees, so nothing else needs to be kept.
pub fn append_nodes<E>(
    index: u64,
    leaf: Hash,
    mut left: impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Vec<(u32, u64, Hash)>, E> {
    let mut out = vec![(0, index, leaf)];
    let (mut level, mut i, mut h) = (0u32, index, leaf);
    while i & 1 == 1 {
        let l = left(level, i - 1)?;
        h = node_hash(&l, &h);
        level += 1;
        i >>= 1;
        out.push((level, i, h));
    }
    Ok(out)
}

/// The right edge of a tree, built one leaf at a time in `O(log n)` memory: enough to
/// compute the root after every append, which is what a streaming verifier needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Perfect subtree roots, largest (leftmost) first; their sizes are the set bits of `size`.
    stack: Vec<Hash>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier of a tree of `size` leaves from its perfect subtree roots, largest
    /// first (`node(level, index)` for each set bit of `size`, high to low): how a verifier
    /// resumes above a pruned prefix.
    pub fn from_nodes<E>(
        size: u64,
        mut node: impl FnMut(u32, u64) -> Result<Hash, E>,
    ) -> Result<Self, E> {
        let mut stack = Vec::new();
        let mut offset = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                stack.push(node(level, offset >> level)?);
                offset += 1u64 << level;
            }
        }
        Ok(Self { size, stack })
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut i = self.size;
        while i & 1 == 1 {
            // A right child completes the perfect subtree whose left half is on top.
            if let Some(l) = self.stack.pop() {
                h = node_hash(&l, &h);
            }
            i >>= 1;
        }
        self.stack.push(h);
        self.size += 1;
    }

    /// The root of the tree over every leaf pushed so far.
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, l| node_hash(l, &acc))
    }
}

/// A whole tree held in memory: every level of perfect subtree hashes. For tests, tools
/// and small logs; a store implements [`NodeSource`] over its own node table instead.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

/// A node the [`MemoryTree`] does not hold (a request beyond its size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("merkle node ({level}, {index}) is missing")]
pub struct MissingNode {
    /// The node's level.
    pub level: u32,
    /// The node's index within its level.
    pub index: u64,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash, completing perfect subtrees as [`append_nodes`] does.
    pub fn push(&mut self, leaf: Hash) {
        let index = self.size();
        let levels = &mut self.levels;
        let nodes = append_nodes(index, leaf, |level, i| {
            levels
                .get(level as usize)
                .and_then(|l| l.get(i as usize))
                .copied()
                .ok_or(MissingNode { level, index: i })
        });
        // The left siblings of a fresh leaf are always present, so this cannot fail.
        for (level, _, h) in nodes.into_iter().flatten() {
            if self.levels.len() <= level as usize {
                self.levels.push(Vec::new());
            }
            if let Some(l) = self.levels.get_mut(level as usize) {
                l.push(h);
            }
        }
    }

    /// Appends the leaf for `data`.
    pub fn push_data(&mut self, data: &[u8]) {
        self.push(leaf_hash(data));
    }
}

impl NodeSource for MemoryTree {
    type Error = MissingNode;
    fn node(&mut self, level: u32, index: u64) -> Result<Hash, MissingNode> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}
