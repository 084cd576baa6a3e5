//! The operator CLI of sftp-warden (`sftp-warden`): onboarding from the seed's sheet, linting,
//! the audit, migration status and the state machines' runs.
//!
//! The pure parts — reading the sheet, building a row's secret, planning an import, reading an
//! execution's history, the tables — are plain functions over plain types, unit-tested without
//! I/O. Validation is `warden_core::validation::validate_user`, the same function the
//! validate-users Lambda runs, so the CLI and the workflow never disagree about a secret.

pub mod args;
pub mod aws;
pub mod commands;
pub mod execution_log;
pub mod history;
pub mod plan;
pub mod progress;
pub mod report;
pub mod secret_from_row;
pub mod sheet;
pub mod status;
