"""`RuneClient.exec()` and `exec_session()` over gRPC (ExecService/StreamExec) against
FakeRune's grpcio server (its built-in programs), plus a scripted servicer for the replies
the fake never sends (a failed status, an end without exit).

What is checked: the exact `ExecRequest`s received (`grpc_fake.grpc_messages`), the
decoded output and exit, stdin chunks, resize, signals, deadlines, auth, validation before
sending, closing mid-session and thread hygiene.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from controldeck._generated.rune_grpc import exec_pb2, exec_pb2_grpc
from controldeck.errors import (
    APITimeoutError,
    AuthenticationError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    StreamError,
    WaitTimeoutError,
)
from controldeck.rune import RuneClient
from controldeck.rune._grpc_streams import ExecOutput, ExecResult
from controldeck.testing.rune import FakeProcess, FakeRune

RPC = "ExecService/StreamExec"


@pytest.fixture
def fake(grpc_fake: FakeRune) -> FakeRune:
    """The fake with service `api` (one running instance)."""
    grpc_fake.add_service("api", scale=1)
    return grpc_fake


@pytest.fixture
def rune(fake: FakeRune, grpc_client: RuneClient) -> RuneClient:
    return grpc_client


def sent(fake: FakeRune) -> list[dict[str, Any]]:
    """Every ExecRequest the fake received, in order."""
    return [message for rpc, message in fake.grpc_messages if rpc == RPC]


def opened(fake: FakeRune) -> int:
    return sum(1 for r in fake.requests if r.path == f"/rune.api.{RPC}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def client(target: str, token: str, **kwargs: Any) -> RuneClient:
    return RuneClient(
        "http://127.0.0.1:9",
        token=token,
        transport="grpc",
        grpc_target=target,
        max_retries=0,
        **{"timeout": (2, 5), **kwargs},
    )


def client_threads() -> int:
    """`threading.active_count()` without the fake's server threads (its worker pool and
    program threads are the server's, not the client's)."""
    return threading.active_count() - sum(
        1 for t in threading.enumerate() if t.name.startswith("FakeRune")
    )


INIT = {"serviceName": "api", "namespace": "default"}


# -- exec(): the messages and the result -----------------------------------------------


class TestExec:
    def test_init_carries_every_field_given_and_nothing_else_is_sent(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        result = rune.exec(
            "api",
            ["env"],
            env={"B": "2", "A": "1"},
            working_dir="/srv",
            tty=True,
        )
        assert sent(fake) == [
            {
                "init": {
                    **INIT,
                    "command": ["env"],
                    "env": {"A": "1", "B": "2"},
                    "workingDir": "/srv",
                    "tty": True,
                }
            }
        ]  # no stdin and no half-close before the exit
        assert result == ExecResult(b"A=1\nB=2\n", b"", 0)
        assert result.ok

    def test_defaults_send_the_target_namespace_and_command_only(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        result = rune.exec("service/api", ["echo", "hello", "world"])
        assert sent(fake) == [{"init": {**INIT, "command": ["echo", "hello", "world"]}}]
        assert (result.stdout, result.stderr, result.exit_code) == (b"hello world\n", b"", 0)
        assert result.text() == "hello world\n"

    def test_an_instance_target_sends_instance_id(self, fake: FakeRune, rune: RuneClient) -> None:
        instance = rune.list_instances("default")[0]
        assert rune.exec(f"instance/{instance.id}", ["pwd"], working_dir="/tmp").text() == "/tmp\n"
        assert sent(fake)[0] == {
            "init": {
                "instanceId": instance.id,
                "namespace": "default",
                "command": ["pwd"],
                "workingDir": "/tmp",
            }
        }

    def test_stdin_goes_in_64_kib_chunks_then_eof(self, fake: FakeRune, rune: RuneClient) -> None:
        data = bytes(range(256)) * 300  # 76800 bytes
        result = rune.exec("api", ["cat"], stdin=data)
        assert result.stdout == data
        assert sent(fake) == [
            {"init": {**INIT, "command": ["cat"]}},
            {"stdin": b64(data[:65536])},
            {"stdin": b64(data[65536:])},
        ]

    def test_str_stdin_is_utf8(self, fake: FakeRune, rune: RuneClient) -> None:
        assert rune.exec("api", ["cat"], stdin="héllo").stdout == "héllo".encode()
        assert sent(fake)[1] == {"stdin": b64("héllo".encode())}

    @pytest.mark.parametrize(
        ("command", "expected"),
        [
            (["true"], ExecResult(b"", b"", 0)),
            (["false"], ExecResult(b"", b"", 1)),
            (["sh", "-c", "exit 7"], ExecResult(b"", b"", 7)),
            (["yes-stderr", "oops"], ExecResult(b"", b"oops\n", 3)),
            (
                ["no-such-tool", "-x"],
                ExecResult(b"", b'exec: "no-such-tool": executable file not found in $PATH\n', 127),
            ),
        ],
    )
    def test_exit_codes_and_stderr(
        self, rune: RuneClient, command: list[str], expected: ExecResult
    ) -> None:
        result = rune.exec("api", command)
        assert result == expected
        assert result.ok is (expected.exit_code == 0)

    def test_extra_headers_become_metadata(self, fake: FakeRune, rune: RuneClient) -> None:
        rune.exec("api", ["true"], extra_headers={"X-Request-Tag": "abc"})
        request = next(r for r in fake.requests if r.path == f"/rune.api.{RPC}")
        assert request.headers["x-request-tag"] == "abc"
        assert request.headers["authorization"] == f"Bearer {fake.seed_token}"

    def test_timeout_cancels_a_command_that_runs_too_long(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match=r"did not finish within 0\.2 s"):
            rune.exec("api", ["sleep", "30"], timeout=0.2)
        assert time.monotonic() - started < 1.5

    def test_a_per_call_deadline_shorter_than_timeout_wins(self, rune: RuneClient) -> None:
        with pytest.raises(APITimeoutError, match=r"within 0\.15 s"):
            rune.exec("api", ["sleep", "30"], timeout=30, deadline=0.15)


# -- exec_session() ----------------------------------------------------------------------


class TestSession:
    def test_iterate_write_and_wait(self, fake: FakeRune, rune: RuneClient) -> None:
        with rune.exec_session("api", ["cat"]) as cat:
            assert cat.statuses[0].code == 0
            assert cat.statuses[0].message.startswith("Connected to instance ")
            cat.write(b"hello\n")
            assert next(cat) == ExecOutput("stdout", b"hello\n")
            assert cat.exit_code is None
            cat.write("more")
            cat.close_stdin()
            result = cat.wait(timeout=3)
        assert result == ExecResult(b"more", b"", 0)  # only what was not iterated
        assert cat.exit_code == 0
        assert cat.wait() is result
        assert sent(fake) == [
            {"init": {**INIT, "command": ["cat"]}},
            {"stdin": b64(b"hello\n")},
            {"stdin": b64(b"more")},
        ]

    def test_iteration_ends_at_the_exit(self, rune: RuneClient) -> None:
        with rune.exec_session("api", ["echo", "a"]) as session:
            assert [out.text() for out in session] == ["a\n"]
            assert session.exit_code == 0
            assert session.wait() == ExecResult(b"", b"", 0)

    def test_terminal_size_and_resize(self, fake: FakeRune, rune: RuneClient) -> None:
        with rune.exec_session("api", ["stty", "size"], tty=True, terminal_size=(80, 24)) as s:
            assert s.wait(timeout=3).stdout == b"24 80\n"
        assert sent(fake)[0] == {
            "init": {
                **INIT,
                "command": ["stty", "size"],
                "tty": True,
                "terminalSize": {"width": 80, "height": 24},
            }
        }
        seen: list[tuple[int, int] | None] = []

        def size_after_input(proc: FakeProcess) -> int:
            proc.read_stdin(1, timeout=3)
            seen.append(proc.terminal_size)
            return 0

        fake.add_exec_command("show-size", size_after_input)
        fake.grpc_messages.clear()
        with rune.exec_session("api", ["show-size"], tty=True) as s:
            s.resize(120, 40)
            s.write("x")
            assert s.wait(timeout=3).exit_code == 0
        assert seen == [(120, 40)]
        assert sent(fake)[1:] == [{"resize": {"width": 120, "height": 40}}, {"stdin": b64(b"x")}]

    @pytest.mark.parametrize(
        ("sig", "name", "code"),
        [
            ("SIGINT", "SIGINT", 130),
            ("TERM", "SIGTERM", 143),
            (signal.SIGKILL, "SIGKILL", 137),
            ("hup", "SIGHUP", 129),
        ],
    )
    def test_signals(
        self, fake: FakeRune, rune: RuneClient, sig: Any, name: str, code: int
    ) -> None:
        with rune.exec_session("api", ["sleep", "30"]) as session:
            session.send_signal(sig)
            result = session.wait(timeout=3)
        assert result == ExecResult(b"", b"", code, True, name)
        assert not result.ok
        assert sent(fake)[1] == {"signal": {"name": name}}

    def test_wait_with_a_timeout_leaves_the_command_running(self, rune: RuneClient) -> None:
        with rune.exec_session("api", ["sleep", "30"]) as session:
            with pytest.raises(WaitTimeoutError):
                session.wait(timeout=0.05)
            assert session.exit_code is None
            session.send_signal("INT")
            assert session.wait(timeout=3).exit_code == 130

    def test_a_session_timeout_is_an_api_timeout(self, rune: RuneClient) -> None:
        with (
            rune.exec_session("api", ["sleep", "30"], timeout=0.2) as session,
            pytest.raises(APITimeoutError, match=r"within 0\.2 s"),
        ):
            list(session)

    def test_nothing_can_be_sent_after_stdin_closed_exit_or_close(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        with rune.exec_session("api", ["sleep", "30"]) as session:
            session.close_stdin()
            session.close_stdin()  # idempotent
            for action in (
                lambda: session.write("x"),
                lambda: session.resize(10, 10),
                lambda: session.send_signal("INT"),
            ):
                with pytest.raises(StreamError, match="stdin was closed"):
                    action()
        with rune.exec_session("api", ["true"]) as done:
            done.wait(timeout=3)
            with pytest.raises(StreamError, match="ended"):
                done.write("x")
        done.close()  # twice: nothing happens
        with pytest.raises(StreamError, match="closed"):
            done.write("x")


# -- errors ------------------------------------------------------------------------------


class TestErrors:
    def test_unauthenticated_raises_from_the_call(self, fake: FakeRune) -> None:
        with client(fake.grpc_target, "wrong-token-abcdef") as stranger:
            with pytest.raises(AuthenticationError) as info:
                stranger.exec("api", ["true"])
            with pytest.raises(AuthenticationError):
                stranger.exec_session("api", ["true"])
        err = info.value
        assert (err.status_code, err.code, err.message) == (
            401,
            "unauthenticated",
            "invalid bearer token",
        )
        assert "wrong-token-abcdef" not in str(err) + repr(err)
        assert sent(fake) == []

    def test_permission_denied_without_exec_exec(self, fake: FakeRune) -> None:
        token = fake.issue_token("viewer", policies=["readonly"])
        with (
            client(fake.grpc_target, token) as viewer,
            pytest.raises(PermissionDeniedError) as info,
        ):
            viewer.exec("api", ["true"])
        assert info.value.status_code == 403
        assert info.value.message == "access denied for resource: exec verb: exec"

    def test_no_running_instance_is_not_found(self, fake: FakeRune, rune: RuneClient) -> None:
        with pytest.raises(NotFoundError) as info:
            rune.exec("web", ["true"])
        assert info.value.message == (
            "no running instances found for service: web in namespace: default"
        )
        with pytest.raises(NotFoundError, match="instance not found: nope"):
            rune.exec_session("instance/nope", ["true"])

    def test_a_stopped_instance_is_a_failed_precondition(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        instance = rune.list_instances("default")[0]
        with fake.lock:
            fake.instances[instance.id]["status"] = "INSTANCE_STATUS_STOPPED"
        with pytest.raises(PreconditionFailedError) as info:
            rune.exec(f"instance/{instance.id}", ["true"])
        assert info.value.code == "failed_precondition"
        assert info.value.message.startswith("instance is not running, status: ")

    def test_a_slow_server_is_bounded_by_the_read_timeout(self, fake: FakeRune) -> None:
        fake.delay_rpc("StreamExec", 1.0)
        with client(fake.grpc_target, fake.seed_token, timeout=(1, 0.1)) as rune:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                rune.exec_session("api", ["true"])
            assert time.monotonic() - started < 0.9

    def test_a_failed_status_and_an_end_without_exit_are_stream_errors(self) -> None:
        replies: list[list[dict[str, Any]]] = [
            [{"status": {"code": 5, "message": "gone away"}}],
            [{"status": {"code": 0, "message": "Connected"}}, {"stdout": b64(b"partial")}],
        ]
        with scripted(replies) as target, client(target, "t") as rune:
            with pytest.raises(StreamError) as info:
                rune.exec("api", ["x"])
            assert info.value.code == "not_found"
            assert "gone away" in str(info.value)
            with rune.exec_session("api", ["x"]) as session:
                assert next(session).data == b"partial"
                with pytest.raises(StreamError, match="without the command's exit"):
                    next(session)
                with pytest.raises(StreamError, match="without the command's exit"):
                    session.wait()


# -- validation before sending ------------------------------------------------------------


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"command": "ls -l"}, r"\['sh', '-c', 'ls -l'\]"),
            ({"command": []}, "must not be empty"),
            ({"command": [""]}, "command\\[0\\]"),
            ({"command": ["ls", 3]}, "command\\[1\\]"),
            ({"command": b"ls"}, "list of strings"),
            ({"target": ""}, "target"),
            ({"target": "pod/x"}, "instance/<id>"),
            ({"target": "instance/"}, "instance/<id>"),
            ({"target": "service/a/b"}, "instance/<id>"),
            ({"namespace": ""}, "namespace"),
            ({"env": {"A": 1}}, r"env\['A'\]"),
            ({"env": {"": "x"}}, "env keys"),
            ({"env": ["A=1"]}, "mapping"),
            ({"working_dir": ""}, "working_dir"),
            ({"tty": "yes"}, "tty"),
            ({"stdin": 5}, "stdin"),
            ({"timeout": 0}, "timeout"),
            ({"timeout": float("nan")}, "timeout"),
            ({"deadline": -1}, "deadline"),
            ({"max_retries": 1}, "max_retries"),
        ],
    )
    def test_exec_refuses_bad_arguments_before_sending(
        self, fake: FakeRune, rune: RuneClient, kwargs: dict[str, Any], match: str
    ) -> None:
        args: dict[str, Any] = {"target": "api", "command": ["true"], **kwargs}
        with pytest.raises(InvalidArgumentError, match=match):
            rune.exec(**args)
        assert sent(fake) == []
        assert opened(fake) == 0

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"terminal_size": (0, 24)}, "width"),
            ({"terminal_size": (80,)}, "pair"),
            ({"terminal_size": "80x24"}, "pair"),
            ({"timeout": -1}, "timeout"),
        ],
    )
    def test_exec_session_refuses_bad_arguments_before_sending(
        self, fake: FakeRune, rune: RuneClient, kwargs: dict[str, Any], match: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match=match):
            rune.exec_session("api", ["cat"], **kwargs)
        assert opened(fake) == 0

    def test_session_calls_check_their_arguments(self, fake: FakeRune, rune: RuneClient) -> None:
        with rune.exec_session("api", ["cat"]) as session:
            for action, match in [
                (lambda: session.write(3), "stdin"),  # type: ignore[arg-type]
                (lambda: session.resize(0, 10), "width"),
                (lambda: session.resize(10, True), "height"),
                (lambda: session.send_signal(""), "signal"),
                (lambda: session.send_signal("SIG INT"), "signal"),
                (lambda: session.send_signal(9), "signal"),
                (lambda: session.wait(timeout=-1), "timeout"),
            ]:
                with pytest.raises(InvalidArgumentError, match=match):
                    action()
        assert len(sent(fake)) == 1  # the init only

    @pytest.mark.parametrize("transport", ["connect", "rest"])
    def test_http_transports_point_to_grpc(self, fake: FakeRune, transport: Any) -> None:
        with RuneClient(fake.url, token=fake.seed_token, transport=transport) as http:
            with pytest.raises(InvalidArgumentError, match="transport='grpc'"):
                http.exec("api", ["true"])
            with pytest.raises(InvalidArgumentError, match="transport='grpc'"):
                http.exec_session("api", ["true"])
        assert fake.requests == []


# -- closing -----------------------------------------------------------------------------


class TestClosing:
    def test_close_cancels_a_running_command_at_once(
        self, fake: FakeRune, rune: RuneClient
    ) -> None:
        session = rune.exec_session("api", ["sleep", "30"])
        started = time.monotonic()
        session.close()
        assert time.monotonic() - started < 1
        assert next(session, None) is None
        with pytest.raises(StreamError, match="closed before the command exited"):
            session.wait()
        assert session.exit_code is None

    def test_close_from_another_thread_ends_a_waiting_loop(self, rune: RuneClient) -> None:
        session = rune.exec_session("api", ["sleep", "30"])
        timer = threading.Timer(0.05, session.close)
        timer.start()
        started = time.monotonic()
        assert list(session) == []
        assert time.monotonic() - started < 1
        timer.join()

    def test_fifty_sessions_leave_no_thread_behind(self, rune: RuneClient) -> None:
        rune.exec("api", ["true"])  # the channel's own threads exist from here on
        before = client_threads()
        for i in range(50):
            session = rune.exec_session("api", ["cat"] if i % 2 else ["echo", str(i)])
            if i % 2 and i % 3 == 0:  # only cat reads: echo may have exited already
                session.write("x")
            session.close()
        deadline = time.monotonic() + 1.0
        while client_threads() > before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client_threads() <= before, [t.name for t in threading.enumerate()]


# -- a scripted ExecService ----------------------------------------------------------------


class _Scripted(exec_pb2_grpc.ExecServiceServicer):  # type: ignore[misc]
    """Answers each call with the next list of protojson `ExecResponse`s, then ends OK."""

    def __init__(self, replies: list[list[dict[str, Any]]]) -> None:
        self.replies = replies

    def StreamExec(self, requests: Iterator[Any], context: Any) -> Iterator[Any]:
        next(requests)  # the init
        from google.protobuf import json_format

        for data in self.replies.pop(0):
            yield json_format.ParseDict(data, exec_pb2.ExecResponse())


class scripted:
    """A grpcio server on 127.0.0.1 with `_Scripted`; the context value is its target."""

    def __init__(self, replies: list[list[dict[str, Any]]]) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        exec_pb2_grpc.add_ExecServiceServicer_to_server(_Scripted(replies), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def __enter__(self) -> str:
        self.server.start()
        return f"127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.stop(0).wait(2)


def test_the_stream_modules_load_neither_grpcio_nor_protobuf() -> None:
    """`controldeck.rune` mixes in `ExecAPI` and may export the stream classes: importing
    them must not load the `grpc` extra (its users may not have it)."""
    code = (
        "import sys, controldeck.rune._exec, controldeck.rune._grpc_streams\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] == 'grpc'\n"
        "          or m.startswith(('google.protobuf', 'controldeck._generated'))]\n"
        "print(loaded)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"
