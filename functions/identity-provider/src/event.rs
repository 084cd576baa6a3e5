//! The two ways Transfer asks (DESIGN.md section 6) and the two ways it wants the answer.
//!
//! * Direct (`IdentityProviderType: AWS_LAMBDA`): `{"username", "password"?, "protocol",
//!   "serverId", "sourceIp"}`; the answer is the response object itself.
//! * API Gateway REST proxy: `GET /servers/{serverId}/users/{username}/config` with the
//!   `Password` header and `protocol` / `sourceIp` query parameters; the answer is
//!   `{"statusCode": 200, "body": "<response JSON>"}`, 200 even for a denial.
//!
//! Fields are read one by one from the JSON value rather than through serde's derive, so no
//! error text can ever echo a value (a password in the wrong field, say).

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};
use warden_core::login::{IdpResponse, LoginRequest, Password};

/// Which form the event came in, and so which form the answer takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Direct,
    ApiGateway,
}

impl Shape {
    /// The answer in the form Transfer expects for this shape.
    pub fn respond(self, response: &IdpResponse) -> Value {
        // A response of strings cannot fail to serialise; were it to, `{}` denies.
        let body = serde_json::to_value(response).unwrap_or_else(|_| json!({}));
        match self {
            Shape::Direct => body,
            Shape::ApiGateway => json!({
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "body": body.to_string(),
                "isBase64Encoded": false,
            }),
        }
    }
}

/// Reads a login request from either shape. The error says what is missing or wrong, never
/// what a field holds.
pub fn parse(event: &Value) -> (Shape, Result<LoginRequest, &'static str>) {
    let Some(fields) = event.as_object() else {
        return (Shape::Direct, Err("the event is not a JSON object"));
    };
    let is_api_gateway = ["httpMethod", "pathParameters", "requestContext"]
        .iter()
        .any(|k| fields.contains_key(*k));
    if is_api_gateway {
        (Shape::ApiGateway, api_gateway(fields))
    } else {
        (Shape::Direct, direct(fields))
    }
}

fn direct(fields: &Map<String, Value>) -> Result<LoginRequest, &'static str> {
    Ok(LoginRequest {
        username: required(fields, "username", "username is missing or not a string")?,
        password: optional(fields, "password", "password is not a string")?.map(Password::new),
        protocol: required(fields, "protocol", "protocol is missing or not a string")?,
        server_id: required(fields, "serverId", "serverId is missing or not a string")?,
        source_ip: optional(fields, "sourceIp", "sourceIp is not a string")?,
    })
}

fn api_gateway(fields: &Map<String, Value>) -> Result<LoginRequest, &'static str> {
    match fields.get("httpMethod") {
        None | Some(Value::Null) => {}
        Some(method) if method == "GET" => {}
        Some(_) => return Err("only GET asks for a user's configuration"),
    }
    let path = object(fields, "pathParameters").ok_or("pathParameters are missing")?;
    let raw_username = required(path, "username", "the username path parameter is missing")?;
    // API Gateway hands the path segment over still URL-encoded (`%40` for `@`). Decoded once
    // only: a `%` left over makes the username invalid.
    let username = percent_decode_str(&raw_username)
        .decode_utf8()
        .map_err(|_| "the username is not URL-encoded UTF-8")?
        .into_owned();
    let query = object(fields, "queryStringParameters");
    let password = object(fields, "headers")
        .and_then(|headers| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("Password"))
        })
        .map(|(_, value)| value.as_str().ok_or("the Password header is not a string"))
        .transpose()?
        .map(Password::new);
    Ok(LoginRequest {
        username,
        password,
        protocol: query
            .and_then(|q| q.get("protocol"))
            .and_then(Value::as_str)
            .ok_or("the protocol query parameter is missing")?
            .to_owned(),
        server_id: required(path, "serverId", "the serverId path parameter is missing")?,
        source_ip: query
            .and_then(|q| q.get("sourceIp"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn object<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    fields.get(key).and_then(Value::as_object)
}

fn required(
    fields: &Map<String, Value>,
    key: &str,
    problem: &'static str,
) -> Result<String, &'static str> {
    fields
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(problem)
}

fn optional(
    fields: &Map<String, Value>,
    key: &str,
    problem: &'static str,
) -> Result<Option<String>, &'static str> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(problem),
    }
}
