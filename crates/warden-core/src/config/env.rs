//! Configuration from environment variables: every variable any function or the CLI reads is
//! parsed here, once, at cold start. Pure: the caller hands in the variables
//! (`Env::new(std::env::vars())`), so tests pass their own.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::Rules;
use crate::login::{EXTRA_OBJECT_ACTIONS, LoginPolicy, Protocol};
use crate::prefix_lists::queue::DEFAULT_SYNC_WAIT_SECONDS;
use crate::prefix_lists::{DEFAULT_MARKER, DEFAULT_MAX_REMOVAL_SHARE, PlanSettings};
use crate::smtp::settings as smtp;

/// A configuration value that is present but unusable. Raised at cold start, so a misconfigured
/// function fails its first invocation loudly instead of running with a guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name} = {value:?} is not valid: expected {expected}")]
pub struct ConfigError {
    pub name: String,
    pub value: String,
    pub expected: &'static str,
}

/// The secret name prefix that marks SFTP users, when `SECRET_PREFIX` is unset.
pub const DEFAULT_SECRET_PREFIX: &str = "SFTP/";

/// A snapshot of environment variables. Unset and blank are the same.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    pub fn new<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into().trim().to_owned()))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        }
    }

    /// A variable's value, trimmed; `None` when unset or blank.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A variable, parsed; `Ok(None)` when unset or blank.
    pub fn parse<T: FromStr>(
        &self,
        name: &str,
        expected: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        self.var(name)
            .map(|value| {
                value
                    .parse()
                    .map_err(|_| invalid(name, value.to_owned(), expected))
            })
            .transpose()
    }

    /// A comma-separated list (empty when unset).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.var(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A required variable.
    pub fn required(&self, name: &str, expected: &'static str) -> Result<String, ConfigError> {
        self.var(name)
            .map(str::to_owned)
            .ok_or_else(|| invalid(name, String::new(), expected))
    }

    /// `SECRET_PREFIX` (default `SFTP/`): secrets under this prefix are users.
    pub fn secret_prefix(&self) -> String {
        self.var("SECRET_PREFIX")
            .unwrap_or(DEFAULT_SECRET_PREFIX)
            .to_owned()
    }

    /// `WORK_BUCKET`: the S3 bucket where runs keep what does not fit in Step Functions' state.
    pub fn work_bucket(&self) -> Result<String, ConfigError> {
        self.required(
            "WORK_BUCKET",
            "the name of the work bucket (template.yaml WorkBucket)",
        )
    }

    /// `EXCLUDED_USERS`: usernames never checked or notified.
    pub fn excluded_users(&self) -> Vec<String> {
        self.list("EXCLUDED_USERS")
    }

    /// The validation policy (`TRANSFER_ROLE_ARN`, `MAX_PUBLIC_KEYS`, `MIN_RSA_BITS`,
    /// `MIN_IPV4_PREFIX_LEN`, `MIN_IPV6_PREFIX_LEN`, `KEY_NOTICE_AFTER_MONTHS`,
    /// `KEY_REFUSE_AFTER_MONTHS`); unset values take the defaults of [`Rules`]. One reader for
    /// the Lambdas and the operator CLI, so all judge secrets alike.
    pub fn rules(&self) -> Result<Rules, ConfigError> {
        let defaults = Rules::default();
        Ok(Rules {
            transfer_role_arn: self.var("TRANSFER_ROLE_ARN").map(str::to_owned),
            max_public_keys: self
                .parse("MAX_PUBLIC_KEYS", "a whole number")?
                .unwrap_or(defaults.max_public_keys),
            min_ipv4_prefix_len: self
                .parse("MIN_IPV4_PREFIX_LEN", "0-32")?
                .unwrap_or(defaults.min_ipv4_prefix_len),
            min_ipv6_prefix_len: self
                .parse("MIN_IPV6_PREFIX_LEN", "0-128")?
                .unwrap_or(defaults.min_ipv6_prefix_len),
            min_rsa_bits: self
                .parse("MIN_RSA_BITS", "a whole number of bits")?
                .unwrap_or(defaults.min_rsa_bits),
            notice_after_months: self
                .parse("KEY_NOTICE_AFTER_MONTHS", "a whole number of months")?
                .unwrap_or(defaults.notice_after_months),
            refuse_after_months: self
                .parse("KEY_REFUSE_AFTER_MONTHS", "a whole number of months")?
                .unwrap_or(defaults.refuse_after_months),
        })
    }

    /// The login policy: the shared rules, `KEY_MAX_AGE_MONTHS` (default 12; `0` or `off`
    /// switches the limit off), `ALLOWED_PROTOCOLS` (default `SFTP`; `FTP` is refused, it sends
    /// passwords in clear), `SESSION_POLICY` (`on`/`off`, default on) and `HOME_BUCKETS` (when
    /// set, home folders must lie in these buckets), `SESSION_POLICY_EXTRA_ACTIONS` (object
    /// actions a grant may add: `s3:PutObjectAcl`, `s3:DeleteObjectVersion`) and
    /// `ALLOWED_SERVER_IDS` (when set, only these Transfer servers are answered).
    pub fn login_policy(&self) -> Result<LoginPolicy, ConfigError> {
        let defaults = LoginPolicy::default();
        let key_max_age_months = match self.var("KEY_MAX_AGE_MONTHS") {
            None => defaults.key_max_age_months,
            Some(v) if v.eq_ignore_ascii_case("off") || v == "0" => None,
            Some(v) => Some(v.parse().map_err(|_| {
                invalid(
                    "KEY_MAX_AGE_MONTHS",
                    v.to_owned(),
                    "a whole number of months, or 0/off",
                )
            })?),
        };
        let protocols = match self.list("ALLOWED_PROTOCOLS") {
            names if names.is_empty() => defaults.protocols,
            names => names
                .into_iter()
                .map(|name| match Protocol::parse(&name) {
                    Some(protocol) if protocol != Protocol::Ftp => Ok(protocol),
                    _ => Err(invalid(
                        "ALLOWED_PROTOCOLS",
                        name,
                        "SFTP and/or FTPS (FTP sends passwords in clear)",
                    )),
                })
                .collect::<Result<_, _>>()?,
        };
        let session_policy = match self.var("SESSION_POLICY") {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(invalid("SESSION_POLICY", other.to_owned(), "on or off"));
            }
        };
        let session_policy_extra_actions = self.list("SESSION_POLICY_EXTRA_ACTIONS");
        if let Some(unknown) = session_policy_extra_actions
            .iter()
            .find(|a| !EXTRA_OBJECT_ACTIONS.contains(&a.as_str()))
        {
            return Err(invalid(
                "SESSION_POLICY_EXTRA_ACTIONS",
                unknown.clone(),
                "s3:PutObjectAcl and/or s3:DeleteObjectVersion",
            ));
        }
        Ok(LoginPolicy {
            rules: self.rules()?,
            key_max_age_months,
            protocols,
            session_policy,
            session_policy_extra_actions,
            buckets: self.list("HOME_BUCKETS"),
            servers: self.list("ALLOWED_SERVER_IDS"),
        })
    }

    /// The prefix-list plan's bounds: `PREFIX_LIST_MARKER` (default `AUTOMATED_PREFIX`) and
    /// `MAX_REMOVAL_SHARE` (0 to 1, default 0.5).
    pub fn plan_settings(&self) -> Result<PlanSettings, ConfigError> {
        const SHARE: &str = "a share from 0 to 1, e.g. 0.5";
        let share: Option<f64> = self.parse("MAX_REMOVAL_SHARE", SHARE)?;
        if let Some(bad) = share.filter(|s| !(0.0..=1.0).contains(s)) {
            return Err(invalid("MAX_REMOVAL_SHARE", bad.to_string(), SHARE));
        }
        Ok(PlanSettings {
            marker: self
                .var("PREFIX_LIST_MARKER")
                .unwrap_or(DEFAULT_MARKER)
                .to_owned(),
            max_removal_share: share.unwrap_or(DEFAULT_MAX_REMOVAL_SHARE),
        })
    }

    /// `SYNC_WAIT_SECONDS` (default 30): how long a prefix-list sync waits between two checks
    /// for an older sync still running (the local stack passes 1).
    /// Zero is refused: the 60 checks would pass in moments and the run give up at once.
    pub fn sync_wait_seconds(&self) -> Result<u64, ConfigError> {
        const SECONDS: &str = "a whole number of seconds, at least 1";
        match self.parse::<u64>("SYNC_WAIT_SECONDS", SECONDS)? {
            Some(0) => Err(invalid("SYNC_WAIT_SECONDS", "0".into(), SECONDS)),
            seconds => Ok(seconds.unwrap_or(DEFAULT_SYNC_WAIT_SECONDS)),
        }
    }

    /// The SMTP credential rotation's settings: `SMTP_IAM_USER`, `AWS_REGION` and
    /// `DEPLOYMENT_STATE_MACHINE_ARN` (required); `SMTP_ENDPOINT` (default SES's endpoint of the
    /// Region), `SMTP_PORT` (587), `SMTP_EXTRA_ROOT_CERT` (a PEM file), `SMTP_LOGIN_ATTEMPTS` (6,
    /// 1 to 20), `SMTP_LOGIN_FIRST_DELAY_MS` (2000); the deployment's `SMTP_SERVER_TAG_KEY`
    /// (EmailServers), `SMTP_SERVER_TAG_VALUE` (unset: no server to push to),
    /// `SMTP_DEPLOY_DOCUMENT` (required with a tag value), `DEPLOY_POLL_SECONDS` (30),
    /// `DEPLOY_MAX_POLLS` (60, at least 1) and `OLD_KEY_GRACE_SECONDS` (3 days).
    pub fn smtp_rotation_settings(&self) -> Result<smtp::RotationSettings, ConfigError> {
        let region = self.required("AWS_REGION", "the Region, e.g. eu-west-1")?;
        let attempts: u32 = self
            .parse("SMTP_LOGIN_ATTEMPTS", "a number of logins from 1 to 20")?
            .unwrap_or(smtp::DEFAULT_LOGIN_ATTEMPTS);
        if !(1..=20).contains(&attempts) {
            return Err(invalid(
                "SMTP_LOGIN_ATTEMPTS",
                attempts.to_string(),
                "a number of logins from 1 to 20",
            ));
        }
        let max_polls: u32 = self
            .parse("DEPLOY_MAX_POLLS", "a number of checks, at least 1")?
            .unwrap_or(smtp::DEFAULT_MAX_POLLS);
        if max_polls == 0 {
            return Err(invalid(
                "DEPLOY_MAX_POLLS",
                "0".into(),
                "a number of checks, at least 1",
            ));
        }
        let tag_value = self
            .var("SMTP_SERVER_TAG_VALUE")
            .unwrap_or_default()
            .to_owned();
        let document = match self.var("SMTP_DEPLOY_DOCUMENT") {
            Some(document) => document.to_owned(),
            None if tag_value.is_empty() => String::new(),
            None => self.required(
                "SMTP_DEPLOY_DOCUMENT",
                "the SSM document that applies the credentials on a mail server",
            )?,
        };
        Ok(smtp::RotationSettings {
            iam_user: self.required("SMTP_IAM_USER", "the IAM user of the SMTP credentials")?,
            smtp_host: self.var("SMTP_ENDPOINT").map_or_else(
                || format!("email-smtp.{region}.amazonaws.com"),
                str::to_owned,
            ),
            smtp_port: self
                .parse("SMTP_PORT", "a TCP port, e.g. 587")?
                .unwrap_or(smtp::DEFAULT_SMTP_PORT),
            extra_root_cert: self.var("SMTP_EXTRA_ROOT_CERT").map(str::to_owned),
            login_attempts: attempts,
            login_first_delay_ms: self
                .parse("SMTP_LOGIN_FIRST_DELAY_MS", "a number of milliseconds")?
                .unwrap_or(smtp::DEFAULT_LOGIN_FIRST_DELAY_MS),
            deployment_state_machine: self.required(
                "DEPLOYMENT_STATE_MACHINE_ARN",
                "the ARN of the smtp-credential-deployment state machine",
            )?,
            deployment: smtp::DeploymentSettings {
                servers: smtp::ServerTag {
                    tag_key: self
                        .var("SMTP_SERVER_TAG_KEY")
                        .unwrap_or(smtp::DEFAULT_SERVER_TAG_KEY)
                        .to_owned(),
                    tag_value,
                },
                document,
                poll_seconds: self
                    .parse("DEPLOY_POLL_SECONDS", "a whole number of seconds")?
                    .unwrap_or(smtp::DEFAULT_POLL_SECONDS),
                max_polls,
                grace_seconds: self
                    .parse("OLD_KEY_GRACE_SECONDS", "a whole number of seconds")?
                    .unwrap_or(smtp::DEFAULT_GRACE_SECONDS),
            },
            region,
        })
    }
}

fn invalid(name: &str, value: String, expected: &'static str) -> ConfigError {
    ConfigError {
        name: name.to_owned(),
        value,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::new(vars.iter().copied())
    }

    #[test]
    fn unset_and_blank_variables_take_the_defaults() {
        let env = env(&[("MAX_PUBLIC_KEYS", "  "), ("EXCLUDED_USERS", "")]);
        assert_eq!(env.rules().unwrap(), Rules::default());
        assert_eq!(env.login_policy().unwrap(), LoginPolicy::default());
        assert_eq!(env.plan_settings().unwrap(), PlanSettings::default());
        assert_eq!(env.secret_prefix(), "SFTP/");
        assert!(env.excluded_users().is_empty());
    }

    #[test]
    fn set_variables_override_the_defaults() {
        let env = env(&[
            ("TRANSFER_ROLE_ARN", "arn:aws:iam::123456789012:role/T"),
            ("MAX_PUBLIC_KEYS", "1"),
            ("KEY_MAX_AGE_MONTHS", "off"),
            ("ALLOWED_PROTOCOLS", "SFTP, FTPS"),
            ("SESSION_POLICY", "off"),
            ("HOME_BUCKETS", "a,b"),
            ("PREFIX_LIST_MARKER", "SFTP_ALLOW"),
            ("MAX_REMOVAL_SHARE", "1"),
            ("EXCLUDED_USERS", "sample, test"),
            ("SECRET_PREFIX", "Transfer/"),
        ]);
        let policy = env.login_policy().unwrap();
        assert_eq!(policy.rules.max_public_keys, 1);
        assert_eq!(
            policy.rules.transfer_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/T")
        );
        assert_eq!(policy.key_max_age_months, None);
        assert_eq!(policy.protocols, [Protocol::Sftp, Protocol::Ftps]);
        assert!(!policy.session_policy);
        assert_eq!(policy.buckets, ["a", "b"]);
        let plan = env.plan_settings().unwrap();
        assert_eq!(plan.marker, "SFTP_ALLOW");
        assert_eq!(plan.max_removal_share, 1.0);
        assert_eq!(env.excluded_users(), ["sample", "test"]);
        assert_eq!(env.secret_prefix(), "Transfer/");
    }

    #[test]
    fn an_unusable_value_names_the_variable_and_what_it_should_be() {
        for (name, value) in [
            ("MAX_PUBLIC_KEYS", "two"),
            ("KEY_MAX_AGE_MONTHS", "a year"),
            ("ALLOWED_PROTOCOLS", "FTP"),
            ("SESSION_POLICY", "maybe"),
            ("MAX_REMOVAL_SHARE", "1.5"),
        ] {
            let env = env(&[(name, value)]);
            let err = env
                .login_policy()
                .and_then(|_| env.plan_settings())
                .unwrap_err();
            assert_eq!(err.name, name);
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn a_missing_required_variable_is_an_error_naming_it() {
        let err = env(&[]).required("SENDER_EMAIL", "a verified SES identity");
        assert_eq!(err.unwrap_err().name, "SENDER_EMAIL");
    }

    #[test]
    fn a_sync_waits_30_seconds_between_checks_unless_told_otherwise_and_never_0() {
        assert_eq!(env(&[]).sync_wait_seconds(), Ok(30));
        assert_eq!(
            env(&[("SYNC_WAIT_SECONDS", "1")]).sync_wait_seconds(),
            Ok(1)
        );
        assert!(
            env(&[("SYNC_WAIT_SECONDS", "0")])
                .sync_wait_seconds()
                .is_err()
        );
        assert!(
            env(&[("SYNC_WAIT_SECONDS", "soon")])
                .sync_wait_seconds()
                .is_err()
        );
    }

    #[test]
    fn the_smtp_rotation_needs_its_user_region_and_state_machine_and_defaults_the_rest() {
        let required = [
            ("AWS_REGION", "eu-west-1"),
            ("SMTP_IAM_USER", "sftp-warden-ses-smtp"),
            (
                "DEPLOYMENT_STATE_MACHINE_ARN",
                "arn:aws:states:eu-west-1:1:stateMachine:d",
            ),
        ];
        let settings = env(&required).smtp_rotation_settings().unwrap();
        assert_eq!(settings.smtp_host, "email-smtp.eu-west-1.amazonaws.com");
        assert_eq!(settings.smtp_port, 587);
        assert_eq!(settings.login_attempts, 6);
        assert_eq!(settings.deployment.servers.tag_key, "EmailServers");
        assert_eq!(
            settings.deployment.servers.tag_value, "",
            "no tag value: no server"
        );
        assert_eq!(settings.deployment.grace_seconds, 259_200);
        for missing in required {
            let partial: Vec<_> = required.iter().copied().filter(|v| *v != missing).collect();
            let err = env(&partial).smtp_rotation_settings().unwrap_err();
            assert_eq!(err.name, missing.0);
        }
        // A tag value needs the document that applies the credentials.
        let mut with_tag = required.to_vec();
        with_tag.push(("SMTP_SERVER_TAG_VALUE", "True"));
        assert_eq!(
            env(&with_tag).smtp_rotation_settings().unwrap_err().name,
            "SMTP_DEPLOY_DOCUMENT"
        );
        for (name, bad) in [
            ("SMTP_LOGIN_ATTEMPTS", "0"),
            ("SMTP_LOGIN_ATTEMPTS", "50"),
            ("DEPLOY_MAX_POLLS", "0"),
            ("SMTP_PORT", "smtp"),
        ] {
            let mut vars = required.to_vec();
            vars.push((name, bad));
            assert_eq!(env(&vars).smtp_rotation_settings().unwrap_err().name, name);
        }
    }
}
