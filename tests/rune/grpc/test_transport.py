"""The gRPC transport itself: construction, the extra, metadata, errors, retries, deadlines,
threads and closing — against FakeRune's gRPC server on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from controldeck.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    InternalServerError,
    InvalidArgumentError,
    MissingDependencyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from controldeck.rune import RuneClient
from controldeck.testing.rune import FakeRune


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client(fake: FakeRune, **kwargs: object) -> RuneClient:
    options: dict[str, object] = {"token": fake.seed_token, "max_retries": 0, **kwargs}
    return RuneClient(transport="grpc", grpc_target=fake.grpc_target, **options)  # type: ignore[arg-type]


# -- construction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "why"),
    [("http://runed:7863", "not a URL"), ("", "host:port"), ("run ed:1", "not a URL")],
)
def test_a_bad_grpc_target_is_refused(target: str, why: str) -> None:
    with pytest.raises(InvalidArgumentError, match=why):
        RuneClient(transport="grpc", grpc_target=target)


def test_tls_takes_a_ca_bundle_or_refuses_clearly(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot be read"):
        RuneClient(transport="grpc", tls=tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(InvalidArgumentError, match="not a PEM CA bundle"):
        RuneClient(transport="grpc", tls=junk)
    with pytest.raises(InvalidArgumentError, match="tls must be"):
        RuneClient(transport="grpc", tls=3)  # type: ignore[arg-type]
    assert "tls=True" in repr(
        RuneClient(transport="grpc", tls=b"-----BEGIN CERTIFICATE-----\n")._grpc
    )


def test_the_target_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNE_GRPC_TARGET", "runed.internal:9000")
    assert repr(RuneClient(transport="grpc", token="t0k")) == (
        "RuneClient(grpc_target='runed.internal:9000', transport='grpc')"
    )
    monkeypatch.delenv("RUNE_GRPC_TARGET")
    assert "localhost:7863" in repr(RuneClient(transport="grpc"))


def test_the_transport_names_grpc_when_wrong() -> None:
    with pytest.raises(InvalidArgumentError, match="'connect', 'grpc' or 'rest'"):
        RuneClient(transport="http2")  # type: ignore[arg-type]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_import_rune_does_not_load_grpc() -> None:
    proc = _python(
        """
        import sys
        import controldeck.rune
        from controldeck.rune import RuneClient
        RuneClient(token="t").close()
        client = RuneClient(transport="grpc", token="t")  # the channel is made on first use
        loaded = sorted(m for m in sys.modules if m == "grpc" or m.startswith(("grpc.",
                        "google.protobuf", "controldeck._generated.rune_grpc")))
        print(loaded)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "package"), [("grpc", "grpcio"), ("google.protobuf", "protobuf")]
)
def test_without_the_extra_the_error_names_the_pip_line(module: str, package: str) -> None:
    proc = _python(
        f"""
        import sys
        sys.modules[{module!r}] = None  # as if not installed
        from controldeck.errors import MissingDependencyError
        from controldeck.rune import RuneClient
        RuneClient(token="t")  # the HTTP wires need nothing more
        try:
            RuneClient(transport="grpc", token="t")
        except MissingDependencyError as exc:
            print(type(exc).__name__, exc.name, "|", exc)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"MissingDependencyError {package} |")
    assert "pip install 'controldeck[grpc]'" in proc.stdout
    assert issubclass(MissingDependencyError, ImportError)


# -- metadata and errors ------------------------------------------------------------------


def test_a_missing_token_is_refused_before_sending(grpc_fake: FakeRune) -> None:
    before = len(grpc_fake.requests)
    with (
        RuneClient(transport="grpc", grpc_target=grpc_fake.grpc_target) as rune,
        pytest.raises(InvalidArgumentError, match="needs a token"),
    ):
        rune.get_namespace("default")
    assert len(grpc_fake.requests) == before


def test_a_wrong_token_is_an_authentication_error_without_the_token(grpc_fake: FakeRune) -> None:
    with (
        _client(grpc_fake, token="wrong-token-value") as rune,
        pytest.raises(AuthenticationError) as caught,
    ):
        rune.whoami()
    err = caught.value
    assert (err.status_code, err.code, err.message) == (
        401,
        "unauthenticated",
        "invalid bearer token",
    )
    assert "wrong-token-value" not in str(err) + repr(err)
    assert str(err) == "HTTP 401 [unauthenticated]: invalid bearer token"


def test_rbac_and_not_found_map_like_connect(grpc_fake: FakeRune) -> None:
    viewer = grpc_fake.issue_token("viewer", policies=["readonly"])
    with _client(grpc_fake, token=viewer) as rune:
        with pytest.raises(PermissionDeniedError) as denied:
            rune.create_namespace("shop")
        with pytest.raises(NotFoundError) as missing:
            rune.get_service("nope")
    assert (denied.value.status_code, denied.value.code) == (403, "permission_denied")
    assert "access denied for resource" in denied.value.message
    assert (missing.value.status_code, missing.value.code) == (404, "not_found")
    assert "nope" in missing.value.message


def test_unavailable_is_retried_for_reads(grpc_fake: FakeRune) -> None:
    grpc_fake.fail_rpc("GetNamespace", "unavailable", "restarting", times=2)
    rune = _client(grpc_fake, max_retries=2)
    assert rune._grpc is not None
    slept: list[float] = []
    rune._grpc.sleep = slept.append
    with rune:
        assert rune.get_namespace("default").name == "default"
    assert len(slept) == 2
    calls = [r for r in grpc_fake.requests if r.path.endswith("/GetNamespace")]
    assert len(calls) == 3


def test_unavailable_is_not_retried_for_writes_the_server_saw(grpc_fake: FakeRune) -> None:
    grpc_fake.fail_rpc("CreateNamespace", "unavailable", "restarting")
    rune = _client(grpc_fake, max_retries=2)
    assert rune._grpc is not None
    rune._grpc.sleep = lambda seconds: pytest.fail("a write the server saw was retried")
    with rune, pytest.raises(InternalServerError) as caught:
        rune.create_namespace("shop")
    assert (caught.value.status_code, caught.value.code) == (503, "unavailable")
    assert len([r for r in grpc_fake.requests if r.path.endswith("/CreateNamespace")]) == 1


def test_other_codes_are_not_retried(grpc_fake: FakeRune) -> None:
    grpc_fake.fail_rpc("GetSecret", "resource_exhausted", "rate limit exceeded")
    with _client(grpc_fake, max_retries=3) as rune, pytest.raises(RateLimitError) as caught:
        rune.get_secret("db")
    assert (caught.value.status_code, caught.value.message) == (429, "rate limit exceeded")


def test_a_refused_connection_is_a_connection_error_after_retries() -> None:
    rune = RuneClient(
        transport="grpc",
        grpc_target=f"127.0.0.1:{_closed_port()}",
        token="t0k-secret",
        max_retries=1,
    )
    assert rune._grpc is not None
    rune._grpc.sleep = lambda seconds: None
    with rune, pytest.raises(APIConnectionError) as caught:
        rune.create_namespace("shop")  # a write: nothing reached a server, so retried
    text = str(caught.value)
    assert "could not connect" in text and "(2 attempts)" in text and "7863" in text
    assert "t0k-secret" not in text
    assert not isinstance(caught.value, APITimeoutError)


def test_tls_against_a_plaintext_server_is_a_connection_error(grpc_fake: FakeRune) -> None:
    with _client(grpc_fake, tls=True) as rune, pytest.raises(APIConnectionError):
        rune.whoami()


def test_deadline_exceeded_is_a_timeout(grpc_fake: FakeRune) -> None:
    grpc_fake.delay_rpc("GetService", 0.5)
    grpc_fake.add_service("api")
    started = time.monotonic()
    with _client(grpc_fake) as rune, pytest.raises(APITimeoutError) as caught:
        rune.get_service("api", timeout=0.1)
    assert time.monotonic() - started < 0.45
    assert "no reply within 0.1s (deadline exceeded)" in str(caught.value)


def test_deadline_bounds_the_call(grpc_fake: FakeRune) -> None:
    grpc_fake.delay_rpc("GetService", 0.5)
    grpc_fake.add_service("api")
    with _client(grpc_fake) as rune, pytest.raises(APITimeoutError):
        rune.get_service("api", deadline=0.1)


# -- threads, watches, closing --------------------------------------------------------------


def test_one_client_serves_many_threads(grpc_fake: FakeRune) -> None:
    errors: list[BaseException] = []

    def run_round() -> None:
        with _client(grpc_fake) as rune:

            def work() -> None:
                try:
                    for _ in range(20):
                        assert rune.get_namespace("default").name == "default"
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=work) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    def client_side() -> int:  # threads but the fake's gRPC server pool
        return sum(1 for t in threading.enumerate() if not t.name.startswith("FakeRune-grpc"))

    run_round()
    baseline = client_side()
    for _ in range(3):
        run_round()
    assert errors == []
    calls = [r for r in grpc_fake.requests if r.path.endswith("/GetNamespace")]
    assert len(calls) == 4 * 160
    deadline = time.monotonic() + 2
    while client_side() > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client_side() <= baseline  # closed clients leave no threads behind


def test_a_watch_over_grpc_replays_then_follows(grpc_fake: FakeRune) -> None:
    grpc_fake.add_service("api")
    with _client(grpc_fake) as rune:
        with rune.watch_services("default") as events:
            first = next(events)
            assert (first.event_type, first.service.name) == ("EVENT_TYPE_ADDED", "api")  # type: ignore[union-attr]
            grpc_fake.add_service("web")
            second = next(events)
            assert second.service.name == "web"  # type: ignore[union-attr]
        assert events.closed


def test_a_bad_watch_deadline_is_refused_before_sending(grpc_fake: FakeRune) -> None:
    with _client(grpc_fake) as rune, pytest.raises(InvalidArgumentError, match="deadline"):
        rune.watch_services("default", deadline="soon")  # type: ignore[typeddict-item]
    assert not [r for r in grpc_fake.requests if r.path.endswith("/WatchServices")]


def test_a_closed_client_refuses_calls(grpc_fake: FakeRune) -> None:
    rune = _client(grpc_fake)
    rune.whoami()
    rune.close()
    rune.close()
    with pytest.raises(InvalidArgumentError, match="closed"):
        rune.whoami()


def test_repr_never_shows_the_token(grpc_fake: FakeRune) -> None:
    with _client(grpc_fake) as rune:
        assert grpc_fake.seed_token not in repr(rune) + repr(rune._grpc)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("rpc", "call"),
    [
        ("StreamLogs", lambda rune: list(rune.logs("api"))),
        ("StreamExec", lambda rune: rune.exec("api", ["true"])),
    ],
)
def test_streams_are_never_retried(grpc_fake: FakeRune, rpc: str, call: Any) -> None:
    grpc_fake.add_service("api")
    grpc_fake.fail_rpc(rpc, "unavailable", "restarting")
    rune = _client(grpc_fake, max_retries=3)
    assert rune._grpc is not None
    rune._grpc.sleep = lambda seconds: pytest.fail("a stream was retried")
    with rune, pytest.raises(InternalServerError) as caught:
        call(rune)
    assert (caught.value.status_code, caught.value.code) == (503, "unavailable")
    assert "restarting" in str(caught.value)
    opened = [r for r in grpc_fake.requests if r.path.endswith(f"/{rpc}")]
    assert len(opened) == 1
