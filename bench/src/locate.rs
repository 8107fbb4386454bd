//! Finding the binaries under test: beside this harness (same target
//! directory and profile), else `$CARGO_TARGET_DIR/release`, else
//! `target/release`.

use std::path::PathBuf;

use anyhow::bail;

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

pub fn binary(name: &str, explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path);
        }
        bail!("{} is not a file", path.display());
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
    {
        candidates.push(dir.join(name));
    }
    candidates.push(target_dir().join("release").join(name));
    for candidate in &candidates {
        if candidate.is_file() {
            return Ok(candidate.clone());
        }
    }
    bail!(
        "no {name} binary found (looked at {}); build it with `cargo build --release -p <package>` \
         or pass its path",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}
