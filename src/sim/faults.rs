//! Fault injection: which kinds exist and the seeded dice that decide when one strikes.

use super::scenario::FaultRule;
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// What goes wrong with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Accept the request and never send headers (until `delay` or shutdown).
    HangBeforeHeaders,
    /// Send headers and a few tokens, then go silent.
    HangMidStream,
    /// Send headers and a few tokens, then drop the connection.
    CutStream,
    /// Send a chunk that is not valid JSON, then go on normally.
    MalformedChunk,
    /// Answer 500 with a server-error body.
    #[serde(rename = "http_500")]
    Http500,
    /// Answer 503 with a capacity body (Together's wording).
    #[serde(rename = "http_503")]
    Http503,
    /// Wait `delay` (default 2 s) before the headers, then answer normally.
    SlowFirstByte,
}

impl FaultKind {
    /// Whether the fault strikes before any header is sent.
    pub fn before_headers(self) -> bool {
        matches!(
            self,
            FaultKind::HangBeforeHeaders | FaultKind::Http500 | FaultKind::Http503
        )
    }

    /// The snake_case name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::HangBeforeHeaders => "hang_before_headers",
            FaultKind::HangMidStream => "hang_mid_stream",
            FaultKind::CutStream => "cut_stream",
            FaultKind::MalformedChunk => "malformed_chunk",
            FaultKind::Http500 => "http_500",
            FaultKind::Http503 => "http_503",
            FaultKind::SlowFirstByte => "slow_first_byte",
        }
    }
}

/// Seeded, lock-free dice: draw `n` is a pure function of (seed, n).
#[derive(Debug)]
pub struct Dice {
    seed: u64,
    next: AtomicU64,
}

impl Dice {
    /// Dice that replay the same sequence for the same seed.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            next: AtomicU64::new(0),
        }
    }

    /// The next raw 64-bit draw.
    pub fn next_u64(&self) -> u64 {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        splitmix64(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The next draw in [0, 1).
    pub fn unit(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The first rule covering (provider, model) whose roll succeeds, if any.
    pub fn roll<'a>(
        &self,
        rules: &'a [FaultRule],
        provider: &str,
        model: &str,
    ) -> Option<&'a FaultRule> {
        rules
            .iter()
            .filter(|r| r.matches(provider, model) && r.probability > 0.0)
            .find(|r| r.probability >= 1.0 || self.unit() < r.probability)
    }
}

/// One step of SplitMix64: a fast, well-mixed 64-bit hash.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_are_seeded_and_roughly_uniform() {
        let a = Dice::new(7);
        let b = Dice::new(7);
        let xs: Vec<u64> = (0..50).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..50).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let d = Dice::new(3);
        let hits = (0..10_000).filter(|_| d.unit() < 0.25).count();
        assert!((2_200..2_800).contains(&hits), "{hits}");
    }
}
