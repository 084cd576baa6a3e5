"""The thin proxy of the local stack (DESIGN.md section 7).

moto's state-machine engine sends every AWS call of a Task to http://localhost:$MOTO_PORT, and
MOTO_PORT points here. Lambda invokes go to `cargo lambda watch` (our real binaries), everything
else goes back to moto. Three translations make cargo-lambda look like the Lambda service:

* the function ARN in the path becomes the bare binary name;
* cargo-lambda's HTTP 500 + {"errorType", ...} becomes HTTP 200 + X-Amz-Function-Error: Unhandled,
  which is how Lambda reports a function error (Step Functions' Retry/Catch match on errorType);
* every answer carries an x-amzn-RequestId header.

It also stands in for the API Gateway (REST) in front of the identity provider: a
`GET /servers/{serverId}/users/{username}/config` becomes an API Gateway proxy event for the
`identity-provider` function, and the function's statusCode/headers/body become the HTTP answer.

It also holds SES's account suppression list, which moto does not model: Put, Get, Delete and
List of `/v2/email/suppression/addresses` are answered here, in memory, as SES v2 answers them
(the functions' SES client points here through `AWS_ENDPOINT_URL_SESV2`). Every `SendEmail`
passes on to moto; what moto accepted is kept whole (text and HTML parts, configuration set,
tags) and served at `GET /_local/sent-emails`, with any recipient that was on the suppression
list at that moment (moto keeps only one part of a message, and no set or tags).

Faults moto cannot produce are injected here for the tests: `POST /_local/faults
{"unreadableSecrets": ["SFTP/PaymentsAdmin"]}` makes `BatchGetSecretValue` answer those secrets
with a `DecryptionFailure` error entry, as Secrets Manager does when the caller may not use the
secret's KMS key (the functions' Secrets Manager client points here through
`AWS_ENDPOINT_URL_SECRETS_MANAGER` when a test asks for it).

Standard library only; bound to loopback.
"""

import argparse
import http.client
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

INVOKE = re.compile(r"^/2015-03-31/functions/(?P<fn>[^/]+)/invocations(?:\?.*)?$")
ARN = re.compile(r"^arn:aws[\w-]*:lambda:[^:]*:\d*:function:(?P<name>[^:]+)(?::[^:]+)?$")
# Transfer Family's custom identity provider route, and the function behind it.
IDP_CONFIG = re.compile(r"^/servers/(?P<server>[^/?]+)/users/(?P<user>[^/?]+)/config(?:\?(?P<query>.*))?$")
IDP_RESOURCE = "/servers/{serverId}/users/{username}/config"
IDP_FUNCTION = "identity-provider"
SUPPRESSION = re.compile(r"^/v2/email/suppression/addresses(?:/(?P<address>[^/?]+))?/?(?:\?(?P<query>.*))?$")
SEND_EMAIL = re.compile(r"^/v2/email/outbound-emails/?(?:\?.*)?$")
SENT_EMAILS = "/_local/sent-emails"
FAULTS = "/_local/faults"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}


def function_name(raw: str) -> str:
    name = unquote(raw)
    match = ARN.match(name)
    return match.group("name") if match else name


class Suppressions:
    """SES's account suppression list, in memory: address (lower case) -> entry."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = {}
        self.sent = []

    def put(self, address: str, reason: str):
        with self.lock:
            self.entries[address.lower()] = {
                "EmailAddress": address,
                "Reason": reason,
                "LastUpdateTime": int(time.time()),
            }

    def get(self, address: str):
        with self.lock:
            return self.entries.get(address.lower())

    def delete(self, address: str) -> bool:
        with self.lock:
            return self.entries.pop(address.lower(), None) is not None

    def page(self, start: int, size: int):
        with self.lock:
            entries = sorted(self.entries.values(), key=lambda e: e["EmailAddress"].lower())
        return entries[start:start + size], (start + size < len(entries))

    def record_send(self, request: dict, message_id: str):
        destination = request.get("Destination") or {}
        recipients = [a for key in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destination.get(key) or []]
        simple = (request.get("Content") or {}).get("Simple") or {}
        body = simple.get("Body") or {}
        with self.lock:
            self.sent.append({
                "messageId": message_id,
                "source": request.get("FromEmailAddress"),
                "to": destination.get("ToAddresses") or [],
                "cc": destination.get("CcAddresses") or [],
                "subject": (simple.get("Subject") or {}).get("Data"),
                "text": (body.get("Text") or {}).get("Data"),
                "html": (body.get("Html") or {}).get("Data"),
                "configurationSetName": request.get("ConfigurationSetName"),
                "emailTags": {t.get("Name"): t.get("Value") for t in request.get("EmailTags") or []},
                "suppressedRecipients": [a for a in recipients if a.lower() in self.entries],
            })


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    moto = ("127.0.0.1", 5000)
    functions = ("127.0.0.1", 9000)
    suppressions = Suppressions()
    unreadable = set()

    def log_message(self, fmt, *args):  # one line per request, on stderr
        sys.stderr.write("proxy: " + (fmt % args) + "\n")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, target, path: str, body: bytes, method=None):
        conn = http.client.HTTPConnection(*target, timeout=900)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = f"{target[0]}:{target[1]}"
        if method:  # a request of our own (the API Gateway stand-in), not the client's
            headers = {"Host": headers["Host"], "Content-Type": "application/json"}
        conn.request(method or self.command, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, response.getheaders(), data

    def _reply(self, status: int, headers, data: bytes):
        self.send_response(status)
        seen = set()
        for key, value in headers:
            if key.lower() in HOP_BY_HOP or key.lower() == "content-length":
                continue
            seen.add(key.lower())
            self.send_header(key, value)
        if "x-amzn-requestid" not in seen:
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _api_gateway_event(self, match) -> dict:
        """The REST API proxy event API Gateway would send: path parameters as they came in
        the URL (still URL-encoded), query parameters decoded, headers as sent."""
        query = parse_qs(match.group("query") or "", keep_blank_values=True)
        headers = {k: v for k, v in self.headers.items()}
        return {
            "resource": IDP_RESOURCE,
            "path": self.path.split("?", 1)[0],
            "httpMethod": self.command,
            "headers": headers,
            "multiValueHeaders": {k: self.headers.get_all(k) for k in headers},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": {"serverId": match.group("server"), "username": match.group("user")},
            "stageVariables": None,
            "requestContext": {
                "resourcePath": IDP_RESOURCE,
                "httpMethod": self.command,
                "path": self.path.split("?", 1)[0],
                "stage": "local",
                "requestId": str(uuid.uuid4()),
                "identity": {"sourceIp": self.client_address[0]},
            },
            "body": None,
            "isBase64Encoded": False,
        }

    def _identity_provider(self, match):
        """Invokes the identity provider and answers as API Gateway would: the function's
        statusCode, headers and body, or 502 when the function fails."""
        event = json.dumps(self._api_gateway_event(match)).encode()
        status, _, data = self._forward(
            self.functions, f"/2015-03-31/functions/{IDP_FUNCTION}/invocations", event, method="POST"
        )
        try:
            answer = json.loads(data) if status == 200 else None
            code = int(answer["statusCode"])
            headers = list((answer.get("headers") or {}).items())
            body = (answer.get("body") or "").encode()
        except (ValueError, KeyError, TypeError):
            code, headers, body = 502, [("Content-Type", "application/json")], b'{"message": "Internal server error"}'
        self._reply(code, headers, body)

    def _json(self, status: int, document, error_type=None):
        headers = [("Content-Type", "application/json")]
        if error_type:
            headers.append(("x-amzn-ErrorType", error_type))
        self._reply(status, headers, json.dumps(document).encode())

    def _suppression(self, match, body: bytes):
        """SES v2's suppression-list operations, as the REST JSON protocol answers them."""
        address = unquote(match.group("address") or "")
        query = {k: v[-1] for k, v in parse_qs(match.group("query") or "").items()}
        if self.command == "PUT" and not address:
            request = json.loads(body or b"{}")
            if request.get("Reason") not in ("BOUNCE", "COMPLAINT") or not request.get("EmailAddress"):
                return self._json(400, {"message": "EmailAddress and Reason (BOUNCE or COMPLAINT) are required"}, "BadRequestException")
            self.suppressions.put(request["EmailAddress"], request["Reason"])
            return self._json(200, {})
        if self.command == "GET" and address:
            entry = self.suppressions.get(address)
            if entry is None:
                return self._json(404, {"message": f"Email address {address} does not exist on your suppression list."}, "NotFoundException")
            return self._json(200, {"SuppressedDestination": dict(entry, Attributes={})})
        if self.command == "DELETE" and address:
            if not self.suppressions.delete(address):
                return self._json(404, {"message": f"Email address {address} does not exist on your suppression list."}, "NotFoundException")
            return self._json(200, {})
        if self.command == "GET":
            start = int(query.get("NextToken") or 0)
            size = min(int(query.get("PageSize") or 1000), 1000)
            entries, more = self.suppressions.page(start, size)
            document = {"SuppressedDestinationSummaries": entries}
            if more:
                document["NextToken"] = str(start + size)
            return self._json(200, document)
        return self._json(400, {"message": f"{self.command} is not supported here"}, "BadRequestException")

    def _send_email(self, body: bytes):
        """Passes SendEmail on to moto and keeps what was sent when moto accepted it."""
        try:
            status, headers, data = self._forward(self.moto, self.path, body)
        except OSError as err:
            return self._reply(502, [("Content-Type", "text/plain")], f"proxy: {err}".encode())
        if status == 200:
            try:
                self.suppressions.record_send(json.loads(body), json.loads(data).get("MessageId"))
            except ValueError:
                pass
        self._reply(status, headers, data)

    def _batch_get_secret_value(self, body: bytes):
        """Passes BatchGetSecretValue on to moto, then turns the faulted secrets into errors."""
        status, headers, data = self._forward(self.moto, self.path, body)
        if status == 200 and self.unreadable:
            answer = json.loads(data)
            kept, errors = [], answer.get("Errors") or []
            for entry in answer.get("SecretValues") or []:
                if entry.get("Name") in self.unreadable:
                    errors.append({
                        "SecretId": entry.get("Name"),
                        "ErrorCode": "DecryptionFailure",
                        "Message": "Access to KMS is not allowed (injected by the local stack)",
                    })
                else:
                    kept.append(entry)
            answer["SecretValues"], answer["Errors"] = kept, errors
            data = json.dumps(answer).encode()
        self._reply(status, headers, data)

    def _handle(self):
        body = self._body()
        if self.command == "POST" and self.path == FAULTS:
            Proxy.unreadable = set(json.loads(body or b"{}").get("unreadableSecrets") or [])
            return self._json(200, {"unreadableSecrets": sorted(Proxy.unreadable)})
        if self.headers.get("X-Amz-Target") == "secretsmanager.BatchGetSecretValue":
            return self._batch_get_secret_value(body)
        suppression = SUPPRESSION.match(self.path)
        if suppression:
            return self._suppression(suppression, body)
        if self.command == "GET" and self.path == SENT_EMAILS:
            with self.suppressions.lock:
                return self._json(200, list(self.suppressions.sent))
        if self.command == "POST" and SEND_EMAIL.match(self.path):
            return self._send_email(body)
        invoke = INVOKE.match(self.path) if self.command == "POST" else None
        idp = IDP_CONFIG.match(self.path) if self.command == "GET" else None
        try:
            if idp:
                self._identity_provider(idp)
            elif invoke:
                name = function_name(invoke.group("fn"))
                status, headers, data = self._forward(
                    self.functions, f"/2015-03-31/functions/{name}/invocations", body
                )
                if status >= 400 and b"errorType" in data:
                    headers = [("Content-Type", "application/json"), ("X-Amz-Function-Error", "Unhandled")]
                    status = 200
                elif status == 200:
                    headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
                self._reply(status, headers, data)
            else:
                self._reply(*self._forward(self.moto, self.path, body))
        except OSError as err:  # a backend is down: answer like a failing service, do not hang
            self._reply(502, [("Content-Type", "text/plain")], f"proxy: {err}".encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="port to listen on (loopback)")
    parser.add_argument("--moto-port", type=int, required=True)
    parser.add_argument("--lambda-port", type=int, required=True, help="cargo lambda watch's invoke port")
    args = parser.parse_args()
    Proxy.moto = ("127.0.0.1", args.moto_port)
    Proxy.functions = ("127.0.0.1", args.lambda_port)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Proxy)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
