//! The stable error names of sftp-warden: what a function reports as its Lambda `errorType`, and
//! what the state machines' `Retry` and `Catch` match on (`ErrorEquals`).
//!
//! One list for every crate: the adapters (`warden-aws`, `warden-ec2`) and every function map
//! their errors onto these names, and [`crate::registry`] says which function reports which, so a
//! test can hold the state machines against the code.

use std::fmt;

/// An error name a function can report. Spelled in the ASL exactly as [`ErrorName::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorName {
    // Secrets Manager (warden-aws).
    /// Secrets Manager throttled a call after the SDK's own retries (retried).
    SecretsThrottled,
    /// Secrets Manager failed or could not be reached (retried).
    SecretsUnavailable,
    /// The function's role may not read the secrets: an operator must fix IAM.
    SecretsAccessDenied,
    /// A batch read asked for more than 20 secrets: a bug, never retried.
    BatchTooLarge,
    // SES (warden-aws).
    /// SES throttled a send (retried).
    EmailThrottled,
    /// SES refused a message (unverified sender, paused account): an operator must act.
    EmailRejected,
    /// A message without recipients or with more than SES allows: a bug.
    EmailInvalid,
    /// SES failed or could not be reached (retried).
    EmailServiceError,
    /// SES's account suppression list could not be read, so mail cannot be routed safely
    /// (retried).
    SuppressionListUnavailable,
    // The work bucket (warden-aws).
    /// The run's work files could not be read or written (retried).
    WorkStoreUnavailable,
    /// A work file a step needs is missing or not what it expects: the run cannot go on.
    WorkFileInvalid,
    // EC2 managed prefix lists (warden-ec2).
    /// The list changed since the version the step knew (retried: the step re-reads).
    PrefixListVersionMismatch,
    /// The list is still applying a change (retried until `modify-complete`).
    PrefixListBusy,
    /// EC2 refused an addition for lack of room.
    PrefixListFull,
    /// EC2 refused a change (e.g. removing an entry that is not there).
    InvalidPrefixListModification,
    PrefixListNotFound,
    /// The list is of the other family, AWS-managed, or being created or deleted.
    PrefixListUnusable,
    /// EC2 throttled a call after the SDK's own retries (retried).
    Ec2Throttled,
    /// EC2 failed or could not be reached (retried).
    Ec2Unavailable,
    Ec2AccessDenied,
    // Step Functions (start-runs, the sync's wait for older runs).
    /// Step Functions throttled a call after the SDK's own retries.
    StatesThrottled,
    /// Step Functions refused to start an execution.
    ExecutionNotStarted,
    /// Step Functions could not list the running syncs (retried; the run does not go ahead
    /// without knowing).
    ExecutionsUnlisted,
    // The workflows' own.
    /// A change event about a secret that is not an SFTP user: the run has nothing to do.
    NotAnSftpUser,
    /// A change to a value that is not the current one (a rotation's pending value): the run has
    /// nothing to do.
    NotTheCurrentValue,
    /// The input is not one the function understands (says what and why).
    UnsupportedInput,
    /// A change event without an id to name the executions after.
    EventWithoutId,
    /// An admin's secret could not be read (retried; the run notes it if it stays unreadable).
    AdminUnreadable,
    // SMTP credential rotation.
    /// IAM throttled or failed a call after the SDK's own retries (Secrets Manager retries the rotation).
    IamUnavailable,
    /// The rotation's role may not manage the SMTP user's keys: an operator must fix IAM.
    IamAccessDenied,
    /// IAM refused a new access key: the user already has two (another hand made one).
    KeyLimitExceeded,
    /// The SMTP user has two keys and the previous one is still active: the last deployment has not
    /// finished.
    NoRoomForNewKey,
    /// The rotation's token is not a pending version of the secret (Secrets Manager's contract).
    RotationVersionInvalid,
    /// A version of the SMTP credentials secret is not the credentials: an operator must fix it.
    SmtpSecretMalformed,
    /// The SMTP endpoint refused the pending credentials on every bounded attempt.
    SmtpLoginRefused,
    /// The SMTP endpoint could not be reached, or TLS failed.
    SmtpUnreachable,
}

impl ErrorName {
    /// Every name, in declaration order.
    pub const ALL: &'static [ErrorName] = &[
        ErrorName::SecretsThrottled,
        ErrorName::SecretsUnavailable,
        ErrorName::SecretsAccessDenied,
        ErrorName::BatchTooLarge,
        ErrorName::EmailThrottled,
        ErrorName::EmailRejected,
        ErrorName::EmailInvalid,
        ErrorName::EmailServiceError,
        ErrorName::SuppressionListUnavailable,
        ErrorName::WorkStoreUnavailable,
        ErrorName::WorkFileInvalid,
        ErrorName::PrefixListVersionMismatch,
        ErrorName::PrefixListBusy,
        ErrorName::PrefixListFull,
        ErrorName::InvalidPrefixListModification,
        ErrorName::PrefixListNotFound,
        ErrorName::PrefixListUnusable,
        ErrorName::Ec2Throttled,
        ErrorName::Ec2Unavailable,
        ErrorName::Ec2AccessDenied,
        ErrorName::StatesThrottled,
        ErrorName::ExecutionNotStarted,
        ErrorName::ExecutionsUnlisted,
        ErrorName::NotAnSftpUser,
        ErrorName::NotTheCurrentValue,
        ErrorName::UnsupportedInput,
        ErrorName::EventWithoutId,
        ErrorName::AdminUnreadable,
        ErrorName::IamUnavailable,
        ErrorName::IamAccessDenied,
        ErrorName::KeyLimitExceeded,
        ErrorName::NoRoomForNewKey,
        ErrorName::RotationVersionInvalid,
        ErrorName::SmtpSecretMalformed,
        ErrorName::SmtpLoginRefused,
        ErrorName::SmtpUnreachable,
    ];

    /// The name as the ASL spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::SecretsThrottled => "SecretsThrottled",
            ErrorName::SecretsUnavailable => "SecretsUnavailable",
            ErrorName::SecretsAccessDenied => "SecretsAccessDenied",
            ErrorName::BatchTooLarge => "BatchTooLarge",
            ErrorName::EmailThrottled => "EmailThrottled",
            ErrorName::EmailRejected => "EmailRejected",
            ErrorName::EmailInvalid => "EmailInvalid",
            ErrorName::EmailServiceError => "EmailServiceError",
            ErrorName::SuppressionListUnavailable => "SuppressionListUnavailable",
            ErrorName::WorkStoreUnavailable => "WorkStoreUnavailable",
            ErrorName::WorkFileInvalid => "WorkFileInvalid",
            ErrorName::PrefixListVersionMismatch => "PrefixListVersionMismatch",
            ErrorName::PrefixListBusy => "PrefixListBusy",
            ErrorName::PrefixListFull => "PrefixListFull",
            ErrorName::InvalidPrefixListModification => "InvalidPrefixListModification",
            ErrorName::PrefixListNotFound => "PrefixListNotFound",
            ErrorName::PrefixListUnusable => "PrefixListUnusable",
            ErrorName::Ec2Throttled => "Ec2Throttled",
            ErrorName::Ec2Unavailable => "Ec2Unavailable",
            ErrorName::Ec2AccessDenied => "Ec2AccessDenied",
            ErrorName::StatesThrottled => "StatesThrottled",
            ErrorName::ExecutionNotStarted => "ExecutionNotStarted",
            ErrorName::ExecutionsUnlisted => "ExecutionsUnlisted",
            ErrorName::NotAnSftpUser => "NotAnSftpUser",
            ErrorName::NotTheCurrentValue => "NotTheCurrentValue",
            ErrorName::UnsupportedInput => "UnsupportedInput",
            ErrorName::EventWithoutId => "EventWithoutId",
            ErrorName::AdminUnreadable => "AdminUnreadable",
            ErrorName::IamUnavailable => "IamUnavailable",
            ErrorName::IamAccessDenied => "IamAccessDenied",
            ErrorName::KeyLimitExceeded => "KeyLimitExceeded",
            ErrorName::NoRoomForNewKey => "NoRoomForNewKey",
            ErrorName::RotationVersionInvalid => "RotationVersionInvalid",
            ErrorName::SmtpSecretMalformed => "SmtpSecretMalformed",
            ErrorName::SmtpLoginRefused => "SmtpLoginRefused",
            ErrorName::SmtpUnreachable => "SmtpUnreachable",
        }
    }

    /// The name of an ASL spelling; `None` for names that are not ours (`States.ALL`, …).
    pub fn parse(text: &str) -> Option<ErrorName> {
        Self::ALL.iter().copied().find(|n| n.as_str() == text)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that carries one of the stable names: every adapter's and every function's error.
pub trait Named: std::error::Error {
    fn name(&self) -> ErrorName;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_name_is_listed_once_and_spelled_as_its_variant() {
        let spelled: BTreeSet<&str> = ErrorName::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(spelled.len(), ErrorName::ALL.len());
        for name in ErrorName::ALL {
            assert_eq!(format!("{name:?}"), name.as_str());
            assert_eq!(ErrorName::parse(name.as_str()), Some(*name));
        }
        assert_eq!(ErrorName::parse("States.ALL"), None);
    }
}
