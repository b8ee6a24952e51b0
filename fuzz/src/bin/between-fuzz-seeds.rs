//! Writes the seed corpus (`<dir>/<target>/seed-NN`) and the wire dictionary (`<dir>/wire.dict`)
//! that the libFuzzer runs start from. `<dir>` defaults to `fuzz/seeds`, the committed copy.

use std::path::PathBuf;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/seeds".into()),
    );
    for (target, seeds) in between_fuzz::seeds::all() {
        let folder = dir.join(target);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("could not create {}", folder.display()))?;
        for (n, seed) in seeds.iter().enumerate() {
            let path = folder.join(format!("seed-{n:02}"));
            std::fs::write(&path, seed)
                .with_context(|| format!("could not write {}", path.display()))?;
        }
    }
    let dict = dir.join("wire.dict");
    std::fs::write(&dict, between_fuzz::seeds::wire_dictionary())
        .with_context(|| format!("could not write {}", dict.display()))?;
    println!("seed corpus written to {}", dir.display());
    Ok(())
}
