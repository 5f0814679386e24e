"""Session-wide fixtures and checks: spec conformance mocks and operation coverage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests._conformance import EXERCISED, SPEC_DIR, ConformanceMock, operations

# Every platform with a spec must have every (wrapped) operation exercised by a unit test:
# a new spec is covered by default.
COVERED_PLATFORMS = tuple(sorted(p.stem for p in SPEC_DIR.glob("*.yaml")))


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> Iterator[Callable[..., ConformanceMock]]:
    """A factory of started `responses` mocks that check traffic against a platform's spec.

    `conformance("akribes")` (or `conformance("runbeam", api_prefix="/api")`) starts a mock;
    every request sent and every canned reply is validated against `openapi/<platform>.yaml`
    when the test ends. Tests that send or receive something the spec forbids on purpose
    opt out with `@pytest.mark.off_spec("reason")`; the operations they hit still count.
    """
    marker = request.node.get_closest_marker("off_spec")
    if marker is not None:
        assert marker.args and marker.args[0], "off_spec needs a reason"
    with ExitStack() as stack:

        def start(platform: str, *, api_prefix: str = "") -> ConformanceMock:
            # Validation (and coverage) runs on exit, before `responses` clears its calls.
            mock = stack.enter_context(ConformanceMock(platform, api_prefix=api_prefix))
            mock.skip_validation = marker is not None
            return mock

        yield start


def _ran_whole_suite(session: pytest.Session) -> bool:
    config = session.config
    if config.getoption("keyword") or config.getoption("markexpr"):
        return False
    if config.getoption("lf", False) or config.getoption("last_failed_no_failures", "all") != "all":
        return False
    args = [str(a) for a in config.args]
    return not any("::" in a for a in args) and all(
        a.rstrip("/").endswith("tests") or a.rstrip("/") == str(config.rootpath) for a in args
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: Any) -> None:
    """Fail a full run in which some spec operation was never exercised by a unit test."""
    if exitstatus != 0 or not _ran_whole_suite(session):
        return
    missing = []
    for platform in COVERED_PLATFORMS:
        for method, template in sorted(operations(platform) - EXERCISED[platform]):
            missing.append(f"{platform}: {method} {template}")
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "spec operations never exercised by a unit test:\n  " + "\n  ".join(missing)
        if reporter is not None:
            reporter.write_line(text, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
