//! A small, fast, non-cryptographic hasher (the rustc "Fx" hash) for the planner's indexes.
//!
//! The planner hashes hundreds of thousands of short account ids per plan; SipHash would spend
//! most of the planning time there. Iteration order of these maps never reaches the plan: every
//! output list is sorted.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The Fx hasher.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with the Fx hasher.
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
/// A `HashSet` with the Fx hasher.
pub type FxSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

/// An empty [`FxMap`] with room for `n` entries.
pub fn map_with_capacity<K, V>(n: usize) -> FxMap<K, V> {
    FxMap::with_capacity_and_hasher(n, BuildHasherDefault::default())
}

/// A well-mixed 64-bit hash of bytes: Fx over 8-byte words, then the murmur3 finalizer (Fx
/// alone leaves the low bits weak).
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(bytes);
    h.write_usize(bytes.len());
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// An open-addressing table from strings to small integers. Each slot is one `u32`: the value
/// plus one in the low bits and as many bits of the string's hash as are left over (a tag) in
/// the high bits. The caller keeps the strings (packed, for locality) and confirms a candidate
/// with `eq`. A lookup touches one compact slot array (4 bytes a slot, so 100,000 users fit in
/// 1 MiB) instead of following a pointer to a scattered heap string for every probe.
#[derive(Debug, Clone)]
pub struct StrTable {
    shift: u32,
    mask: usize,
    /// Bits holding `value + 1`; the rest hold the tag.
    value_bits: u32,
    /// 0 marks an empty slot.
    slots: Vec<u32>,
}

impl StrTable {
    /// A table for up to `n` strings (values below `n`) at a load factor of at most one half.
    pub fn with_capacity(n: usize) -> Self {
        let cap = (n.saturating_mul(2)).next_power_of_two().max(16);
        let largest = u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1);
        StrTable {
            shift: 64 - cap.trailing_zeros(),
            mask: cap - 1,
            value_bits: (32 - largest.leading_zeros()).max(1),
            slots: vec![0; cap],
        }
    }

    #[inline]
    fn start(&self, h: u64) -> usize {
        (h >> self.shift) as usize & self.mask
    }

    #[inline]
    fn value_mask(&self) -> u32 {
        u32::MAX
            .checked_shr(32 - self.value_bits)
            .unwrap_or(u32::MAX)
    }

    #[inline]
    fn tag(&self, h: u64) -> u32 {
        (h as u32).checked_shl(self.value_bits).unwrap_or(0)
    }

    /// The value whose string hashes to `h` and satisfies `eq`.
    #[inline]
    pub fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = self.tag(h);
        let vmask = self.value_mask();
        let mut i = self.start(h);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot & !vmask == tag && eq((slot & vmask) - 1) {
                return Some((slot & vmask) - 1);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Inserts `value` for hash `h` (the caller has checked it is absent). `value` must be
    /// below the `n` given to [`StrTable::with_capacity`], and at most `n` values are inserted.
    #[inline]
    pub fn insert(&mut self, h: u64, value: u32) {
        let mut i = self.start(h);
        while self.slots[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = self.tag(h) | (value.saturating_add(1) & self.value_mask());
    }
}
