"""Fixtures for the Akribes unit tests: a spec-validating HTTP mock and a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from controldeck.akribes import AkribesClient
from tests._conformance import ConformanceMock

BASE_URL = "http://127.0.0.1:3000"
TOKEN = "akribes_tk_test_0123456789"
AUTH = f"Bearer {TOKEN}"
PID = 7


@pytest.fixture(autouse=True)
def _no_akribes_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own AKRIBES_* variables must not leak into the tests."""
    for name in (
        "AKRIBES_BASE_URL",
        "AKRIBES_TOKEN",
        "AKRIBES_SERVICE_TOKEN",
        "AKRIBES_SDK_INGEST_TIMEOUT_SECS",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api(conformance: Callable[..., ConformanceMock]) -> ConformanceMock:
    """A started mock checking every request and canned reply against openapi/akribes.yaml."""
    return conformance("akribes")


@pytest.fixture
def client() -> Iterator[AkribesClient]:
    with AkribesClient(BASE_URL, token=TOKEN, name="tests", max_retries=0) as c:
        yield c
