//! Snapshots in parts: a sealed snapshot larger than one frame travels as numbered parts.
//!
//! The whole document is sealed once (one signature and one authentication tag over all of
//! it) and the sealed bytes are cut into parts; the receiver joins the parts and opens the
//! result. Parts are therefore only transport: a part that is missing, reordered, from another
//! snapshot or altered makes the joined snapshot fail to open, exactly as a damaged one would.
//! This module holds the two halves the engine needs: cutting an upload into parts and
//! tracking their acknowledgements ([`Upload`]), and joining the parts a relay sends
//! ([`Assembly`]).

use crate::protocol::limits::{MAX_SNAPSHOT_BYTES, MAX_SNAPSHOT_PARTS};

use super::engine::SyncError;

/// Cuts a sealed snapshot into parts of at most `part_bytes` (clamped to
/// 1..=[`MAX_SNAPSHOT_BYTES`]); `None` when that makes more than [`MAX_SNAPSHOT_PARTS`].
pub(crate) fn cut(sealed: &[u8], part_bytes: usize) -> Option<Vec<Vec<u8>>> {
    let parts: Vec<Vec<u8>> = sealed
        .chunks(part_bytes.clamp(1, MAX_SNAPSHOT_BYTES))
        .map(<[u8]>::to_vec)
        .collect();
    let count = u32::try_from(parts.len()).ok()?;
    (1..=MAX_SNAPSHOT_PARTS).contains(&count).then_some(parts)
}

/// A snapshot upload on its way: the requests of its parts, numbered consecutively, and what it
/// covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Upload {
    /// The request of part 0.
    pub(crate) first: u64,
    /// The request of the last part: its acknowledgement means the snapshot is stored.
    pub(crate) last: u64,
    /// The log position the snapshot covers.
    pub(crate) covers: u64,
    /// The sealed snapshot's size.
    pub(crate) bytes: u64,
    /// The log bytes since the previous snapshot when this one was made (what it compacts).
    pub(crate) log_bytes: u64,
    /// A part was refused: the relay will store none of it (it reports it once).
    pub(crate) refused: bool,
}

impl Upload {
    /// Whether `request` is one of this upload's parts.
    pub(crate) fn owns(&self, request: u64) -> bool {
        (self.first..=self.last).contains(&request)
    }
}

/// The parts of the snapshot a relay is sending, joined as they arrive.
#[derive(Debug, Default)]
pub(crate) struct Assembly {
    under_way: Option<Partial>,
}

#[derive(Debug)]
struct Partial {
    covers: u64,
    parts: u32,
    next: u32,
    bytes: Vec<u8>,
}

impl Assembly {
    /// Takes one part; returns the whole sealed snapshot when this was its last part.
    ///
    /// Part 0 starts a snapshot (a relay that restarts a catch-up starts again); any other part
    /// must be the next one of the same snapshot. Anything else is a relay error: the parts of
    /// a snapshot come one after another, in order.
    pub(crate) fn take(
        &mut self,
        covers: u64,
        part: u32,
        parts: u32,
        bytes: &[u8],
    ) -> Result<Option<Vec<u8>>, SyncError> {
        if !(1..=MAX_SNAPSHOT_PARTS).contains(&parts) || part >= parts {
            return Err(SyncError::Protocol(format!(
                "a snapshot part numbered {part} of {parts} (a snapshot has 1 to \
                 {MAX_SNAPSHOT_PARTS} parts, numbered from 0)"
            )));
        }
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(SyncError::Protocol(format!(
                "a snapshot part of {} bytes (at most {MAX_SNAPSHOT_BYTES})",
                bytes.len()
            )));
        }
        let mut partial = match self.under_way.take() {
            _ if part == 0 => Partial {
                covers,
                parts,
                next: 0,
                bytes: Vec::new(),
            },
            Some(partial)
                if partial.covers == covers && partial.parts == parts && partial.next == part =>
            {
                partial
            }
            _ => {
                return Err(SyncError::Protocol(format!(
                    "part {part} of {parts} of a snapshot covering {covers} does not follow \
                     the parts sent before it"
                )))
            }
        };
        partial.bytes.extend_from_slice(bytes);
        partial.next = part + 1;
        if partial.next == parts {
            return Ok(Some(partial.bytes));
        }
        self.under_way = Some(partial);
        Ok(None)
    }

    /// Whether a snapshot's parts have begun arriving but not all have.
    pub(crate) fn is_under_way(&self) -> bool {
        self.under_way.is_some()
    }

    /// Forgets a snapshot whose parts stopped coming (the connection dropped).
    pub(crate) fn clear(&mut self) {
        self.under_way = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cutting_keeps_every_byte_in_order_within_the_limits() {
        let sealed: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let parts = cut(&sealed, 300).unwrap();
        assert_eq!(
            parts.iter().map(Vec::len).collect::<Vec<_>>(),
            [300, 300, 300, 100]
        );
        assert_eq!(parts.concat(), sealed);
        assert_eq!(cut(&sealed, usize::MAX).unwrap(), [sealed.as_slice()]);
        assert_eq!(
            cut(&sealed, 1000 / MAX_SNAPSHOT_PARTS as usize + 1)
                .unwrap()
                .len(),
            16
        );
        assert_eq!(
            cut(&sealed, 10),
            None,
            "100 parts are more than a snapshot may have"
        );
    }

    #[test]
    fn parts_join_in_order_and_a_restart_begins_again() {
        let mut assembly = Assembly::default();
        assert_eq!(assembly.take(9, 0, 3, b"ab").unwrap(), None);
        assert!(assembly.is_under_way());
        assert_eq!(assembly.take(9, 1, 3, b"cd").unwrap(), None);
        assert_eq!(
            assembly.take(9, 2, 3, b"e").unwrap(),
            Some(b"abcde".to_vec())
        );
        assert!(!assembly.is_under_way());
        // One part is a whole snapshot.
        assert_eq!(assembly.take(4, 0, 1, b"x").unwrap(), Some(b"x".to_vec()));
        // Part 0 again starts over.
        assembly.take(9, 0, 2, b"old").unwrap();
        assembly.take(9, 0, 2, b"ne").unwrap();
        assert_eq!(assembly.take(9, 1, 2, b"w").unwrap(), Some(b"new".to_vec()));
    }

    #[test]
    fn parts_out_of_order_or_out_of_range_are_relay_errors() {
        let mut assembly = Assembly::default();
        for (covers, part, parts) in [
            (9, 1, 3),
            (9, 0, 0),
            (9, 3, 3),
            (9, 0, MAX_SNAPSHOT_PARTS + 1),
        ] {
            assert!(
                matches!(
                    assembly.take(covers, part, parts, b"x"),
                    Err(SyncError::Protocol(_))
                ),
                "part {part} of {parts}"
            );
        }
        assembly.take(9, 0, 3, b"a").unwrap();
        assert!(assembly.take(9, 2, 3, b"c").is_err(), "skips part 1");
        assembly.take(9, 0, 3, b"a").unwrap();
        assert!(
            assembly.take(8, 1, 3, b"b").is_err(),
            "another snapshot's part"
        );
        assembly.take(9, 0, 3, b"a").unwrap();
        assert!(
            assembly.take(9, 1, 4, b"b").is_err(),
            "another count of parts"
        );
        assert!(assembly
            .take(9, 0, 1, &vec![0; MAX_SNAPSHOT_BYTES + 1])
            .is_err());
    }

    #[test]
    fn an_upload_owns_the_requests_of_its_parts() {
        let upload = Upload {
            first: 5,
            last: 7,
            covers: 40,
            bytes: 100,
            log_bytes: 1000,
            refused: false,
        };
        assert!(!upload.owns(4));
        assert!(upload.owns(5) && upload.owns(6) && upload.owns(7));
        assert!(!upload.owns(8));
    }
}
