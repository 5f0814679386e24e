"""Fixtures for the Runbeam unit tests: a spec-validating HTTP mock and a client."""

from __future__ import annotations

from collections.abc import Iterator

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
def api(request: pytest.FixtureRequest) -> Iterator[ConformanceMock]:
    """A started mock; every request sent and every canned reply is checked against the spec.

    Tests that send or receive something the spec forbids on purpose opt out of the check
    with `@pytest.mark.off_spec("reason")`; the operations they hit still count as covered.
    """
    marker = request.node.get_closest_marker("off_spec")
    if marker is not None:
        assert marker.args and marker.args[0], "off_spec needs a reason"
    # ConformanceMock validates (and records coverage) on exit, before `responses` clears
    # its recorded calls; a validate() after the block would see none.
    with ConformanceMock("runbeam", api_prefix="/api") as mock:
        mock.skip_validation = marker is not None
        yield mock


@pytest.fixture
def client() -> Iterator[RunbeamClient]:
    with RunbeamClient(BASE_URL, token=TOKEN, max_retries=0) as c:
        yield c
