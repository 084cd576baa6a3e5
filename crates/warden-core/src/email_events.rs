//! What SES tells us about the mail after it left (the configuration set's events, through
//! EventBridge), and what each event means for the service (DESIGN.md section 4).
//!
//! A hard bounce or a complaint puts the address on the account's suppression list: from then on
//! mail to it is never sent, so the secret that holds it must be fixed, and the admin responsible
//! should hear about it within minutes rather than at next week's audit. A soft bounce, a delivery
//! delay, a rejection or a rendering failure is logged and counted, not acted on (SES retries
//! soft failures itself; the others are about the message, not the address).

use serde::Deserialize;
use serde_json::Value;

use crate::notify::{EmailKind, tag};

/// The part of SES's event (the EventBridge `detail`) that matters here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    event_type: String,
    #[serde(default)]
    bounce: Option<Bounce>,
    #[serde(default)]
    complaint: Option<Complaint>,
    #[serde(default)]
    delivery_delay: Option<DeliveryDelay>,
    #[serde(default)]
    mail: Option<Mail>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: String,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryDelay {
    #[serde(default)]
    delayed_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    #[serde(default)]
    message_id: String,
    /// Tag name → values (SES sends each tag as a list).
    #[serde(default)]
    tags: std::collections::BTreeMap<String, Vec<String>>,
}

/// What kind of event it is, as far as the service is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// A permanent bounce or a complaint: the address is suppressed; its holders are checked.
    Suppressing,
    /// A transient bounce or a delivery delay: logged and counted.
    Transient,
    /// Rejected or not rendered: about the message, not the address; logged and counted.
    MessageProblem,
    /// Anything else the rule lets through (delivery, send…): ignored.
    Other,
}

/// Where a message came from: the stored email of a run, when its tags say so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailOrigin {
    pub state_machine: String,
    pub run: String,
    pub index: usize,
}

/// One SES event, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailEvent {
    /// SES's `eventType`: `Bounce`, `Complaint`, `DeliveryDelay`, `Reject`, `Rendering Failure`…
    pub event_type: String,
    /// For bounces: `Permanent/General`, `Transient/MailboxFull`…
    pub bounce_type: Option<String>,
    pub severity: Severity,
    /// The addresses the event is about (bounced, complained, delayed).
    pub recipients: Vec<String>,
    pub message_id: String,
    pub kind: Option<EmailKind>,
    pub origin: Option<EmailOrigin>,
}

/// Why an event could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailEventError {
    #[error("not an SES event: it has no detail.eventType ({0})")]
    NotAnSesEvent(String),
}

/// Reads the EventBridge event SES sent (or the bare `detail`, as SNS or a test would hand it).
pub fn parse(event: &Value) -> Result<EmailEvent, EmailEventError> {
    let detail = event.get("detail").unwrap_or(event);
    let detail: Detail = serde_json::from_value(detail.clone())
        .map_err(|e| EmailEventError::NotAnSesEvent(e.to_string()))?;
    let (severity, recipients, bounce_type) = match detail.event_type.as_str() {
        "Bounce" => {
            let bounce = detail.bounce.as_ref();
            let permanent = bounce.is_some_and(|b| b.bounce_type == "Permanent");
            let recipients = bounce
                .map(|b| addresses(&b.bounced_recipients))
                .unwrap_or_default();
            let kind = bounce.map(|b| format!("{}/{}", b.bounce_type, b.bounce_sub_type));
            let severity = if permanent {
                Severity::Suppressing
            } else {
                Severity::Transient
            };
            (severity, recipients, kind)
        }
        "Complaint" => (
            Severity::Suppressing,
            detail
                .complaint
                .as_ref()
                .map(|c| addresses(&c.complained_recipients))
                .unwrap_or_default(),
            None,
        ),
        "DeliveryDelay" => (
            Severity::Transient,
            detail
                .delivery_delay
                .as_ref()
                .map(|d| addresses(&d.delayed_recipients))
                .unwrap_or_default(),
            None,
        ),
        "Reject" | "Rendering Failure" | "RenderingFailure" => {
            (Severity::MessageProblem, Vec::new(), None)
        }
        _ => (Severity::Other, Vec::new(), None),
    };
    let mail = detail.mail.unwrap_or(Mail {
        message_id: String::new(),
        tags: Default::default(),
    });
    let tag_value = |name: &str| mail.tags.get(name).and_then(|v| v.first()).cloned();
    let origin = match (
        tag_value(tag::STATE_MACHINE),
        tag_value(tag::RUN),
        tag_value(tag::EMAIL).and_then(|i| i.parse().ok()),
    ) {
        (Some(state_machine), Some(run), Some(index)) => Some(EmailOrigin {
            state_machine,
            run,
            index,
        }),
        _ => None,
    };
    Ok(EmailEvent {
        event_type: detail.event_type,
        bounce_type,
        severity,
        recipients,
        message_id: mail.message_id.clone(),
        kind: tag_value(tag::KIND).and_then(|k| EmailKind::parse(&k)),
        origin,
    })
}

fn addresses(recipients: &[Recipient]) -> Vec<String> {
    let mut out: Vec<String> = recipients
        .iter()
        .map(|r| crate::text::strip_unsafe(&r.email_address, 254))
        .filter(|a| !a.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The validation input that checks `holders` again, named after the message so a redelivered
/// event starts nothing: `{"mode": "users", "usernames": [...], "changes": {...}}`.
pub fn validation_input(holders: &[String], event: &EmailEvent) -> Value {
    serde_json::json!({
        "mode": "users",
        "usernames": holders,
        "changes": {"events": 1, "batch": format!("ses-{}", event.event_type.to_ascii_lowercase())},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = format!(
            "{}/../../test-events/ses/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap()
    }

    #[test]
    fn a_permanent_bounce_suppresses_and_leads_back_to_the_stored_email() {
        let event = parse(&sample("bounce-permanent")).unwrap();
        assert_eq!(event.severity, Severity::Suppressing);
        assert_eq!(event.recipients, ["gone@partner.example"]);
        assert_eq!(event.bounce_type.as_deref(), Some("Permanent/General"));
        assert_eq!(event.kind, Some(EmailKind::KeyExpiry));
        assert_eq!(
            event.origin,
            Some(EmailOrigin {
                state_machine: "secret-validation".into(),
                run: "weekly-2026-11-30".into(),
                index: 7,
            })
        );
    }

    #[test]
    fn a_complaint_suppresses() {
        let event = parse(&sample("complaint")).unwrap();
        assert_eq!(event.severity, Severity::Suppressing);
        assert_eq!(event.recipients, ["angry@partner.example"]);
    }

    #[test]
    fn a_soft_bounce_and_a_delay_are_transient_and_a_reject_is_about_the_message() {
        assert_eq!(
            parse(&sample("bounce-transient")).unwrap().severity,
            Severity::Transient
        );
        let delay = parse(&sample("delivery-delay")).unwrap();
        assert_eq!(delay.severity, Severity::Transient);
        assert_eq!(delay.recipients, ["slow@partner.example"]);
        assert_eq!(
            parse(&sample("reject")).unwrap().severity,
            Severity::MessageProblem
        );
    }

    #[test]
    fn an_event_without_tags_has_no_origin_and_junk_is_an_error() {
        let mut event = sample("complaint");
        event["detail"]["mail"]["tags"] = serde_json::json!({});
        assert_eq!(parse(&event).unwrap().origin, None);
        assert!(parse(&serde_json::json!({"detail": {"nothing": 1}})).is_err());
        assert!(parse(&serde_json::json!("text")).is_err());
    }
}
