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
    let bin = ensure_venv(".venv", "localstack/requirements.txt")?;
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

/// The template security scanner (checkov), in `.venv-scan`: its pins conflict with moto's.
pub fn scanner() -> Result<PathBuf> {
    let checkov = ensure_venv(".venv-scan", "localstack/requirements-scan.txt")?.join("checkov");
    if !checkov.exists() {
        bail!(
            "{} is missing; delete .venv-scan and run again",
            checkov.display()
        );
    }
    Ok(checkov)
}

/// Creates the virtualenv `dir` and installs `requirements` into it, again whenever the
/// requirements file changes. Returns the venv's `bin` directory.
fn ensure_venv(dir: &str, requirements: &str) -> Result<PathBuf> {
    let root = crate::workspace_root();
    let venv = root.join(dir);
    let requirements = root.join(requirements);
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join(".installed-requirements.txt");
    let bin = venv.join("bin");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        eprintln!(
            "xtask: installing pinned tools from {} into {}",
            requirements.display(),
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
    Ok(bin)
}

/// Runs a command to completion, failing with its name when it does not succeed.
pub fn run(command: &mut Command) -> Result<()> {
    let shown = shown(command);
    let status = command
        .status()
        .with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// The command line as one would type it (without its environment).
fn shown(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
