"""The SES SMTP endpoint of the local stack (DESIGN.md section 7, issue 16).

    python localstack/smtp_server.py --port P --moto-url http://127.0.0.1:M --cert-dir DIR \
        --region R [--propagation-seconds N]

An aiosmtpd server on 127.0.0.1:P that logs in the way SES's SMTP interface does, so that the
rotation function's SMTP login test runs for real:

* STARTTLS only (`require_starttls`, and AUTH only after TLS), with a certificate made at
  start: a throwaway CA written to `DIR/smtp-ca.pem` (the client trusts that file and connects
  to host `localhost`) and a leaf certificate it signed (SAN DNS localhost and IP 127.0.0.1,
  serverAuth). Two certificates because rustls/webpki refuses a CA certificate used as the
  end-entity certificate. The private keys are never written anywhere.
* AUTH PLAIN and LOGIN. A login is accepted only when the user name is an access key id that
  moto issued, the key still exists and is Active, the password is the SES SMTP password
  derived here, independently of the Rust code, from that key's secret access key and the
  region (AWS's documented algorithm), and (with --propagation-seconds N) the key was created
  at least N seconds ago: a new key does not work at once on SES either. Otherwise
  `535 5.7.8 Authentication Credentials Invalid`.
* A message sent after AUTH is accepted and thrown away.

Where the key comes from (moto server's HTTP interface only): `GET {moto}/moto-api/data.json`
lists every `iam.AccessKey` model with `access_key_id`, `user_name`, `secret_access_key` and
`status`, but not `create_date` (a datetime, which that page leaves out) and it still lists
deleted keys. So the secret comes from data.json and the rest from IAM's ListAccessKeys for the
key's user, sent to moto: whether the key still exists, its Status and its CreateDate.

Every login attempt is one JSON line in `DIR/smtp-logins.jsonl` (emptied at start):
`{"time", "username", "accepted", "reason"}`, reason one of ok, unknown-key, inactive-key,
wrong-password, not-propagated, moto-unavailable, not-an-access-key. Never a password, never a
secret key. One line per event on stderr, never a secret; "ready" when listening. Runs until
SIGTERM or SIGINT.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import signal
import ssl
import sys
import tempfile
import threading
import time
import urllib.request

import boto3
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REFUSED = "535 5.7.8 Authentication Credentials Invalid"
CA_FILE = "smtp-ca.pem"
LOGINS_FILE = "smtp-logins.jsonl"


def log(message: str):
    sys.stderr.write(f"smtp: {message}\n")
    sys.stderr.flush()


def smtp_password(secret_access_key: str, region: str) -> str:
    """SES's SMTP password for an IAM secret access key (AWS's documented algorithm)."""
    def sign(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()

    signature = sign(("AWS4" + secret_access_key).encode("utf-8"), "11111111")
    for part in (region, "ses", "aws4_request", "SendRawEmail"):
        signature = sign(signature, part)
    return base64.b64encode(b"\x04" + signature).decode("ascii")


def make_certificates(cert_dir: str) -> ssl.SSLContext:
    """Writes a throwaway CA to cert_dir/smtp-ca.pem and returns a server TLS context holding a
    leaf certificate signed by it for localhost and 127.0.0.1."""
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before, not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sftp-warden local SMTP test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    os.makedirs(cert_dir, exist_ok=True)
    ca_path = os.path.join(cert_dir, CA_FILE)
    with open(ca_path + ".tmp", "wb") as out:
        out.write(ca.public_bytes(serialization.Encoding.PEM))
    os.replace(ca_path + ".tmp", ca_path)  # whole or absent for a reader

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # load_cert_chain reads files only: the leaf and its key live in a private temporary
    # directory for the moment it takes.
    with tempfile.TemporaryDirectory() as scratch:
        cert_path, key_path = os.path.join(scratch, "leaf.pem"), os.path.join(scratch, "leaf-key.pem")
        with open(cert_path, "wb") as out:
            out.write(leaf.public_bytes(serialization.Encoding.PEM))
        with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(leaf_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        context.load_cert_chain(cert_path, key_path)
    return context


class Keys:
    """moto's IAM access keys, read through moto server's HTTP interface."""

    def __init__(self, moto_url: str, region: str):
        self.moto_url = moto_url.rstrip("/")
        self.iam = boto3.client(
            "iam", region_name=region, endpoint_url=self.moto_url,
            aws_access_key_id="AKIDLOCALSMTPSERVER0", aws_secret_access_key="local",
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
        )

    def issued(self, access_key_id: str):
        """(secret access key, user name) of a key moto issued, or None. data.json keeps keys
        that were deleted since: `current` says whether it still exists."""
        with urllib.request.urlopen(f"{self.moto_url}/moto-api/data.json", timeout=30) as answer:
            data = json.load(answer)
        for key in (data.get("iam") or {}).get("AccessKey") or []:
            if key.get("access_key_id") == access_key_id and key.get("secret_access_key"):
                return key["secret_access_key"], key.get("user_name")
        return None

    def current(self, user_name: str, access_key_id: str):
        """The key's metadata from IAM ListAccessKeys (Status, CreateDate), or None once deleted."""
        pages = self.iam.get_paginator("list_access_keys").paginate(UserName=user_name)
        for page in pages:
            for key in page.get("AccessKeyMetadata") or []:
                if key.get("AccessKeyId") == access_key_id:
                    return key
        return None


class Authenticator:
    def __init__(self, keys: Keys, region: str, propagation_seconds: float, logins_path: str):
        self.keys = keys
        self.region = region
        self.propagation_seconds = propagation_seconds
        self.logins_path = logins_path
        self.lock = threading.Lock()

    def reason(self, username: str, password: str) -> str:
        if not username.isalnum() or not username.isascii():
            return "not-an-access-key"
        try:
            issued = self.keys.issued(username)
            if issued is None or not issued[1]:
                return "unknown-key"
            secret, user_name = issued
            metadata = self.keys.current(user_name, username)
        except Exception as err:  # moto down or answering nonsense: refuse, say why
            log(f"cannot read access key {username} from moto: {type(err).__name__}")
            return "moto-unavailable"
        if metadata is None:
            return "unknown-key"
        if metadata.get("Status") != "Active":
            return "inactive-key"
        if not hmac.compare_digest(password.encode("utf-8"), smtp_password(secret, self.region).encode("ascii")):
            return "wrong-password"
        created = metadata.get("CreateDate")
        if self.propagation_seconds > 0 and created is not None:
            if created.tzinfo is None:
                created = created.replace(tzinfo=datetime.timezone.utc)
            age = time.time() - created.timestamp()
            if age < self.propagation_seconds:
                return "not-propagated"
        return "ok"

    def record(self, username: str, reason: str):
        line = {"time": time.time(), "username": username, "accepted": reason == "ok", "reason": reason}
        with self.lock, open(self.logins_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        log(f"login {username!r} {'accepted' if reason == 'ok' else 'refused'} ({reason})")

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False, message=REFUSED)
        username = auth_data.login.decode("utf-8", errors="replace")
        password = auth_data.password.decode("utf-8", errors="replace")
        reason = self.reason(username, password)
        self.record(username, reason)
        if reason != "ok":
            return AuthResult(success=False, handled=False, message=REFUSED)
        return AuthResult(success=True)


class Discard:
    """Accepts every message after AUTH and throws it away."""

    async def handle_DATA(self, server, session, envelope):
        log(f"message from {envelope.mail_from!r} to {len(envelope.rcpt_tos)} recipient(s) accepted and discarded")
        return "250 OK"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="port to listen on (127.0.0.1)")
    parser.add_argument("--moto-url", required=True, help="moto server, e.g. http://127.0.0.1:5000")
    parser.add_argument("--cert-dir", required=True, help="where smtp-ca.pem and smtp-logins.jsonl go")
    parser.add_argument("--region", required=True, help="the region the SMTP passwords are derived for")
    parser.add_argument("--propagation-seconds", type=float, default=0.0,
                        help="refuse keys younger than this (as SES does for a while)")
    args = parser.parse_args()

    aiosmtpd_log = logging.getLogger("mail.log")
    aiosmtpd_log.setLevel(logging.WARNING)  # its debug lines hold the AUTH data
    # aiosmtpd 1.4 sets its own deprecated Session.login_data on every successful AUTH, and says so.
    aiosmtpd_log.addFilter(lambda record: "login_data is deprecated" not in record.getMessage())
    context = make_certificates(args.cert_dir)
    logins_path = os.path.join(args.cert_dir, LOGINS_FILE)
    open(logins_path, "w").close()
    authenticator = Authenticator(Keys(args.moto_url, args.region), args.region, args.propagation_seconds, logins_path)

    controller = Controller(
        Discard(),
        hostname="127.0.0.1",
        port=args.port,
        server_hostname="localhost",
        tls_context=context,
        require_starttls=True,
        auth_require_tls=True,
        authenticator=authenticator,
        auth_exclude_mechanism=[],
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()
    log(f"listening on 127.0.0.1:{args.port} (STARTTLS, AUTH PLAIN LOGIN; CA {os.path.join(args.cert_dir, CA_FILE)}; "
        f"region {args.region}; propagation {args.propagation_seconds:g} s)")
    sys.stderr.write("ready\n")
    sys.stderr.flush()
    while not stop.wait(1):
        pass
    controller.stop()
    log("stopped")


if __name__ == "__main__":
    main()
