//! Summarise the run: the execution output an operator reads — users checked, findings per
//! rule, emails sent, and every problem. Pure: no AWS call.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use warden_core::workflow::{self, Summary, SummaryInput};

/// Summarising cannot fail; a malformed input is rejected by the runtime's deserialiser.
#[derive(Debug, thiserror::Error)]
enum SummariseError {}

impl From<SummariseError> for Diagnostic {
    fn from(err: SummariseError) -> Self {
        match err {}
    }
}

fn summarise(input: &SummaryInput) -> Summary {
    let summary = workflow::summarise(input);
    tracing::info!(
        users_checked = summary.users_checked,
        users_with_findings = summary.users_with_findings.len(),
        emails_sent = summary.emails_sent.len(),
        problems = summary.problems.len(),
        complete = summary.complete,
        "Run summarised"
    );
    summary
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    run(service_fn(|event: LambdaEvent<SummaryInput>| {
        let summary = summarise(&event.payload);
        async move { Ok::<_, SummariseError>(summary) }
    }))
    .await
}
