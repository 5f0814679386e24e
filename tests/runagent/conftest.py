"""Fixtures shared by the RunAgent tests."""

from __future__ import annotations

import pytest

RUNAGENT_ENV = ("RUNAGENT_API_KEY", "RUNAGENT_BASE_URL", "RUNAGENT_CACHE_DIR")


@pytest.fixture(autouse=True)
def _no_runagent_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The developer's own RUNAGENT_* variables and ~/.runagent registry must not leak in:
    HOME points at an empty directory for every test."""
    for name in RUNAGENT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
