//! Write the emails: one findings digest per recipient set (DESIGN.md section 4) and, on the
//! weekly run, the source-system SSH key expiry notices. Pure: no AWS call.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Serialize;
use warden_core::notify::{Email, EmailKind};
use warden_core::workflow::{self, DigestInput};

#[derive(Debug, Serialize)]
struct Digests {
    emails: Vec<Email>,
}

/// Writing emails cannot fail; a malformed input is rejected by the runtime's deserialiser.
#[derive(Debug, thiserror::Error)]
enum BuildDigestsError {}

impl From<BuildDigestsError> for Diagnostic {
    fn from(err: BuildDigestsError) -> Self {
        match err {}
    }
}

fn build(input: &DigestInput, excluded: &[String]) -> Digests {
    let emails = workflow::emails_for(input, excluded);
    let notices = emails
        .iter()
        .filter(|e| e.kind == EmailKind::KeyExpiry)
        .count();
    tracing::info!(
        digests = emails.len() - notices,
        key_expiry_notices = notices,
        "Step 2.12-2.14 : Emails written"
    );
    Digests { emails }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let excluded = warden_core::env::list("EXCLUDED_USERS");
    run(service_fn(|event: LambdaEvent<DigestInput>| {
        let digests = build(&event.payload, &excluded);
        async move { Ok::<_, BuildDigestsError>(digests) }
    }))
    .await
}
