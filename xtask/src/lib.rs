//! The local stack and the developer tasks built on it.
//!
//! Shared by `cargo xtask` (demo, test) and the integration tests in `tests/`, so that both run
//! the system exactly the same way.

pub mod bench_idp;
pub mod idp;
pub mod operator_cli;
pub mod prefix_lists;
pub mod stack;
pub mod tools;
pub mod workflows;

use std::path::PathBuf;

/// The workspace root (this crate lives in `<root>/xtask`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Where cargo puts build output (`CARGO_TARGET_DIR` respected).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}
