//! A persistent (immutable, structurally shared) Merkle Patricia trie held in memory.
//!
//! Every update returns a new trie that shares all untouched subtrees with the old one, and each
//! node caches its own RLP reference once computed. So:
//! - the state root after a block costs work proportional to the keys the block changed, not to
//!   the size of the state (the hashes of untouched subtrees are reused);
//! - keeping the state of several recent blocks (and of uncommitted payloads and flashblocks) is
//!   cheap: each is one `Arc` to a root;
//! - proofs (`eth_getProof`) are a walk from the root.
//!
//! Keys are fixed-length (32-byte hashes), so branch nodes never carry values.

use alloy_primitives::{B256, keccak256};
use alloy_trie::{
    EMPTY_ROOT_HASH, Nibbles, TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
};
use std::sync::{Arc, OnceLock};

/// A value stored at a trie leaf: it knows its own RLP encoding.
pub trait TrieValue: Clone {
    /// Appends the leaf's value bytes (already RLP-encoded, as the trie stores them).
    fn encode_value(&self, out: &mut Vec<u8>);
}

/// An immutable Merkle Patricia trie; cloning is O(1).
#[derive(Debug)]
pub struct Trie<V> {
    root: Option<Arc<Node<V>>>,
}

impl<V> Clone for Trie<V> {
    fn clone(&self) -> Self {
        Self {
            root: self.root.clone(),
        }
    }
}

impl<V> Default for Trie<V> {
    fn default() -> Self {
        Self { root: None }
    }
}

#[derive(Debug)]
struct Node<V> {
    kind: Kind<V>,
    rlp: OnceLock<RlpNode>,
}

#[derive(Debug)]
enum Kind<V> {
    Leaf {
        key: Nibbles,
        value: V,
    },
    Extension {
        key: Nibbles,
        child: Arc<Node<V>>,
    },
    Branch {
        children: Box<[Option<Arc<Node<V>>>; 16]>,
    },
}

fn node<V>(kind: Kind<V>) -> Arc<Node<V>> {
    Arc::new(Node {
        kind,
        rlp: OnceLock::new(),
    })
}

impl<V: TrieValue> Trie<V> {
    /// The empty trie.
    pub fn new() -> Self {
        Self { root: None }
    }

    /// Whether both are the same trie in memory (one is a clone of the other): O(1), and
    /// false for equal tries built separately.
    pub fn same(&self, other: &Self) -> bool {
        match (&self.root, &other.root) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// True when no key is present.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// The value stored under a 32-byte key.
    pub fn get(&self, key: &B256) -> Option<&V> {
        let path = Nibbles::unpack(key);
        let mut cur = self.root.as_deref()?;
        let mut pos = 0;
        loop {
            match &cur.kind {
                Kind::Leaf { key, value } => {
                    return (path.slice(pos..) == *key).then_some(value);
                }
                Kind::Extension { key, child } => {
                    if !path.slice(pos..).starts_with(key) {
                        return None;
                    }
                    pos += key.len();
                    cur = child;
                }
                Kind::Branch { children } => {
                    cur = children[path.get_unchecked(pos) as usize].as_deref()?;
                    pos += 1;
                }
            }
        }
    }

    /// Returns a trie with `key` set to `value`.
    pub fn insert(&self, key: &B256, value: V) -> Self {
        Self {
            root: Some(insert(self.root.as_ref(), Nibbles::unpack(key), value)),
        }
    }

    /// Returns a trie without `key` (the same trie when the key is absent).
    pub fn remove(&self, key: &B256) -> Self {
        match &self.root {
            None => self.clone(),
            Some(root) => match remove(root, Nibbles::unpack(key)) {
                Removed::Unchanged => self.clone(),
                Removed::Empty => Self { root: None },
                Removed::Node(n) => Self { root: Some(n) },
            },
        }
    }

    /// Sets (`Some`) or removes (`None`) a key.
    pub fn update(&self, key: &B256, value: Option<V>) -> Self {
        match value {
            Some(v) => self.insert(key, v),
            None => self.remove(key),
        }
    }

    /// The root hash (keccak of the root node's RLP; the empty-trie root when empty).
    pub fn root_hash(&self) -> B256 {
        match &self.root {
            None => EMPTY_ROOT_HASH,
            Some(root) => {
                let rlp = root.rlp_node();
                rlp.as_hash().unwrap_or_else(|| keccak256(rlp.as_ref()))
            }
        }
    }

    /// The RLP encodings of the nodes on the path to `key`, root first: an EIP-1186 proof. It
    /// proves presence when the key exists and absence otherwise.
    pub fn proof(&self, key: &B256) -> Vec<Vec<u8>> {
        let path = Nibbles::unpack(key);
        let mut out = Vec::new();
        let mut cur = self.root.as_deref();
        let mut pos = 0;
        while let Some(n) = cur {
            out.push(n.encode());
            cur = match &n.kind {
                Kind::Leaf { .. } => None,
                Kind::Extension { key, child } => {
                    if path.slice(pos..).starts_with(key) {
                        pos += key.len();
                        Some(child)
                    } else {
                        None
                    }
                }
                Kind::Branch { children } => {
                    let c = children[path.get_unchecked(pos) as usize].as_deref();
                    pos += 1;
                    c
                }
            };
        }
        out
    }

    /// Visits every (key path, value) pair in key order.
    pub fn for_each(&self, mut f: impl FnMut(&V)) {
        fn walk<V>(n: &Node<V>, f: &mut impl FnMut(&V)) {
            match &n.kind {
                Kind::Leaf { value, .. } => f(value),
                Kind::Extension { child, .. } => walk(child, f),
                Kind::Branch { children } => children.iter().flatten().for_each(|c| walk(c, f)),
            }
        }
        if let Some(root) = &self.root {
            walk(root, &mut f);
        }
    }
}

impl<V: TrieValue> Node<V> {
    fn rlp_node(&self) -> &RlpNode {
        self.rlp.get_or_init(|| RlpNode::from_rlp(&self.encode()))
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        match &self.kind {
            Kind::Leaf { key, value } => {
                let mut v = Vec::with_capacity(80);
                value.encode_value(&mut v);
                alloy_rlp::Encodable::encode(&LeafNodeRef::new(key, &v), &mut out);
            }
            Kind::Extension { key, child } => {
                alloy_rlp::Encodable::encode(
                    &ExtensionNodeRef::new(key, child.rlp_node()),
                    &mut out,
                );
            }
            Kind::Branch { children } => {
                let mut stack = Vec::with_capacity(16);
                let mut mask = TrieMask::default();
                for (i, c) in children.iter().enumerate() {
                    if let Some(c) = c {
                        mask.set_bit(i as u8);
                        stack.push(c.rlp_node().clone());
                    }
                }
                alloy_rlp::Encodable::encode(&BranchNodeRef::new(&stack, mask), &mut out);
            }
        }
        out
    }
}

fn leaf<V>(key: Nibbles, value: V) -> Arc<Node<V>> {
    node(Kind::Leaf { key, value })
}

/// Wraps `child` in an extension of `prefix`, merging with a child extension or leaf.
fn with_prefix<V: TrieValue>(prefix: Nibbles, child: Arc<Node<V>>) -> Arc<Node<V>> {
    if prefix.is_empty() {
        return child;
    }
    match &child.kind {
        Kind::Leaf { key, value } => leaf(prefix.join(key), value.clone()),
        Kind::Extension { key, child } => node(Kind::Extension {
            key: prefix.join(key),
            child: child.clone(),
        }),
        Kind::Branch { .. } => node(Kind::Extension { key: prefix, child }),
    }
}

fn empty_children<V>() -> Box<[Option<Arc<Node<V>>>; 16]> {
    Box::default()
}

fn insert<V: TrieValue>(n: Option<&Arc<Node<V>>>, path: Nibbles, value: V) -> Arc<Node<V>> {
    let Some(n) = n else { return leaf(path, value) };
    match &n.kind {
        Kind::Leaf { key, value: old } => {
            if *key == path {
                return leaf(path, value);
            }
            let c = key.common_prefix_length(&path);
            let mut children = empty_children();
            children[key.get_unchecked(c) as usize] = Some(leaf(key.slice(c + 1..), old.clone()));
            children[path.get_unchecked(c) as usize] = Some(leaf(path.slice(c + 1..), value));
            with_prefix(path.slice(..c), node(Kind::Branch { children }))
        }
        Kind::Extension { key, child } => {
            let c = key.common_prefix_length(&path);
            if c == key.len() {
                let new_child = insert(Some(child), path.slice(c..), value);
                return node(Kind::Extension {
                    key: *key,
                    child: new_child,
                });
            }
            let mut children = empty_children();
            let rest = key.slice(c + 1..);
            children[key.get_unchecked(c) as usize] = Some(if rest.is_empty() {
                child.clone()
            } else {
                node(Kind::Extension {
                    key: rest,
                    child: child.clone(),
                })
            });
            children[path.get_unchecked(c) as usize] = Some(leaf(path.slice(c + 1..), value));
            with_prefix(path.slice(..c), node(Kind::Branch { children }))
        }
        Kind::Branch { children } => {
            let i = path.get_unchecked(0) as usize;
            let mut children = children.clone();
            children[i] = Some(insert(children[i].as_ref(), path.slice(1..), value));
            node(Kind::Branch { children })
        }
    }
}

enum Removed<V> {
    Unchanged,
    Empty,
    Node(Arc<Node<V>>),
}

fn remove<V: TrieValue>(n: &Arc<Node<V>>, path: Nibbles) -> Removed<V> {
    match &n.kind {
        Kind::Leaf { key, .. } => {
            if *key == path {
                Removed::Empty
            } else {
                Removed::Unchanged
            }
        }
        Kind::Extension { key, child } => {
            if !path.starts_with(key) {
                return Removed::Unchanged;
            }
            match remove(child, path.slice(key.len()..)) {
                Removed::Unchanged => Removed::Unchanged,
                Removed::Empty => Removed::Empty,
                Removed::Node(c) => Removed::Node(with_prefix(*key, c)),
            }
        }
        Kind::Branch { children } => {
            let i = path.get_unchecked(0) as usize;
            let Some(child) = &children[i] else {
                return Removed::Unchanged;
            };
            let new_child = match remove(child, path.slice(1..)) {
                Removed::Unchanged => return Removed::Unchanged,
                Removed::Empty => None,
                Removed::Node(c) => Some(c),
            };
            let mut children = children.clone();
            children[i] = new_child;
            let mut present = children.iter().enumerate().filter(|(_, c)| c.is_some());
            match (present.next(), present.next()) {
                (None, _) => Removed::Empty,
                (Some((j, only)), None) => {
                    let only = only.clone().expect("filtered on presence");
                    Removed::Node(with_prefix(
                        Nibbles::from_nibbles_unchecked([j as u8]),
                        only,
                    ))
                }
                _ => Removed::Node(node(Kind::Branch { children })),
            }
        }
    }
}

impl TrieValue for alloy_primitives::U256 {
    fn encode_value(&self, out: &mut Vec<u8>) {
        alloy_rlp::Encodable::encode(self, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;
    use alloy_trie::{HashBuilder, proof::verify_proof};
    use std::collections::BTreeMap;

    fn reference_root(map: &BTreeMap<B256, U256>) -> B256 {
        let mut hb = HashBuilder::default();
        for (k, v) in map {
            hb.add_leaf(Nibbles::unpack(k), &alloy_rlp::encode(v));
        }
        hb.root()
    }

    /// A small deterministic generator, so the test needs no extra crate.
    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn matches_hash_builder_under_random_inserts_and_removals() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut trie = Trie::<U256>::new();
        let mut map = BTreeMap::new();
        let mut keys = Vec::new();
        for round in 0..3000 {
            let r = next(&mut seed);
            if r.is_multiple_of(3) && !keys.is_empty() {
                let k: B256 = keys[(r as usize / 3) % keys.len()];
                trie = trie.remove(&k);
                map.remove(&k);
            } else {
                // Share prefixes often so extension and branch collapsing is exercised.
                let mut k = B256::ZERO;
                k[0] = (r >> 8) as u8 % 4;
                k[1] = (r >> 16) as u8 % 3;
                k[31] = (r >> 24) as u8;
                let v = U256::from(r % 1000 + 1);
                trie = trie.insert(&k, v);
                map.insert(k, v);
                keys.push(k);
            }
            if round % 97 == 0 {
                assert_eq!(trie.root_hash(), reference_root(&map), "round {round}");
            }
        }
        assert_eq!(trie.root_hash(), reference_root(&map));
        for (k, v) in &map {
            assert_eq!(trie.get(k), Some(v));
        }
    }

    #[test]
    fn old_versions_are_unchanged_by_updates() {
        let a = Trie::<U256>::new().insert(&B256::with_last_byte(1), U256::from(1));
        let root_a = a.root_hash();
        let b = a
            .insert(&B256::with_last_byte(2), U256::from(2))
            .remove(&B256::with_last_byte(1));
        assert_eq!(a.root_hash(), root_a);
        assert_ne!(b.root_hash(), root_a);
        assert_eq!(a.get(&B256::with_last_byte(2)), None);
        assert!(Trie::<U256>::new().root_hash() == EMPTY_ROOT_HASH);
        assert!(a.remove(&B256::with_last_byte(1)).is_empty());
    }

    #[test]
    fn proofs_verify_for_present_and_absent_keys() {
        let mut trie = Trie::<U256>::new();
        for i in 0..200u64 {
            trie = trie.insert(&keccak256(i.to_be_bytes()), U256::from(i + 1));
        }
        let root = trie.root_hash();
        for i in [0u64, 7, 199, 500] {
            let key = keccak256(i.to_be_bytes());
            let proof: Vec<_> = trie.proof(&key).into_iter().map(Into::into).collect();
            let expected = trie.get(&key).map(alloy_rlp::encode);
            verify_proof(root, Nibbles::unpack(key), expected, &proof).unwrap();
        }
    }
}
