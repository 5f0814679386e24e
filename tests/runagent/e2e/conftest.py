"""Fixtures for the tests against a REAL local RunAgent server (`runagent serve`).

`runagent_venv` (session) gives the cached venv holding the pinned `runagent` package (built
on first use, see `_harness.ensure_venv`); `runagent_server` (session) one running server
with the test agent in `agent/`, shared by every e2e test; `stopped_server` (session) a
second server that was started and stopped, so its registry row is stale.

tests/runagent/conftest.py points HOME at an empty directory for every test and removes
RUNAGENT_CACHE_DIR: a test reaches a server's registry through `registry_path=` or by
setting RUNAGENT_CACHE_DIR / HOME itself (monkeypatch). The venv cache is found from the
real home, captured when `_harness` is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runagent.e2e._harness import LocalServer, ensure_venv, serve_agent

_TIMINGS: dict[str, str] = {}


@pytest.fixture(scope="session")
def runagent_venv() -> Path:
    """The venv holding `runagent==0.1.49` (built once per machine, then reused)."""
    info = ensure_venv()
    how = {"waited": "built by another process, waited"}.get(info.how, info.how)
    _TIMINGS["venv"] = f"{how} {info.seconds:.1f} s ({info.path})"
    return info.path


@pytest.fixture(scope="session")
def runagent_server(
    runagent_venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    """One real `runagent serve` with the test agent, for the whole session."""
    with serve_agent(runagent_venv, tmp_path_factory.mktemp("runagent-server")) as server:
        _TIMINGS["server"] = f"up in {server.start_seconds:.1f} s on port {server.port}"
        yield server


@pytest.fixture(scope="session")
def stopped_server(runagent_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> LocalServer:
    """A second server, already stopped: its registry row still says `serving`, its port closed."""
    with serve_agent(runagent_venv, tmp_path_factory.mktemp("runagent-stopped")) as server:
        _TIMINGS["stopped server"] = f"up in {server.start_seconds:.1f} s, then stopped"
    return server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line of timings when the real server was used."""
    if _TIMINGS:
        parts = "; ".join(f"{name} {text}" for name, text in _TIMINGS.items())
        terminalreporter.write_line(f"runagent e2e: {parts}")
