"""`CONTROLDECK_LOG` switches on the `controldeck` logger, with secrets masked."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from controldeck._core import _logging

SCRIPT = """
from controldeck.runbeam import RunbeamClient
from controldeck.testing.runbeam import FakeRunbeam
with FakeRunbeam() as fake:
    fake.tokens.add("sekrit-token-123456")
    with RunbeamClient(fake.api_url, token="sekrit-token-123456") as client:
        client.get_gateway("gateway-123")
        client.authorize_gateway("sekrit-token-123456", "my-gateway")
"""


def run_with_log_level(level: str) -> str:
    env = {**os.environ, "CONTROLDECK_LOG": level}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return done.stderr


def test_info_logs_one_line_per_request() -> None:
    err = run_with_log_level("info")
    lines = [line for line in err.splitlines() if "controldeck INFO" in line]
    assert any("GET http://127.0.0.1:" in line and "/api/gateways/gateway-123 -> 200" in line
               for line in lines)  # fmt: skip
    assert any("POST http://127.0.0.1:" in line and "/api/harmony/authorize -> 201" in line
               for line in lines)  # fmt: skip
    assert "DEBUG" not in err


def test_debug_shows_headers_and_bodies_with_secrets_masked() -> None:
    err = run_with_log_level("debug")
    assert "controldeck DEBUG" in err
    assert "'Authorization': '<redacted>'" in err
    assert '"token": "<redacted>"' in err  # the authorize body
    assert '"gateway_code": "my-gateway"' in err
    assert '"machine_token": "<redacted>"' in err  # the authorize reply
    assert '"code": "my-gateway"' in err
    assert "sekrit-token-123456" not in err


def test_without_the_variable_nothing_is_printed() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CONTROLDECK_LOG"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    assert done.stderr == ""


@pytest.fixture
def fresh_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("controldeck")
    saved = (logger.level, list(logger.handlers), _logging._configured, logger.propagate)
    _logging._configured = False
    logger.handlers.clear()
    yield logger
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    _logging._configured = saved[2]
    logger.propagate = saved[3]


@pytest.mark.parametrize(
    ("value", "level"), [("debug", logging.DEBUG), ("INFO", logging.INFO), (" info ", logging.INFO)]
)
def test_setup_logging_levels(
    fresh_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch, value: str, level: int
) -> None:
    monkeypatch.setenv("CONTROLDECK_LOG", value)
    _logging.setup_logging()
    _logging.setup_logging()  # idempotent: one handler, not two
    assert fresh_logger.level == level
    assert len(fresh_logger.handlers) == 1


@pytest.mark.parametrize("value", ["", "verbose", "warning"])
def test_setup_logging_ignores_unknown_values(
    fresh_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CONTROLDECK_LOG", value)
    _logging.setup_logging()
    assert fresh_logger.handlers == []
    assert fresh_logger.level == logging.NOTSET


def _run(code: str, level: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTROLDECK_LOG": level}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_an_unknown_level_is_reported_once_on_stderr() -> None:
    done = _run(
        "from controldeck.runbeam import RunbeamClient\n"
        "RunbeamClient('http://127.0.0.1:9/api', token='t1234')\n"
        "RunbeamClient('http://127.0.0.1:9/api', token='t1234')\n",
        "verbose",
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("CONTROLDECK_LOG='verbose' is not a level") == 1


def test_basic_config_does_not_print_every_line_twice() -> None:
    # A request to a closed port logs one "retrying" line per retry at info level.
    done = _run(
        "import logging\n"
        "logging.basicConfig()\n"
        "from controldeck.runbeam import RunbeamClient\n"
        "c = RunbeamClient('http://127.0.0.1:9/api', token='t1234', max_retries=1)\n"
        "c._transport.sleep = lambda s: None\n"
        "try:\n"
        "    c.get_gateway('g')\n"
        "except Exception:\n"
        "    pass\n",
        "info",
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("retrying GET") == 1
