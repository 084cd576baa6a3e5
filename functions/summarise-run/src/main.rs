//! Summarise the run: the execution output an operator reads — users checked, findings per
//! rule, emails sent, and every problem. Pure: no AWS call.

use lambda_runtime::{LambdaEvent, run, service_fn, tracing};
use std::convert::Infallible;
use warden_core::secret_validation::{self, Summary, SummaryInput};

fn summarise(input: &SummaryInput) -> Summary {
    let summary = secret_validation::summarise(input);
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
    warden_lambda::init_logging();
    // Summarising cannot fail; a malformed input is rejected by the runtime's deserialiser.
    run(service_fn(|event: LambdaEvent<SummaryInput>| {
        let summary = summarise(&event.payload);
        async move { Ok::<_, Infallible>(summary) }
    }))
    .await
}
