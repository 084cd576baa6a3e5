//! The command line: every command, option and its help text.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use warden_core::config::Rules;
use warden_core::{ConfigError, Env};

use crate::status::MigrationStatus;

const AFTER_HELP: &str = "\
Exit codes: 0 ok; 1 findings (lint or audit found problems, an import rejected rows); 2 usage error or failure.

AWS access comes from the standard environment: AWS_REGION, AWS_PROFILE or access keys, and
AWS_ENDPOINT_URL to use the local stack instead of AWS. Validation settings come from the same
variables as the validate-users Lambda (TRANSFER_ROLE_ARN, MAX_PUBLIC_KEYS, MIN_RSA_BITS,
MIN_IPV4_PREFIX_LEN, MIN_IPV6_PREFIX_LEN, KEY_NOTICE_AFTER_MONTHS, KEY_REFUSE_AFTER_MONTHS) and the
options override them. Secrets, passwords and keys are never printed; keys are named by fingerprint.";

/// Operate sftp-warden: onboard SFTP users from the onboarding sheet, lint and audit their
/// secrets with the validation workflow's rules, track their migration, and read the state
/// machines' runs.
#[derive(Parser, Debug)]
#[command(name = "sftp-warden", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Secrets whose names start with this are SFTP users [env: SECRET_PREFIX; default: SFTP/].
    #[arg(long, global = true, value_name = "PREFIX")]
    pub prefix: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// The configuration the environment gives, read as the Lambdas read theirs.
pub fn environment() -> Env {
    Env::new(std::env::vars())
}

impl Cli {
    pub fn prefix(&self) -> String {
        self.prefix
            .clone()
            .unwrap_or_else(|| environment().secret_prefix())
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Onboard users from the sheet, lint secrets, and track migration status.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Validate every user as the weekly validation workflow does and print the findings, and who
    /// would be told; sends no email.
    #[command(after_help = AFTER_HELP)]
    Audit(AuditArgs),
    /// Recent executions of each state machine; `runs show ID` for one execution's path of states
    /// and errors.
    #[command(after_help = AFTER_HELP)]
    Runs(RunsArgs),
    /// The service's figures from the latest runs: the last audit of every user (users checked,
    /// findings per rule, keys due and overdue, emails sent, rerouted and failed) and the last
    /// prefix-list sync (entries and free room per list, overflow).
    #[command(after_help = AFTER_HELP)]
    Status(OutputArgs),
    /// SES's suppression list as it concerns the SFTP users: which of their addresses bounced or
    /// complained, and taking an address off the list once its secret is fixed.
    #[command(subcommand)]
    Mail(MailCommand),
    /// The SES SMTP credentials the mail servers send with: where their rotation stands, rotate
    /// them now, or deploy them again to the mail servers.
    #[command(subcommand)]
    Smtp(SmtpCommand),
}

const SMTP_AFTER_HELP: &str = "\
The secret is SMTP_SECRET_ID (default sftp-warden/ses-smtp-credentials), the deployment state
machine the one whose name ends in smtp-credential-deployment. Key ids are shown; the secret key
and the SMTP password never are.";

#[derive(Subcommand, Debug)]
pub enum SmtpCommand {
    /// The current credentials (version, age, access key id), the IAM user's keys and their state,
    /// the last deployment with each mail server's result, and the next rotation.
    #[command(after_help = SMTP_AFTER_HELP)]
    Status(SmtpArgs),
    /// Rotate now (Secrets Manager's RotateSecret, as after a leak), then follow the rotation and
    /// its deployment until the old key is deactivated.
    #[command(after_help = SMTP_AFTER_HELP)]
    Rotate(SmtpRotateArgs),
    /// Run a deployment again with its own input (after fixing a mail server that failed): it
    /// pushes the current credentials to every server, then retires the old key.
    #[command(after_help = SMTP_AFTER_HELP)]
    Redeploy(SmtpRedeployArgs),
}

#[derive(Args, Debug, Clone)]
pub struct SmtpArgs {
    /// The SMTP credentials secret [env: SMTP_SECRET_ID; default: sftp-warden/ses-smtp-credentials].
    #[arg(long, value_name = "ID")]
    pub secret: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl SmtpArgs {
    pub fn secret_id(&self) -> String {
        self.secret.clone().unwrap_or_else(|| {
            environment()
                .var("SMTP_SECRET_ID")
                .unwrap_or("sftp-warden/ses-smtp-credentials")
                .to_owned()
        })
    }
}

#[derive(Args, Debug)]
pub struct SmtpRotateArgs {
    #[command(flatten)]
    pub smtp: SmtpArgs,
    /// How long to follow the rotation and its deployment before leaving them to run.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub follow_seconds: u64,
}

#[derive(Args, Debug)]
pub struct SmtpRedeployArgs {
    /// The deployment execution to run again (its name, e.g. smtp-<rotation token>).
    #[arg(value_name = "EXECUTION")]
    pub execution: String,
    /// How long to follow the new deployment.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub follow_seconds: u64,
}

#[derive(Subcommand, Debug)]
pub enum MailCommand {
    /// The suppressed addresses that belong to users or admins: who holds each, why (BOUNCE or
    /// COMPLAINT) and since when. Nothing is sent to them; their mail goes to the admins.
    #[command(after_help = AFTER_HELP)]
    Suppressed(OutputArgs),
    /// Take ADDRESS off the suppression list, once the secret that holds it is fixed (or the
    /// mailbox works again), so mail reaches it from the next run.
    #[command(after_help = AFTER_HELP)]
    Unsuppress(UnsuppressArgs),
}

#[derive(Args, Debug)]
pub struct UnsuppressArgs {
    /// The address to take off the list.
    #[arg(value_name = "ADDRESS")]
    pub address: String,
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create or update users from the onboarding sheet saved as CSV; shows the plan, and writes
    /// only with --apply.
    #[command(long_about = IMPORT_ABOUT, after_help = AFTER_HELP)]
    Import(ImportArgs),
    /// Run the validation rules on secret files (`<username>.json`), sheets (`.csv`) or live users.
    #[command(long_about = LINT_ABOUT, after_help = AFTER_HELP)]
    Lint(LintArgs),
    /// Count users per migration status (the `MigrationStatus` tag), as the seed's tracker did.
    #[command(after_help = AFTER_HELP)]
    Status(StatusArgs),
    /// Set the migration status of one or more users.
    #[command(after_help = AFTER_HELP)]
    SetStatus(SetStatusArgs),
}

const IMPORT_ABOUT: &str = "\
Create or update users from the onboarding sheet saved as CSV (UTF-8).

The header row names the seed's columns, in any order: Sno, Username, SourceSystemName, Email,
DestinationDirectory, GroupAdmin, IP, IPv6, SSHKey 1, SSHKey 2, SSHKey 3, SSHKey 4, and optionally
MigrationStatus. Each row becomes the secret <PREFIX><Username> (DESIGN.md section 2): Name from
SourceSystemName, PublicKey from the SSHKey cells joined by commas, HomeDirectoryType LOGICAL,
HomeDirectoryDetails [{\"Entry\": \"/\", \"Target\": DestinationDirectory}], Role from --role-arn;
tagged Name (the source system) and MigrationStatus (yet-to-commence unless the sheet says).
Keys the sheet has no column for, such as PasswordHash, are kept.

An SSH key cell may leave out the comment and the Updated(YYYYMMDD)= date: a key the secret already
holds keeps the comment and date it has there, so importing the same sheet again changes nothing;
a new key gets the username as comment and today's date (UTC).

Every row is validated with the rules of the validation workflow, against the live admins and the
admins of the same sheet, before anything is written. A rejected row is reported with its row
number and reasons, and nothing is written for it. The plan lists what will be created and
updated; --apply makes the changes, creating each user's landing folder (an empty <path>/ object
in S3) before its secret.";

const LINT_ABOUT: &str = "\
Run the validation rules on secret files, sheets or live users, and print the findings.

A FILE ending in .json holds one user's SecretString, and its name without .json is the username.
A FILE ending in .csv is an onboarding sheet: its rows are built and validated as `users import`
would, without writing anything. --user NAME lints the live secret <PREFIX>NAME.

GroupAdmin (rule 2) and the folder rules (rule 5) need the admins: they are read from Secrets
Manager, overlaid by admin files and sheet rows being linted. With --offline no AWS call is made
and the admins come from --admins DIR (admin secrets as <AdminName>.json) and the linted files.";

/// Table for people, JSON for scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct OutputArgs {
    /// How to print the result.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Validation settings; unset ones come from the environment, then the defaults of DESIGN.md.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Validation rules")]
pub struct RuleArgs {
    /// IAM role Transfer assumes for the users: written by import, and rule 6 requires it
    /// [env: TRANSFER_ROLE_ARN].
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// Rule 8: most SSH keys a user may have [env: MAX_PUBLIC_KEYS; default: 2].
    #[arg(long, value_name = "N")]
    pub max_public_keys: Option<usize>,
    /// Rule 8: smallest RSA key [env: MIN_RSA_BITS; default: 2048].
    #[arg(long, value_name = "BITS")]
    pub min_rsa_bits: Option<usize>,
    /// Rule 7: shortest IPv4 prefix allowed [env: MIN_IPV4_PREFIX_LEN; default: 8].
    #[arg(long, value_name = "LEN", value_parser = clap::value_parser!(u8).range(0..=32))]
    pub min_ipv4_prefix_len: Option<u8>,
    /// Rule 7: shortest IPv6 prefix allowed [env: MIN_IPV6_PREFIX_LEN; default: 32].
    #[arg(long, value_name = "LEN", value_parser = clap::value_parser!(u8).range(0..=128))]
    pub min_ipv6_prefix_len: Option<u8>,
    /// Rule 9: key age that earns a rotation notice [env: KEY_NOTICE_AFTER_MONTHS; default: 10].
    #[arg(long, value_name = "MONTHS")]
    pub key_notice_after_months: Option<u32>,
    /// Rule 9: key age by which it must be rotated [env: KEY_REFUSE_AFTER_MONTHS; default: 12].
    #[arg(long, value_name = "MONTHS")]
    pub key_refuse_after_months: Option<u32>,
}

impl RuleArgs {
    /// The environment's rules (read as the validate-users Lambda reads them), then the options.
    pub fn rules(&self) -> Result<Rules, ConfigError> {
        let mut rules = environment().rules()?;
        if let Some(arn) = &self.role_arn {
            rules.transfer_role_arn = Some(arn.clone());
        }
        let overrides = [
            (self.max_public_keys, &mut rules.max_public_keys),
            (self.min_rsa_bits, &mut rules.min_rsa_bits),
        ];
        for (value, field) in overrides {
            if let Some(value) = value {
                *field = value;
            }
        }
        if let Some(len) = self.min_ipv4_prefix_len {
            rules.min_ipv4_prefix_len = len;
        }
        if let Some(len) = self.min_ipv6_prefix_len {
            rules.min_ipv6_prefix_len = len;
        }
        if let Some(months) = self.key_notice_after_months {
            rules.notice_after_months = months;
        }
        if let Some(months) = self.key_refuse_after_months {
            rules.refuse_after_months = months;
        }
        Ok(rules)
    }
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The sheet, saved as CSV (UTF-8) with the header row first.
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// Make the changes. Without it nothing is written: only the plan is shown.
    #[arg(long)]
    pub apply: bool,
    /// KMS key for new secrets [default: the account's aws/secretsmanager key].
    #[arg(long, value_name = "KEY")]
    pub kms_key_id: Option<String>,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct LintArgs {
    /// Secret files (`<username>.json`) or sheets (`.csv`).
    #[arg(value_name = "FILE", required_unless_present = "users")]
    pub files: Vec<PathBuf>,
    /// A live user to lint; repeat for more.
    #[arg(long = "user", value_name = "NAME", conflicts_with = "offline")]
    pub users: Vec<String>,
    /// Make no AWS call: admins come from --admins and the linted files.
    #[arg(long)]
    pub offline: bool,
    /// A directory of admin secrets (`<AdminName>.json`) to check GroupAdmin and folders against.
    #[arg(long, value_name = "DIR")]
    pub admins: Option<PathBuf>,
    /// Age keys as of this date (YYYY-MM-DD) instead of today (UTC).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<NaiveDate>,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Age keys as of this date (YYYY-MM-DD) instead of today (UTC), as the workflow's `asOf`.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<NaiveDate>,
    /// A username to leave out, besides EXCLUDED_USERS; repeat for more.
    #[arg(long, value_name = "NAME")]
    pub exclude: Vec<String>,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: Option<RunsCommand>,
    /// Only this state machine (by name, e.g. secret-validation).
    #[arg(long, value_name = "NAME")]
    pub state_machine: Option<String>,
    /// Executions to show per state machine, newest first.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// One execution: status, times, the path of states it took, any error, and its output.
    #[command(after_help = AFTER_HELP)]
    Show(ShowArgs),
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The execution's ARN, or its name (looked up in every state machine).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Read it from its state machine's CloudWatch Logs (kept 365 days) even while Step
    /// Functions still keeps its history (90 days). An execution the history no longer knows is
    /// read from the logs anyway.
    #[arg(long)]
    pub from_logs: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Also list every user with its status.
    #[arg(long)]
    pub list: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct SetStatusArgs {
    /// completed, planned, yet-to-commence, not-eligible, post-migration-support or in-progress
    /// (the tracker's labels are accepted too).
    #[arg(value_name = "STATUS")]
    pub status: MigrationStatus,
    /// The users to set it on.
    #[arg(value_name = "USERNAME", required = true)]
    pub users: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_help_text() {
        fn check(command: &clap::Command, path: &str) {
            assert!(
                command.get_about().is_some() || command.get_long_about().is_some(),
                "{path} has no help text"
            );
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                assert!(
                    builtin || arg.get_help().is_some(),
                    "{path} {} has no help text",
                    arg.get_id()
                );
            }
            for sub in command.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "sftp-warden");
    }

    #[test]
    fn lint_needs_a_file_or_a_user_and_offline_excludes_live_users() {
        assert!(Cli::try_parse_from(["sftp-warden", "users", "lint"]).is_err());
        assert!(
            Cli::try_parse_from(["sftp-warden", "users", "lint", "--offline", "--user", "a"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["sftp-warden", "users", "lint", "--user", "a"]).is_ok());
    }

    #[test]
    fn runs_takes_either_listing_options_or_show() {
        let cli = Cli::try_parse_from(["sftp-warden", "runs", "show", "local-run-1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Runs(RunsArgs {
                command: Some(RunsCommand::Show(ShowArgs { ref id, .. })),
                ..
            }) if id == "local-run-1"
        ));
        assert!(Cli::try_parse_from(["sftp-warden", "runs", "--limit", "0"]).is_err());
    }

    #[test]
    fn an_unknown_status_is_a_usage_error() {
        let err =
            Cli::try_parse_from(["sftp-warden", "users", "set-status", "done", "a"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            Cli::try_parse_from(["sftp-warden", "users", "set-status", "Planned", "a"]).is_ok()
        );
    }

    #[test]
    fn options_override_the_rules() {
        let args = RuleArgs {
            role_arn: Some("arn:aws:iam::1:role/R".into()),
            max_public_keys: Some(4),
            min_ipv4_prefix_len: Some(16),
            ..RuleArgs::default()
        };
        let rules = args.rules().unwrap();
        assert_eq!(
            rules.transfer_role_arn.as_deref(),
            Some("arn:aws:iam::1:role/R")
        );
        assert_eq!(rules.max_public_keys, 4);
        assert_eq!(rules.min_ipv4_prefix_len, 16);
    }
}
