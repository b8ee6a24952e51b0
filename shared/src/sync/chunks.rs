//! A first look at Automerge bytes from a peer, before Automerge parses them: which kinds of
//! chunk they hold.
//!
//! Automerge data is a sequence of chunks, each `magic (4) · checksum (4) · type (1) ·
//! length (ULEB128) · body`. Between writes three kinds: document chunks (`save`), change
//! chunks (`save_incremental`, `save_after`) and compressed change chunks. Automerge 0.12 also
//! loads a fourth kind, "bundle" chunks, whose parser decodes a run-length-encoded column
//! eagerly into memory: the `engine` fuzz target found a 270-byte snapshot that made it
//! allocate without bound (more than 20 GB before it was stopped), so one member's bundle could
//! crash every other member's device. Bytes holding a chunk of any kind Between does not write
//! are refused here, before Automerge sees them (see docs/threat-model.md, "Fuzzing").

/// Automerge's chunk magic bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Chunk types Between writes: document, change, compressed change.
const WRITTEN: [u8; 3] = [0, 1, 2];

/// Checks that `bytes` is a sequence of whole chunks of the kinds Between writes; the error
/// says what is wrong.
pub(crate) fn only_written_kinds(bytes: &[u8]) -> Result<(), String> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let header = rest.get(..9).ok_or("it ends inside a chunk header")?;
        if header[..4] != MAGIC {
            return Err("it is not Automerge data (no chunk starts where one should)".into());
        }
        let kind = header[8];
        if !WRITTEN.contains(&kind) {
            return Err(format!(
                "it holds a chunk of a kind Between never writes (type {kind})"
            ));
        }
        let (length, used) = uleb128(&rest[9..]).ok_or("its chunk length does not read")?;
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| (9 + used).checked_add(length))
            .filter(|end| *end <= rest.len())
            .ok_or("a chunk is longer than the data")?;
        rest = &rest[end..];
    }
    Ok(())
}

/// Reads an unsigned LEB128 number: its value and how many bytes it took (`None` if it does
/// not end or does not fit in 64 bits).
fn uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        let shift = u32::try_from(i * 7).ok()?;
        value |= bits.checked_shl(shift).filter(|v| v >> shift == bits)?;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    #[test]
    fn what_between_writes_passes() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "mood", 4).unwrap();
        let first = doc.save_incremental();
        doc.put(ROOT, "text", "x".repeat(10_000)).unwrap();
        let second = doc.save_incremental();
        let whole = doc.save();
        for bytes in [&first, &second, &whole] {
            only_written_kinds(bytes).unwrap();
        }
        let mut joined = whole.clone();
        joined.extend_from_slice(&first);
        only_written_kinds(&joined).unwrap();
        only_written_kinds(&[]).unwrap();
    }

    #[test]
    fn other_kinds_and_broken_framing_are_refused() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "mood", 4).unwrap();
        let good = doc.save();
        let mut bundle = good.clone();
        bundle[8] = 3;
        assert!(only_written_kinds(&bundle).unwrap_err().contains("type 3"));
        let mut unknown = good.clone();
        unknown[8] = 0x7f;
        assert!(only_written_kinds(&unknown)
            .unwrap_err()
            .contains("type 127"));
        assert!(only_written_kinds(&good[..good.len() - 1])
            .unwrap_err()
            .contains("longer than the data"));
        assert!(only_written_kinds(&good[..5])
            .unwrap_err()
            .contains("header"));
        assert!(only_written_kinds(b"not automerge at all")
            .unwrap_err()
            .contains("not Automerge data"));
        // A length that does not fit in 64 bits.
        let mut huge = good[..9].to_vec();
        huge.extend_from_slice(&[0xff; 11]);
        assert!(only_written_kinds(&huge).unwrap_err().contains("length"));
    }
}
