"""Session-wide checks: spec operation coverage."""

from __future__ import annotations

from typing import Any

import pytest

from tests._conformance import EXERCISED, operations

# Platforms whose unit tests must exercise every (wrapped) operation of their spec.
COVERED_PLATFORMS = ("runbeam",)


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
