//! What `cargo xtask test` (and so CI) checks, each a step of its own: formatting, clippy, unused
//! dependencies, the state machines and templates, then every unit and integration test.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use warden_core::registry::STATE_MACHINES;
use xtask::tools::{self, Tools, run};

use crate::cargo::cargo;

pub fn fmt() -> Result<()> {
    run(cargo().args(["fmt", "--all", "--check"]))
}

/// The binaries the local stack runs (and the CLI the tests drive): one build for them all.
pub fn build_binaries() -> Result<()> {
    run(cargo().args(["build", "--workspace", "--bins", "--quiet"]))
}

/// The same build as [`build_binaries`], failing on any warning (see [`without_warnings`]).
pub fn build_binaries_without_warnings() -> Result<()> {
    without_warnings(&["build", "--workspace", "--bins"])
}

/// Compiles every test target (and so lints it), failing on any warning.
pub fn build_tests_without_warnings() -> Result<()> {
    without_warnings(&["test", "--workspace", "--all-targets", "--no-run"])
}

/// Runs a cargo build and fails when the compiler warned about a workspace crate.
///
/// Clippy comes with every build: `.cargo/config.toml` makes `clippy-driver` the compiler of the
/// workspace's own crates (`build.rustc-workspace-wrapper`, what `cargo clippy` does for a
/// check). So these builds lint every target, as `cargo clippy --all-targets` would, and a
/// warning — rustc's or clippy's — fails the run, as `-D warnings` would; but the dependencies are
/// compiled once, for the binaries and tests, instead of a second time for a check. Cargo
/// replays the warnings of crates it does not recompile, so a warm build fails alike.
fn without_warnings(args: &[&str]) -> Result<()> {
    let mut child = cargo()
        .args(args)
        .arg("--message-format=json-diagnostic-rendered-ansi")
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting cargo {}", args.join(" ")))?;
    let stdout = child.stdout.take().context("cargo's output")?;
    let mut warnings = 0;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        let line = line?;
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(rendered) = diagnostic(&message) {
            warnings += 1;
            eprint!("{rendered}");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    if warnings > 0 {
        bail!(
            "`cargo {}`: {warnings} warnings (rustc's or clippy's); the build must have none",
            args.join(" ")
        );
    }
    Ok(())
}

/// A warning or error cargo reports for a crate, rendered; `None` for every other message
/// (artifacts, build-script output, the summary of counts, notes).
fn diagnostic(message: &Value) -> Option<&str> {
    if message["reason"] != "compiler-message" {
        return None;
    }
    let inner = &message["message"];
    let text = inner["message"].as_str().unwrap_or_default();
    // "2 warnings emitted" and "aborting due to …" restate the ones already shown.
    let summary = text.ends_with(" emitted") || text.starts_with("aborting due to");
    match inner["level"].as_str() {
        Some("warning" | "error") if !summary => inner["rendered"].as_str(),
        _ => None,
    }
}

pub fn tests() -> Result<()> {
    run(cargo().args(["test", "--workspace", "--all-targets"]))
}

/// Every dependency a crate declares is used by its code: its name (as a Rust identifier)
/// appears in a source file of the crate. A dependency that only switches on features of a
/// shared one is listed, with its reason, under `[package.metadata.cargo-machete] ignored`.
pub fn unused_dependencies() -> Result<()> {
    let output = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    let mut unused = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let manifest = Path::new(package["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().context("manifest without a folder")?;
        let ignored: BTreeSet<&str> = package["metadata"]["cargo-machete"]["ignored"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let sources = rust_sources(dir)?;
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let name = dependency["name"].as_str().unwrap_or_default();
            let crate_name = dependency["rename"]
                .as_str()
                .unwrap_or(name)
                .replace('-', "_");
            // A path dependency's library may have a name of its own (`[lib] name`).
            let lib_name = library_name(&metadata, name).unwrap_or(crate_name);
            if ignored.contains(name) || sources.iter().any(|s| mentions(s, &lib_name)) {
                continue;
            }
            let kind = dependency["kind"].as_str().unwrap_or("normal");
            unused.push(format!(
                "{} ({}): {kind} dependency {name}",
                package["name"].as_str().unwrap_or_default(),
                manifest.display()
            ));
        }
    }
    if !unused.is_empty() {
        bail!("unused dependencies:\n  {}", unused.join("\n  "));
    }
    Ok(())
}

/// The library name of a workspace package, when `name` is one.
fn library_name(metadata: &Value, name: &str) -> Option<String> {
    let package = metadata["packages"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)?;
    package["targets"]
        .as_array()?
        .iter()
        .find(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "lib"))
        })
        .and_then(|t| t["name"].as_str())
        .map(|n| n.replace('-', "_"))
}

/// Whether `source` names the crate as a path (`name::`), an import or a macro (`name!`).
fn mentions(source: &str, crate_name: &str) -> bool {
    source.match_indices(crate_name).any(|(at, _)| {
        let before = source[..at].chars().next_back();
        let after = &source[at + crate_name.len()..];
        let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        starts_word && (after.starts_with("::") || after.starts_with('!') || after.starts_with(';'))
    })
}

fn rust_sources(dir: &Path) -> Result<Vec<String>> {
    let mut sources = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push(std::fs::read_to_string(&path)?);
            }
        }
    }
    Ok(sources)
}

/// Parses every definition with the ASL parser of moto's engine (the one that runs them) after
/// substitution; the structural rules (Retry, Catch, error names, JSONPath only) are tests in
/// `tests/`.
pub fn state_machines(tools: &Tools) -> Result<()> {
    for name in STATE_MACHINES {
        let definition = xtask::definition(
            name,
            |function| format!("arn:aws:lambda:ap-southeast-2:123456789012:function:{function}"),
            "sftp-warden-work",
        )?;
        let script = "import sys\nfrom moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser\nAmazonStateLanguageParser.parse(sys.stdin.read())\n";
        let mut child = Command::new(&tools.python)
            .args(["-c", script])
            .stdin(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(definition.as_bytes())?;
        if !child.wait()?.success() {
            bail!("statemachines/{name}.asl.json does not parse as ASL");
        }
        println!("  statemachines/{name}.asl.json: parses");
    }
    Ok(())
}

/// cfn-lint and checkov on both templates (each checkov suppression carries its reason in the
/// template), then the checks that tie template.yaml to the crates, the ASL and the sample events.
pub fn templates(tools: &Tools) -> Result<()> {
    let root = xtask::workspace_root();
    run(Command::new(&tools.cfn_lint)
        .current_dir(&root)
        .args(["template.yaml", "network.yaml"]))?;
    println!("  cfn-lint: template.yaml, network.yaml clean");
    let checkov = tools::scanner()?;
    run(Command::new(checkov).current_dir(&root).args([
        "--quiet",
        "--compact",
        "--skip-download",
        "--framework",
        "cloudformation",
        "--file",
        "template.yaml",
        "--file",
        "network.yaml",
    ]))?;
    println!("  checkov: no failed checks");
    run(Command::new(&tools.python)
        .current_dir(&root)
        .arg("localstack/check_templates.py"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crate_is_used_when_named_as_a_path_an_import_or_a_macro() {
        assert!(mentions("use serde_json::Value;", "serde_json"));
        assert!(mentions("let v = serde_json::json!({});", "serde_json"));
        assert!(mentions("tracing::info!(\"x\")", "tracing"));
        assert!(mentions("anyhow!(\"x\")", "anyhow"));
        assert!(mentions("extern crate libc;", "libc"));
        assert!(!mentions("use my_serde_json::Value;", "serde_json"));
        assert!(!mentions("// serde_json is not used", "serde_json"));
        assert!(!mentions("let tracing_level = 1;", "tracing"));
    }
}
