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

pub fn clippy() -> Result<()> {
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--quiet",
        "--",
        "-D",
        "warnings",
    ]))
}

/// The binaries the local stack runs (and the CLI the tests drive): one build for them all.
pub fn build_binaries() -> Result<()> {
    run(cargo().args(["build", "--workspace", "--bins", "--quiet"]))
}

/// Compiles every test target, so that the next step's time is the tests' own.
pub fn build_tests() -> Result<()> {
    run(cargo().args(["test", "--workspace", "--all-targets", "--no-run"]))
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
