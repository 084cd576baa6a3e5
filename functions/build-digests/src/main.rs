//! Write the emails: one findings digest per recipient set (DESIGN.md section 4) and, on the
//! weekly run, the source-system SSH key expiry notices. Pure: no AWS call.

use lambda_runtime::{LambdaEvent, run, service_fn, tracing};
use std::convert::Infallible;
use warden_core::notify::EmailKind;
use warden_core::secret_validation::{self, DigestInput, Digests};

fn build(input: &DigestInput, excluded: &[String]) -> Digests {
    let digests = secret_validation::emails_for(input, excluded);
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
    warden_lambda::init_logging();
    // Writing emails cannot fail; a malformed input is rejected by the runtime's deserialiser.
    let excluded = warden_lambda::env().excluded_users();
    run(service_fn(|event: LambdaEvent<DigestInput>| {
        let digests = build(&event.payload, &excluded);
        async move { Ok::<_, Infallible>(digests) }
    }))
    .await
}
