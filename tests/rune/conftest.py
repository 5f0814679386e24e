"""Fixtures for the Rune unit tests: a spec-validating HTTP mock and clients on both wires."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controldeck.rune import RuneClient
from tests._conformance import ConformanceMock

BASE_URL = "http://127.0.0.1:7861"
CONNECT = f"{BASE_URL}/grpc/rune.api"
REST = f"{BASE_URL}/v1"
TOKEN = "rune-test-token-0123456789"
AUTH = f"Bearer {TOKEN}"


def rpc_url(service: str, method: str) -> str:
    """The Connect URL of an RPC with the default prefix."""
    return f"{CONNECT}.{service}/{method}"


def envelope(message: Any, *, flag: int = 0) -> bytes:
    """One Connect envelope: a flag byte, a 4-byte big-endian length, the JSON."""
    data = json.dumps(message, separators=(",", ":")).encode()
    return bytes([flag]) + len(data).to_bytes(4, "big") + data


def connect_error(code: str, message: str) -> dict[str, Any]:
    """A Connect error body."""
    return {"code": code, "message": message}


@pytest.fixture(autouse=True)
def _no_rune_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own RUNE_* variables must not leak into the tests."""
    for name in ("RUNE_BASE_URL", "RUNE_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api(conformance: Callable[..., ConformanceMock]) -> ConformanceMock:
    """A started mock checking every request and canned reply against openapi/rune.yaml."""
    return conformance("rune")


@pytest.fixture
def client() -> Iterator[RuneClient]:
    """A Connect client (the default transport), no retries."""
    with RuneClient(BASE_URL, token=TOKEN, max_retries=0) as c:
        yield c


@pytest.fixture
def rest() -> Iterator[RuneClient]:
    """A REST-gateway client, no retries."""
    with RuneClient(BASE_URL, token=TOKEN, transport="rest", max_retries=0) as c:
        yield c


@pytest.fixture(params=["connect", "rest"])
def both(request: pytest.FixtureRequest) -> Iterator[RuneClient]:
    """A client on each transport in turn (tests that check both wires)."""
    with RuneClient(BASE_URL, token=TOKEN, transport=request.param, max_retries=0) as c:
        yield c
