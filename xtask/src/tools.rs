//! The project's pinned Python tools (moto server, cargo-lambda, cfn-lint), installed into a
//! project-local virtualenv from `localstack/requirements.txt`.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// Paths of the installed tools.
#[derive(Debug, Clone)]
pub struct Tools {
    pub python: PathBuf,
    pub moto_server: PathBuf,
    pub cargo_lambda: PathBuf,
    pub cfn_lint: PathBuf,
}

/// Creates or updates `.venv` when `localstack/requirements.txt` changed since the last install.
pub fn ensure() -> Result<Tools> {
    let root = crate::workspace_root();
    let venv = root.join(".venv");
    let requirements = root.join("localstack/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join(".installed-requirements.txt");
    let bin = venv.join("bin");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        eprintln!(
            "xtask: installing the pinned local-stack tools into {}",
            venv.display()
        );
        run(Command::new(&python).args(["-m", "venv"]).arg(&venv))?;
        run(Command::new(bin.join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements))?;
        std::fs::write(&stamp, &wanted)?;
    }
    let tools = Tools {
        python: bin.join("python"),
        moto_server: bin.join("moto_server"),
        cargo_lambda: bin.join("cargo-lambda"),
        cfn_lint: bin.join("cfn-lint"),
    };
    for tool in [
        &tools.python,
        &tools.moto_server,
        &tools.cargo_lambda,
        &tools.cfn_lint,
    ] {
        if !tool.exists() {
            bail!("{} is missing; delete .venv and run again", tool.display());
        }
    }
    Ok(tools)
}

/// Runs a command to completion, failing with its name when it does not succeed.
pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
