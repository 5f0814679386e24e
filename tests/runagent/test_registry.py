"""The local registry lookup (reference §5) on SQLite files made here with sqlite3."""

from __future__ import annotations

import contextlib
import os
import pathlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from controldeck.errors import InvalidArgumentError
from controldeck.runagent import _config
from controldeck.runagent._config import (
    LocalAgent,
    default_registry_path,
    lookup_local_agent,
)
from controldeck.runagent._errors import (
    AGENT_NOT_FOUND_LOCAL,
    AgentNotFoundError,
    RunAgentError,
)

AGENT = "11111111-2222-3333-4444-555555555555"
SUGGESTION = (
    "Ensure the agent is registered locally (`runagent serve` or `runagent config "
    "--register-agent`), or pass host= and port=."
)

# The columns the CLI's SQLAlchemy model creates (db.py:38-69), in its order.
SCHEMA = """
CREATE TABLE agents (
    agent_id VARCHAR NOT NULL PRIMARY KEY, agent_path VARCHAR NOT NULL, host VARCHAR NOT NULL,
    port INTEGER NOT NULL, framework VARCHAR, status VARCHAR, remote_status VARCHAR,
    is_local BOOLEAN, fingerprint VARCHAR, deployed_at DATETIME, last_run DATETIME,
    run_count INTEGER, success_count INTEGER, error_count INTEGER, created_at DATETIME,
    updated_at DATETIME, agent_name VARCHAR, description TEXT, template VARCHAR,
    version VARCHAR, initialized_at DATETIME, config_fingerprint VARCHAR, project_id VARCHAR
)
"""


def make_registry(path: pathlib.Path, *rows: tuple[Any, ...], table: bool = True) -> pathlib.Path:
    """A registry file with `rows` of (agent_id, agent_path, host, port, framework, status)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        if table:
            db.execute(SCHEMA)
            db.executemany(
                "INSERT INTO agents (agent_id, agent_path, host, port, framework, status) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        else:
            db.execute("CREATE TABLE user_metadata (key VARCHAR PRIMARY KEY, value VARCHAR)")
    db.close()
    return path


SERVING = (AGENT, "/home/me/agents/echo", "127.0.0.1", 8450, "default", "serving")


@pytest.fixture
def registry(tmp_path: pathlib.Path) -> pathlib.Path:
    return make_registry(tmp_path / "cache" / "runagent_local.db", SERVING)


class TestDefaultPath:
    def test_home_based_default(self) -> None:
        # conftest points HOME at an empty temporary directory.
        home = pathlib.Path(os.environ["HOME"])
        assert default_registry_path() == home / ".runagent" / "runagent_local.db"

    def test_cache_dir_replaces_dot_runagent(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
    ) -> None:
        monkeypatch.setenv("RUNAGENT_CACHE_DIR", str(tmp_path / "elsewhere"))
        assert default_registry_path() == tmp_path / "elsewhere" / "runagent_local.db"

    def test_empty_cache_dir_counts_as_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RUNAGENT_CACHE_DIR", "")
        assert default_registry_path().parent == pathlib.Path(os.environ["HOME"]) / ".runagent"

    def test_creates_nothing(self) -> None:
        path = default_registry_path()
        assert not path.parent.exists()


class TestFound:
    def test_row_found(self, registry: pathlib.Path) -> None:
        agent = lookup_local_agent(AGENT, registry)
        assert agent == LocalAgent(
            agent_id=AGENT,
            host="127.0.0.1",
            port=8450,
            status="serving",
            agent_path="/home/me/agents/echo",
            framework="default",
        )
        assert isinstance(agent.port, int)

    def test_str_and_pathlike_paths(self, registry: pathlib.Path) -> None:
        assert lookup_local_agent(AGENT, str(registry)).port == 8450
        assert lookup_local_agent(AGENT, registry).port == 8450

    def test_registered_but_never_served_keeps_localhost(self, tmp_path: pathlib.Path) -> None:
        # `runagent config --register-agent` writes this placeholder row ([LIVE]).
        path = make_registry(
            tmp_path / "r.db", (AGENT, "/a", "localhost", 8000, "default", "initialized")
        )
        agent = lookup_local_agent(AGENT, path)
        assert (agent.host, agent.port, agent.status) == ("localhost", 8000, "initialized")

    def test_null_optional_columns(self, tmp_path: pathlib.Path) -> None:
        path = make_registry(tmp_path / "r.db", (AGENT, "/a", "127.0.0.1", 8451, None, None))
        agent = lookup_local_agent(AGENT, path)
        assert (agent.framework, agent.status, agent.agent_path) == (None, None, "/a")

    def test_other_rows_are_ignored(self, tmp_path: pathlib.Path) -> None:
        path = make_registry(
            tmp_path / "r.db",
            ("other", "/o", "127.0.0.1", 9000, "default", "serving"),
            SERVING,
        )
        assert lookup_local_agent(AGENT, path).port == 8450
        assert lookup_local_agent("other", path).port == 9000

    def test_cache_dir_env_honoured(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
    ) -> None:
        make_registry(tmp_path / "cache" / "runagent_local.db", SERVING)
        monkeypatch.setenv("RUNAGENT_CACHE_DIR", str(tmp_path / "cache"))
        assert lookup_local_agent(AGENT).host == "127.0.0.1"

    def test_home_default_honoured(self) -> None:
        home = pathlib.Path(os.environ["HOME"])
        make_registry(home / ".runagent" / "runagent_local.db", SERVING)
        assert lookup_local_agent(AGENT).agent_path == "/home/me/agents/echo"

    def test_path_with_uri_special_characters(self, tmp_path: pathlib.Path) -> None:
        # `?`, `#`, `%` and spaces would end or change a file: URI if not encoded.
        path = make_registry(tmp_path / "odd ?dir#50%" / "reg.db", SERVING)
        assert lookup_local_agent(AGENT, path).port == 8450

    def test_tilde_is_expanded(self) -> None:
        home = pathlib.Path(os.environ["HOME"])
        make_registry(home / "reg.db", SERVING)
        assert lookup_local_agent(AGENT, "~/reg.db").port == 8450


class TestReadOnly:
    def test_file_untouched(self, registry: pathlib.Path) -> None:
        before = registry.stat()
        listing = sorted(p.name for p in registry.parent.iterdir())
        lookup_local_agent(AGENT, registry)
        with pytest.raises(AgentNotFoundError):
            lookup_local_agent("missing", registry)
        after = registry.stat()
        assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
        assert registry.read_bytes()  # still a database
        assert sorted(p.name for p in registry.parent.iterdir()) == listing  # no -journal/-wal

    def test_read_only_file_is_readable(self, registry: pathlib.Path) -> None:
        registry.chmod(0o444)
        try:
            assert lookup_local_agent(AGENT, registry).port == 8450
        finally:
            registry.chmod(0o644)

    def test_opened_read_only(
        self, monkeypatch: pytest.MonkeyPatch, registry: pathlib.Path
    ) -> None:
        seen: list[tuple[str, dict[str, Any]]] = []
        real = sqlite3.connect

        def spy(database: str, **kwargs: Any) -> sqlite3.Connection:
            seen.append((database, kwargs))
            connection: sqlite3.Connection = real(database, **kwargs)
            return connection

        monkeypatch.setattr(sqlite3, "connect", spy)
        lookup_local_agent(AGENT, registry)
        ((uri, kwargs),) = seen
        assert uri == f"file://{registry.as_posix()}?mode=ro"
        assert kwargs["uri"] is True

    @pytest.mark.parametrize("agent_id", [AGENT, "missing"])
    def test_connection_always_closed(
        self, monkeypatch: pytest.MonkeyPatch, registry: pathlib.Path, agent_id: str
    ) -> None:
        connections: list[Tracking] = []

        class Tracking(sqlite3.Connection):
            closed = False

            def close(self) -> None:
                self.closed = True
                super().close()

        real = sqlite3.connect

        def connect(database: str, **kwargs: Any) -> sqlite3.Connection:
            connection = real(database, factory=Tracking, **kwargs)
            connections.append(connection)
            return connection

        monkeypatch.setattr(sqlite3, "connect", connect)
        with contextlib.suppress(AgentNotFoundError):
            lookup_local_agent(agent_id, registry)
        assert [c.closed for c in connections] == [True]

    def test_connection_closed_on_sqlite_error(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
    ) -> None:
        corrupt = tmp_path / "corrupt.db"
        corrupt.write_bytes(b"this is not a database, just text " * 20)
        closed: list[bool] = []

        class Tracking(sqlite3.Connection):
            def close(self) -> None:
                closed.append(True)
                super().close()

        real = sqlite3.connect
        monkeypatch.setattr(sqlite3, "connect", lambda db, **kw: real(db, factory=Tracking, **kw))
        with pytest.raises(RunAgentError):
            lookup_local_agent(AGENT, corrupt)
        assert closed == [True]


class TestNotFound:
    def _check(self, exc: AgentNotFoundError, path: pathlib.Path) -> None:
        assert type(exc) is AgentNotFoundError
        assert exc.code == AGENT_NOT_FOUND_LOCAL
        assert exc.local is True
        assert exc.message == (
            f"Agent {AGENT} is not registered in your local RunAgent database ({path})."
        )
        assert exc.suggestion == SUGGESTION
        assert exc.details == {"registry_path": str(path)}
        assert exc.status_code is None

    def test_missing_file_is_not_created(self, tmp_path: pathlib.Path) -> None:
        path = tmp_path / "nope" / "runagent_local.db"
        with pytest.raises(AgentNotFoundError) as info:
            lookup_local_agent(AGENT, path)
        self._check(info.value, path)
        assert not path.exists()
        assert not path.parent.exists()

    def test_missing_default_file_creates_nothing(self) -> None:
        with pytest.raises(AgentNotFoundError) as info:
            lookup_local_agent(AGENT)
        self._check(info.value, default_registry_path())
        assert not (pathlib.Path(os.environ["HOME"]) / ".runagent").exists()

    def test_missing_table(self, tmp_path: pathlib.Path) -> None:
        path = make_registry(tmp_path / "r.db", table=False)
        with pytest.raises(AgentNotFoundError) as info:
            lookup_local_agent(AGENT, path)
        self._check(info.value, path)

    def test_empty_file_is_an_empty_database(self, tmp_path: pathlib.Path) -> None:
        path = tmp_path / "empty.db"
        path.touch()
        with pytest.raises(AgentNotFoundError) as info:
            lookup_local_agent(AGENT, path)
        self._check(info.value, path)
        assert path.stat().st_size == 0

    def test_missing_row(self, registry: pathlib.Path) -> None:
        with pytest.raises(AgentNotFoundError) as info:
            lookup_local_agent("someone-else", registry)
        assert info.value.message == (
            f"Agent someone-else is not registered in your local RunAgent database ({registry})."
        )

    def test_directory_instead_of_file(self, tmp_path: pathlib.Path) -> None:
        with pytest.raises(AgentNotFoundError) as info:
            lookup_local_agent(AGENT, tmp_path)
        self._check(info.value, tmp_path)

    def test_long_id_cut_in_message(self, registry: pathlib.Path) -> None:
        with pytest.raises(AgentNotFoundError) as info:
            lookup_local_agent("x" * 500, registry)
        assert "x" * 99 + "…" in info.value.message
        assert "x" * 100 not in info.value.message

    def test_str_of_error(self, tmp_path: pathlib.Path) -> None:
        path = tmp_path / "r.db"
        with pytest.raises(AgentNotFoundError) as info:
            lookup_local_agent(AGENT, path)
        assert str(info.value) == (
            f"[AGENT_NOT_FOUND_LOCAL] Agent {AGENT} is not registered in your local RunAgent "
            f"database ({path}). — {SUGGESTION}"
        )


class TestUnreadable:
    def test_corrupt_file(self, tmp_path: pathlib.Path) -> None:
        path = tmp_path / "corrupt.db"
        path.write_bytes(b"SQLite format 2\x00" + b"garbage " * 100)
        before = path.read_bytes()
        with pytest.raises(RunAgentError) as info:
            lookup_local_agent(AGENT, path)
        exc = info.value
        assert type(exc) is RunAgentError
        assert exc.code == "UNKNOWN_ERROR"
        assert exc.message == (
            f"cannot read the local RunAgent registry {path}: file is not a database"
        )
        assert exc.suggestion == (
            "Check the file (the `runagent` CLI writes it), or pass host= and port=."
        )
        assert exc.details == {"registry_path": str(path), "sqlite_error": "DatabaseError"}
        assert exc.__cause__ is None and exc.__suppress_context__
        assert path.read_bytes() == before

    @pytest.fixture
    def locked(self, registry: pathlib.Path) -> Iterator[pathlib.Path]:
        writer = sqlite3.connect(registry, isolation_level=None)
        writer.execute("BEGIN EXCLUSIVE")
        try:
            yield registry
        finally:
            writer.execute("ROLLBACK")
            writer.close()

    def test_locked_file(self, monkeypatch: pytest.MonkeyPatch, locked: pathlib.Path) -> None:
        monkeypatch.setattr(_config, "REGISTRY_LOCK_TIMEOUT", 0.05)
        with pytest.raises(RunAgentError) as info:
            lookup_local_agent(AGENT, locked)
        assert info.value.message == (
            f"cannot read the local RunAgent registry {locked}: database is locked"
        )
        assert info.value.details["sqlite_error"] == "OperationalError"

    def test_unexpected_schema(self, tmp_path: pathlib.Path) -> None:
        path = tmp_path / "r.db"
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE agents (agent_id VARCHAR, host VARCHAR)")
        db.close()
        with pytest.raises(RunAgentError) as info:
            lookup_local_agent(AGENT, path)
        assert type(info.value) is RunAgentError
        assert "no such column: agent_path" in info.value.message

    @pytest.mark.parametrize(
        ("host", "port", "text"),
        [
            ("127.0.0.1", 0, "with port 0, not a TCP port"),
            ("127.0.0.1", 70000, "with port 70000, not a TCP port"),
            ("127.0.0.1", "abc", "with port 'abc', not a TCP port"),
            ("127.0.0.1", 8450.5, "with port 8450.5, not a TCP port"),
            ("", 8450, "with no usable host ('')"),
            ("  ", 8450, "with no usable host ('  ')"),
            (b"127.0.0.1", 8450, "with no usable host (b'127.0.0.1')"),  # a BLOB
        ],
    )
    def test_bad_row(self, tmp_path: pathlib.Path, host: Any, port: Any, text: str) -> None:
        # The CLI's schema says NOT NULL and INTEGER, but SQLite stores what it is given.
        path = make_registry(tmp_path / "r.db", (AGENT, "/a", host, port, "default", "serving"))
        with pytest.raises(RunAgentError) as info:
            lookup_local_agent(AGENT, path)
        exc = info.value
        assert type(exc) is RunAgentError
        assert exc.message == f"the local RunAgent registry ({path}) lists agent {AGENT} {text}"
        assert exc.suggestion == (
            "Serve the agent again with `runagent serve`, or pass host= and port=."
        )

    def test_numeric_text_port_is_stored_as_integer(self, tmp_path: pathlib.Path) -> None:
        # INTEGER affinity turns '8452' into 8452 on insert.
        path = make_registry(tmp_path / "r.db", (AGENT, "/a", "127.0.0.1", "8452", None, None))
        assert lookup_local_agent(AGENT, path).port == 8452


class TestArguments:
    @pytest.mark.parametrize(
        ("agent_id", "text"),
        [
            ("", "agent_id must not be empty"),
            ("  ", "agent_id must not be empty"),
            (None, "agent_id must be a string, got NoneType"),
            (42, "agent_id must be a string, got int"),
            ("a/b", "agent_id cannot contain '/', got 'a/b'"),
            ("..", "agent_id cannot be '..': it is a URL path step"),
        ],
    )
    def test_bad_agent_id(self, registry: pathlib.Path, agent_id: Any, text: str) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            lookup_local_agent(agent_id, registry)
        assert str(info.value) == text

    @pytest.mark.parametrize(
        ("path", "text"),
        [
            (42, "registry_path must be a path (str or os.PathLike), got int"),
            (b"/tmp/x.db", "registry_path must be a path (str or os.PathLike), got bytes"),
            ("", "registry_path must not be empty"),
        ],
    )
    def test_bad_registry_path(self, path: Any, text: str) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            lookup_local_agent(AGENT, path)
        assert str(info.value) == text

    def test_bytes_pathlike(self) -> None:
        class BytesPath:
            def __fspath__(self) -> bytes:
                return b"/tmp/x.db"

        with pytest.raises(InvalidArgumentError, match="not bytes"):
            lookup_local_agent(AGENT, BytesPath())  # type: ignore[arg-type]
