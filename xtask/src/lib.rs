//! What the task runner and the local-stack harness (`devstack`) share: where things are, the
//! pinned Python tools, and the state machine definitions as SAM deploys them. No AWS SDK here,
//! so `cargo xtask` builds in seconds and never rebuilds what the workspace build made.

pub mod tools;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use warden_core::registry::{self, STATE_MACHINES};

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

/// The state machine's definition with every `${...FunctionArn}` replaced by `function_arn` of
/// the function and `${WorkBucketName}` by `work_bucket`, as SAM's `DefinitionSubstitutions` do.
pub fn definition(
    name: &str,
    function_arn: impl Fn(&str) -> String,
    work_bucket: &str,
) -> Result<String> {
    if !STATE_MACHINES.contains(&name) {
        bail!("no state machine {name}");
    }
    let path = workspace_root().join(format!("statemachines/{name}.asl.json"));
    let mut text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    for function in registry::FUNCTIONS {
        text = text.replace(
            &format!("${{{}}}", function.substitution_name()),
            &function_arn(function.name),
        );
    }
    text = text.replace(
        &format!("${{{}}}", registry::WORK_BUCKET_SUBSTITUTION),
        work_bucket,
    );
    if let Some(start) = text.find("${") {
        let rest: String = text[start..].chars().take(60).collect();
        bail!("{name}: no substitution for {rest}");
    }
    Ok(text)
}
