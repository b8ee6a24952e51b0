//! The bounded, stable-toolchain run of every fuzz target: its committed seeds, every crash
//! input ever found (`fuzz/regressions/<target>/`), and a fixed number of deterministic
//! mutations of them. It runs with `cargo test --workspace`, so `.ci/run` catches a decoder that
//! panics again without needing nightly; the long coverage-guided runs are libFuzzer's (see
//! `docs/threat-model.md`, "Fuzzing").

use std::path::{Path, PathBuf};

use between_fuzz::{seeds, Target, TARGETS};

/// Mutations tried per seed and target.
const MUTATIONS_PER_SEED: usize = 300;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The files of a folder, sorted by name; none if it does not exist.
fn files_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), bytes))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn committed_seeds_are_the_generated_ones() {
    for (target, expected) in seeds::all() {
        let committed: Vec<Vec<u8>> = files_in(&fuzz_dir().join("seeds").join(target))
            .into_iter()
            .map(|(_, bytes)| bytes)
            .collect();
        assert!(
            committed == expected,
            "fuzz/seeds/{target} is out of date: run `cargo run -p between-fuzz --bin between-fuzz-seeds`"
        );
    }
    let dict = std::fs::read_to_string(fuzz_dir().join("seeds").join("wire.dict"));
    assert_eq!(
        dict.ok(),
        Some(seeds::wire_dictionary()),
        "fuzz/seeds/wire.dict"
    );
}

#[test]
fn every_target_has_seeds_and_a_libfuzzer_binary() {
    let harness = std::fs::read_to_string(fuzz_dir().join("libfuzzer").join("Cargo.toml"))
        .unwrap_or_default();
    let seeded: Vec<&str> = seeds::all().into_iter().map(|(name, _)| name).collect();
    for (name, _) in TARGETS {
        assert!(seeded.contains(name), "{name} has no seeds");
        assert!(
            harness.contains(&format!("name = \"{name}\"")),
            "{name} has no [[bin]] in fuzz/libfuzzer/Cargo.toml"
        );
        let entry = fuzz_dir()
            .join("libfuzzer/fuzz_targets")
            .join(format!("{name}.rs"));
        let source = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(
            source.contains(&format!("between_fuzz::{name}(data)")),
            "{} does not call between_fuzz::{name}",
            entry.display()
        );
    }
}

#[test]
fn every_target_survives_its_seeds_past_findings_and_their_mutations() {
    let seeds = seeds::all();
    for (name, target) in TARGETS {
        let own: Vec<Vec<u8>> = seeds
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, s)| s.clone())
            .collect();
        let findings: Vec<Vec<u8>> = files_in(&fuzz_dir().join("regressions").join(name))
            .into_iter()
            .map(|(_, bytes)| bytes)
            .collect();
        let mut inputs = own;
        inputs.extend(findings);
        inputs.push(Vec::new());
        run_all(name, *target, &inputs);
    }
}

fn run_all(name: &str, target: Target, inputs: &[Vec<u8>]) {
    let mut mutator = Mutator(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    for (i, input) in inputs.iter().enumerate() {
        let outcome = std::panic::catch_unwind(|| target(input));
        assert!(
            outcome.is_ok(),
            "{name} panicked on input {i}: {input:02x?}"
        );
        for _ in 0..MUTATIONS_PER_SEED {
            let other = &inputs[mutator.below(inputs.len())];
            let mutated = mutator.mutate(input, other);
            let outcome = std::panic::catch_unwind(|| target(&mutated));
            assert!(
                outcome.is_ok(),
                "{name} panicked on a mutation of input {i}: {mutated:02x?}"
            );
        }
    }
}

/// A small deterministic mutator (xorshift): bit flips, interesting bytes, truncation,
/// insertion, duplication and splicing — the moves libFuzzer starts with.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(out.len() + 1);
            match self.below(6) {
                0 if at < out.len() => out[at] ^= 1 << self.below(8),
                1 if at < out.len() => {
                    out[at] = [0, 1, 0x7f, 0x80, 0xff][self.below(5)];
                }
                2 => out.truncate(at),
                3 => out.insert(at, self.next().to_le_bytes()[0]),
                4 if at < out.len() => {
                    let end = (at + 1 + self.below(16)).min(out.len());
                    let chunk = out[at..end].to_vec();
                    out.splice(at..at, chunk);
                }
                _ => {
                    let from = self.below(other.len() + 1);
                    out.truncate(at);
                    out.extend_from_slice(&other[from..]);
                }
            }
        }
        out
    }
}
