//! `sizes`: the size of each Lambda function binary, as built and
//! stripped (`strip` on a copy; the release profile already strips symbols,
//! so both are usually equal).

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

use crate::coldstart::FUNCTIONS;
use crate::locate;

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Folder of the binaries (default: beside this harness, else
    /// $CARGO_TARGET_DIR/release).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// cargo lambda's output folder instead: DIR/<function>/bootstrap.
    #[arg(long)]
    pub lambda_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    println!("## engage-bridge-bench sizes\n");
    println!("| binary | path | size (MiB) | stripped (MiB) |\n|---|---|---:|---:|");
    let names = FUNCTIONS
        .iter()
        .copied()
        .chain(["hello-lambda", "engage-bridge"]);
    for name in names {
        let path = match (&args.lambda_dir, &args.dir) {
            (Some(dir), _) if FUNCTIONS.contains(&name) => dir.join(name).join("bootstrap"),
            (_, Some(dir)) => dir.join(name),
            _ => match locate::binary(name, None) {
                Ok(path) => path,
                Err(_) => {
                    println!("| {name} | not built | – | – |");
                    continue;
                }
            },
        };
        let Ok(meta) = std::fs::metadata(&path) else {
            println!("| {name} | {} (missing) | – | – |", path.display());
            continue;
        };
        let stripped = scratch.path().join(name);
        let status = Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(&path)
            .status()
            .context("run strip")?;
        let stripped_size = if status.success() {
            std::fs::metadata(&stripped)?.len()
        } else {
            meta.len()
        };
        println!(
            "| {name} | {} | {:.2} | {:.2} |",
            path.display(),
            meta.len() as f64 / 1_048_576.0,
            stripped_size as f64 / 1_048_576.0
        );
    }
    Ok(())
}
