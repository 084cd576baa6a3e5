//! The SMTP login that proves pending credentials work: `EHLO`, `STARTTLS`, `AUTH`, `NOOP`,
//! `QUIT` against SES's SMTP endpoint (port 587), with lettre on rustls.

use std::time::Duration;

use lettre::Tokio1Executor;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use warden_core::smtp::{RotationSettings, SmtpPassword};

/// Why a login did not succeed. Never holds the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginFailure {
    /// The server answered and refused the credentials (SES: 535, until a new key has
    /// propagated).
    Refused(String),
    /// No answer, or TLS failed.
    Unreachable(String),
}

/// One SMTP login with a username and password.
pub trait SmtpLogin: Send + Sync {
    fn login(
        &self,
        username: &str,
        password: &SmtpPassword,
    ) -> impl Future<Output = Result<(), LoginFailure>> + Send;
}

/// A login against the configured endpoint.
pub struct LettreLogin {
    host: String,
    port: u16,
    tls: TlsParameters,
}

/// How long one login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum LoginSetupError {
    #[error("SMTP_EXTRA_ROOT_CERT {path}: {message}")]
    RootCertificate { path: String, message: String },
    #[error("TLS for {host}: {message}")]
    Tls { host: String, message: String },
}

impl LettreLogin {
    pub fn new(settings: &RotationSettings) -> Result<Self, LoginSetupError> {
        let mut tls = TlsParameters::builder(settings.smtp_host.clone());
        if let Some(path) = &settings.extra_root_cert {
            let pem = std::fs::read(path).map_err(|e| LoginSetupError::RootCertificate {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let certificate =
                Certificate::from_pem(&pem).map_err(|e| LoginSetupError::RootCertificate {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            tls = tls.add_root_certificate(certificate);
        }
        let tls = tls.build_rustls().map_err(|e| LoginSetupError::Tls {
            host: settings.smtp_host.clone(),
            message: e.to_string(),
        })?;
        Ok(Self {
            host: settings.smtp_host.clone(),
            port: settings.smtp_port,
            tls,
        })
    }
}

impl SmtpLogin for LettreLogin {
    async fn login(&self, username: &str, password: &SmtpPassword) -> Result<(), LoginFailure> {
        let transport: AsyncSmtpTransport<Tokio1Executor> =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
                .port(self.port)
                .tls(Tls::Required(self.tls.clone()))
                .credentials(Credentials::new(
                    username.to_owned(),
                    password.expose().to_owned(),
                ))
                .timeout(Some(LOGIN_TIMEOUT))
                .build();
        match transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(LoginFailure::Unreachable(
                "the server did not answer NOOP after the login".into(),
            )),
            // An answer with a code is the server's verdict (535: not accepted); anything else
            // is the way there. lettre's messages quote the server, never the credentials.
            Err(e) => match e.status() {
                Some(code) => Err(LoginFailure::Refused(format!("{code}: {e}"))),
                None => Err(LoginFailure::Unreachable(e.to_string())),
            },
        }
    }
}
