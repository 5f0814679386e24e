"""Fixtures for the Beampipe unit tests: a spec-validating HTTP mock and a client."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator

import pytest

from controldeck.beampipe import BeampipeClient
from tests._conformance import ConformanceMock

BASE_URL = "http://127.0.0.1:8080"
API = f"{BASE_URL}/api/v2"
TOKEN = "bp-access-token-0123456789"  # opaque: the client never renews it by itself
AUTH = f"Bearer {TOKEN}"
SOURCE_ID = "0192f0c4-9a3b-7c1d-8e2f-0123456789ab"
EXECUTION_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000e001"
PROFILE_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000d001"
WORKER_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000a001"
CHANNEL_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000c001"
RULE_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000b001"
NOW = "2026-11-23T10:00:00Z"


def jwt(claims: dict[str, object]) -> str:
    """An unsigned-looking JWT carrying `claims` (the client never verifies signatures)."""

    def part(data: dict[str, object]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def error_body(code: str, message: str, *, cls: str, retry: str) -> dict[str, object]:
    """The server's `ApiErrorResponse` (reference §3)."""
    return {
        "error": message,
        "code": code,
        "failure": {
            "code": code,
            "component": "api",
            "class": cls,
            "message": message,
            "retry": retry,
            "system_action": "the request was not applied",
        },
    }


@pytest.fixture(autouse=True)
def _no_beampipe_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own BEAMPIPE_* variables must not leak into the tests."""
    for name in ("BEAMPIPE_BASE_URL", "BEAMPIPE_TOKEN", "BEAMPIPE_USERNAME", "BEAMPIPE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api(conformance: Callable[..., ConformanceMock]) -> ConformanceMock:
    """A started mock checking every request and canned reply against openapi/beampipe.yaml."""
    return conformance("beampipe")


@pytest.fixture
def client() -> Iterator[BeampipeClient]:
    with BeampipeClient(BASE_URL, token=TOKEN, max_retries=0) as c:
        yield c
