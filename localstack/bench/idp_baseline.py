"""The Python baseline of `cargo xtask bench-idp`: a plain boto3 identity provider, the way the
AWS samples write one, run as a Lambda custom runtime against the same runtime API our Rust
binary uses (AWS_LAMBDA_RUNTIME_API), so both are started, invoked and measured alike.

Per login it does what the Rust function does for a password login: check the username's
syntax, one GetSecretValue for SFTP/<username>, parse the secret, check the source IP against
IP/IPv6, compare the password in constant time, answer Role/HomeDirectoryType/
HomeDirectoryDetails (no session policy, no key filtering: less work than the Rust function).

Standard library and boto3 only. Not part of the product.
"""

import hmac
import ipaddress
import json
import os
import re
import time
import urllib.request

import boto3

USERNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{2,99}$")
PREFIX = os.environ.get("SECRET_PREFIX", "SFTP/")
# Created once per process, as a Lambda handler module would.
SECRETS = boto3.client("secretsmanager")


def networks(secret):
    for key in ("IP", "IPv6"):
        for entry in (secret.get(key) or "").split(","):
            entry = entry.strip()
            if entry:
                try:
                    yield ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    pass


def handler(event):
    username = event.get("username", "")
    if not USERNAME.match(username):
        return {}
    try:
        secret = json.loads(SECRETS.get_secret_value(SecretId=PREFIX + username)["SecretString"])
    except Exception:  # fail closed
        return {}
    if (secret.get("IP") or "").strip() or (secret.get("IPv6") or "").strip():
        try:
            source = ipaddress.ip_address(event.get("sourceIp", ""))
        except ValueError:
            return {}
        if not any(source in network for network in networks(secret)):
            return {}
    password = event.get("password") or ""
    stored = secret.get("Password") or ""
    if not password or not stored or not hmac.compare_digest(password.encode(), stored.encode()):
        return {}
    details = secret["HomeDirectoryDetails"]
    return {
        "Role": secret["Role"],
        "HomeDirectoryType": "LOGICAL",
        "HomeDirectoryDetails": details if isinstance(details, str) else json.dumps(details),
    }


def main():
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    base = (api if api.startswith("http") else "http://" + api) + "/2018-06-01/runtime/invocation"
    while True:
        with urllib.request.urlopen(base + "/next") as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(response.read())
        started = time.perf_counter()
        answer = json.dumps(handler(event)).encode()
        # Time inside the handler, logged like the Rust function's decision line (elapsed_ms).
        print(json.dumps({"elapsed_ms": (time.perf_counter() - started) * 1000}), flush=True)
        post = urllib.request.Request(base + f"/{request_id}/response", data=answer, method="POST")
        with urllib.request.urlopen(post) as response:
            response.read()


if __name__ == "__main__":
    main()
