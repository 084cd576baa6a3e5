//! Write the emails: one findings digest per recipient set (DESIGN.md section 4) and, on the
//! weekly run, the source-system SSH key expiry notices. Pure: no AWS call.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use warden_core::notify::EmailKind;
use warden_core::workflow::{self, DigestInput, Digests};

/// Writing emails cannot fail; a malformed input is rejected by the runtime's deserialiser.
#[derive(Debug, thiserror::Error)]
enum BuildDigestsError {}

impl From<BuildDigestsError> for Diagnostic {
    fn from(err: BuildDigestsError) -> Self {
        match err {}
    }
}

fn build(input: &DigestInput, excluded: &[String]) -> Digests {
    let digests = workflow::emails_for(input, excluded);
    let notices = digests
        .emails
        .iter()
        .filter(|e| e.kind == EmailKind::KeyExpiry)
        .count();
    tracing::info!(
        digests = digests.emails.len() - notices,
        key_expiry_notices = notices,
        unrouted = digests.unrouted.len(),
        "Step 2.12-2.14 : Emails written"
    );
    digests
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
