//! What started a run and what it asks for: the CloudTrail event EventBridge delivers for a change
//! to an `SFTP/` secret, a scheduled event, or an operator's input. Both workflows read their
//! input through [`request_from_event`].

use crate::user::{Role, secret_name, username_from_secret_id};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// CloudTrail events of Secrets Manager that change what a user's secret says (or whether it exists).
/// `UpdateSecretVersionStage` moves `AWSCURRENT` on a rotation or a rollback, changing what the
/// secret says without a `PutSecretValue`.
pub const CHANGE_EVENTS: [&str; 6] = [
    "CreateSecret",
    "PutSecretValue",
    "UpdateSecret",
    "DeleteSecret",
    "RestoreSecret",
    "UpdateSecretVersionStage",
];

/// The staging label of the value every reader (and Transfer's logins) gets.
const CURRENT: &str = "AWSCURRENT";

/// Which users a run checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Scope {
    /// Every user: the weekly audit, or a run asked for by hand.
    All,
    /// One user's secret changed.
    User { username: String },
    /// An admin's secret changed: the admin itself and every user whose `GroupAdmin` it is.
    Group { admin: String },
    /// Several secrets changed (a batch of change events): these users, and for each admin
    /// among them the users whose `GroupAdmin` it is.
    Users { usernames: Vec<String> },
}

impl Scope {
    /// Whether a user, read from its secret, falls inside this scope.
    pub fn includes(&self, username: &str, group_admin: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::User { username: u } => u == username,
            Scope::Group { admin } => admin == username || group_admin == Some(admin.as_str()),
            Scope::Users { usernames } => {
                let listed = |name: &str| usernames.iter().any(|u| u == name);
                listed(username) || group_admin.is_some_and(|g| Role::of(g).is_admin() && listed(g))
            }
        }
    }
}

/// The most users a run scoped to named users checks; a larger batch of changes is checked as
/// a run over everyone (without source-system notices), which costs the same reads and keeps the
/// state small.
pub const MAX_NAMED_USERS: usize = 500;

/// What started the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// A weekly schedule (EventBridge Scheduler or a scheduled rule).
    Schedule,
    /// A CloudTrail-recorded change to an `SFTP/` secret.
    SecretChange,
    /// An operator started the execution with explicit input.
    Manual,
}

/// What the triggering event asks for, before anything is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub trigger: Trigger,
    pub scope: Scope,
    /// One line naming the event, e.g. `PutSecretValue of SFTP/bank1`, for the execution output.
    pub event: Option<String>,
    /// Send SSH key expiry notices to the users' own addresses (never on the change path).
    pub notify_source_systems: bool,
    /// The date keys are aged against; today unless the input pins it (reproducible audits).
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A change to a secret that is not an SFTP user (the event rule should have filtered it).
    #[error("{0} is not an SFTP user secret; nothing to check")]
    NotAnSftpUser(String),
    #[error("unsupported input: {0}")]
    Unsupported(String),
    /// A change to a value that is not the current one (e.g. a rotation's pending value).
    #[error("{0} is not the current value; nothing to check until it becomes current")]
    NotTheCurrentValue(String),
}

/// Works out what a run must check from its input: a CloudTrail event as EventBridge delivers
/// it, a scheduled event, or an operator's `{"mode": "all"}` / `{"username": "..."}`.
pub fn request_from_event(event: &Value, prefix: &str) -> Result<Request, RequestError> {
    let as_of = match event.get("asOf") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| RequestError::Unsupported(format!("asOf {s:?} is not YYYY-MM-DD")))?,
        ),
        Some(_) => {
            return Err(RequestError::Unsupported(
                "asOf must be a YYYY-MM-DD string".into(),
            ));
        }
    };
    let notify = event
        .get("notifySourceSystems")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match event.get("detail-type").and_then(Value::as_str) {
        Some("AWS API Call via CloudTrail") => change_request(event, prefix),
        Some("Scheduled Event") => Ok(Request {
            trigger: Trigger::Schedule,
            scope: Scope::All,
            event: Some("weekly schedule".into()),
            notify_source_systems: notify,
            as_of,
        }),
        Some(other) => Err(RequestError::Unsupported(format!(
            "events of type {other:?}"
        ))),
        None => manual_request(event, prefix, notify, as_of),
    }
}

fn change_request(event: &Value, prefix: &str) -> Result<Request, RequestError> {
    let detail = event.get("detail").unwrap_or(&Value::Null);
    let name = detail
        .get("eventName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !CHANGE_EVENTS.contains(&name) {
        return Err(RequestError::Unsupported(format!(
            "CloudTrail event {name:?}"
        )));
    }
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let request = detail.get("requestParameters").unwrap_or(&Value::Null);
    let response = detail.get("responseElements").unwrap_or(&Value::Null);
    // CreateSecret names the secret in `name`; every other call in `secretId`, by name or ARN.
    let id = text(request, "secretId")
        .or_else(|| text(request, "name"))
        .or_else(|| text(response, "name"))
        .or_else(|| text(response, "arn"))
        .ok_or_else(|| RequestError::Unsupported(format!("{name} without a secret id")))?;
    let Some(username) = username_from_secret_id(prefix, &id) else {
        return Err(RequestError::NotAnSftpUser(
            secret_name(&id).unwrap_or(&id).to_owned(),
        ));
    };
    // A value written or moved under another label (a rotation's AWSPENDING) is not what the
    // user's logins read: checking it as if it were would report on the wrong value.
    let labels: Vec<&str> = match name {
        "PutSecretValue" => request
            .get("versionStages")
            .and_then(Value::as_array)
            .map(|stages| stages.iter().filter_map(Value::as_str).collect())
            .unwrap_or_else(|| vec![CURRENT]),
        "UpdateSecretVersionStage" => request
            .get("versionStage")
            .and_then(Value::as_str)
            .into_iter()
            .collect(),
        _ => vec![CURRENT],
    };
    if !labels.contains(&CURRENT) {
        return Err(RequestError::NotTheCurrentValue(format!(
            "{name} of {prefix}{username} under {}",
            labels.join(", ")
        )));
    }
    Ok(Request {
        trigger: Trigger::SecretChange,
        event: Some(format!("{name} of {prefix}{username}")),
        scope: scope_for_change(username),
        // External systems are only ever emailed by the weekly run.
        notify_source_systems: false,
        as_of: None,
    })
}

fn manual_request(
    event: &Value,
    prefix: &str,
    notify: bool,
    as_of: Option<NaiveDate>,
) -> Result<Request, RequestError> {
    let mode = event.get("mode").and_then(Value::as_str);
    let username = event.get("username").and_then(Value::as_str);
    let scope = match (mode, username) {
        (None | Some("all"), None) => Scope::All,
        (None | Some("user"), Some(u)) => {
            let u = username_from_secret_id(prefix, u).unwrap_or_else(|| u.to_owned());
            scope_for_change(u)
        }
        (Some("users"), None) => users_scope(event.get("usernames"), prefix)?,
        (Some(m), _) => {
            return Err(RequestError::Unsupported(format!(
                "mode {m:?}; use \"all\", \"users\" with \"usernames\", or give a \"username\""
            )));
        }
    };
    // A batch of change events gathered by start-runs: `{"mode": "users", "usernames": [...],
    // "changes": {"events": N, "batch": "<id>"}}`.
    let changes = event.get("changes");
    let trigger = if changes.is_some() {
        Trigger::SecretChange
    } else if event.get("schedule").is_some() {
        Trigger::Schedule
    } else {
        Trigger::Manual
    };
    let described = changes.map(|c| {
        let events = c.get("events").and_then(Value::as_u64).unwrap_or(0);
        let batch = c.get("batch").and_then(Value::as_str).unwrap_or("-");
        format!(
            "{events} changes to {prefix} secrets (batch {})",
            crate::text::escape_unsafe(batch, 80)
        )
    });
    let notify_source_systems = notify && scope == Scope::All && changes.is_none();
    Ok(Request {
        trigger,
        scope,
        event: described,
        notify_source_systems,
        as_of,
    })
}

/// A batch of change events, as the queue in front of start-runs gathers them (an import of 500
/// rows is 500 events): which users changed, and the inputs of the runs that check them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeBatch {
    /// Names the batch: the same messages always give the same id, so a redelivered batch asks
    /// for the same execution names and starts nothing.
    pub id: String,
    /// Change events about SFTP users.
    pub events: usize,
    /// Events that are not (another secret, a read, something unparsable): ignored.
    pub ignored: usize,
    /// The users (and admins) whose secrets changed, sorted.
    pub usernames: Vec<String>,
}

/// Gathers a batch of `(message id, EventBridge event)` into the users it is about.
pub fn gather_changes(messages: &[(String, Value)], prefix: &str) -> ChangeBatch {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<&str> = messages.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort_unstable();
    let digest = Sha256::digest(ids.join("\n").as_bytes());
    let id: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let mut usernames = std::collections::BTreeSet::new();
    let mut events = 0;
    for (_, event) in messages {
        // Anything else (another secret, a read, an unparsable message) is not a change to a user.
        if let Ok(Request {
            scope: Scope::User { username } | Scope::Group { admin: username },
            ..
        }) = request_from_event(event, prefix)
        {
            events += 1;
            usernames.insert(username);
        }
    }
    ChangeBatch {
        id,
        ignored: messages.len() - events,
        events,
        usernames: usernames.into_iter().collect(),
    }
}

impl ChangeBatch {
    fn changes(&self) -> Value {
        serde_json::json!({"events": self.events, "batch": self.id})
    }

    /// The validation run's input: the changed users by name, or everyone (without notices to
    /// the external systems) when there are more than [`MAX_NAMED_USERS`]. `None` when the batch
    /// holds no change to an SFTP user.
    pub fn validation_input(&self) -> Option<Value> {
        match self.usernames.len() {
            0 => None,
            n if n > MAX_NAMED_USERS => {
                Some(serde_json::json!({"mode": "all", "changes": self.changes()}))
            }
            _ => Some(serde_json::json!({
                "mode": "users", "usernames": self.usernames, "changes": self.changes()
            })),
        }
    }

    /// The prefix-list sync's input: it compares every user whatever changed.
    pub fn sync_input(&self) -> Option<Value> {
        (!self.usernames.is_empty())
            .then(|| serde_json::json!({"mode": "all", "changes": self.changes()}))
    }
}

/// Which state machine a schedule starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScheduledMachine {
    Validation,
    Sync,
}

/// What EventBridge Scheduler hands `start-runs` for a weekly run: the schedule's name, the time
/// it was due (Scheduler's `<aws.scheduler.scheduled-time>`), the state machine and its input.
/// Scheduler delivers at least once; the execution is named after the schedule and its week, so
/// a second delivery starts nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledRun {
    /// e.g. `weekly-audit`: letters, digits and `-` only.
    pub schedule: String,
    pub scheduled_time: chrono::DateTime<chrono::Utc>,
    pub state_machine: ScheduledMachine,
    pub input: Value,
}

impl ScheduledRun {
    /// `weekly-audit-2026-W49`: the schedule and the ISO week it was due in (UTC). Characters
    /// Step Functions does not allow in a name become `_`; at most 80.
    pub fn execution_name(&self) -> String {
        use chrono::Datelike;
        let week = self.scheduled_time.iso_week();
        crate::work::execution_name(&format!(
            "{}-{}-W{:02}",
            self.schedule,
            week.year(),
            week.week()
        ))
    }
}

/// `"usernames": ["bank1", "SFTP/bank2", …]`: at most [`MAX_NAMED_USERS`], by name or secret id.
fn users_scope(usernames: Option<&Value>, prefix: &str) -> Result<Scope, RequestError> {
    let Some(list) = usernames.and_then(Value::as_array) else {
        return Err(RequestError::Unsupported(
            "mode \"users\" needs \"usernames\": a list of usernames".into(),
        ));
    };
    let mut names = Vec::with_capacity(list.len());
    for value in list {
        let Some(text) = value.as_str() else {
            return Err(RequestError::Unsupported(
                "\"usernames\" must hold strings".into(),
            ));
        };
        let name = username_from_secret_id(prefix, text).unwrap_or_else(|| text.to_owned());
        if !crate::username::is_valid(&name) {
            return Err(RequestError::Unsupported(format!(
                "{} is not a valid SFTP username",
                crate::text::quoted(&name)
            )));
        }
        names.push(name);
    }
    names.sort();
    names.dedup();
    match names.len() {
        0 => Err(RequestError::Unsupported(
            "\"usernames\" is empty: there is no one to check".into(),
        )),
        n if n > MAX_NAMED_USERS => Err(RequestError::Unsupported(format!(
            "{n} usernames; a run checks at most {MAX_NAMED_USERS} by name (use mode \"all\")"
        ))),
        _ => Ok(Scope::Users { usernames: names }),
    }
}

fn scope_for_change(username: String) -> Scope {
    match Role::of(&username) {
        Role::User => Scope::User { username },
        Role::GroupAdmin | Role::SuperAdmin => Scope::Group { admin: username },
    }
}

#[cfg(test)]
mod tests;
