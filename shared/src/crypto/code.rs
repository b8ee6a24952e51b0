//! Human-typable codes for secrets: Crockford base32 with a mod-37 check symbol.
//!
//! The secret's bytes are read as one big-endian unsigned integer and written in base 32 with
//! Crockford's alphabet (`0-9 A-Z` without `I L O U`), most significant digit first, using
//! `ceil(8 * len / 5)` digits (so the first digit carries the few leftover high bits and is
//! small). Then comes one check symbol: the integer modulo 37, written with Crockford's check
//! alphabet (the 32 digits then `* ~ $ = U`). Because 37 is prime and larger than 32, the check
//! catches every single mistyped character and every swap of two neighbouring characters.
//! Symbols are shown in groups of 4 separated by `-`.
//!
//! Reading is forgiving in the ways Crockford recommends: case is ignored, spaces and dashes are
//! ignored, `O` reads as `0`, and `I` and `L` read as `1`.

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHECK_EXTRA: &[u8; 5] = b"*~$=U";
const GROUP: usize = 4;

/// Why a typed code could not be read. Shown to the person, so each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeProblem {
    /// Too few or too many symbols.
    #[error("it should have {expected} letters and digits, but has {actual}; check for a missing or extra character")]
    WrongLength {
        /// Symbols expected (check symbol included).
        expected: usize,
        /// Symbols found (spaces and dashes not counted).
        actual: usize,
    },
    /// A character that is not in the code alphabet.
    #[error("'{character}' (character {position}) cannot appear in a code; codes use digits, letters except U, and maybe one of * ~ $ = U at the end")]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its 1-based position among the code's symbols.
        position: usize,
    },
    /// The check symbol does not match: a character was mistyped or two were swapped.
    #[error("a character was mistyped or two were swapped (the last character does not match the rest); please type it again")]
    ChecksumMismatch,
    /// The first symbol is too large for the secret's size.
    #[error("the first character cannot be '{0}'; please type the code again")]
    OutOfRange(char),
}

/// Number of base-32 digits for `len` bytes.
const fn digits_for(len: usize) -> usize {
    (8 * len).div_ceil(5)
}

fn digit_value(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == c)
        .and_then(|p| u8::try_from(p).ok())
}

fn check_value(c: char) -> Option<u8> {
    digit_value(c).or_else(|| {
        let upper = c.to_ascii_uppercase();
        CHECK_EXTRA
            .iter()
            .position(|&a| char::from(a) == upper)
            .and_then(|p| u8::try_from(p + 32).ok())
    })
}

/// Writes `bytes` as a grouped code with check symbol.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let digits = digits_for(bytes.len());
    let pad = 5 * digits - 8 * bytes.len();
    let mut symbols = Vec::with_capacity(digits + 1);
    let mut check = 0u32;
    for d in 0..digits {
        let mut value = 0u8;
        for bit in 0..5 {
            // Bit index into the left-padded bit string; the first `pad` bits are zero.
            let at = d * 5 + bit;
            let b = if at < pad {
                0
            } else {
                let i = at - pad;
                (bytes[i / 8] >> (7 - i % 8)) & 1
            };
            value = (value << 1) | b;
        }
        check = (check * 32 + u32::from(value)) % 37;
        symbols.push(ALPHABET[usize::from(value)]);
    }
    let check = usize::try_from(check).unwrap_or(0);
    symbols.push(if check < 32 {
        ALPHABET[check]
    } else {
        CHECK_EXTRA[check - 32]
    });
    let groups: Vec<String> = symbols
        .chunks(GROUP)
        .map(|g| g.iter().map(|&b| char::from(b)).collect())
        .collect();
    groups.join("-")
}

/// Reads a code written by [`encode`] for a secret of `N` bytes.
pub(crate) fn decode<const N: usize>(text: &str) -> Result<[u8; N], CodeProblem> {
    let digits = digits_for(N);
    let symbols: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if symbols.len() != digits + 1 {
        return Err(CodeProblem::WrongLength {
            expected: digits + 1,
            actual: symbols.len(),
        });
    }
    let mut values = Vec::with_capacity(digits);
    for (position, &c) in symbols[..digits].iter().enumerate() {
        let v = digit_value(c).ok_or(CodeProblem::InvalidCharacter {
            character: c,
            position: position + 1,
        })?;
        values.push(v);
    }
    let check_char = symbols[digits];
    let check = check_value(check_char).ok_or(CodeProblem::InvalidCharacter {
        character: check_char,
        position: digits + 1,
    })?;
    let computed = values
        .iter()
        .fold(0u32, |acc, &v| (acc * 32 + u32::from(v)) % 37);
    if computed != u32::from(check) {
        return Err(CodeProblem::ChecksumMismatch);
    }
    let pad = 5 * digits - 8 * N;
    // The first digit's top `pad` bits must be zero, or the number does not fit in N bytes.
    if values[0] >> (5 - pad) != 0 {
        return Err(CodeProblem::OutOfRange(symbols[0]));
    }
    let mut out = [0u8; N];
    for (d, &v) in values.iter().enumerate() {
        for bit in 0..5 {
            let at = d * 5 + bit;
            if at >= pad {
                let i = at - pad;
                out[i / 8] |= ((v >> (4 - bit)) & 1) << (7 - i % 8);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_match_the_documented_shape() {
        let code = encode(&[0xff; 16]);
        assert_eq!(code.len(), 27 + 6);
        assert_eq!(
            code.split('-').map(str::len).collect::<Vec<_>>(),
            [4, 4, 4, 4, 4, 4, 3]
        );
        assert_eq!(decode::<16>(&code).unwrap(), [0xff; 16]);
        let zero = encode(&[0; 16]);
        assert_eq!(zero, "0000-0000-0000-0000-0000-0000-000");
        assert_eq!(encode(&[0xff; 32]).replace('-', "").len(), 53);
    }

    #[test]
    fn every_single_substitution_and_adjacent_swap_is_caught() {
        let secret = *b"\x9a\xd9\x96\x1c\x25\xea\xdf\xa0\xa6\xb0\x70\x4f\x57\x66\x3f\x9d";
        let symbols: Vec<u8> = encode(&secret).bytes().filter(|b| *b != b'-').collect();
        for i in 0..symbols.len() {
            for &replacement in ALPHABET.iter().chain(CHECK_EXTRA) {
                if replacement == symbols[i] {
                    continue;
                }
                let mut typo = symbols.clone();
                typo[i] = replacement;
                let text = String::from_utf8(typo).unwrap();
                assert!(
                    decode::<16>(&text).is_err(),
                    "substitution at {i} -> {text}"
                );
            }
            if i + 2 < symbols.len() && symbols[i] != symbols[i + 1] {
                let mut swapped = symbols.clone();
                swapped.swap(i, i + 1);
                let text = String::from_utf8(swapped).unwrap();
                assert_eq!(
                    decode::<16>(&text),
                    Err(CodeProblem::ChecksumMismatch),
                    "swap at {i}"
                );
            }
        }
    }

    #[test]
    fn reading_forgives_case_spacing_and_lookalikes() {
        let secret = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        let code = encode(&secret);
        let messy = format!("  {} ", code.to_lowercase().replace('-', " - "));
        assert_eq!(decode::<16>(&messy).unwrap(), secret);
        let lookalikes = code.replace('0', "o").replace('1', "l");
        assert_eq!(decode::<16>(&lookalikes).unwrap(), secret);
        let lookalikes = code.replace('0', "O").replace('1', "I");
        assert_eq!(decode::<16>(&lookalikes).unwrap(), secret);
    }

    #[test]
    fn problems_are_reported_clearly() {
        let code = encode(&[7; 16]);
        let short = &code[..code.len() - 1];
        assert!(matches!(
            decode::<16>(short),
            Err(CodeProblem::WrongLength {
                expected: 27,
                actual: 26
            })
        ));
        let bad = code.replacen(|c: char| c.is_ascii_alphanumeric(), "%", 1);
        assert!(matches!(
            decode::<16>(&bad),
            Err(CodeProblem::InvalidCharacter {
                character: '%',
                position: 1
            })
        ));
        // A first digit above 7 cannot come from 16 bytes (128 = 25 * 5 + 3 bits).
        let big = format!("Z{}", &code.replace('-', "")[1..26]);
        let check = big.chars().fold(0u32, |a, c| {
            (a * 32 + u32::from(digit_value(c).unwrap())) % 37
        });
        let check = usize::try_from(check).unwrap();
        let check = if check < 32 {
            ALPHABET[check]
        } else {
            CHECK_EXTRA[check - 32]
        };
        let text = format!("{big}{}", char::from(check));
        assert_eq!(decode::<16>(&text), Err(CodeProblem::OutOfRange('Z')));
        assert!(CodeProblem::ChecksumMismatch
            .to_string()
            .contains("mistyped"));
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::array::uniform16(any::<u8>()), wide in proptest::array::uniform32(any::<u8>())) {
            prop_assert_eq!(decode::<16>(&encode(&bytes)).unwrap(), bytes);
            prop_assert_eq!(decode::<32>(&encode(&wide)).unwrap(), wide);
        }

        #[test]
        fn decode_never_panics(text in ".{0,80}") {
            let _ = decode::<16>(&text);
            let _ = decode::<32>(&text);
        }
    }
}
