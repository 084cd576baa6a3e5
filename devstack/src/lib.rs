//! The local stack (DESIGN.md section 7) and what runs on it: deploying the state machines,
//! driving executions, the identity provider's two front doors, the prefix lists, the operator
//! CLI, the demo and the benchmarks.
//!
//! Shared by the `devstack` binary (which `cargo xtask demo|stack|bench-*` runs) and the
//! integration tests in `tests/`, so that both run the system exactly the same way.

pub mod bench_idp;
pub mod bench_scale;
pub mod changes;
pub mod demo;
pub mod deployment;
pub mod idp;
pub mod operator_cli;
pub mod population;
pub mod prefix_lists;
pub mod smtp;
pub mod stack;

pub use xtask::{target_dir, tools, workspace_root};
