//! [`FxHasher`]: a fast hasher for maps whose keys no attacker picks.

use std::hash::{BuildHasherDefault, Hasher};

/// A small, fast, non-cryptographic hasher (the multiply-rotate scheme of rustc's FxHash) for
/// maps keyed by short strings rota builds itself or that cannot hurt it (slot names, text
/// pieces): SipHash's cost showed in the engine's and the estimate's benches.
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` hasher builder for [`FxHasher`].
pub type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fx_hasher_tells_slot_names_apart() {
        use std::hash::BuildHasher;
        let b = FxBuild::default();
        let names = ["a@groq/m", "b@groq/m", "a@groq/n", "acct-1@p0/model-10"];
        let hashes: Vec<u64> = names.iter().map(|n| b.hash_one(n)).collect();
        for i in 0..hashes.len() {
            for j in i + 1..hashes.len() {
                assert_ne!(hashes[i], hashes[j], "{} vs {}", names[i], names[j]);
            }
        }
        assert_eq!(b.hash_one("a@groq/m"), b.hash_one(String::from("a@groq/m")));
    }
}
