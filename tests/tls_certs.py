"""TLS contexts for tests: a fresh self-signed certificate for localhost,
made with the openssl command at test time (no key material in the repo)."""

from __future__ import annotations

import shutil

import pytest

from pyloop.bench.certs import localhost_contexts

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

__all__ = ["localhost_contexts", "needs_openssl"]
