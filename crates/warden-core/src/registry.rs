//! What sftp-warden deploys: its functions, its state machines, and the errors each function
//! reports. The one list the harness, the task runner, the template checks and the tests read,
//! so that a function added in one place is missing nowhere else.

use crate::errors::ErrorName::{self, *};

/// Who invokes a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A task of one of the state machines.
    StateMachines,
    /// AWS Transfer Family, directly or through API Gateway (the identity provider).
    Transfer,
    /// EventBridge rules and schedules (start-runs starts the state machines).
    EventBridge,
    /// Secrets Manager's rotation of a secret (the four steps of the rotation contract).
    SecretsManager,
}

/// One Lambda function: its crate, binary and function name are all `name`.
#[derive(Clone, Copy, Debug)]
pub struct Function {
    pub name: &'static str,
    pub caller: Caller,
    /// The error names it can report, in groups (an adapter's names, then its own).
    errors: &'static [&'static [ErrorName]],
}

impl Function {
    /// Every error name this function can report as its Lambda `errorType`.
    pub fn errors(&self) -> impl Iterator<Item = ErrorName> + '_ {
        self.errors.iter().flat_map(|group| group.iter().copied())
    }

    pub fn reports(&self, name: ErrorName) -> bool {
        self.errors().any(|n| n == name)
    }

    /// The `DefinitionSubstitutions` key that holds its ARN: `list-users` → `ListUsersFunctionArn`.
    pub fn substitution_name(&self) -> String {
        substitution_name(self.name)
    }
}

/// The names of the Secrets Manager adapter's errors (`warden_aws::secrets::SecretsError`).
pub const SECRETS_ERRORS: &[ErrorName] = &[
    SecretsThrottled,
    SecretsUnavailable,
    SecretsAccessDenied,
    BatchTooLarge,
];
/// The names of the SES adapter's errors (`warden_aws::email::EmailError`).
pub const EMAIL_ERRORS: &[ErrorName] = &[
    EmailThrottled,
    EmailRejected,
    EmailInvalid,
    EmailServiceError,
];
/// The names of the work bucket adapter's errors (`warden_aws::work::WorkError`).
pub const WORK_ERRORS: &[ErrorName] = &[WorkStoreUnavailable, WorkFileInvalid];
/// The names of the EC2 adapter's errors when only reading lists: no version or capacity to be
/// refused for.
pub const EC2_READ_ERRORS: &[ErrorName] = &[
    PrefixListNotFound,
    Ec2Throttled,
    Ec2AccessDenied,
    Ec2Unavailable,
];
/// The names of the EC2 adapter's errors (`warden_ec2::Ec2Error`), writes included.
pub const EC2_ERRORS: &[ErrorName] = &[
    PrefixListVersionMismatch,
    PrefixListBusy,
    PrefixListFull,
    InvalidPrefixListModification,
    PrefixListNotFound,
    Ec2Throttled,
    Ec2AccessDenied,
    Ec2Unavailable,
];

/// Every function, in the order of the workflows they serve.
pub const FUNCTIONS: &[Function] = &[
    Function {
        name: "list-users",
        caller: Caller::StateMachines,
        errors: &[
            SECRETS_ERRORS,
            WORK_ERRORS,
            &[NotAnSftpUser, NotTheCurrentValue, UnsupportedInput],
        ],
    },
    Function {
        name: "load-admins",
        caller: Caller::StateMachines,
        errors: &[
            SECRETS_ERRORS,
            WORK_ERRORS,
            &[AdminUnreadable, SuppressionListUnavailable],
        ],
    },
    Function {
        name: "validate-users",
        caller: Caller::StateMachines,
        errors: &[SECRETS_ERRORS, WORK_ERRORS],
    },
    Function {
        name: "build-digests",
        caller: Caller::StateMachines,
        errors: &[WORK_ERRORS],
    },
    Function {
        name: "send-email",
        caller: Caller::StateMachines,
        errors: &[EMAIL_ERRORS, WORK_ERRORS],
    },
    Function {
        name: "summarise-run",
        caller: Caller::StateMachines,
        errors: &[WORK_ERRORS],
    },
    Function {
        name: "start-runs",
        caller: Caller::EventBridge,
        errors: &[&[EventWithoutId, StatesThrottled, ExecutionNotStarted]],
    },
    Function {
        name: "report-failed-run",
        caller: Caller::EventBridge,
        errors: &[WORK_ERRORS, EMAIL_ERRORS, &[SuppressionListUnavailable]],
    },
    Function {
        name: "handle-email-events",
        caller: Caller::EventBridge,
        errors: &[
            WORK_ERRORS,
            &[UnsupportedInput, StatesThrottled, ExecutionNotStarted],
        ],
    },
    Function {
        name: "identity-provider",
        caller: Caller::Transfer,
        // Every failure is a denial (`{}`), never an error: Transfer would show it to the client.
        errors: &[],
    },
    Function {
        name: "find-older-syncs",
        caller: Caller::StateMachines,
        errors: &[&[StatesThrottled, ExecutionsUnlisted, UnsupportedInput]],
    },
    Function {
        name: "read-user-cidrs",
        caller: Caller::StateMachines,
        errors: &[
            SECRETS_ERRORS,
            WORK_ERRORS,
            &[NotAnSftpUser, NotTheCurrentValue, UnsupportedInput],
        ],
    },
    Function {
        name: "plan-prefix-lists",
        caller: Caller::StateMachines,
        errors: &[EC2_READ_ERRORS, WORK_ERRORS, &[PrefixListBusy]],
    },
    Function {
        name: "remove-prefix-list-entries",
        caller: Caller::StateMachines,
        errors: &[
            EC2_ERRORS,
            WORK_ERRORS,
            &[PrefixListUnusable, UnsupportedInput],
        ],
    },
    Function {
        name: "add-prefix-list-entries",
        caller: Caller::StateMachines,
        errors: &[
            EC2_ERRORS,
            WORK_ERRORS,
            &[PrefixListUnusable, UnsupportedInput],
        ],
    },
    Function {
        name: "check-prefix-lists",
        caller: Caller::StateMachines,
        errors: &[EC2_READ_ERRORS, &[PrefixListBusy]],
    },
    Function {
        name: "summarise-prefix-list-sync",
        caller: Caller::StateMachines,
        errors: &[WORK_ERRORS],
    },
    Function {
        name: "rotate-smtp-credentials",
        caller: Caller::SecretsManager,
        errors: &[
            SECRETS_ERRORS,
            &[
                IamUnavailable,
                IamAccessDenied,
                KeyLimitExceeded,
                NoRoomForNewKey,
                RotationVersionInvalid,
                SmtpSecretMalformed,
                SmtpLoginRefused,
                SmtpUnreachable,
                StatesThrottled,
                ExecutionNotStarted,
                UnsupportedInput,
            ],
        ],
    },
    Function {
        name: "check-smtp-deployment",
        caller: Caller::StateMachines,
        errors: &[],
    },
    Function {
        name: "report-smtp-deployment",
        caller: Caller::StateMachines,
        errors: &[SECRETS_ERRORS, &[SuppressionListUnavailable]],
    },
];

/// The `DefinitionSubstitutions` key of the work bucket's name: a Distributed Map's
/// `ResultWriter` names its bucket outright (its parameters are not read from the state).
pub const WORK_BUCKET_SUBSTITUTION: &str = "WorkBucketName";

/// The monitoring state machines: what `start-runs` starts for a batch of secret changes and
/// for the weekly schedules.
pub const MONITORING_STATE_MACHINES: &[&str] = &["secret-validation", "prefix-list-sync"];

/// The state machines of `statemachines/<name>.asl.json`: the monitoring ones and the SMTP
/// credential deployment (started by the rotation).
pub const STATE_MACHINES: &[&str] = &[
    "secret-validation",
    "prefix-list-sync",
    "smtp-credential-deployment",
];

/// Errors the state machines leave to a task's `States.ALL` catch on purpose: retrying cannot
/// help, so the run goes straight to the state that reports it. Each with the reason.
pub const LEFT_TO_CATCH_ALL: &[(ErrorName, &str)] = &[
    (
        SecretsAccessDenied,
        "an IAM mistake: an operator must fix the role",
    ),
    (BatchTooLarge, "a bug in batching: a retry would repeat it"),
    (
        EmailInvalid,
        "a message without or with too many recipients: a bug",
    ),
    (
        UnsupportedInput,
        "the input is wrong and will be wrong again",
    ),
    (EventWithoutId, "the event is malformed"),
    (
        PrefixListFull,
        "no room: the add step re-plans itself; what is left is overflow",
    ),
    (
        InvalidPrefixListModification,
        "EC2 refused the change as such",
    ),
    (PrefixListNotFound, "the list was deleted during the run"),
    (
        PrefixListUnusable,
        "the list is of the other family, AWS-managed, or being created or deleted",
    ),
    (
        Ec2AccessDenied,
        "an IAM mistake: an operator must fix the role",
    ),
    (
        WorkFileInvalid,
        "a file the step needs is missing or damaged: a retry reads the same",
    ),
];

/// The function of that name.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The functions no state machine calls.
pub fn outside_state_machines() -> impl Iterator<Item = &'static Function> {
    FUNCTIONS
        .iter()
        .filter(|f| f.caller != Caller::StateMachines)
}

/// `list-users` → `ListUsersFunctionArn`: the `DefinitionSubstitutions` key SAM fills with the
/// function's ARN.
pub fn substitution_name(function: &str) -> String {
    let camel: String = function
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{camel}FunctionArn")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn substitution_names_are_the_sam_logical_ids_with_arn() {
        assert_eq!(substitution_name("list-users"), "ListUsersFunctionArn");
        assert_eq!(
            substitution_name("summarise-prefix-list-sync"),
            "SummarisePrefixListSyncFunctionArn"
        );
    }

    #[test]
    fn every_error_name_is_reported_by_some_function() {
        let reported: BTreeSet<ErrorName> = FUNCTIONS.iter().flat_map(|f| f.errors()).collect();
        let never: Vec<_> = ErrorName::ALL
            .iter()
            .filter(|n| !reported.contains(n))
            .collect();
        assert!(never.is_empty(), "names no function reports: {never:?}");
    }

    #[test]
    fn names_left_to_the_catch_all_are_reported_by_someone_and_listed_once() {
        let mut seen = BTreeSet::new();
        for (name, reason) in LEFT_TO_CATCH_ALL {
            assert!(seen.insert(*name), "{name} listed twice");
            assert!(!reason.is_empty());
            assert!(FUNCTIONS.iter().any(|f| f.reports(*name)), "{name}");
        }
    }

    #[test]
    fn function_names_are_unique_kebab_case() {
        let names: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), FUNCTIONS.len());
        for name in names {
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{name}"
            );
        }
    }
}
