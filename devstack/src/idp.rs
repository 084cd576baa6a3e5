//! Logging in through the local stack's identity provider the two ways AWS Transfer Family
//! does: the API Gateway REST request (served by the proxy) and the direct Lambda event.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::stack::LocalStack;

/// The function's name on the local stack.
pub const FUNCTION: &str = "identity-provider";

/// One login attempt, as Transfer describes it.
#[derive(Debug, Clone)]
pub struct Login<'a> {
    pub server_id: &'a str,
    pub username: &'a str,
    /// `None` for a key login.
    pub password: Option<&'a str>,
    pub protocol: &'a str,
    pub source_ip: &'a str,
}

impl<'a> Login<'a> {
    /// An SFTP key login from `source_ip`.
    pub fn key(username: &'a str, source_ip: &'a str) -> Self {
        Self {
            server_id: "s-0123456789abcdef0",
            username,
            password: None,
            protocol: "SFTP",
            source_ip,
        }
    }

    /// An SFTP password login from `source_ip`.
    pub fn password(username: &'a str, password: &'a str, source_ip: &'a str) -> Self {
        Self {
            password: Some(password),
            ..Self::key(username, source_ip)
        }
    }

    /// The direct `AWS_LAMBDA` event.
    pub fn event(&self) -> Value {
        let mut event = json!({
            "username": self.username,
            "protocol": self.protocol,
            "serverId": self.server_id,
            "sourceIp": self.source_ip,
        });
        if let Some(password) = self.password {
            event["password"] = json!(password);
        }
        event
    }

    /// The path and query API Gateway is called with (username URL-encoded, as Transfer does).
    pub fn path(&self) -> String {
        format!(
            "/servers/{}/users/{}/config?protocol={}&sourceIp={}",
            encode(self.server_id),
            encode(self.username),
            encode(self.protocol),
            encode(self.source_ip)
        )
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Asks through the API Gateway stand-in; returns the HTTP status and the JSON body.
pub fn via_api_gateway(stack: &LocalStack, login: &Login) -> Result<(u16, Value)> {
    let url = format!("{}{}", stack.proxy_url(), login.path());
    let mut request = ureq::get(&url);
    if let Some(password) = login.password {
        request = request.header("Password", password);
    }
    let mut response = request
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .with_context(|| format!("GET {}", login.path()))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_json()?;
    Ok((status, body))
}

/// Invokes the function with the direct event, as Transfer's `AWS_LAMBDA` provider does.
pub fn via_lambda(stack: &LocalStack, login: &Login) -> Result<Value> {
    stack.invoke(FUNCTION, &login.event())
}

/// The identity provider's decision log lines (JSON, one per login) so far.
pub fn decisions(stack: &LocalStack) -> Result<Vec<Value>> {
    let log = std::fs::read_to_string(stack.log_dir.join(format!("{FUNCTION}.log")))?;
    Ok(log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["outcome"].is_string() || line["outcome"].is_string())
        .collect())
}

/// A field of a decision log line, wherever the JSON formatter put it.
pub fn field<'a>(line: &'a Value, name: &str) -> &'a Value {
    match &line["fields"][name] {
        Value::Null => &line[name],
        found => found,
    }
}
