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
`AWS_ENDPOINT_URL_SECRETS_MANAGER` when a test asks for it). The same POST body may also hold
`"failedServers": ["i-…"]` (those instances' command invocations answer Status and StatusDetails
`Failed`, ResponseCode 1) and `"serversInProgressPolls": N` (the first N ListCommandInvocations
calls of each command answer every invocation `InProgress`). Each key is optional; every POST
replaces the whole fault set (an absent key clears its fault, and the poll counts start again)
and the answer echoes the set now in force.

It plays Secrets Manager's rotation service, which moto runs only in Docker: `RotateSecret`
(X-Amz-Target `secretsmanager.RotateSecret`) is answered here. The secret is looked up with
moto's DescribeSecret (an unknown secret gets moto's error); the rotation configuration
(RotationLambdaARN, RotationRules, RotationEnabled, LastRotatedDate, NextRotationDate) is kept
in memory per secret ARN and merged into moto's DescribeSecret answers. A secret that never had
a rotation function gets 400 InvalidRequestException, as from Secrets Manager. The answer
(ARN, Name, VersionId = the token) comes at once; then a background thread invokes the rotation
function behind `cargo lambda watch` with `{"Step", "SecretId": <ARN>, "ClientRequestToken"}` for
createSecret, setSecret, testSecret and finishSecret in order, as Secrets Manager does; a step
that fails (HTTP >= 400 or an `errorType`) ends the attempt. The token is the request's
ClientRequestToken (or a new UUID), except when a version of the secret holds AWSPENDING
without AWSCURRENT: a rotation that did not finish. Its version id is the token again, which is
how Secrets Manager itself retries an unfinished rotation (the rotation function's steps are
written to be run again with the same token). RotateImmediately false only records the
configuration. While an attempt runs, another RotateSecret of the same secret gets 400 (as
Secrets Manager answers "A previous rotation isn't complete"). `CancelRotateSecret` turns
rotation off in the same memory. Every attempt is served at `GET /_local/rotations`:
`[{"secretArn", "token", "started", "finished" (epoch seconds, null while running), "steps":
[{"step", "ok", "errorType"}], "succeeded" (null while running)}]`; never an error message
and never a secret value.

It answers SSM's `ListCommandInvocations` (X-Amz-Target `AmazonSSM.ListCommandInvocations`),
which moto lacks and moto's state-machine engine calls for `aws-sdk:ssm:listCommandInvocations`:
from moto's ListCommands (the command's InstanceIds) and GetCommandInvocation (each instance's
Status), sorted by InstanceId, with the faults above applied (Details and paging are ignored).

It plays Step Functions' history retention and CloudWatch logging, which moto does not model
(its engine writes no logs): `POST /_local/expire-history {"executionArn": …}` writes the
execution's history to the log group of its state machine's logging configuration (created if
absent), one message per event as Step Functions logs it at level ALL with execution data
(`{"id", "type", "details", "previous_event_id", "event_timestamp", "execution_arn",
"redrive_count"}`, ids and epoch milliseconds as strings, `details` the body of the event's
`…EventDetails`), in a stream `states/<machine>/<minute>/<id>`; then the execution is gone from
Step Functions, as after its 90 days: `DescribeExecution`, `GetExecutionHistory` and
`ListMapRuns` of it answer `ExecutionDoesNotExist`, `DescribeMapRun` of its map runs
`ResourceNotFound`, and `ListExecutions` leaves it out (the operator CLI's Step Functions client
points here through `AWS_ENDPOINT_URL_SFN`). moto runs a Distributed Map's iterations inside the
parent execution, so there are no child executions to log: their states are in the parent's.
The answer is `{"executionArn", "logGroup", "logStream", "events"}`.

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
from datetime import datetime, timezone
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
ROTATIONS = "/_local/rotations"
EXPIRE_HISTORY = "/_local/expire-history"
# The Step Functions operations that answer differently once an execution's history has expired.
STEP_FUNCTIONS_EXPIRY = {"DescribeExecution", "GetExecutionHistory", "ListMapRuns", "DescribeMapRun", "ListExecutions"}
JSON_10 = "application/x-amz-json-1.0"
ROTATION_STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
RATE = re.compile(r"^rate\(\s*(?P<n>\d+)\s+(?P<unit>hours?|days?)\s*\)$")
JSON_11 = "application/x-amz-json-1.1"
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


def rotation_days(rules) -> float | None:
    """The rotation interval in days of RotationRules, or None (a cron schedule, or no rules)."""
    if not rules:
        return None
    if rules.get("AutomaticallyAfterDays"):
        return float(rules["AutomaticallyAfterDays"])
    match = RATE.match((rules.get("ScheduleExpression") or "").strip())
    if match:
        n = int(match.group("n"))
        return n / 24 if match.group("unit").startswith("hour") else float(n)
    return None


class SecretRotations:
    """Secrets Manager's rotation configuration (per secret ARN) and every rotation attempt."""

    def __init__(self):
        self.lock = threading.Lock()
        self.config = {}  # secret ARN -> {"lambdaArn", "rules", "enabled", "last", "next"}
        self.attempts = []

    def _running(self, arn: str) -> bool:
        return any(a["secretArn"] == arn and a["finished"] is None for a in self.attempts)

    def running(self, arn: str) -> bool:
        with self.lock:
            return self._running(arn)

    def configure(self, arn: str, lambda_arn: str, rules, enabled=True):
        with self.lock:
            entry = self.config.setdefault(arn, {"last": None, "next": None})
            entry.update(lambdaArn=lambda_arn, rules=rules, enabled=enabled)
            days = rotation_days(rules)
            if not enabled or days is None:
                entry["next"] = None
            else:
                entry["next"] = (entry["last"] or time.time()) + days * 86400

    def disable(self, arn: str):
        with self.lock:
            self.config[arn].update(enabled=False, next=None)

    def lookup(self, arn: str):
        with self.lock:
            entry = self.config.get(arn)
            return dict(entry) if entry else None

    def start(self, arn: str, token: str):
        """A new attempt, or None while another attempt of the secret runs."""
        attempt = {"secretArn": arn, "token": token, "started": time.time(), "finished": None,
                   "steps": [], "succeeded": None}
        with self.lock:
            if self._running(arn):
                return None
            self.attempts.append(attempt)
        return attempt

    def step(self, attempt: dict, step: str, error_type):
        with self.lock:
            attempt["steps"].append({"step": step, "ok": error_type is None, "errorType": error_type})

    def finish(self, attempt: dict, succeeded: bool):
        with self.lock:
            now = time.time()
            attempt["finished"], attempt["succeeded"] = now, succeeded
            entry = self.config.get(attempt["secretArn"])
            if succeeded and entry is not None:
                entry["last"] = now
                days = rotation_days(entry["rules"])
                entry["next"] = now + days * 86400 if entry["enabled"] and days is not None else None

    def listing(self):
        with self.lock:
            return [dict(a, steps=[dict(s) for s in a["steps"]]) for a in self.attempts]


class Faults:
    """The faults the tests inject (POST /_local/faults) and the poll counts they need."""

    def __init__(self):
        self.lock = threading.Lock()
        self.unreadable = set()
        self.failed_servers = set()
        self.in_progress_polls = 0
        self.polls = {}  # command id -> ListCommandInvocations calls so far

    def replace(self, document: dict) -> dict:
        with self.lock:
            self.unreadable = set(document.get("unreadableSecrets") or [])
            self.failed_servers = set(document.get("failedServers") or [])
            self.in_progress_polls = int(document.get("serversInProgressPolls") or 0)
            self.polls = {}
            return self.describe()

    def describe(self) -> dict:
        return {
            "unreadableSecrets": sorted(self.unreadable),
            "failedServers": sorted(self.failed_servers),
            "serversInProgressPolls": self.in_progress_polls,
        }

    def poll(self, command_id: str) -> bool:
        """Counts one ListCommandInvocations call of the command; True while it is to be InProgress."""
        with self.lock:
            self.polls[command_id] = self.polls.get(command_id, 0) + 1
            return self.polls[command_id] <= self.in_progress_polls


class ExpiredHistories:
    """Executions (and their map runs) whose history Step Functions no longer keeps."""

    def __init__(self):
        self.lock = threading.Lock()
        self.executions = set()
        self.map_runs = set()

    def add(self, execution_arn: str, map_run_arns):
        with self.lock:
            self.executions.add(execution_arn)
            self.map_runs.update(map_run_arns)

    def knows(self, execution_arn=None, map_run_arn=None) -> bool:
        with self.lock:
            return execution_arn in self.executions or map_run_arn in self.map_runs


def moto_json(moto, service: str, region: str, target: str, document: dict, content_type=JSON_11):
    """A JSON-protocol request of the proxy's own to moto, which reads the service and region from
    the Authorization header's scope (it checks no signature). Returns (status, answer)."""
    headers = {
        "Host": f"{moto[0]}:{moto[1]}",
        "Content-Type": content_type,
        "X-Amz-Target": target,
        "Authorization": f"AWS4-HMAC-SHA256 Credential=local/20260101/{region}/{service}/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }
    status, _, data = post_json(moto, headers, document)
    try:
        answer = json.loads(data) if data else {}
    except ValueError:
        answer = {"message": data.decode(errors="replace")}
    return status, answer


def post_json(moto, headers: dict, document: dict):
    """POSTs a JSON-protocol request to moto: (status, headers, body)."""
    conn = http.client.HTTPConnection(*moto, timeout=60)
    try:
        conn.request("POST", "/", body=json.dumps(document).encode(), headers=headers)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def history_log_message(execution_arn: str, event: dict) -> tuple[int, str]:
    """One history event (GetExecutionHistory's JSON) as Step Functions logs it: (millis, message)."""
    seconds = epoch_seconds(event.get("timestamp"))
    millis = int(float(seconds) * 1000) if isinstance(seconds, (int, float)) else int(time.time() * 1000)
    details = next((v for k, v in event.items() if k.endswith("EventDetails")), None)
    message = {
        "id": str(event.get("id")),
        "type": event.get("type"),
        "details": details or {},
        "previous_event_id": str(event.get("previousEventId", 0)),
        "event_timestamp": str(millis),
        "execution_arn": execution_arn,
        "redrive_count": "0",
    }
    return millis, json.dumps(message)


def epoch_seconds(value):
    """A JSON-protocol timestamp: moto may give epoch seconds or an ISO 8601 string."""
    if isinstance(value, (int, float)) or value is None:
        return value
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    moto = ("127.0.0.1", 5000)
    functions = ("127.0.0.1", 9000)
    suppressions = Suppressions()
    faults = Faults()
    rotations = SecretRotations()
    expired = ExpiredHistories()

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
        unreadable = self.faults.unreadable
        if status == 200 and unreadable:
            answer = json.loads(data)
            kept, errors = [], answer.get("Errors") or []
            for entry in answer.get("SecretValues") or []:
                if entry.get("Name") in unreadable:
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

    def _aws_error(self, status: int, error_type: str, message: str):
        """An error as the AWS JSON 1.1 protocol answers it."""
        self._json(status, {"__type": error_type, "message": message}, error_type)

    def _moto_call(self, target: str, document: dict):
        """A JSON 1.1 request of our own to moto, signed as the client's request was (moto reads
        the service and the region from the Authorization header; it checks no signature)."""
        headers = {"Host": f"{self.moto[0]}:{self.moto[1]}", "Content-Type": JSON_11, "X-Amz-Target": target}
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if self.headers.get(name):
                headers[name] = self.headers[name]
        status, response_headers, data = post_json(self.moto, headers, document)
        try:
            answer = json.loads(data) if status == 200 else None
        except ValueError:
            answer = None
        return status, response_headers, data, answer

    # --- Secrets Manager's rotation service ---------------------------------------------------

    def _rotate_secret(self, body: bytes):
        request = json.loads(body or b"{}")
        status, headers, data, secret = self._moto_call(
            "secretsmanager.DescribeSecret", {"SecretId": request.get("SecretId")}
        )
        if secret is None:  # unknown secret (or moto's other errors): moto's answer
            return self._reply(status, headers, data)
        arn, name = secret["ARN"], secret["Name"]
        stored = self.rotations.lookup(arn) or {}
        lambda_arn = request.get("RotationLambdaARN") or stored.get("lambdaArn")
        if not lambda_arn:
            return self._aws_error(400, "InvalidRequestException",
                                   "No Lambda rotation function ARN is associated with this secret.")
        rules = request.get("RotationRules") or stored.get("rules")
        days = (rules or {}).get("AutomaticallyAfterDays")
        if days is not None and not 1 <= int(days) <= 1000:
            return self._aws_error(400, "InvalidParameterException",
                                   "RotationRules.AutomaticallyAfterDays must be within 1-1000.")
        busy = "A previous rotation isn't complete. That rotation will be reattempted."
        if request.get("RotateImmediately") is False:
            if self.rotations.running(arn):
                return self._aws_error(400, "InvalidRequestException", busy)
            self.rotations.configure(arn, lambda_arn, rules)
            return self._json(200, {"ARN": arn, "Name": name})
        stages = secret.get("VersionIdsToStages") or {}
        unfinished = [v for v, s in stages.items() if "AWSPENDING" in s and "AWSCURRENT" not in s]
        # An unfinished rotation is retried with its own token, as Secrets Manager does.
        token = unfinished[0] if unfinished else (request.get("ClientRequestToken") or str(uuid.uuid4()))
        attempt = self.rotations.start(arn, token)
        if attempt is None:
            return self._aws_error(400, "InvalidRequestException", busy)
        self.rotations.configure(arn, lambda_arn, rules)
        sys.stderr.write(f"proxy: rotating {arn} with {function_name(lambda_arn)}, token {token}\n")
        threading.Thread(target=self._run_rotation, args=(attempt, lambda_arn), daemon=True).start()
        self._json(200, {"ARN": arn, "Name": name, "VersionId": token})

    @classmethod
    def _run_rotation(cls, attempt: dict, lambda_arn: str):
        """Invokes the rotation function for each step, as Secrets Manager does; stops at a failure."""
        path = f"/2015-03-31/functions/{function_name(lambda_arn)}/invocations"
        succeeded = True
        for step in ROTATION_STEPS:
            event = {"Step": step, "SecretId": attempt["secretArn"], "ClientRequestToken": attempt["token"]}
            error_type = None
            try:
                conn = http.client.HTTPConnection(*cls.functions, timeout=900)
                conn.request("POST", path, body=json.dumps(event).encode(),
                             headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                conn.close()
                try:
                    answer = json.loads(data) if data else None
                except ValueError:
                    answer = None
                if isinstance(answer, dict) and answer.get("errorType"):
                    error_type = str(answer["errorType"])
                elif response.status >= 400:
                    error_type = f"HTTP{response.status}"
            except Exception as err:  # the function is not reachable: a failed step, never a hung attempt
                error_type = f"Proxy.{type(err).__name__}"
            cls.rotations.step(attempt, step, error_type)
            sys.stderr.write(f"proxy: rotation {attempt['token']} {step}: {error_type or 'ok'}\n")
            if error_type:
                succeeded = False
                break
        cls.rotations.finish(attempt, succeeded)

    def _cancel_rotate_secret(self, body: bytes):
        request = json.loads(body or b"{}")
        status, headers, data, secret = self._moto_call(
            "secretsmanager.DescribeSecret", {"SecretId": request.get("SecretId")}
        )
        if secret is None:
            return self._reply(status, headers, data)
        if not (self.rotations.lookup(secret["ARN"]) or {}).get("lambdaArn"):
            return self._aws_error(400, "InvalidRequestException",
                                   "No Lambda rotation function ARN is associated with this secret.")
        self.rotations.disable(secret["ARN"])
        answer = {"ARN": secret["ARN"], "Name": secret["Name"]}
        pending = [v for v, s in (secret.get("VersionIdsToStages") or {}).items() if "AWSPENDING" in s]
        if pending:
            answer["VersionId"] = pending[0]
        self._json(200, answer)

    def _describe_secret(self, body: bytes):
        """moto's DescribeSecret with the rotation configuration kept here merged in."""
        status, headers, data = self._forward(self.moto, self.path, body)
        if status == 200:
            try:
                answer = json.loads(data)
                entry = self.rotations.lookup(answer["ARN"])
            except (ValueError, KeyError, TypeError):
                entry = None
            if entry:
                answer["RotationEnabled"] = entry["enabled"]
                answer["RotationLambdaARN"] = entry["lambdaArn"]
                if entry["rules"]:
                    answer["RotationRules"] = entry["rules"]
                for key, value in (("LastRotatedDate", entry["last"]), ("NextRotationDate", entry["next"])):
                    if value is None:
                        answer.pop(key, None)
                    else:
                        answer[key] = value
                data = json.dumps(answer).encode()
        self._reply(status, headers, data)

    # --- SSM Run Command ----------------------------------------------------------------------

    def _list_command_invocations(self, body: bytes):
        request = json.loads(body or b"{}")
        wanted_instance = request.get("InstanceId")
        query = {k: request[k] for k in ("CommandId", "InstanceId") if request.get(k)}
        status, headers, data, listing = self._moto_call("AmazonSSM.ListCommands", query)
        if listing is None:  # e.g. 400 InvalidCommandId
            return self._reply(status, headers, data)
        invocations = []
        for command in listing.get("Commands") or []:
            command_id = command["CommandId"]
            in_progress = self.faults.poll(command_id)
            for instance_id in sorted(command.get("InstanceIds") or []):
                if wanted_instance and instance_id != wanted_instance:
                    continue
                status, headers, data, invocation = self._moto_call(
                    "AmazonSSM.GetCommandInvocation", {"CommandId": command_id, "InstanceId": instance_id}
                )
                if invocation is None:
                    return self._reply(status, headers, data)
                state, details = invocation.get("Status"), invocation.get("StatusDetails")
                if in_progress:
                    state = details = "InProgress"
                elif instance_id in self.faults.failed_servers:
                    state = details = "Failed"
                invocations.append({
                    "CommandId": command_id,
                    "InstanceId": instance_id,
                    "InstanceName": "",
                    "Comment": command.get("Comment") or "",
                    "DocumentName": command.get("DocumentName"),
                    "DocumentVersion": "$DEFAULT",
                    "RequestedDateTime": epoch_seconds(command.get("RequestedDateTime")),
                    "Status": state,
                    "StatusDetails": details,
                })
        invocations.sort(key=lambda i: (i["InstanceId"], i["CommandId"]))
        self._json(200, {"CommandInvocations": invocations})

    def _get_command_invocation(self, body: bytes):
        """moto's GetCommandInvocation, with the failed-server fault applied."""
        status, headers, data = self._forward(self.moto, self.path, body)
        if status == 200 and self.faults.failed_servers:
            try:
                answer = json.loads(data)
            except ValueError:
                answer = {}
            if answer.get("InstanceId") in self.faults.failed_servers:
                answer.update(Status="Failed", StatusDetails="Failed", ResponseCode=1)
                data = json.dumps(answer).encode()
        self._reply(status, headers, data)

    # --- Step Functions' history retention and logging -----------------------------------------

    def _expire_history(self, body: bytes):
        arn = json.loads(body or b"{}").get("executionArn") or ""
        parts = arn.split(":")
        if len(parts) != 8 or parts[5] != "execution":
            return self._aws_error(400, "InvalidArn", f"not an execution ARN: {arn!r}")
        region, machine = parts[3], parts[6]
        sfn = lambda target, doc: moto_json(self.moto, "states", region, f"AWSStepFunctions.{target}", doc, JSON_10)  # noqa: E731
        logs = lambda target, doc: moto_json(self.moto, "logs", region, f"Logs_20140328.{target}", doc)  # noqa: E731
        status, execution = sfn("DescribeExecution", {"executionArn": arn})
        if status != 200:
            return self._json(status, execution, execution.get("__type"))
        status, machine_doc = sfn("DescribeStateMachine", {"stateMachineArn": execution["stateMachineArn"]})
        config = machine_doc.get("loggingConfiguration") or {}
        destinations = config.get("destinations") or []
        group_arn = ((destinations[0] if destinations else {}).get("cloudWatchLogsLogGroup") or {}).get("logGroupArn")
        if status != 200 or config.get("level") != "ALL" or not group_arn:
            return self._aws_error(400, "InvalidLoggingConfiguration", f"{machine} does not log at level ALL")
        group = group_arn.split(":log-group:", 1)[1].removesuffix(":*")
        events, token = [], None
        while True:
            request = {"executionArn": arn, "maxResults": 1000, **({"nextToken": token} if token else {})}
            status, page = sfn("GetExecutionHistory", request)
            if status != 200:
                return self._json(status, page, page.get("__type"))
            events.extend(page.get("events") or [])
            token = page.get("nextToken")
            if not token:
                break
        _, runs = sfn("ListMapRuns", {"executionArn": arn})
        map_runs = [r.get("mapRunArn") for r in (runs.get("mapRuns") or []) if r.get("mapRunArn")]
        logs("CreateLogGroup", {"logGroupName": group})  # ResourceAlreadyExists is fine
        stream = f"states/{machine}/{time.strftime('%Y-%m-%d-%H-%M', time.gmtime())}/{uuid.uuid4().hex[:8]}"
        status, answer = logs("CreateLogStream", {"logGroupName": group, "logStreamName": stream})
        if status != 200:
            return self._json(status, answer, answer.get("__type"))
        messages = sorted((history_log_message(arn, e) for e in events), key=lambda m: m[0])
        for start in range(0, len(messages), 1000):
            batch = [{"timestamp": t, "message": m} for t, m in messages[start : start + 1000]]
            status, answer = logs("PutLogEvents", {"logGroupName": group, "logStreamName": stream, "logEvents": batch})
            if status != 200:
                return self._json(status, answer, answer.get("__type"))
        self.expired.add(arn, map_runs)
        return self._json(200, {"executionArn": arn, "logGroup": group, "logStream": stream, "events": len(messages)})

    def _step_functions(self, target: str, body: bytes):
        """Step Functions' answers for an execution whose history has expired."""
        request = json.loads(body or b"{}")
        if target == "ListExecutions":
            status, headers, data = self._forward(self.moto, self.path, body)
            if status == 200:
                answer = json.loads(data)
                answer["executions"] = [
                    e for e in answer.get("executions") or [] if not self.expired.knows(e.get("executionArn"))
                ]
                data = json.dumps(answer).encode()
            return self._reply(status, headers, data)
        if target == "DescribeMapRun" and self.expired.knows(map_run_arn=request.get("mapRunArn")):
            return self._json(400, {"__type": "ResourceNotFound", "message": "Resource not found"}, "ResourceNotFound")
        arn = request.get("executionArn")
        if target != "DescribeMapRun" and self.expired.knows(arn):
            message = f"Execution Does Not Exist: '{arn}'"
            return self._json(400, {"__type": "ExecutionDoesNotExist", "message": message}, "ExecutionDoesNotExist")
        return self._reply(*self._forward(self.moto, self.path, body))

    def _handle(self):
        body = self._body()
        if self.command == "POST" and self.path == FAULTS:
            return self._json(200, self.faults.replace(json.loads(body or b"{}")))
        if self.command == "GET" and self.path == ROTATIONS:
            return self._json(200, self.rotations.listing())
        if self.command == "POST" and self.path == EXPIRE_HISTORY:
            try:
                return self._expire_history(body)
            except (ValueError, AttributeError, KeyError) as err:
                return self._aws_error(400, "SerializationException", f"proxy: {err}")
        target = self.headers.get("X-Amz-Target") or ""
        if target.startswith("AWSStepFunctions.") and target.split(".", 1)[1] in STEP_FUNCTIONS_EXPIRY:
            return self._step_functions(target.split(".", 1)[1], body)
        handler = {
            "secretsmanager.BatchGetSecretValue": self._batch_get_secret_value,
            "secretsmanager.RotateSecret": self._rotate_secret,
            "secretsmanager.CancelRotateSecret": self._cancel_rotate_secret,
            "secretsmanager.DescribeSecret": self._describe_secret,
            "AmazonSSM.ListCommandInvocations": self._list_command_invocations,
            "AmazonSSM.GetCommandInvocation": self._get_command_invocation,
        }.get(self.headers.get("X-Amz-Target") or "")
        if handler:
            try:
                return handler(body)
            except OSError as err:  # moto or a function is down
                return self._reply(502, [("Content-Type", "text/plain")], f"proxy: {err}".encode())
            except (ValueError, AttributeError) as err:  # not a JSON object
                return self._aws_error(400, "SerializationException", f"proxy: {err}")
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
