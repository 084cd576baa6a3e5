//! Nested cargo commands, with none of the variables `cargo run` sets for the binary it runs.
//!
//! `cargo xtask` is `cargo run -p xtask`, which gives xtask `CARGO_PKG_*`, `CARGO_MANIFEST_*`,
//! `CARGO_CRATE_NAME` and the like. A nested `cargo build` would pass them on to build scripts,
//! and some build scripts declare `rerun-if-env-changed` on them (ring's on
//! `CARGO_PKG_VERSION_PRE`): the outer and the nested cargo would then take turns rebuilding
//! them and everything above them, the AWS SDK included.

use std::ffi::OsStr;
use std::process::Command;

/// Variables cargo sets for a binary it runs (`cargo run`, `cargo test`); never inherited.
fn set_by_cargo_run(name: &str) -> bool {
    const PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"];
    const NAMES: &[&str] = &[
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// `cargo` (the one that runs us) in the workspace root, with a clean environment.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(xtask::workspace_root());
    scrub(&mut command);
    command
}

/// Takes the variables `cargo run` set for us out of a command that runs cargo itself
/// (cargo-lambda, for one).
pub fn scrub(command: &mut Command) {
    without_cargo_run_variables(command, std::env::vars_os().map(|(k, _)| k));
}

fn without_cargo_run_variables(
    command: &mut Command,
    names: impl Iterator<Item = impl AsRef<OsStr>>,
) {
    for name in names {
        if name.as_ref().to_str().is_some_and(set_by_cargo_run) {
            command.env_remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_cargo_run_sets_are_removed_and_the_rest_kept() {
        let mut command = Command::new("true");
        let names = [
            "CARGO_PKG_VERSION_PRE",
            "CARGO_MANIFEST_DIR",
            "CARGO_CRATE_NAME",
            "OUT_DIR",
            "CARGO_TARGET_DIR",
            "CARGO_HOME",
            "PATH",
        ];
        without_cargo_run_variables(&mut command, names.iter());
        let removed: Vec<_> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            removed,
            [
                "CARGO_CRATE_NAME",
                "CARGO_MANIFEST_DIR",
                "CARGO_PKG_VERSION_PRE",
                "OUT_DIR"
            ]
        );
    }
}
