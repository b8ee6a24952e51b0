//! Randomness for tests: a seeded CSPRNG, and a "random" source that replays fixed bytes so the
//! test vectors' nonces and ephemeral keys can be reproduced exactly.

use std::convert::Infallible;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_core::{TryCryptoRng, TryRng};

/// A deterministic CSPRNG for tests.
pub(crate) fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Hands out the given bytes in order, then panics: a test that asks for more randomness than
/// the vector provides is a broken test.
pub(crate) struct FixedRng {
    bytes: Vec<u8>,
    at: usize,
}

impl FixedRng {
    pub(crate) fn new(parts: &[&[u8]]) -> Self {
        Self {
            bytes: parts.concat(),
            at: 0,
        }
    }

    /// Whether every byte was consumed.
    pub(crate) fn is_exhausted(&self) -> bool {
        self.at == self.bytes.len()
    }
}

impl TryRng for FixedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.at + dst.len();
        assert!(end <= self.bytes.len(), "FixedRng ran out of bytes");
        dst.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(())
    }
}

impl TryCryptoRng for FixedRng {}
