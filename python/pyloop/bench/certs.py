"""A self-signed certificate for localhost, made with the openssl command when
asked for (no key material in the repository): the TLS benchmark rows and the
TLS tests use it."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path


def localhost_contexts(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context holding a new certificate for localhost (key and
    certificate written to `folder`), and a client context trusting it."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client
