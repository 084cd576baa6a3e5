//! `cargo xtask package`: every function built for Lambda's arm64 `provided.al2023` runtime with
//! cargo-lambda (which cross-compiles with the zig it ships), and each artifact's size.

use std::process::Command;

use anyhow::{Context, Result};
use warden_core::registry::FUNCTIONS;
use xtask::tools::{self, run};

use crate::cargo::scrub;

pub fn package() -> Result<()> {
    let tools = tools::ensure()?;
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()?;
    if !String::from_utf8_lossy(&installed.stdout).contains("aarch64-unknown-linux-gnu") {
        run(Command::new("rustup").args(["target", "add", "aarch64-unknown-linux-gnu"]))?;
    }
    let mut build = Command::new(&tools.cargo_lambda);
    build
        .current_dir(xtask::workspace_root())
        .args(["lambda", "build", "--release", "--arm64"]);
    for function in FUNCTIONS {
        build.args(["--bin", function.name]);
    }
    scrub(&mut build);
    // cargo-lambda finds `zig` on PATH: the one the ziglang wheel put in the venv.
    let venv_bin = tools
        .python
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    run(build.env("PATH", path))?;
    println!("\n{:<28} {:>10}", "function (bootstrap)", "size");
    for function in FUNCTIONS {
        let artifact = xtask::target_dir()
            .join("lambda")
            .join(function.name)
            .join("bootstrap");
        let size = std::fs::metadata(&artifact)
            .with_context(|| format!("{} was not produced", artifact.display()))?
            .len();
        println!(
            "{:<28} {:>7.1} MiB",
            function.name,
            size as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}
