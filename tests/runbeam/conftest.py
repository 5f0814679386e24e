"""Fixtures for the Runbeam unit tests: a spec-validating HTTP mock and a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from controldeck.runbeam import RunbeamClient
from tests._conformance import ConformanceMock

BASE_URL = "https://runbeam.test/api"
TOKEN = "test-token-abc123"
AUTH = f"Bearer {TOKEN}"


@pytest.fixture(autouse=True)
def _no_runbeam_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own RUNBEAM_* variables must not leak into the tests."""
    monkeypatch.delenv("RUNBEAM_BASE_URL", raising=False)
    monkeypatch.delenv("RUNBEAM_TOKEN", raising=False)


@pytest.fixture
def api(conformance: Callable[..., ConformanceMock]) -> ConformanceMock:
    """A started mock checking every request and canned reply against openapi/runbeam.yaml."""
    return conformance("runbeam", api_prefix="/api")


@pytest.fixture
def client() -> Iterator[RunbeamClient]:
    with RunbeamClient(BASE_URL, token=TOKEN, max_retries=0) as c:
        yield c
