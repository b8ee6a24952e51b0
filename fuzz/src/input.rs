//! Reading structured choices out of the fuzzer's bytes.
//!
//! Targets that drive a conversation (the engine) or build a value before decoding it take
//! their choices from the input front to back. Every read succeeds: past the end it yields zeros
//! or an empty slice, so every byte string is a valid input and the fuzzer never wastes runs on
//! "too short" rejections of its own harness.

/// The unread rest of an input.
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// Starts reading `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// One byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        let (first, rest) = self
            .rest
            .split_first()
            .map_or((0, &[][..]), |(b, r)| (*b, r));
        self.rest = rest;
        first
    }

    /// A yes or no, from one byte (its lowest bit).
    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    /// Exactly `N` bytes, zero-padded past the end.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let taken = self.bytes(N);
        out[..taken.len()].copy_from_slice(taken);
        out
    }

    /// A big-endian `u64` from 8 bytes.
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }

    /// A big-endian `u32` from 4 bytes.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }

    /// A byte string prefixed by its length (two bytes, big-endian).
    pub fn blob(&mut self) -> &'a [u8] {
        let len = u16::from_be_bytes(self.array());
        self.bytes(usize::from(len))
    }

    /// Everything not yet read.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// A number a peer might send where a sequence number or counter belongs, leaning towards
    /// the values arithmetic goes wrong on: small, near `u64::MAX`, just past `near`, or any.
    pub fn number(&mut self, near: u64) -> u64 {
        let tag = self.byte();
        let small = u64::from(self.byte());
        match tag % 4 {
            0 => small,
            1 => u64::MAX - small,
            2 => near.saturating_add(small),
            _ => self.u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_yield_zeros_and_nothing() {
        let mut input = Input::new(&[1, 2, 3]);
        assert_eq!(input.byte(), 1);
        assert_eq!(input.array::<4>(), [2, 3, 0, 0]);
        assert!(input.is_empty());
        assert_eq!(input.byte(), 0);
        assert_eq!(input.blob(), &[] as &[u8]);
        assert_eq!(input.u64(), 0);
    }

    #[test]
    fn numbers_reach_the_extremes() {
        assert_eq!(Input::new(&[1, 0]).number(5), u64::MAX);
        assert_eq!(Input::new(&[2, 3]).number(u64::MAX - 1), u64::MAX);
        assert_eq!(Input::new(&[2, 3]).number(5), 8);
        assert_eq!(Input::new(&[3, 0, 0, 0, 0, 0, 0, 0, 1, 2]).number(5), 258);
        assert_eq!(Input::new(&[0, 9]).number(5), 9);
    }

    #[test]
    fn blobs_are_length_prefixed() {
        let mut input = Input::new(&[0, 2, 7, 8, 9]);
        assert_eq!(input.blob(), &[7, 8]);
        assert_eq!(input.rest(), &[9]);
        assert!(input.is_empty());
    }
}
